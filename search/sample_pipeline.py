"""Whole-proof sampling without self-correction, with generation and Lean overlapped.

``sample_search`` with R = 0 splits each attempt's T generations into batches of at most
``batch`` (``batch_plan``: the same split as ever). With ``pipeline=0`` the batches run as they
always did, one at a time: ask, check all, read the verdicts, then ask the next. The generator
idles while Lean checks and Lean idles while the generator works.

With ``pipeline=D > 0`` batch k+1 is asked as soon as batch k's proposals are in, while batch k
is checked, and so on up to D batches asked ahead of the oldest batch whose verdicts are not
all in. Generation stays sequential (one request in flight per search, as before), so a
backend still sees whole batches; the checks of every batch go to Lean as soon as its
proposals are in (the pool bounds how many run at once). What does not change:

* the batches and their order: the same sizes, their seeds drawn from ``rng`` in the same
  order, when each is asked (the batches are asked in order, one after the other);
* the verdicts are read batch by batch in candidate order, so the first proof in candidate
  order wins and its ``cost`` is ``budget.cost(attempt, its index)``, as before; the trace holds
  the verdicts read, in that order, up to the proof (batches asked ahead are not in it);
* a found proof cancels what is in flight: the batch being generated and the checks of the
  batches asked ahead.

What a run may count differently: ``generations`` counts what was asked, so a proof found
before the last batch counts the batches asked ahead too (at most D × ``batch`` more than a
barrier run); ``lean_calls`` counts every check sent to Lean, those of batches asked ahead
included, and a candidate identical to one already judged in the search is not sent
(``search.verdicts``; ``distinct`` counts the distinct candidates). Both are work really done. With an instant proposer and an instant Lean, proof, cost
and trace equal the barrier schedule's.
"""
from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterator

from lean_bridge.outcome import CheckResult
from search.problem import Problem
from search.protocols import LeanChecker, ProofProposer, Proposal

from .budget import Budget
from .result import LeanTally, SearchResult
from .verdicts import SharedVerdicts, VerdictCache


@dataclass(frozen=True)
class BatchPlan:
    """One batch of first answers: ``size`` generations of ``attempt`` after ``start``."""

    attempt: int
    start: int
    size: int


def batch_plan(budget: Budget, batch: int) -> Iterator[BatchPlan]:
    """Every batch of a run, in the order they are asked."""
    for attempt in range(budget.attempts):
        done = 0
        while done < budget.per_attempt:
            size = min(batch, budget.per_attempt - done)
            yield BatchPlan(attempt, done, size)
            done += size


@dataclass
class _InFlight:
    """A batch whose proposals are in and whose checks run."""

    plan: BatchPlan
    proposals: list[Proposal]
    checks: asyncio.Task[list[CheckResult]]


async def pipelined_sample(problem: Problem, *, proposer: ProofProposer, lean: LeanChecker,
                           budget: Budget, rng: random.Random, batch: int, temperature: float,
                           pipeline: int, shared: SharedVerdicts | None = None) -> SearchResult:
    """``sample_search`` with R = 0 (module docstring); ``pipeline`` batches asked ahead."""
    if pipeline < 0:
        raise ValueError(f"pipeline must be 0 or more, got {pipeline}")
    started = time.monotonic()
    generations = 0
    trace: list[dict[str, Any]] = []
    tally = LeanTally()
    plans = batch_plan(budget, batch)
    # No candidate checked twice (``search.verdicts``): the tally hears each real check, and
    # ``lean_calls`` counts the checks sent, those of batches asked ahead included.
    verdicts = VerdictCache(lean, on_check=tally.check,
                            shared=shared.checks if shared is not None else None)

    async def check_all(proposals: list[Proposal]) -> list[CheckResult]:
        return list(await asyncio.gather(*(verdicts.verify(problem, p.text)
                                           for p in proposals)))

    def ask(plan: BatchPlan) -> asyncio.Task[list[Proposal]]:
        nonlocal generations
        # The seed is drawn here, when the batch is asked: batches are asked in order.
        seed = rng.randrange(2**31)
        generations += plan.size
        return asyncio.ensure_future(proposer.propose_proofs(problem, plan.size, seed=seed,
                                                             temperature=temperature))

    inflight: deque[_InFlight] = deque()
    failure: BaseException | None = None
    first = next(plans, None)
    asking: tuple[BatchPlan, asyncio.Task[list[Proposal]]] | None = \
        None if first is None else (first, ask(first))
    try:
        while asking is not None or inflight:
            waiting: set[asyncio.Future[Any]] = set()
            if asking is not None:
                waiting.add(asking[1])
            if inflight:  # only the oldest batch's verdicts can be read next
                waiting.add(inflight[0].checks)
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if asking is not None and asking[1].done():
                asked, task = asking
                asking = None
                if task.exception() is not None:
                    # A failed ask ends the search, but only once the batches asked before
                    # it are read: the barrier schedule would have found their proof first.
                    failure = task.exception()
                else:
                    proposals = task.result()
                    inflight.append(_InFlight(asked, proposals,
                                              asyncio.ensure_future(check_all(proposals))))
            while inflight and inflight[0].checks.done():
                done = inflight.popleft()
                results = done.checks.result()
                for i, (proposal, result) in enumerate(zip(done.proposals, results, strict=True)):
                    trace.append({"attempt": done.plan.attempt, "status": result.status.value,
                                  "round": 0})
                    if result.proved:
                        return SearchResult(
                            problem.name, proposal.text, generations, verdicts.calls,
                            time.monotonic() - started,
                            budget.cost(done.plan.attempt, done.plan.start + i + 1), "sample",
                            {}, tuple(trace), **tally.fields(), round=0,
                            distinct=verdicts.distinct)
            # Ask the next batch when no ask runs and at most ``pipeline`` batches wait for
            # their verdicts (0: only when none does, the barrier schedule).
            if asking is None and failure is None and len(inflight) <= pipeline:
                upcoming = next(plans, None)
                if upcoming is not None:
                    asking = (upcoming, ask(upcoming))
    finally:
        # A proof (or the caller's cancellation) ends the search: stop what is in flight.
        pending: list[asyncio.Task[Any]] = [b.checks for b in inflight]
        if asking is not None:
            pending.append(asking[1])
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    if failure is not None:
        raise failure
    return SearchResult(problem.name, None, generations, verdicts.calls,
                        time.monotonic() - started, None, "sample", {}, tuple(trace),
                        **tally.fields(), distinct=verdicts.distinct)


__all__ = ["BatchPlan", "batch_plan", "pipelined_sample"]
