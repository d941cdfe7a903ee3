"""A proposer wrapper that reports how much of the budget has been asked for, as it is asked:
progress displays (``prover prove``, the eval runner) count generations without the search
knowing about them; ``on_end`` hears each request end (answered, failed or cancelled), so a
caller can tell when the generator is idle (``benchmarks.feeding``)."""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Sequence

from search.problem import Problem
from search.protocols import Proposal, can_correct, token_counter_of


class WatchedProposer:
    """A proposer that tells the reporter how much of the budget has been asked for."""

    def __init__(self, inner: Any, on_ask: Callable[[int, int | None], None],
                 on_end: Callable[[], None] | None = None) -> None:
        self.inner = inner
        self.on_ask = on_ask
        self.on_end = on_end

    async def _ended(self, request: Callable[[], Awaitable[list[Proposal]]]) -> list[Proposal]:
        try:
            return await request()
        finally:
            if self.on_end is not None:
                self.on_end()

    async def propose_proofs(self, problem: Problem, n: int, **kwargs: Any) -> list[Proposal]:
        prefix = kwargs.get("prefix") or ""
        depth = sum(1 for line in prefix.splitlines() if line.strip())
        self.on_ask(n, depth)
        return await self._ended(lambda: self.inner.propose_proofs(problem, n, **kwargs))

    def token_counter(self) -> Callable[[str], int] | None:
        return token_counter_of(self.inner)

    def can_correct(self) -> bool:
        return can_correct(self.inner)

    async def propose_correction(self, problem: Problem, history: Sequence[Proposal],
                                 check: Any, **kwargs: Any) -> list[Proposal]:
        """A correction turn is one generation of the budget (``search.sampling``)."""
        self.on_ask(1, None)
        return await self._ended(lambda: self.inner.propose_correction(problem, history, check,
                                                                       **kwargs))

    async def propose_tactics(self, goal: str, n: int, **kwargs: Any) -> list[Proposal]:
        self.on_ask(n, None)
        return await self._ended(lambda: self.inner.propose_tactics(goal, n, **kwargs))


__all__ = ["WatchedProposer"]
