"""Several proposers behind one: asked in order, each for what is still missing."""
from __future__ import annotations

from typing import Callable, Sequence

from search.problem import Problem
from search.protocols import Proposal, Proposer, StepContext, token_counter_of


class MixProposer:
    """Several proposers asked in order, each for what is still missing, until ``n``
    distinct texts are collected (first occurrence wins). One pass: when duplicates
    leave it short, it returns fewer than ``n`` rather than asking again."""

    def __init__(self, proposers: Sequence[Proposer]) -> None:
        self.proposers = list(proposers)

    @staticmethod
    def _merge(out: list[Proposal], seen: set[str], got: list[Proposal], n: int) -> None:
        for p in got:
            if len(out) < n and p.text not in seen:
                seen.add(p.text)
                out.append(p)

    async def propose_proofs(self, problem: Problem, n: int, *, prefix: str = "",
                             tactic_state: str | None = None, seed: int | None = None,
                             temperature: float = 1.0, state_comment: str | None = None
                             ) -> list[Proposal]:
        out: list[Proposal] = []
        seen: set[str] = set()
        for p in self.proposers:
            if len(out) >= n:
                break
            got = await p.propose_proofs(problem, n - len(out), prefix=prefix,  # type: ignore[union-attr]
                                         tactic_state=tactic_state, seed=seed,
                                         temperature=temperature, state_comment=state_comment)
            self._merge(out, seen, got, n)
        return out

    def token_counter(self) -> Callable[[str], int] | None:
        """The first member's that has one: the models' prompts are what the cap is for."""
        return next((c for p in self.proposers if (c := token_counter_of(p)) is not None), None)

    async def propose_tactics(self, goal: str, n: int, *, seed: int | None = None,
                              context: StepContext | None = None) -> list[Proposal]:
        out: list[Proposal] = []
        seen: set[str] = set()
        for p in self.proposers:
            if len(out) >= n:
                break
            got = await p.propose_tactics(goal, n - len(out), seed=seed,  # type: ignore[union-attr]
                                          context=context)
            self._merge(out, seen, got, n)
        return out


__all__ = ["MixProposer"]
