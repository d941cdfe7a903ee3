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

from search.budget import Budget
from search.decompose import decompose_search
from search.methods import LEAF_SEARCHES, SearchFunction, SearchMethod, unknown_method
from search.problem import Problem
from search.protocols import LeanChecker, Proposer
from search.result import SearchResult

METHODS: dict[str, SearchFunction] = {**LEAF_SEARCHES, SearchMethod.DECOMPOSE.value: decompose_search}


async def search(problem: Problem, *, method: str, proposer: Proposer, lean: LeanChecker,
                 budget: Budget, rng: random.Random, **options: Any) -> SearchResult:
    try:
        run = METHODS[method]
    except KeyError:
        raise unknown_method(method, METHODS) from None
    return await run(problem, proposer=proposer, lean=lean, budget=budget, rng=rng, **options)
