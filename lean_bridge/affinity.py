"""Which idle unit a call for an import header takes: the choice shared by the local REPL pool
(``ReplPool``, a unit is one REPL process) and the Ray fleet (``Fleet``, a unit is one Lean
worker actor holding a pool of its own).

Elaborating a header (``import Mathlib``) costs seconds to minutes, so a unit already warm on
the call's header is taken first, the most recently used of those (its caches are the
freshest). Without one, the least recently used idle unit is the one to give up: the pool
evicts it (when it may not start a new process), the fleet hands it over cold.

Ties on the last-use time go to the unit that comes first in ``idle`` (``max``/``min`` keep
the first of equal keys), for the warm and the cold choice alike; the pool and the fleet
both relied on exactly this before they shared it, so there is no tie-breaking parameter.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Collection, Generic, Sequence, TypeVar

U = TypeVar("U")


@dataclass(frozen=True)
class Pick(Generic[U]):
    """The unit to take, and whether it is already warm on the header."""
    unit: U
    warm: bool


def pick(idle: Sequence[U], header: str | None, *, headers: Callable[[U], Collection[str]],
         last_used: Callable[[U], float]) -> Pick[U] | None:
    """The most recently used unit of ``idle`` warm on ``header`` (``header in headers(u)``),
    else the least recently used one, cold; None when ``idle`` is empty. (The fleet asks with
    ``None`` for a call without a header; no unit lists ``None``, so it is warm nowhere.)"""
    warm = [unit for unit in idle if header in headers(unit)]
    if warm:
        return Pick(max(warm, key=last_used), True)
    if idle:
        return Pick(min(idle, key=last_used), False)
    return None


__all__ = ["Pick", "pick"]
