"""The base model in, the trained model out: loading, precision, and the output manifest.

Contract: ``load_base`` loads a causal LM and its tokenizer from a local directory or a hub
id (``TrainInputError`` when it cannot). A directory holding only a LoRA adapter (what
``train sft --lora`` writes) is loaded as its base model with the adapter merged in. Weights
are float32 on CPU; on CUDA ``auto`` means bfloat16 weights with bf16 autocast where the GPU
has it (a 7B model's fp32 weights and Adam states alone would need ~112 GB), else float32.
The tokenizer gets a pad token (its EOS) when it has none. ``write_manifest`` records what a
run did in ``OUT/train_manifest.json``, written atomically, next to the weights the trainer
saved (``model.safetensors`` or, with LoRA, ``adapter_model.safetensors``) and the tokenizer.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from lean_bridge.files import atomic_write
from prover.policies.backends.spec import missing_model
from prover.train.errors import TrainInputError, require

MANIFEST = "train_manifest.json"
DTYPES = ("auto", "float32", "bfloat16", "float16")
PACKAGES = ("lean-prover", "torch", "transformers", "trl", "peft", "datasets", "accelerate")


@dataclass(frozen=True)
class Precision:
    dtype: Any  # the torch dtype the weights are loaded in
    bf16: bool  # mixed-precision training flags for the trainer
    fp16: bool
    cuda: bool  # training runs on a CUDA device


def precision(dtype: str) -> Precision:
    """Load dtype and mixed-precision flags: fp32 on CPU (half matmuls there are slow or
    missing); on CUDA, bf16 autocast where supported, else fp32 with no autocast."""
    if dtype not in DTYPES:
        raise TrainInputError(f"dtype must be one of {DTYPES}, not {dtype!r}")
    (torch,) = require("torch")
    cuda = torch.cuda.is_available()
    bf16_ok = cuda and torch.cuda.is_bf16_supported()
    if dtype == "auto":
        return Precision(torch.bfloat16 if bf16_ok else torch.float32, bf16=bf16_ok, fp16=False,
                         cuda=cuda)
    chosen = getattr(torch, dtype)
    return Precision(chosen, bf16=chosen is torch.bfloat16 and bf16_ok,
                     fp16=chosen is torch.float16 and cuda, cuda=cuda)


def load_base(model: str, dtype: str = "auto", *, padding_side: str = "right",
              trust_remote_code: bool = False) -> tuple[Any, Any, Precision]:
    """(model, tokenizer, precision) for ``model``, a directory or hub id."""
    (transformers,) = require("transformers")
    prec = precision(dtype)
    path = Path(model)
    missing = missing_model(model)
    if missing is not None:
        raise TrainInputError(f"model {model}: {missing}")
    adapter = path.is_dir() and (path / "adapter_config.json").is_file() \
        and not (path / "config.json").is_file()
    if path.is_dir() and not adapter and not (path / "config.json").is_file():
        raise TrainInputError(f"model {model}: no config.json there, so it is not a saved model "
                              "(nor a LoRA adapter)")
    try:
        if adapter:
            # A LoRA run's output (`train sft --lora`): its base plus the adapter, merged, so
            # the next stage trains one plain model.
            (peft,) = require("peft")
            lm = peft.AutoPeftModelForCausalLM.from_pretrained(
                model, trust_remote_code=trust_remote_code, dtype=prec.dtype).merge_and_unload()
        else:
            lm = transformers.AutoModelForCausalLM.from_pretrained(
                model, trust_remote_code=trust_remote_code, dtype=prec.dtype)
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            model, trust_remote_code=trust_remote_code, padding_side=padding_side)
    except (OSError, ValueError) as exc:
        raise TrainInputError(f"cannot load model {model}: {exc}") from None
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is None:
            raise TrainInputError(f"model {model}: the tokenizer has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    return lm, tokenizer, prec


def lora_config(r: int, alpha: int, dropout: float) -> Any:
    """A LoRA adapter on every linear layer (peft's ``all-linear``: the attention and MLP
    projections, not the output head), for a causal LM."""
    (peft,) = require("peft")
    return peft.LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout,
                           target_modules="all-linear", task_type="CAUSAL_LM")


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def loss_history(log_history: list[dict[str, Any]]) -> list[dict[str, float]]:
    """``[{"step", "loss"}]`` from a trainer's ``state.log_history`` (logged steps only)."""
    return [{"step": int(e["step"]), "loss": float(e["loss"])}
            for e in log_history if "loss" in e and "step" in e]


def checkpointing_args(config_cls: Any, enabled: bool) -> dict[str, Any]:
    """The activation-checkpointing switch under the name this transformers reads: it was
    renamed from ``gradient_checkpointing`` (a deprecated alias since v5)."""
    fields = getattr(config_cls, "__dataclass_fields__", {})
    name = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    return {name: enabled}


def log_last_step_callback() -> Any:
    """A ``TrainerCallback`` that logs the last step's loss, whatever ``logging_steps`` is, so a
    manifest's ``final_loss`` is the loss at the end of training."""
    (transformers,) = require("transformers")

    callback: Any = transformers.TrainerCallback  # a module attribute mypy cannot use as a base

    class _LogLastStep(callback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step >= state.max_steps:
                control.should_log = True
            return control

    return _LogLastStep()


def write_manifest(out: Path, manifest: dict[str, Any]) -> Path:
    path = Path(out) / MANIFEST
    atomic_write(path, (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return path


__all__ = ["MANIFEST", "DTYPES", "Precision", "checkpointing_args", "load_base", "log_last_step_callback", "lora_config", "loss_history",
           "precision", "versions", "write_manifest"]
