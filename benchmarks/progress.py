"""What ``prover eval`` and ``synth`` show while they run.

On a terminal, an attempt can take minutes (a local model generating 32 proofs), so a live
display shows each attempt in flight: its generations asked so far out of the budget, and the
time it has taken; a finished attempt leaves its line (``runner.finished_line``) above the
live area, and the bottom row keeps the running rate. Anywhere else (a log file, a pipe)
only the finished lines are written (``runner.ProgressLines``): redrawn bars are noise there.

Both take the same calls from the driver: ``start(problem, attempt)``,
``generations(problem, attempt, n)`` (from ``runner.LocalAttempts``' ``watch``),
``(record, tally)`` once an attempt has its line, and ``close()``.
"""
from __future__ import annotations

import sys
from typing import Any, Mapping, TextIO

from benchmarks.runner import ProgressLines, Tally, finished_line


class LiveProgress:
    """A live row per attempt in flight (generations of ``per_attempt``, elapsed) and one for
    the run (attempts finished of ``total``, the running rate), drawn with ``rich``."""

    def __init__(self, per_attempt: int, total: int, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.per_attempt = per_attempt
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"), TimeElapsedColumn(),
            console=console or Console(stderr=True), transient=True)
        self.run = self.progress.add_task("run", total=total, unit="attempts")
        self.tasks: dict[tuple[str, int], Any] = {}
        self.progress.start()

    def start(self, problem: str, attempt: int) -> None:
        self.tasks[problem, attempt] = self.progress.add_task(
            f"{problem} #{attempt}", total=self.per_attempt, unit="generations")

    def generations(self, problem: str, attempt: int, n: int) -> None:
        task = self.tasks.get((problem, attempt))
        if task is not None:
            self.progress.update(task, completed=min(n, self.per_attempt))

    def __call__(self, record: Mapping[str, Any], tally: Tally) -> None:
        task = self.tasks.pop((record["problem"], record["attempt"]), None)
        if task is not None:
            self.progress.remove_task(task)
        self.progress.console.print(finished_line(record, tally), markup=False, highlight=False)
        self.progress.update(self.run, advance=1, description=tally.line())

    def close(self) -> None:
        self.progress.stop()


def make_progress(*, quiet: bool, per_attempt: int, total: int,
                  stream: TextIO | None = None) -> LiveProgress | ProgressLines | None:
    """The display for a run: none with ``quiet``, live on a terminal, else plain lines."""
    if quiet:
        return None
    stream = stream or sys.stderr
    if stream.isatty():
        return LiveProgress(per_attempt, total)
    return ProgressLines(stream)


__all__ = ["LiveProgress", "make_progress"]
