"""What ``prover prove`` shows while it runs (a reporter per theorem) and at the end (a diff, a
table)."""
from __future__ import annotations

import difflib
import sys
import time
from typing import Any

from prover.drivers.outcomes import TheoremOutcome, TheoremStatus


class Reporter:
    """Progress of a run; the base class says nothing."""

    def start(self, index: int, total: int, name: str, budget_total: int) -> None: ...

    def update(self, name: str, generations: int, depth: int | None) -> None: ...

    def finish(self, outcome: TheoremOutcome) -> None: ...

    def close(self) -> None: ...


def _done_line(o: TheoremOutcome) -> str:
    if o.reused:
        return f"{o.name}: proved (reused from the progress file)"
    tree = ""
    if "nodes" in o.tree:
        tree = f", tree {o.tree['nodes']} nodes, depth {o.tree.get('max_depth', 0)}"
    distinct = f" ({o.distinct} distinct candidates)" if o.distinct is not None else ""
    return (f"{o.name}: {o.status} after {o.generations} generations, {o.lean_calls} Lean calls"
            f"{distinct}{tree}, {o.seconds:.1f} s")


class PlainReporter(Reporter):
    """Plain lines on a stream (stderr when it is not a terminal); in-flight updates at most
    every ``every`` seconds."""

    def __init__(self, stream=None, every: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.every = every
        self._last = 0.0
        self._started = 0.0
        self._budget = 0
        self._prefix = ""

    def _say(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def start(self, index: int, total: int, name: str, budget_total: int) -> None:
        self._started = self._last = time.monotonic()
        self._budget = budget_total
        self._prefix = f"[{index}/{total}]"
        self._say(f"{self._prefix} {name}: searching (budget {budget_total} generations)")

    def update(self, name: str, generations: int, depth: int | None) -> None:
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            d = f", depth {depth}" if depth is not None else ""
            self._say(f"{self._prefix} {name}: {generations}/{self._budget} generations{d}, "
                      f"{now - self._started:.0f} s")

    def finish(self, outcome: TheoremOutcome) -> None:
        self._say(f"{self._prefix} {_done_line(outcome)}")


class RichReporter(Reporter):
    """A live progress bar per theorem (budget used, best depth, elapsed) on a terminal."""

    def __init__(self, console=None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("gen"), TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
            console=console or Console(stderr=True), transient=False)
        self.progress.start()
        self.tasks: dict[str, Any] = {}

    def start(self, index: int, total: int, name: str, budget_total: int) -> None:
        self.tasks[name] = self.progress.add_task(f"[{index}/{total}] {name}", total=budget_total,
                                                  info="")

    def update(self, name: str, generations: int, depth: int | None) -> None:
        task = self.tasks.get(name)
        if task is not None:
            self.progress.update(task, completed=generations,
                                 info="" if depth is None else f"depth {depth}")

    def finish(self, outcome: TheoremOutcome) -> None:
        task = self.tasks.get(outcome.name)
        colour = "green" if outcome.status is TheoremStatus.PROVED else "red"
        info = f"[{colour}]{outcome.status}[/]"
        if outcome.reused:
            info += " (reused)"
        elif "nodes" in outcome.tree:
            info += f" tree {outcome.tree['nodes']} nodes, depth {outcome.tree.get('max_depth', 0)}"
        if task is None:
            self.progress.console.print(_done_line(outcome))
            return
        self.progress.update(task, completed=outcome.generations, info=info)
        self.progress.stop_task(task)

    def close(self) -> None:
        self.progress.stop()


def make_reporter(quiet: bool = False) -> Reporter:
    if quiet:
        return Reporter()
    if sys.stderr.isatty():
        return RichReporter()
    return PlainReporter(sys.stderr)


def diff(old: str, new: str, path: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=path, tofile=path + " (proved)"))


def _note(row: dict[str, Any]) -> str:
    """A result row's first reason, and its Lean checks that crashed or timed out: a search
    that Lean did not fully judge must not read as an ordinary "no proof"."""
    parts = [row["reasons"][0][:80]] if row.get("reasons") else []
    if row.get("round"):
        parts.append(f"proved by self-correction round {row['round']}")
    if row.get("crashed"):
        parts.append(f"{row['crashed']} Lean check(s) crashed")
    if row.get("timeouts"):
        parts.append(f"{row['timeouts']} Lean check(s) timed out")
    return "; ".join(parts)


def print_summary(report: dict[str, Any], console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report['file']}  ({report['config'].get('search')}, "
                        f"budget {report['config'].get('budget')})")
    for column in ("theorem", "status", "generations", "Lean calls", "distinct", "seconds",
                   "note"):
        table.add_column(column)
    for row in report["theorems"]:
        colour = "green" if row["status"] == "proved" else "red"
        note = "reused" if row.get("reused") else _note(row)
        distinct = row.get("distinct")
        table.add_row(row["name"], f"[{colour}]{row['status']}[/]", str(row["generations"]),
                      str(row["lean_calls"]), "-" if distinct is None else str(distinct),
                      f"{row['seconds']:.2f}", note)
    (console or Console()).print(table)


__all__ = ["PlainReporter", "Reporter", "RichReporter", "diff", "make_reporter", "print_summary"]
