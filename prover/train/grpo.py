"""RL from proof-assistant feedback (REF §2.3, RLPAF): GRPO with Lean's verdict as the reward.

Contract: ``train_grpo(data_dir, model, out, repl, options)`` takes one prompt per distinct
statement of the records (``examples.grpo_prompts``), samples ``num_generations`` completions
per prompt with TRL's ``GRPOTrainer``, rewards each 1.0/0.0 by the bridge's full verdict
(``reward.LeanReward``) and updates the policy; it writes to ``out`` the weights
(safetensors), the tokenizer, ``train_manifest.json`` and ``rewards.jsonl`` (one line per
judged completion: name, status, reward, proof), so every proof found during RL is kept and
audited. A REPL that cannot start raises ``ReplUnavailable`` before any model is loaded (one
preflight check on the first prompt's header).

Defaults are REF §2.3's where they are stated and affordable: learning rate 5e-6, KL
coefficient β = 0.02 against the initial policy, the GRPO loss with per-sequence length
normalisation (TRL ``loss_type="grpo"``, the 1/|o_i| of the formula), group-normalised
advantages, temperature 1.0. The clip ε is not reported (REF §12.3); TRL's 0.2 is used. The
group size is 8, not the paper's 32, and one prompt per step: the paper's batch (512) and
group are sized for a cluster; raise ``num_generations``/``prompts_per_step`` where memory and
Lean throughput allow. Groups whose completions all get the same reward carry no advantage
and hence no policy gradient (only the KL term), as in the paper; that is why its prompts are
statements the SFT model solves *sometimes*.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from lean_bridge.errors import HeaderError
from lean_bridge.process import ReplSpec
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
from prover.train.examples import grpo_prompts, training_format
from prover.train.options import TrainerOptions
from prover.train.records import load_records
from prover.train.reward import LeanReward, RewardEvent, target_for

REWARDS_FILE = "rewards.jsonl"


@dataclass(frozen=True)
class GrpoOptions(TrainerOptions):
    learning_rate: float = 5e-6
    num_generations: int = 8
    prompts_per_step: int = 1
    beta: float = 0.02
    epsilon: float = 0.2
    temperature: float = 1.0
    max_completion_length: int = 1024
    timeout: float = 60.0  # seconds per Lean check
    workers: int = 1  # REPL processes
    max_requests: int = 1000
    header_timeout: float = 900.0

    POSITIVE_INTS = TrainerOptions.POSITIVE_INTS + ("prompts_per_step", "max_completion_length",
                                                    "workers")

    def check(self) -> None:
        if self.num_generations < 2:
            raise TrainInputError("GRPO needs at least 2 generations per prompt (advantages are "
                                  "relative to the group)")
        super().check()
        if self.temperature <= 0 or self.timeout <= 0:
            raise TrainInputError("temperature and timeout must be positive")
        if self.beta < 0:
            raise TrainInputError("beta must not be negative")


@dataclass(frozen=True)
class GrpoResult:
    out: Path
    prompts: int
    steps: int
    checks: int  # completions judged by Lean
    proved: int  # of which proved (reward 1.0)
    final_loss: float | None
    manifest: dict[str, Any] = field(repr=False)


def train_grpo(data_dir: Path | str, model: str, out: Path | str, repl: ReplSpec,
               options: GrpoOptions = GrpoOptions(), *, say: Callable[[str], None] = print,
               progress: bool = True,
               on_result: Callable[[RewardEvent], None] | None = None) -> GrpoResult:
    """GRPO on the statements of ``data_dir``'s records, rewarded by Lean (module doc)."""
    options.check()
    started = time.time()
    data_dir, out = Path(data_dir), Path(out)
    records = load_records(data_dir)
    try:
        fmt = training_format(options.prompt_format)
        rows = grpo_prompts(records, prompt_format=options.prompt_format)
        for row in rows:  # a statement with no theorem to check would fail mid-run
            target_for(row["header"], row["statement"], row["name"])
    except ValueError as exc:
        raise TrainInputError(str(exc)) from None
    datasets, trl, transformers = require("datasets", "trl", "transformers")
    out.mkdir(parents=True, exist_ok=True)
    with open(out / REWARDS_FILE, "w", encoding="utf-8") as log:
        def record_event(event: RewardEvent) -> None:
            log.write(json.dumps({"name": event.name, "status": event.verdict, "reward": event.reward,
                                  "seconds": round(event.seconds, 3), "proof": event.proof},
                                 ensure_ascii=False) + "\n")
            if on_result is not None:
                on_result(event)

        with LeanReward(repl, prompt_format=options.prompt_format, timeout=options.timeout,
                        workers=options.workers, max_requests=options.max_requests,
                        header_timeout=options.header_timeout, on_result=record_event) as reward:
            try:
                lean_version = reward.lean_version(rows[0]["header"])
            except HeaderError as exc:
                raise TrainInputError(f"{rows[0]['name']}: {exc}") from None
            say(f"Lean {lean_version} ready; {len(records)} records -> {len(rows)} prompts")
            lm, tokenizer, prec = load_base(model, options.dtype, padding_side="left")
            if fmt.chat and not getattr(tokenizer, "chat_template", None):
                raise TrainInputError(f"prompt format {fmt.name} needs a chat template, and the "
                                      f"tokenizer of {model} has none")
            batch = options.prompts_per_step * options.num_generations
            total = options.max_steps or math.ceil(options.epochs * len(rows) / options.prompts_per_step)
            transformers.set_seed(options.seed)
            config = trl.GRPOConfig(
                output_dir=str(out),
                num_train_epochs=options.epochs,
                max_steps=options.max_steps or -1,
                learning_rate=options.learning_rate,
                lr_scheduler_type="constant",  # REF §2.3: constant learning rate
                per_device_train_batch_size=batch,  # completions: prompts x generations
                num_generations=options.num_generations,
                max_completion_length=options.max_completion_length,
                temperature=options.temperature,
                beta=options.beta,
                epsilon=options.epsilon,
                loss_type="grpo",
                scale_rewards="group",
                seed=options.seed,
                bf16=prec.bf16,
                fp16=prec.fp16,
                dataloader_pin_memory=prec.cuda,
                logging_steps=options.logging_steps,
                logging_first_step=True,
                save_strategy="no",
                report_to="none",
                disable_tqdm=not progress,
                **checkpointing_args(trl.GRPOConfig, options.gradient_checkpointing),
            )
            trainer = trl.GRPOTrainer(
                model=lm, reward_funcs=[reward], args=config,
                train_dataset=datasets.Dataset.from_list(rows), processing_class=tokenizer,
                peft_config=lora_config(options.lora_r, options.lora_alpha, options.lora_dropout)
                if options.lora else None,
                callbacks=[log_last_step_callback()],
            )
            say(f"GRPO on {model} for {total} step(s), {options.num_generations} completions "
                f"per prompt, on {trainer.args.device}")
            trainer.train()
            trainer.save_model(str(out))
            tokenizer.save_pretrained(str(out))
            history = loss_history(trainer.state.log_history)
            rewards = [float(e["reward"]) for e in trainer.state.log_history if "reward" in e]
            manifest = {
                "kind": "grpo",
                "data": str(data_dir.resolve()),
                "records": len(records),
                "prompts": len(rows),
                "base_model": model,
                "repl": list(repl.command),
                "lean_version": lean_version,
                "options": asdict(options),
                "steps": trainer.state.global_step,
                "checks": reward.checks,
                "proved": reward.proved,
                "final_loss": history[-1]["loss"] if history else None,
                "loss_history": history,
                "mean_reward_history": rewards,
                "weights": "adapter_model.safetensors" if options.lora else "model.safetensors",
                "rewards_file": REWARDS_FILE,
                "seconds": round(time.time() - started, 1),
                "versions": versions(),
            }
            write_manifest(out, manifest)
            say(f"saved to {out}: {reward.proved}/{reward.checks} completions proved")
            return GrpoResult(out=out, prompts=len(rows), steps=trainer.state.global_step,
                              checks=reward.checks, proved=reward.proved,
                              final_loss=manifest["final_loss"], manifest=manifest)


__all__ = ["GrpoOptions", "GrpoResult", "REWARDS_FILE", "train_grpo"]
