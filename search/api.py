"""One entry point for every search algorithm.

``search(problem, method=…, proposer=…, lean=…, budget=…, rng=…, **options)`` runs whole-proof
sampling (``"sample"``), RMaxTS (``"rmaxts"``), best-first tactic search (``"bestfirst"``) or
subgoal decomposition (``"decompose"``: a ``have … := by sorry`` sketch whose gaps become
lemmas proved by another of these searches) and returns a ``SearchResult``. The proposer and the Lean checker are passed in; nothing here
knows how either is implemented. Options go to the chosen algorithm (e.g. ``concurrency`` and
``checkpoint`` for RMaxTS, ``width`` for best-first, ``batch`` for sampling).
"""
from __future__ import annotations

import random
from typing import Any

from lean_bridge.checker import LeanChecker
from search.problem import Problem

from .bestfirst import bestfirst_search
from .budget import Budget
from .decompose import decompose_search
from .result import SearchResult
from .rmaxts import rmaxts_search
from .sampling import sample_search

METHODS = {"sample": sample_search, "rmaxts": rmaxts_search, "bestfirst": bestfirst_search,
           "decompose": decompose_search}


async def search(problem: Problem, *, method: str, proposer: Any, lean: LeanChecker,
                 budget: Budget, rng: random.Random, **options: Any) -> SearchResult:
    try:
        run = METHODS[method]
    except KeyError:
        raise ValueError(f"unknown search method {method!r}; choose from {sorted(METHODS)}") from None
    return await run(problem, proposer=proposer, lean=lean, budget=budget, rng=rng, **options)
