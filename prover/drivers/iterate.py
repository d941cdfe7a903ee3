"""Expert iteration (``prover iterate``): synth → sft → synth → …, as DeepSeek-Prover trained.

Round k, in ``OUT/round-k/``:

1. ``synth/``: ``prover synth`` of the statement set with round k's policy (round 0: the one
   given, by default ``hf:MODEL``; later rounds: ``hf:`` the model round k-1 trained).
2. ``data/records.jsonl``: every record found so far, rounds 0..k (deduplicated by id), so
   each round trains on all verified proofs, not only its own.
3. ``model/``: ``prover train sft`` of round k's base model (MODEL, then round k-1's) on it.
4. ``round.json``: what the round used and produced.

Each step runs as its own ``prover`` process (a model trained in one step and a REPL pool of
another never share memory), and each is resumable: a finished synth has no attempt left and
reruns in an instant, a trained model (its ``train_manifest.json``) is not trained again.
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from lean_bridge.files import atomic_write

TRAINED_MARK = "train_manifest.json"
Runner = Callable[[Sequence[str]], int]  # runs `prover ARGS…`, returns its exit status


class IterateError(RuntimeError):
    """A step of a round failed; the message names it and where its output is. ``status``
    is the step's exit status when it was bad input (2) or no Lean (3), which ``prover
    iterate`` passes on; otherwise None (the CLI's 1)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


# A step's exit statuses that say what is wrong with the whole plan, not with one round.
PASSED_ON = (2, 3)


@dataclass(frozen=True)
class IteratePlan:
    statements: Path
    model: str
    out: Path
    rounds: int
    policy: str | None = None  # round 0's policy; default hf:MODEL
    synth_args: tuple[str, ...] = ()  # passed to every `prover synth` (budget, search, repl…)
    sft_args: tuple[str, ...] = ()  # passed to every `prover train sft` (max-steps, lora…)
    final_synth: bool = True  # after the last training, one more synth with the final model

    @property
    def first_policy(self) -> str:
        return self.policy or f"hf:{self.model}"


@dataclass
class RoundReport:
    round: int
    policy: str
    base_model: str
    synth_dir: str
    data_dir: str | None = None
    model_dir: str | None = None
    records_total: int = 0
    records_new: int = 0
    steps: list[str] = field(default_factory=list)


def run_prover(args: Sequence[str]) -> int:
    """``prover ARGS…`` in a fresh interpreter, output passed through."""
    return subprocess.run([sys.executable, "-m", "prover.cli", *args]).returncode


def round_dir(plan: IteratePlan, k: int) -> Path:
    return plan.out / f"round-{k}"


def merge_records(sources: Sequence[Path], target: Path) -> tuple[int, int]:
    """Write the records of every ``source/records.jsonl`` to ``target`` (first of each id,
    in order); (total written, how many came from the last source only)."""
    seen: set[str] = set()
    lines: list[str] = []
    new = 0
    for index, source in enumerate(sources):
        path = source / "records.jsonl"
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        # A partial last line is an interrupted synth's (its rerun rewrites it); any other
        # line that does not parse is damage, and training on what is left would hide it.
        complete = text if text.endswith("\n") else text[:text.rfind("\n") + 1]
        for number, raw in enumerate(complete.split("\n"), start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise IterateError(f"{path}:{number}: not a JSON line ({exc})") from None
            if record["id"] in seen:
                continue
            seen.add(record["id"])
            lines.append(json.dumps(record, ensure_ascii=False, sort_keys=True))
            new += index == len(sources) - 1
    target.mkdir(parents=True, exist_ok=True)
    atomic_write(target / "records.jsonl", ("\n".join(lines) + "\n" if lines else "").encode("utf-8"))
    return len(lines), new


def iterate(plan: IteratePlan, *, run: Runner = run_prover,
            say: Callable[[str], None] = print) -> list[RoundReport]:
    """Run ``plan.rounds`` rounds of synth → sft (module docstring); the reports of all."""
    if plan.rounds < 1:
        raise ValueError("at least one round")
    reports: list[RoundReport] = []
    policy, base = plan.first_policy, plan.model
    for k in range(plan.rounds):
        here = round_dir(plan, k)
        report = RoundReport(k, policy, base, str(here / "synth"))
        _synth(plan, here / "synth", policy, run, say, k)
        report.steps.append("synth")
        sources = [round_dir(plan, j) / "synth" for j in range(k + 1)]
        report.records_total, report.records_new = merge_records(sources, here / "data")
        report.data_dir = str(here / "data")
        say(f"round {k}: {report.records_new} new record(s), {report.records_total} in all")
        if report.records_total == 0:
            raise IterateError(f"round {k}: no verified proof yet, nothing to train on "
                               f"(see {here / 'synth'}); try a larger --budget or another policy")
        model_dir = here / "model"
        if (model_dir / TRAINED_MARK).exists():
            say(f"round {k}: {model_dir} is trained already")
        else:
            say(f"round {k}: prover train sft → {model_dir}")
            status = run(["train", "sft", "--data", str(here / "data"), "--model", base,
                          "--out", str(model_dir), *plan.sft_args])
            if status != 0:
                raise IterateError(f"round {k}: `prover train sft` failed (exit {status})",
                                   status if status in PASSED_ON else None)
        report.steps.append("sft")
        report.model_dir = str(model_dir)
        _write_round(here, report)
        reports.append(report)
        policy, base = f"hf:{model_dir}", str(model_dir)
    if plan.final_synth:
        final = plan.out / "final"
        _synth(plan, final / "synth", policy, run, say, plan.rounds)
        report = RoundReport(plan.rounds, policy, base, str(final / "synth"), steps=["synth"])
        _write_round(final, report)
        reports.append(report)
    return reports


def _synth(plan: IteratePlan, out: Path, policy: str, run: Runner, say: Callable[[str], None],
           k: int) -> None:
    say(f"round {k}: prover synth with {policy} → {out}")
    status = run(["synth", str(plan.statements), "--out", str(out), "--policy", policy,
                  *plan.synth_args])
    # 1 = some attempts failed for infrastructure reasons: the records found still count.
    if status not in (0, 1):
        raise IterateError(f"round {k}: `prover synth` failed (exit {status}); see {out}",
                           status if status in PASSED_ON else None)


def _write_round(directory: Path, report: RoundReport) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write(directory / "round.json",
                 (json.dumps(report.__dict__, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
