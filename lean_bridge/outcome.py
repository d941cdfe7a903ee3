"""Typed outcomes of asking Lean about a proof, and the pure rules that decide them.

A Lean error is data (a status), a broken process is data too (``crashed``); nothing here
raises for a proof that fails. The rules follow lean-bridge.md §0.4: a whole proof is proved
only with no error message, no sorry, and no "declaration uses sorry" warning (some tactics,
e.g. a failing ``hint``, leave a sorry that shows up only as that warning).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .errors import ReplCrashed, ReplTimeout
from .protocol import (
    CommandResponse,
    Message,
    ProofStepResponse,
    ReplErrorResponse,
    Response,
    Sorry,
    Tactic,
)

# The warning's wording changed in v4.28 (backquotes instead of quotes); accept both.
SORRY_WARNINGS = ("declaration uses 'sorry'", "declaration uses `sorry`")


class Status(str, enum.Enum):
    PROVED = "proved"
    INCOMPLETE = "incomplete"  # elaborated, but with a sorry or open goals
    ERROR = "error"  # Lean reported an error
    TIMEOUT = "timeout"  # no answer within the wall-clock limit
    CRASHED = "crashed"  # the REPL died or broke the protocol
    REJECTED = "rejected"  # Lean may accept it, but it cheats (integrity checks, axiom audit)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class CheckResult:
    status: Status
    messages: tuple[Message, ...] = ()
    sorries: tuple[Sorry, ...] = ()
    tactics: tuple[Tactic, ...] = ()
    seconds: float = 0.0
    lean_version: str | None = None
    reasons: tuple[str, ...] = ()

    @property
    def proved(self) -> bool:
        return self.status is Status.PROVED

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "reasons": list(self.reasons),
            "seconds": round(self.seconds, 4),
            "lean_version": self.lean_version,
            "messages": [m.to_json() for m in self.messages],
            "sorries": [s.to_json() for s in self.sorries],
        }


@dataclass(frozen=True)
class Verdict:
    status: Status
    reasons: tuple[str, ...] = field(default=())


def is_sorry_warning(message: Message) -> bool:
    return message.severity == "warning" and any(w in message.data for w in SORRY_WARNINGS)


def describe(message: Message) -> str:
    """One line for a human: where, what (first line of the message)."""
    first = message.data.strip().splitlines()[0] if message.data.strip() else ""
    return f"line {message.pos.line}, column {message.pos.column}: {message.severity}: {first}"


def messages_verdict(messages: tuple[Message, ...], sorries: tuple[Sorry, ...]) -> Verdict:
    """The verdict of a set of messages and sorries (a whole response, or one theorem's share)."""
    errors = [m for m in messages if m.is_error]
    if errors:
        return Verdict(Status.ERROR, tuple(describe(m) for m in errors))
    reasons = [f"sorry at line {s.pos.line}: {s.goal.splitlines()[-1] if s.goal else ''}"
               if s.pos else "sorry" for s in sorries]
    reasons += [describe(m) for m in messages if is_sorry_warning(m)]
    if reasons:
        return Verdict(Status.INCOMPLETE, tuple(reasons))
    return Verdict(Status.PROVED)


def command_verdict(response: Response) -> Verdict:
    """Verdict for a whole-proof command (command mode)."""
    if isinstance(response, ReplErrorResponse):
        return Verdict(Status.ERROR, (f"REPL: {response.message}",))
    if not isinstance(response, CommandResponse):
        return Verdict(Status.ERROR, ("REPL answered a command with a proof-step response",))
    return messages_verdict(response.messages, response.sorries)


def tactic_finished(step: ProofStepResponse) -> bool:
    """Whether a proof step closed the proof, as far as tactic mode can tell.

    ``goals == []`` alone is not enough: a logged error leaves no goals and a sorry in the
    term (see transcript ``invalid_tactic``). With ``proofStatus`` (REPL ≥ v4.19) only
    ``"Completed"`` counts; older REPLs lack it, and then no goals, no errors and no sorries is
    the best tactic mode can say. Either way the assembled proof must be re-checked in command
    mode before anyone is told it is proved (tactic mode has false positives, repl #44).
    """
    if step.errors or step.sorries:
        return False
    if step.proof_status is not None:
        return step.proof_status == "Completed"
    return not step.goals


def step_verdict(step: ProofStepResponse) -> Verdict:
    """Verdict for one tactic-mode step: proved only when ``tactic_finished`` says so."""
    errors = [m for m in step.messages if m.is_error]
    if errors:
        return Verdict(Status.ERROR, tuple(describe(m) for m in errors))
    if step.proof_status is not None and step.proof_status.startswith("Error"):
        return Verdict(Status.ERROR, (step.proof_status,))
    if tactic_finished(step):
        return Verdict(Status.PROVED)
    return Verdict(Status.INCOMPLETE, (step.proof_status or f"{len(step.goals)} goals open",))


def failure_of(exc: Exception, seconds: float) -> CheckResult:
    """The result of a request Lean never answered: a timeout, a crash, or another error."""
    status = Status.TIMEOUT if isinstance(exc, ReplTimeout) else (
        Status.CRASHED if isinstance(exc, ReplCrashed) else Status.ERROR)
    return CheckResult(status, seconds=seconds, reasons=(str(exc),))
