"""Shared fixtures: where the shared reference data lives, and the `lean` marker policy.

Real data (benchmarks, REPL transcripts, real proofs) is read from ``../shared`` beside the
checkout, or from ``$PROVER_SHARED``. In CI it must be there: a test that needs it fails
when it is missing under ``CI=true`` and is skipped elsewhere.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable

import pytest

import lean_fake
from search.problem import Problem

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    return Path(os.environ.get("PROVER_SHARED", REPO_ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if not (path / "benchmarks").is_dir():
        message = f"shared reference data not found at {path} (set PROVER_SHARED)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def jsonl_rows(path: Path) -> list[dict]:
    """The records of a JSONL file, blank lines skipped."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def row_problem(row: dict) -> Problem:
    """A benchmark row (miniF2F's fields) as the ``Problem`` prompts are built from, with its
    docstring apart (``informal``), as the benchmark loader gives it."""
    return Problem(row["name"], row["header"], row["formal_statement"], row["informal_prefix"])


@pytest.fixture(scope="session")
def minif2f(shared: Path) -> list[dict]:
    """The rows of the shared miniF2F copy (read once)."""
    return jsonl_rows(shared / "benchmarks" / "minif2f.jsonl")


def pytest_collection_modifyitems(config, items):
    # Tests that need real Lean run wherever `lake` is on PATH, and are skipped (with the
    # reason) elsewhere: there is no other way to get a toolchain onto a machine without one.
    if shutil.which("lake"):
        return
    skip = pytest.mark.skip(reason="needs a real Lean toolchain: `lake` is not on PATH")
    for item in items:
        if "lean" in item.keywords:
            item.add_marker(skip)


FAKE_REPL = Path(lean_fake.command()[1])  # the package directory, runnable by path


def fake_repl_command(*args: str) -> tuple[str, ...]:
    """The fake REPL as a command line (``lean_fake.command``): run by path, so the child
    imports no project package."""
    return lean_fake.command(*args)


def process_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def run_until(command: list[str], ready: Callable[[], bool],
              then: Callable[[subprocess.Popen], object] = lambda p: p.send_signal(signal.SIGINT),
              *, timeout: float = 90, what: str = "the awaited state") -> tuple[int, str, str]:
    """Run ``command`` until ``ready()`` holds, call ``then(proc)`` (default: SIGINT, as
    Ctrl-C), and wait for it to end: (exit code, stdout, stderr). Fails when the command ends
    before ``ready()`` holds; never leaves it running."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{what} did not appear before the run ended")
            time.sleep(0.02)
        then(proc)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err
