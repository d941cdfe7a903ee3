"""Tactic sessions: what best-first search needs from a tactic-mode Lean connection.

``TacticSession`` is the protocol (``lean_bridge``'s ``ProofSession`` through ``repl_session``,
or ``search.dojo.DojoSession``); ``SessionLost`` is how a session says its process is gone, so
the search can open a new one and replay its tactic paths.
"""
from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncContextManager, AsyncIterator, Callable, Protocol, runtime_checkable

from lean_bridge.errors import ReplCrashed, ReplTimeout
from lean_bridge.outcome import CheckResult
from lean_bridge.tactic_mode import ProofSession, TacticStep
from search.problem import Problem
from search.protocols import LeanChecker

from .result import CRASHED, TIMEOUT
from .verify import reference_of


class SessionLost(Exception):
    """The session's Lean process is gone (crash, timeout, could not start): every proof-state
    handle it gave out is void. Raised by ``run_tactic`` (and by opening a session).

    ``status`` is ``"crashed"`` or ``"timeout"`` when the loss is news (the request that lost
    it crashed or timed out), None when it only repeats an earlier loss or Lean refused the
    statement; the search counts it (``LeanTally``) like a candidate check's status."""

    def __init__(self, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.status = status


@runtime_checkable
class TacticSession(Protocol):
    """What the best-first loop needs from a tactic-mode Lean connection.

    ``root``: the problem's root state (``status == "open"``, ``goals`` as Lean prints them,
    ``proof_state`` an opaque handle to pass back). ``run_tactic`` answers a ``TacticStep``
    with status ``"completed"`` / ``"open"`` / ``"error"`` and never raises for a Lean error;
    it raises ``SessionLost`` when the session cannot go on. ``recheck(proof)`` judges
    ``problem.statement + proof`` and is the only source of "proved".
    """

    root: TacticStep | None

    async def run_tactic(self, state: Any, tactic: str) -> TacticStep: ...

    async def recheck(self, proof: str) -> CheckResult: ...


SessionFactory = Callable[[], AsyncContextManager[TacticSession]]


class ReplTacticSession:
    """``ProofSession`` as a ``TacticSession``: a broken worker (crash, timeout) is ``SessionLost``."""

    def __init__(self, inner: ProofSession) -> None:
        self.inner = inner
        self.root = inner.root

    async def run_tactic(self, state: Any, tactic: str) -> TacticStep:
        if self.inner.worker.broken:
            raise SessionLost("the REPL process of this session is gone")
        step = await self.inner.run_tactic(state, tactic)
        if self.inner.worker.broken:
            failure = step.failure.value if step.failure is not None else CRASHED
            raise SessionLost(step.error or "the REPL process broke", failure)
        return step

    async def recheck(self, proof: str) -> CheckResult:
        return await self.inner.recheck(proof)


@asynccontextmanager
async def repl_session(lean: LeanChecker, problem: Problem) -> AsyncIterator[ReplTacticSession]:
    """A tactic session on ``problem`` over the REPL pool, re-checking against its statement."""
    opened = False
    try:
        async with lean.proof_session(problem.header, problem.statement,
                                      reference_of(problem)) as inner:
            opened = True
            yield ReplTacticSession(inner)
    except (ValueError, ReplCrashed, ReplTimeout) as exc:  # a HeaderError is the caller's
        if opened:
            raise
        status = CRASHED if isinstance(exc, ReplCrashed) else \
            TIMEOUT if isinstance(exc, ReplTimeout) else None
        raise SessionLost(f"cannot open a proof session: {exc}", status) from exc


__all__ = ["ReplTacticSession", "SessionFactory", "SessionLost", "TacticSession", "repl_session"]
