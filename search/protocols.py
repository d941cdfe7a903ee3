"""What a search needs from the world, as protocols: it receives implementations as arguments
(like mctx's ``search()`` receives its model) and never imports the application.

* ``ProofProposer``: whole proofs, or continuations of a ``prefix`` (``problem.statement +
  prefix + proposal.text`` is the proof to check), optionally shown the tactic state there:
  ``tactic_state`` is the goal text; ``state_comment``, when given, is the exact comment
  text a prompt carries after the prefix ("" for none), made by the search (RMaxTS counts
  its tokens), so a prompt-building proposer must not rebuild it. An empty continuation
  of a non-empty prefix is a proposal (the prefix alone may be a proof).
* ``CorrectingProposer``: a whole-proof proposer that can answer Lean's verdict on one of
  its own proposals with a corrected one (self-correction): ``history`` is the candidate's
  proposals so far, oldest first (``len(history) - 1`` is the round of the last one, 0 = the
  first answer), ``check`` Lean's verdict on the last. What the proposer needs to build the
  next turn (its request, the model's raw answer) rides on ``Proposal.history``, opaque
  to search. ``can_correct(proposer)`` says whether a proposer (or a wrapper's inner one)
  can; one that cannot is never asked.
* ``TokenCounting``: a proposer that can count a prompt's tokens with its model's
  tokenizer (``token_counter()``; None when it has none), for RMaxTS's prompt cap.
* ``TacticProposer``: single tactics for a pretty-printed goal; best-first search also passes
  a ``StepContext`` (the problem, the tactics that led to the goal) for step-prover prompts
  that show the declaration name and the proof so far (InternLM2/2.5-StepProver).
* ``LeanChecker``: the full verdict on a file, on a worker already held, and tactic sessions;
  ``lean_bridge.checker.LeanChecker`` is the implementation.

Either proposer may return fewer than ``n`` (unusable output is dropped, never padded).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, AsyncContextManager, Callable, Protocol, Sequence, Union, runtime_checkable

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
    # What the proposer needs to correct this proposal (its request and the model's raw
    # answer); opaque to search, never compared.
    history: Any = field(default=None, compare=False, repr=False)


@runtime_checkable
class ProofProposer(Protocol):
    async def propose_proofs(self, problem: Problem, n: int, *, prefix: str = "",
                             tactic_state: str | None = None, seed: int | None = None,
                             temperature: float = 1.0, state_comment: str | None = None
                             ) -> list[Proposal]:
        ...


@runtime_checkable
class CorrectingProposer(Protocol):
    async def propose_correction(self, problem: Problem, history: Sequence[Proposal],
                                 check: CheckResult, *, seed: int | None = None,
                                 temperature: float = 1.0) -> list[Proposal]:
        """At most one proposal: the next turn after ``check`` refused ``history[-1]``."""
        ...


def can_correct(proposer: object) -> bool:
    """Whether ``proposer`` can be asked ``propose_correction``: its ``can_correct()`` when it
    has one (wrappers forward their inner proposer's), else whether it has the method."""
    probe = getattr(proposer, "can_correct", None)
    if callable(probe):
        return bool(probe())
    return callable(getattr(proposer, "propose_correction", None))


@runtime_checkable
class TokenCounting(Protocol):
    def token_counter(self) -> Callable[[str], int] | None:
        """A function counting the model's tokens in a text; None when there is none."""
        ...


@dataclass(frozen=True)
class StepContext:
    """Where a goal sits: the ``problem`` being proved and the ``tactics`` run from its root
    state to this goal, in order (empty at the root)."""

    problem: Problem
    tactics: tuple[str, ...] = ()


@runtime_checkable
class TacticProposer(Protocol):
    async def propose_tactics(self, goal: str, n: int, *, seed: int | None = None,
                              context: StepContext | None = None) -> list[Proposal]:
        ...


def token_counter_of(proposer: object) -> Callable[[str], int] | None:
    """``proposer.token_counter()`` when it has one (``TokenCounting``), else None.
    Wrappers (``MixProposer``, ``WatchedProposer``) forward it."""
    counter = getattr(proposer, "token_counter", None)
    return counter() if callable(counter) else None


# What ``search.api.search`` accepts: the method decides which of the two it asks.
Proposer = Union[ProofProposer, TacticProposer]


class LeanChecker(Protocol):
    async def check(self, header: str, body: str, *, reference: Reference | None = None,
                    all_tactics: bool = False) -> CheckResult:
        ...

    async def check_on(self, worker: Worker, body: str, *, reference: Reference | None = None,
                       all_tactics: bool = False) -> CheckResult:
        ...

    def proof_session(self, header: str, statement: str, reference: Reference | None = None,
                      *, open_root: bool = True) -> AsyncContextManager[ProofSession]:
        ...


__all__ = ["CorrectingProposer", "LeanChecker", "ProofProposer", "Proposal", "Proposer",
           "StepContext", "TacticProposer", "TokenCounting", "can_correct", "token_counter_of"]
