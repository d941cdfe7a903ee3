"""The one registry of search methods: their names (``SearchMethod``, what ``--search`` and
``prover.toml`` accept, in the order help texts list them) and the searches that prove a
problem on their own (``LEAF_SEARCHES``). Subgoal decomposition is a method too, but it
searches its lemmas with a leaf method, so it lives above this module (``search.decompose``)
and ``search.api`` completes the table with it."""
from __future__ import annotations

from enum import Enum
from typing import Any, Awaitable, Callable

from search.bestfirst import bestfirst_search
from search.result import SearchResult
from search.rmaxts import rmaxts_search
from search.sampling import sample_search


class SearchMethod(str, Enum):
    SAMPLE = "sample"
    RMAXTS = "rmaxts"
    BESTFIRST = "bestfirst"
    DECOMPOSE = "decompose"


METHOD_NAMES: tuple[str, ...] = tuple(m.value for m in SearchMethod)

# Every search takes ``(problem, *, proposer, lean, budget, rng, **options)``.
SearchFunction = Callable[..., Awaitable[SearchResult]]

LEAF_SEARCHES: dict[str, SearchFunction] = {
    SearchMethod.SAMPLE.value: sample_search,
    SearchMethod.RMAXTS.value: rmaxts_search,
    SearchMethod.BESTFIRST.value: bestfirst_search,
}


def unknown_method(method: str, known: Any = METHOD_NAMES) -> ValueError:
    return ValueError(f"unknown search method {method!r}; choose from {sorted(known)}")


__all__ = ["LEAF_SEARCHES", "METHOD_NAMES", "SearchFunction", "SearchMethod", "unknown_method"]
