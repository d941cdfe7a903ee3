"""Several proposers behind one: asked in order, each for what is still missing."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

from search.problem import Problem
from search.protocols import Proposal, Proposer, StepContext, can_correct, token_counter_of


@dataclass(frozen=True)
class _Made:
    """A proposal's ``history`` under a mix: which member made it, and the member's own."""

    member: int
    history: Any


def _tagged(got: list[Proposal], member: int) -> list[Proposal]:
    return [replace(p, history=_Made(member, p.history)) for p in got]


def _untagged(history: Sequence[Proposal]) -> list[Proposal]:
    return [replace(p, history=p.history.history) if isinstance(p.history, _Made) else p
            for p in history]


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
        for member, p in enumerate(self.proposers):
            if len(out) >= n:
                break
            got = await p.propose_proofs(problem, n - len(out), prefix=prefix,  # type: ignore[union-attr]
                                         tactic_state=tactic_state, seed=seed,
                                         temperature=temperature, state_comment=state_comment)
            self._merge(out, seen, _tagged(got, member), n)
        return out

    def can_correct(self) -> bool:
        return any(can_correct(p) for p in self.proposers)

    async def propose_correction(self, problem: Problem, history: Sequence[Proposal],
                                 check: Any, **kwargs: Any) -> list[Proposal]:
        """The member that made the proposal corrects it (nothing when it cannot)."""
        made = history[-1].history if history else None
        if not isinstance(made, _Made):
            return []
        member = self.proposers[made.member]
        if not can_correct(member):
            return []
        got = await member.propose_correction(problem, _untagged(history), check,  # type: ignore[union-attr]
                                              **kwargs)
        return _tagged(got, made.member)

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
