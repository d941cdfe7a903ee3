"""Header imports through the installed ``prover``: one per REPL process, for every search.

A search that stops at its first proof cancels the rollouts still in flight; a cancelled
request used to take its REPL process (and its imported header, seconds and gigabytes with
Mathlib) down with it, so every proved attempt cost a fresh import. Counted here in the fake
REPL's own request log and per-process counters, with early stop (every attempt proved) and
without (nothing provable: every budget runs out), for eval and synth."""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import fake_repl_command
from fake_counters import fake_stats, logged_imports

PROVER = shutil.which("prover") or "prover"
METHODS = ("sample", "rmaxts", "bestfirst", "decompose")
# Every proof command gets an error, so no attempt is ever proved and no search stops early.
UNPROVABLE = ("--error-on", r"theorem|lemma")


def counted_run(tmp_path: Path, argv: list[str], fake: tuple[str, ...], attempts: int) -> dict:
    log, stats = tmp_path / "requests.log", tmp_path / "stats.jsonl"
    repl = shlex.join(fake_repl_command("--import-latency", "0.2", "--log", str(log),
                                        "--stats", str(stats), *fake))
    done = subprocess.run([PROVER, *argv, "--repl", repl, "--out", str(tmp_path / "run"),
                           "--workers", "1", "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert len(results) == attempts
    processes = fake_stats(stats)
    return {"imports": logged_imports(log), "processes": len(processes),
            "counted_imports": sum(p["header_imports"] for p in processes.values()),
            "proved": sum(r["proved"] for r in results)}


@pytest.mark.parametrize("early_stop", [True, False], ids=["early-stop", "budget-spent"])
@pytest.mark.parametrize("method", METHODS)
def test_eval_imports_the_header_once_per_process(shared, tmp_path, method, early_stop):
    argv = ["eval", "minif2f", "--data", str(shared / "benchmarks" / "minif2f.jsonl"),
            "--split", "valid", "--limit", "2", "--budget", "2x4", "--search", method]
    got = counted_run(tmp_path, argv, () if early_stop else UNPROVABLE, attempts=4)
    assert got["proved"] == (4 if early_stop else 0)
    assert got["imports"] == got["counted_imports"] == got["processes"] == 1


@pytest.mark.parametrize("early_stop", [True, False], ids=["early-stop", "budget-spent"])
def test_synth_imports_the_header_once_per_process(shared, tmp_path, early_stop):
    statements = tmp_path / "statements.jsonl"
    rows = (shared / "benchmarks" / "minif2f.jsonl").read_text().splitlines()[:2]
    statements.write_text("\n".join(rows) + "\n")
    argv = ["synth", str(statements), "--budget", "2x4"]  # the default search, rmaxts
    got = counted_run(tmp_path, argv, () if early_stop else UNPROVABLE, attempts=4)
    assert got["proved"] == (4 if early_stop else 0)
    assert got["imports"] == got["counted_imports"] == got["processes"] == 1
