"""What a search needs from the world, as protocols: it receives implementations as arguments
(like mctx's ``search()`` receives its model) and never imports the application.

* ``ProofProposer``: whole proofs, or continuations of a ``prefix`` (``problem.statement +
  prefix + proposal.text`` is the proof to check), optionally shown the tactic state there.
* ``TacticProposer``: single tactics for a pretty-printed goal.
* ``LeanChecker``: the full verdict on a file, on a worker already held, and tactic sessions;
  ``lean_bridge.checker.LeanChecker`` is the implementation.

Either proposer may return fewer than ``n`` (unusable output is dropped, never padded).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncContextManager, Protocol, Union, runtime_checkable

from lean_bridge.checker import ProofSession
from lean_bridge.outcome import CheckResult
from lean_bridge.pool import Worker
from lean_bridge.reference import Reference
from search.problem import Problem


@dataclass(frozen=True)
class Proposal:
    text: str
    logprob: float | None  # cumulative log-probability when the backend knows it
    tokens: int


@runtime_checkable
class ProofProposer(Protocol):
    async def propose_proofs(self, problem: Problem, n: int, *, prefix: str = "",
                             tactic_state: str | None = None, seed: int | None = None,
                             temperature: float = 1.0) -> list[Proposal]:
        ...


@runtime_checkable
class TacticProposer(Protocol):
    async def propose_tactics(self, goal: str, n: int, *, seed: int | None = None
                              ) -> list[Proposal]:
        ...


# What ``search.api.search`` accepts: the method decides which of the two it asks.
Proposer = Union[ProofProposer, TacticProposer]


class LeanChecker(Protocol):
    async def check(self, header: str, body: str, *, reference: Reference | None = None,
                    all_tactics: bool = False) -> CheckResult:
        ...

    async def check_on(self, worker: Worker, body: str, *, reference: Reference | None = None,
                       all_tactics: bool = False) -> CheckResult:
        ...

    def proof_session(self, header: str, statement: str, reference: Reference | None = None
                      ) -> AsyncContextManager[ProofSession]:
        ...


__all__ = ["LeanChecker", "ProofProposer", "Proposal", "Proposer", "TacticProposer"]
