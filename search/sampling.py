"""Whole-proof sampling: pass@k with an N×T budget.

Each attempt asks the proposer for T whole proofs (in batches, so a GPU backend sees them
together) and checks them concurrently; the first verified proof ends the search.
"""
from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from search.problem import Problem
from search.protocols import LeanChecker, ProofProposer

from .budget import Budget
from .result import LeanTally, SearchResult
from .verify import verify


async def sample_search(problem: Problem, *, proposer: ProofProposer, lean: LeanChecker,
                        budget: Budget, rng: random.Random, batch: int = 8,
                        temperature: float = 1.0) -> SearchResult:
    started = time.monotonic()
    generations = lean_calls = 0
    trace: list[dict[str, Any]] = []
    tally = LeanTally()
    for attempt in range(budget.attempts):
        done = 0
        while done < budget.per_attempt:
            k = min(batch, budget.per_attempt - done)
            proposals = await proposer.propose_proofs(problem, k, seed=rng.randrange(2**31),
                                                      temperature=temperature)
            generations += k
            results = await asyncio.gather(*(verify(lean, problem, p.text) for p in proposals))
            lean_calls += len(results)
            for result in results:
                tally.check(result)
            for i, (proposal, result) in enumerate(zip(proposals, results, strict=True)):
                trace.append({"attempt": attempt, "status": result.status.value})
                if result.proved:
                    return SearchResult(problem.name, proposal.text, generations, lean_calls,
                                        time.monotonic() - started, budget.cost(attempt, done + i + 1),
                                        "sample", {}, tuple(trace), **tally.fields())
            done += k
    return SearchResult(problem.name, None, generations, lean_calls, time.monotonic() - started,
                        None, "sample", {}, tuple(trace), **tally.fields())
