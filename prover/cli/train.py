"""``prover train``: fine-tune a prover on verified proofs (``sft``), then reinforce it with
Lean's verdict (``grpo``). Registered into the main ``prover`` command group by ``prover.cli``.

Exit codes: 0 trained and saved, 1 training failed, 2 bad input (no data, no records, a model
that does not load, a missing library), 3 no Lean REPL could be started (``grpo``).
Heavy imports (torch, transformers, trl) happen inside the commands.
"""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import click

from prover.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NO_LEAN,
    EXIT_OK,
    EXIT_USAGE,
)
from prover.cli.common import fail as _fail


def _say(message: str) -> None:
    click.echo(message, err=True)


def _require_model(model: str) -> None:
    """A --model that names nothing is bad input: said before libraries load or Lean starts."""
    from prover.policies.backends.spec import missing_model

    missing = missing_model(model)
    if missing is not None:
        _fail(f"--model {model}: {missing}", EXIT_USAGE)


def _common(func):
    """Options both trainers share."""
    options = [
        click.option("--data", "data", required=True,
                     type=click.Path(path_type=Path), metavar="DIR",
                     help="Directory of records*.jsonl (what `prover synth` wrote)."),
        click.option("--model", required=True, metavar="M",
                     help="Base model: a local directory or a Hugging Face hub id."),
        click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
                     metavar="OUT", help="Where to save the trained model and its manifest."),
        click.option("--prompt-format", default="deepseek-v1.5", show_default=True,
                     help="How records become prompts (prover.policies.prompts formats)."),
        click.option("--max-steps", type=click.IntRange(min=1), default=None,
                     help="Stop after N optimiser steps (overrides --epochs)."),
        click.option("--epochs", type=click.FloatRange(min=0, min_open=True), default=1.0,
                     show_default=True),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--lora", is_flag=True,
                     help="Train a LoRA adapter (saved as adapter_model.safetensors) instead of "
                          "all weights."),
        click.option("--lora-r", type=click.IntRange(min=1), default=16, show_default=True),
        click.option("--lora-alpha", type=click.IntRange(min=1), default=32, show_default=True),
        click.option("--dtype", type=click.Choice(["auto", "float32", "bfloat16", "float16"]),
                     default="auto", show_default=True,
                     help="auto: float32 on CPU; on CUDA the checkpoint's dtype with bf16 "
                          "mixed precision where supported."),
        click.option("--gradient-checkpointing", is_flag=True,
                     help="Recompute activations in the backward pass (less memory, slower)."),
        click.option("--logging-steps", type=click.IntRange(min=1), default=10, show_default=True),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _run(train: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a trainer, mapping what went wrong to an exit code."""
    from lean_bridge.errors import ReplUnavailable
    from prover.train.errors import TrainDependencyError, TrainInputError

    try:
        return train(*args, **kwargs)
    except (TrainInputError, TrainDependencyError) as exc:
        _fail(str(exc), EXIT_USAGE)
    except ReplUnavailable as exc:
        _fail(str(exc), EXIT_NO_LEAN)
    except KeyboardInterrupt:
        _fail("interrupted: nothing was saved", EXIT_INTERRUPTED)
    except Exception as exc:  # a failed run is reported, not a traceback for the user
        _fail(f"training failed: {type(exc).__name__}: {exc}", EXIT_FAILED)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def train() -> None:
    """Train a prover on verified proofs: `sft`, then `grpo` with Lean's verdict as reward.

    Needs the training libraries: pip install "lean-prover[train]".
    """


@train.command()
@_common
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-4, show_default=True,
              help="Learning rate (constant after warm-up, as DeepSeek-Prover-V1.5).")
@click.option("--warmup-steps", type=click.IntRange(min=0), default=None,
              help="Warm-up steps [default: 100, at most a tenth of the run].")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--grad-accum", type=click.IntRange(min=1), default=1, show_default=True,
              help="Gradient accumulation steps.")
@click.option("--max-length", type=click.IntRange(min=8), default=4096, show_default=True,
              help="Tokens per example (prompt + completion); longer ones are cut.")
@click.option("--no-tactic-states", is_flag=True,
              help="Train on the plain proofs, not the ones annotated with tactic states.")
@click.option("--state-loss", type=click.Choice(["after-state", "proof"]), default="after-state",
              show_default=True,
              help="after-state: the reference's (DeepSeek-Prover-V1.5 SFT) rule, no loss before "
                   "the first `/- tactic state:`, loss on everything after it (states included: "
                   "an auxiliary objective). proof: no loss on the prompt nor on any state comment.")
def sft(data: Path, model: str, out: Path, prompt_format: str, max_steps: int | None,
        epochs: float, seed: int, lora: bool, lora_r: int, lora_alpha: int, dtype: str,
        gradient_checkpointing: bool, logging_steps: int, quiet: bool, lr: float,
        warmup_steps: int | None, batch_size: int, grad_accum: int, max_length: int,
        no_tactic_states: bool, state_loss: str) -> None:
    """Supervised fine-tuning on the records of DIR; saves safetensors to OUT."""
    from prover.train.sft import SftOptions, train_sft

    _require_model(model)

    options = SftOptions(
        prompt_format=prompt_format, tactic_states=not no_tactic_states,
        state_loss=state_loss,  # type: ignore[arg-type]
        epochs=epochs, max_steps=max_steps, learning_rate=lr, warmup_steps=warmup_steps,
        batch_size=batch_size, gradient_accumulation=grad_accum, max_length=max_length, seed=seed,
        lora=lora, lora_r=lora_r, lora_alpha=lora_alpha, dtype=dtype,
        gradient_checkpointing=gradient_checkpointing, logging_steps=logging_steps)
    result = _run(train_sft, data, model, out, options, say=_say, progress=not quiet)
    _say(f"{result.steps} step(s) on {result.examples} examples; final loss "
         f"{result.final_loss if result.final_loss is None else round(result.final_loss, 4)}")


def grpo_repl_spec(repl: str | None, workspace: Path | None, timeout: float | None,
                   workers: int | None = None):
    """The REPL for the reward, resolved (and its settings checked) as every Lean command
    resolves it (``--repl``, ``PROVER_REPL``, prover.toml, else the workspace's own, set up on
    first use)."""
    from prover.cli.common import repl_spec, settings_from

    settings = settings_from({"repl": repl, "workspace": str(workspace) if workspace else None,
                              "timeout": timeout, "workers": workers})
    return repl_spec(settings), settings


@train.command()
@_common
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=5e-6, show_default=True,
              help="Learning rate (constant; V1.5's RL value).")
@click.option("--num-generations", "-G", type=click.IntRange(min=2), default=8, show_default=True,
              help="Completions sampled per prompt (the group; the paper uses 32).")
@click.option("--prompts-per-step", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--beta", type=click.FloatRange(min=0), default=0.02, show_default=True,
              help="KL coefficient against the initial policy.")
@click.option("--temperature", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True)
@click.option("--max-completion-length", type=click.IntRange(min=1), default=1024,
              show_default=True, help="Tokens per sampled proof.")
@click.option("--repl", metavar="CMD",
              help="Command that starts a Lean REPL. Default: PROVER_REPL, prover.toml, else the "
                   "workspace's REPL.")
@click.option("--workspace", type=click.Path(file_okay=False, path_type=Path),
              help="Lean workspace built by `prover setup` (default: this checkout).")
@click.option("--timeout", type=float, metavar="S",
              help="Wall-clock seconds per Lean check (default 60).")
@click.option("--workers", type=int, default=None,
              help="REPL processes checking completions concurrently (default 1).")
def grpo(data: Path, model: str, out: Path, prompt_format: str, max_steps: int | None,
         epochs: float, seed: int, lora: bool, lora_r: int, lora_alpha: int, dtype: str,
         gradient_checkpointing: bool, logging_steps: int, quiet: bool, lr: float,
         num_generations: int, prompts_per_step: int, beta: float, temperature: float,
         max_completion_length: int, repl: str | None, workspace: Path | None,
         timeout: float | None, workers: int | None) -> None:
    """GRPO on the statements of DIR's records, reward 1/0 by Lean's verdict; saves to OUT."""
    from prover.train.grpo import GrpoOptions, train_grpo
    from prover.train.records import record_files

    _require_model(model)
    _run(record_files, data)  # no data is bad input: say so before Lean is looked for (or set up)
    spec, settings = grpo_repl_spec(repl, workspace, timeout, workers)
    options = GrpoOptions(
        prompt_format=prompt_format, num_generations=num_generations,
        prompts_per_step=prompts_per_step, epochs=epochs, max_steps=max_steps, learning_rate=lr,
        beta=beta, temperature=temperature, max_completion_length=max_completion_length,
        seed=seed, lora=lora, lora_r=lora_r, lora_alpha=lora_alpha, dtype=dtype,
        gradient_checkpointing=gradient_checkpointing, logging_steps=logging_steps,
        timeout=settings.timeout, workers=settings.workers,
        max_requests=settings.max_requests, header_timeout=settings.header_timeout)
    result = _run(train_grpo, data, model, out, spec, options, say=_say, progress=not quiet)
    _say(f"{result.steps} step(s) on {result.prompts} prompts; {result.proved}/{result.checks} "
         "sampled proofs checked by Lean")


__all__ = ["grpo", "grpo_repl_spec", "sft", "train"]


@click.command("iterate")
@click.argument("statements", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", required=True, metavar="M", help="The model of round 0 (directory or hub id).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              metavar="DIR", help="Rounds go to DIR/round-K/ (synth, data, model, round.json).")
@click.option("--rounds", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--policy", metavar="SPEC", help="Round 0's policy (default hf:M); later rounds "
                                               "use the model the previous round trained.")
@click.option("--search", "search_method", metavar="METHOD", help="Search of every synth.")
@click.option("--budget", metavar="NxT", help="Budget of every synth.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N statements.")
@click.option("--workers", type=int, help="Lean processes of every synth.")
@click.option("--repl", metavar="CMD", help="Lean REPL command (see `prover synth --help`).")
@click.option("--timeout", type=float, metavar="S", help="Seconds per Lean request.")
@click.option("--max-steps", type=click.IntRange(min=1), help="SFT steps per round.")
@click.option("--lora", is_flag=True, help="Train LoRA adapters instead of all weights.")
@click.option("--no-final-synth", is_flag=True,
              help="Stop after the last training (no synth with the final model).")
@click.option("--state-comment/--no-state-comment", "tactic_state_comment", default=None,
              help="RMaxTS tactic-state comments in every synth's prompts (default on).")
@click.option("--self-correct", "self_correct", type=int, default=None, metavar="R",
              help="Self-correction turns in every synth (see `prover synth --help`).")
def iterate(statements: Path, model: str, out: Path, rounds: int, policy: str | None,
            search_method: str | None, budget: str | None, limit: int | None,
            workers: int | None, repl: str | None, timeout: float | None,
            max_steps: int | None, lora: bool, no_final_synth: bool,
            tactic_state_comment: bool | None, self_correct: int | None) -> None:
    """Expert iteration on STATEMENTS: synth → sft → synth …, each round in its own directory.

    Round K proves the statements with round K's policy (`prover synth`), gathers every record
    found so far, and fine-tunes round K's model on them (`prover train sft`); the trained
    model is round K+1's policy. Rerunning resumes: finished synths and trained models are
    kept. Exit 0 when every round ran, 1 when a step failed, 2 for bad input (also when a
    step refused its input), 3 when a step could start no Lean REPL.
    """
    from prover.cli.common import settings_from
    from prover.drivers.iterate import IterateError, IteratePlan
    from prover.drivers.iterate import iterate as run_rounds

    # Every synth would refuse a bad setting (exit 2): say so now, not after round 0 started.
    _require_model(model)
    settings_from({"search": search_method, "budget": budget, "workers": workers, "repl": repl,
                   "timeout": timeout, "policy": policy, "self_correct": self_correct})

    def flag(name: str, value: Any) -> list[str]:
        return [] if value is None else [name, str(value)]

    synth_args = [*flag("--search", search_method), *flag("--budget", budget),
                  *flag("--limit", limit), *flag("--workers", workers), *flag("--repl", repl),
                  *flag("--timeout", timeout), *flag("--self-correct", self_correct), "--quiet"]
    if tactic_state_comment is not None:
        synth_args.append("--state-comment" if tactic_state_comment else "--no-state-comment")
    sft_args = [*flag("--max-steps", max_steps), *(["--lora"] if lora else []), "--quiet"]
    plan = IteratePlan(statements=statements, model=model, out=out, rounds=rounds,
                       policy=policy, synth_args=tuple(synth_args), sft_args=tuple(sft_args),
                       final_synth=not no_final_synth)
    from benchmarks.runlock import RunLocked, writing

    with contextlib.ExitStack() as held:
        # Two iterations on one --out would train the same model directory at once.
        try:
            out.mkdir(parents=True, exist_ok=True)
            held.enter_context(writing(out, lock=out / ".iterate.lock",
                                       hint="another `prover iterate` on the same --out; wait "
                                            "for it to finish, or use another --out"))
        except (RunLocked, OSError) as exc:
            _fail(str(exc), EXIT_USAGE)
        try:
            reports = run_rounds(plan, say=_say)
        except IterateError as exc:
            _fail(str(exc), exc.status or EXIT_FAILED)
    for report in reports:
        _say(f"round {report.round}: policy {report.policy}, {report.records_total} record(s)"
             + (f", model {report.model_dir}" if report.model_dir else ""))
    sys.exit(EXIT_OK)
