"""Tactic mode: a pinned worker, the root proof state of a statement, one tactic at a time.

Every answer becomes a ``TacticStep`` through one rule, ``step_of``, which reads the verdict
from ``outcome.step_verdict`` (the rule the recorded transcripts test): an error message or a
``proofStatus`` of ``"Error: …"`` (a kernel rejection, a root-goal type mismatch) is an error;
``"Completed"`` (or, before REPL v4.19, no goals, errors or sorries) is completed; anything
else is incomplete. For a search an incomplete step that left a ``sorry`` is a dead end (no
honest proof runs through it), so its ``status`` is ``ERROR`` while its ``verdict`` stays
``INCOMPLETE``.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from .errors import ReplCrashed, ReplTimeout
from .outcome import CheckResult, Status, failure_of, step_verdict
from .pool import Worker
from .protocol import (
    CommandRequest,
    CommandResponse,
    Message,
    ProofStepResponse,
    ReplErrorResponse,
    TacticRequest,
)
from .reference import Reference


class StepStatus(str, enum.Enum):
    """Where a tactic left the search: done, somewhere to go on from, or nowhere."""

    COMPLETED = "completed"
    OPEN = "open"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class TacticStep:
    """The outcome of one tactic in tactic mode."""

    status: StepStatus
    proof_state: int | None
    goals: tuple[str, ...]
    messages: tuple[Message, ...] = ()
    error: str | None = None
    failure: Status | None = None  # TIMEOUT or CRASHED when Lean gave no answer at all
    verdict: Status | None = None  # step_verdict's: PROVED, INCOMPLETE or ERROR


def step_of(response: ProofStepResponse) -> TacticStep:
    """The one rule from a REPL proof-step answer to a ``TacticStep``."""
    verdict = step_verdict(response)
    steps = (response.proof_state, tuple(response.goals), tuple(response.messages))
    if verdict.status is Status.ERROR:
        # Lean's own messages in full (a search's trace shows them); a proofStatus error has none.
        text = "; ".join(m.data for m in response.errors) or "; ".join(verdict.reasons)
        return TacticStep(StepStatus.ERROR, *steps, text, verdict=verdict.status)
    if verdict.status is Status.PROVED:
        return TacticStep(StepStatus.COMPLETED, *steps, verdict=verdict.status)
    if response.sorries:
        return TacticStep(StepStatus.ERROR, *steps, "the tactic left a sorry", verdict=verdict.status)
    return TacticStep(StepStatus.OPEN, *steps, verdict=verdict.status)


class CommandChecker(Protocol):
    """What a session needs from the checker: its timeout and a command-mode check on a worker."""

    timeout: float

    async def check_on(self, worker: Worker, body: str, *, reference: Reference | None = None,
                       all_tactics: bool = False) -> CheckResult: ...


class ProofSession:
    def __init__(self, checker: CommandChecker, worker: Worker, header: str, statement: str,
                 reference: Reference | None = None) -> None:
        self.checker = checker
        self.worker = worker
        self.header = header
        self.statement = statement
        self.reference = reference
        self.root: TacticStep | None = None

    async def open(self) -> TacticStep:
        cmd = with_sorry_proof(self.statement)
        response = await self.worker.request(
            CommandRequest(cmd=cmd, env=self.worker.header_env), timeout=self.checker.timeout
        )
        if isinstance(response, ReplErrorResponse):
            raise ValueError(f"cannot open a proof state: {response.message}")
        assert isinstance(response, CommandResponse)
        if response.errors or len(response.sorries) != 1 or response.sorries[0].proof_state is None:
            detail = "; ".join(m.data for m in response.errors) or f"{len(response.sorries)} sorries"
            raise ValueError(f"the statement does not give one proof state: {detail}")
        sorry = response.sorries[0]
        self.root = TacticStep(StepStatus.OPEN, sorry.proof_state, (sorry.goal,))
        return self.root

    async def run_tactic(self, proof_state: int, tactic: str) -> TacticStep:
        """Run one tactic on ``proof_state``; timeouts and crashes come back as "error" steps."""
        try:
            response = await self.worker.request(
                TacticRequest(tactic=tactic, proof_state=proof_state), timeout=self.checker.timeout
            )
        except (ReplTimeout, ReplCrashed) as exc:
            return TacticStep(StepStatus.ERROR, None, (), error=str(exc),
                              failure=failure_of(exc, 0.0).status)
        if isinstance(response, ReplErrorResponse):
            return TacticStep(StepStatus.ERROR, None, (), error=response.message)
        if not isinstance(response, ProofStepResponse):
            return TacticStep(StepStatus.ERROR, None, (), error="unexpected response to a tactic")
        return step_of(response)

    async def recheck(self, proof: str) -> CheckResult:
        """Re-check ``statement + proof`` in command mode: the only way tactic mode says proved.

        It runs on the session's own worker: the pool may have no other to lend.
        """
        return await self.checker.check_on(self.worker, self.statement + proof, reference=self.reference)


def with_sorry_proof(statement: str) -> str:
    stripped = statement.rstrip()
    if stripped.endswith("by"):
        return stripped + "\n  sorry"
    return stripped + " by\n  sorry"


__all__ = ["CommandChecker", "ProofSession", "StepStatus", "TacticStep", "step_of",
           "with_sorry_proof"]
