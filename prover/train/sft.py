"""Supervised fine-tuning on verified proofs (REF §2.2: SFT with tactic-state augmentation).

Contract: ``train_sft(data_dir, model, out, options)`` reads the records of ``data_dir``,
builds one prompt/completion example per record (``examples``), tokenizes it with its labels
(``masking``: no loss on the prompt, nor, by default, on tactic-state comments), trains with
TRL's ``SFTTrainer`` and writes to ``out`` the weights (safetensors: the full model, or the
LoRA adapter), the tokenizer and ``train_manifest.json``.

Why ``SFTTrainer`` with a pre-tokenized dataset: its own prompt/completion path can only mask
the prompt (``completion_only_loss``), not spans inside the completion. Given ``input_ids``
and ``labels`` columns it uses the labels as they are (TRL >= 1.0), so the comment masking
lives in one tested pure function and TRL still runs the loop (optimiser, schedule, LoRA,
saving). Examples are not packed: packing needs padding-free attention kernels to keep
examples apart, which CPU and eager attention do not have.

Defaults follow REF §2.2 where it applies at any scale: constant learning rate 1e-4 after a
warm-up, context 4,096 tokens. The warm-up is REF's 100 steps, but never more than a tenth of
the run: a small data set would otherwise train entirely in warm-up.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from prover.train.checkpoint import (
    checkpointing_args,
    load_base,
    log_last_step_callback,
    lora_config,
    loss_history,
    versions,
    write_manifest,
)
from prover.train.errors import TrainInputError, require
from prover.train.examples import (
    ExampleStats,
    SftExample,
    sft_examples,
    tokenize_example,
    training_format,
)
from prover.train.masking import STATE_LOSS_POLICIES, StateLoss
from prover.train.options import TrainerOptions
from prover.train.records import load_records

REF_WARMUP_STEPS = 100


@dataclass(frozen=True)
class SftOptions(TrainerOptions):
    tactic_states: bool = True
    state_loss: StateLoss = "after-state"
    warmup_steps: int | None = None  # None: min(100, a tenth of the run)
    batch_size: int = 8
    gradient_accumulation: int = 1
    max_length: int = 4096

    POSITIVE_INTS = TrainerOptions.POSITIVE_INTS + ("batch_size", "gradient_accumulation",
                                                    "max_length")

    def check(self) -> None:
        if self.state_loss not in STATE_LOSS_POLICIES:
            raise TrainInputError(f"state loss must be one of {STATE_LOSS_POLICIES}")
        super().check()


@dataclass(frozen=True)
class SftResult:
    out: Path
    records: int
    examples: int
    steps: int
    final_loss: float | None  # the last logged training loss
    train_loss: float | None  # the mean over the run (the trainer's figure)
    manifest: dict[str, Any] = field(repr=False)


def sft_dataset(examples: list[SftExample]):
    """The examples as a ``datasets.Dataset`` of prompt/completion text (for inspection and
    for trainers that take text); ``no_loss`` is kept as ``[[start, end], …]``."""
    (datasets,) = require("datasets")
    return datasets.Dataset.from_list([
        {"id": e.id, "prompt": e.prompt, "completion": e.completion,
         "no_loss": [list(s) for s in e.no_loss], "annotated": e.annotated} for e in examples])


def model_context(lm: Any, wanted: int) -> int:
    """``wanted``, or less when the model has fewer positions (longer inputs would fail)."""
    config = getattr(lm, "config", None)
    limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    return min(wanted, int(limit)) if limit else wanted


def tokenized_dataset(examples: list[SftExample], tokenizer: Any, *, max_length: int | None,
                      chat: bool = False):
    """``(Dataset of input_ids/labels, dropped)``: examples with nothing left to learn after
    the cut to ``max_length`` are dropped and counted."""
    (datasets,) = require("datasets")
    rows, dropped = [], 0
    for example in examples:
        row = tokenize_example(tokenizer, example, max_length=max_length, chat=chat)
        if row is None:
            dropped += 1
        else:
            rows.append(row)
    if not rows:
        return None, dropped
    return datasets.Dataset.from_dict({"input_ids": [r["input_ids"] for r in rows],
                                       "labels": [r["labels"] for r in rows]}), dropped


def _warmup(options: SftOptions, total_steps: int) -> int:
    if options.warmup_steps is not None:
        return options.warmup_steps
    return min(REF_WARMUP_STEPS, total_steps // 10)


def train_sft(data_dir: Path | str, model: str, out: Path | str, options: SftOptions = SftOptions(),
              *, say: Callable[[str], None] = print, progress: bool = True) -> SftResult:
    """Fine-tune ``model`` on the records of ``data_dir``; save to ``out`` (module doc)."""
    options.check()
    started = time.time()
    data_dir, out = Path(data_dir), Path(out)
    records = load_records(data_dir)
    try:
        fmt = training_format(options.prompt_format)
    except ValueError as exc:
        raise TrainInputError(str(exc)) from None
    trl, transformers = require("trl", "transformers")
    lm, tokenizer, prec = load_base(model, options.dtype)
    render: Callable[[Any], str] | None = None
    if fmt.chat:
        from prover.policies.backends.hf import render_chat

        def render_with_template(messages: Any) -> str:
            try:
                return render_chat(tokenizer, messages, backend="train")
            except ValueError as exc:
                raise TrainInputError(str(exc)) from None

        render = render_with_template

    examples, stats = sft_examples(records, prompt_format=options.prompt_format,
                                   tactic_states=options.tactic_states,
                                   state_loss=options.state_loss, render_chat=render)
    max_length = model_context(lm, options.max_length)
    if max_length < options.max_length:
        say(f"--max-length {options.max_length} is more than {model} can attend to: "
            f"examples are cut at {max_length} tokens")
    try:
        dataset, dropped = tokenized_dataset(examples, tokenizer, max_length=max_length,
                                             chat=fmt.chat)
    except ValueError as exc:
        raise TrainInputError(f"model {model}: {exc}") from None
    if dataset is None:
        raise TrainInputError(f"no example fits in {max_length} tokens (--max-length)")
    say(f"{len(records)} records -> {len(dataset)} examples ({stats.annotated} with tactic "
        f"states, {stats.malformed} malformed annotations, {dropped} too long)")

    per_step = options.batch_size * options.gradient_accumulation
    total = options.max_steps or math.ceil(options.epochs * math.ceil(len(dataset) / per_step))
    transformers.set_seed(options.seed)
    config = trl.SFTConfig(
        output_dir=str(out),
        num_train_epochs=options.epochs,
        max_steps=options.max_steps or -1,
        learning_rate=options.learning_rate,
        lr_scheduler_type="constant_with_warmup",  # REF §2.2: constant LR after warm-up
        warmup_steps=_warmup(options, total),
        per_device_train_batch_size=options.batch_size,
        gradient_accumulation_steps=options.gradient_accumulation,
        max_length=max_length,
        seed=options.seed,
        bf16=prec.bf16,
        fp16=prec.fp16,
        dataloader_pin_memory=prec.cuda,
        **checkpointing_args(trl.SFTConfig, options.gradient_checkpointing),
        logging_steps=options.logging_steps,
        logging_first_step=True,
        save_strategy="no",  # the final model is saved below, once
        report_to="none",
        disable_tqdm=not progress,
        dataset_num_proc=None,
    )
    trainer = trl.SFTTrainer(
        model=lm, args=config, train_dataset=dataset, processing_class=tokenizer,
        peft_config=lora_config(options.lora_r, options.lora_alpha, options.lora_dropout)
        if options.lora else None,
        callbacks=[log_last_step_callback()],
    )
    say(f"training {model} for {total} step(s) on {trainer.args.device}")
    output = trainer.train()
    out.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    history = loss_history(trainer.state.log_history)
    result_manifest = _manifest(data_dir, model, options, stats, len(dataset), dropped,
                                trainer.state.global_step, history, output.training_loss,
                                time.time() - started)
    result_manifest["max_length_used"] = max_length  # --max-length, or the model's context
    write_manifest(out, result_manifest)
    say(f"saved to {out}")
    return SftResult(out=out, records=len(records), examples=len(dataset),
                     steps=trainer.state.global_step,
                     final_loss=history[-1]["loss"] if history else None,
                     train_loss=output.training_loss, manifest=result_manifest)


def _manifest(data_dir: Path, model: str, options: SftOptions, stats: ExampleStats, examples: int,
              dropped: int, steps: int, history: list[dict[str, float]], train_loss: float | None,
              seconds: float) -> dict[str, Any]:
    return {
        "kind": "sft",
        "data": str(data_dir.resolve()),
        "records": stats.records,
        "examples": examples,
        "annotated_examples": stats.annotated,
        "malformed_annotations": stats.malformed,
        "dropped_too_long": dropped,
        "base_model": model,
        "options": asdict(options),
        "steps": steps,
        "final_loss": history[-1]["loss"] if history else None,
        "train_loss": train_loss,
        "loss_history": history,
        "weights": "adapter_model.safetensors" if options.lora else "model.safetensors",
        "seconds": round(seconds, 1),
        "versions": versions(),
    }


__all__ = ["SftOptions", "SftResult", "sft_dataset", "tokenized_dataset", "train_sft"]
