"""Keeping the generator fed across problems: which problems of an eval run may start.

Today's rule (``prefetch=0``): ``concurrency`` problems in flight (the CLI sets it to the
number of Lean workers), each running its attempts in order. When every problem in flight is
waiting for Lean (the last batch of a sampling attempt, a search's final checks), the
generator has nothing to do although the next problem could be generating already.

``Admission`` adds ``prefetch`` more: a problem beyond the first ``concurrency`` starts only
while the generator is idle (no generation request of the run in flight, as ``GeneratorGauge``
counts them), so the extra problems fill the generator's idle time and never crowd a busy
generator; once started a problem runs to its end, as before. Problems start in benchmark
order either way. Results do not depend on the schedule: each attempt has its own seed
(``benchmarks.runner.attempt_seed``), only the order the lines are written in may change, and
wall-clock limits count from a problem's start as before (a started problem may wait longer
for a Lean worker, as it already may with concurrent checks).

Without a gauge (attempts hosted elsewhere, e.g. on Ray, whose generation this process does
not see) ``prefetch`` is ignored: the rule is today's.

"Idle" is read when a problem finishes or the last generation request in flight ends, and
only counts once the problem started last has asked for something (until then it is about to
use the generator). A search asks its next batch on its next step, so an instant of idleness
between two of its batches may still admit a problem that was not needed; that costs at most
``prefetch`` problems in flight, the bound anyway.
"""
from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Callable

from search.watched import WatchedProposer


class GeneratorGauge:
    """Counts the generation requests in flight through the proposers it watches."""

    def __init__(self) -> None:
        self.busy = 0
        self.asked = 0  # requests started so far
        self.listeners: list[Callable[[], None]] = []  # hear the generator become idle

    def watch(self, proposer: Any) -> WatchedProposer:
        """``proposer``, with each of its requests counted while it runs."""
        return WatchedProposer(proposer, self._asked, on_end=self._answered)

    @property
    def idle(self) -> bool:
        return self.busy == 0

    def _asked(self, n: int, depth: int | None) -> None:
        self.busy += 1
        self.asked += 1

    def _answered(self) -> None:
        self.busy -= 1
        if self.busy == 0:
            for listener in self.listeners:
                listener()


class Admission:
    """An async context manager around one problem: at most ``concurrency`` problems in it,
    and up to ``prefetch`` more while ``gauge`` says the generator is idle (module docstring)."""

    def __init__(self, concurrency: int, prefetch: int = 0,
                 gauge: GeneratorGauge | None = None) -> None:
        if prefetch < 0:
            raise ValueError(f"prefetch must be 0 or more, got {prefetch}")
        self.limit = max(1, concurrency)
        self.extra = prefetch if gauge is not None else 0
        self.gauge = gauge
        self.running = 0
        self._asked_at_start = -1  # the gauge's count when the last problem started
        self.peak = 0  # most problems in flight at once (the tests and the benchmark read it)
        self._wake = asyncio.Event()
        if gauge is not None:
            gauge.listeners.append(self._wake.set)

    def _may_start(self) -> bool:
        if self.running < self.limit:
            return True
        # An extra problem while the generator idles, once the problem started last has
        # asked (a problem just started has not had its turn at the generator yet).
        return self.running < self.limit + self.extra and self.gauge is not None \
            and self.gauge.idle and self.gauge.asked > self._asked_at_start

    async def __aenter__(self) -> None:
        while not self._may_start():
            self._wake.clear()
            await self._wake.wait()
        self.running += 1
        self.peak = max(self.peak, self.running)
        if self.gauge is not None:
            self._asked_at_start = self.gauge.asked

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        self.running -= 1
        self._wake.set()


__all__ = ["Admission", "GeneratorGauge"]
