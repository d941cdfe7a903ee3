"""Checking proofs with Lean: command mode on a header's environment, and tactic mode.

``LeanChecker`` is what the rest of the project talks to. It owns no processes: it borrows
workers from a ``ReplPool`` and turns every answer (or the lack of one) into a
``CheckResult``. Timeouts and crashes are statuses, so a search can keep going.
"""
from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import AsyncIterator

from .errors import HeaderError, ReplCrashed, ReplTimeout
from .outcome import CheckResult, Status, command_verdict, messages_verdict, tactic_finished
from .pool import ReplPool, Worker
from .protocol import (
    CommandRequest,
    CommandResponse,
    Message,
    ProofStepResponse,
    ReplErrorResponse,
    Sorry,
    TacticRequest,
)
from .text import Declaration, LineIndex, parse_file

_VERSION_PROBE = "#eval Lean.versionString"
THEOREM_KINDS = ("theorem", "lemma", "example")


@dataclass(frozen=True)
class TheoremCheck:
    """One theorem's share of a file check."""

    name: str
    result: CheckResult


@dataclass(frozen=True)
class TacticStep:
    """The outcome of one tactic in tactic mode."""

    status: str  # "completed" | "open" | "error"
    proof_state: int | None
    goals: tuple[str, ...]
    messages: tuple[Message, ...] = ()
    error: str | None = None


class LeanChecker:
    def __init__(self, pool: ReplPool, *, timeout: float = 60.0) -> None:
        self.pool = pool
        self.timeout = timeout

    # -- command mode ---------------------------------------------------------------------

    async def check(self, header: str, body: str, *, all_tactics: bool = False) -> CheckResult:
        """Elaborate ``body`` on the environment of ``header``; positions are body-relative."""
        started = time.monotonic()
        try:
            async with self.pool.acquire(header) as worker:
                return await self.check_on(worker, body, all_tactics=all_tactics)
        except (ReplTimeout, ReplCrashed, HeaderError) as exc:
            # Only starting the worker (the header import) gets here; requests are handled below.
            return _failure(exc, time.monotonic() - started)

    async def check_on(self, worker: Worker, body: str, *, all_tactics: bool = False) -> CheckResult:
        """``check`` on a worker the caller already holds (a tactic session re-checking)."""
        started = time.monotonic()
        try:
            version = await self._lean_version(worker)
            response = await worker.request(
                CommandRequest(cmd=body, env=worker.header_env, all_tactics=all_tactics),
                timeout=self.timeout,
            )
        except (ReplTimeout, ReplCrashed) as exc:
            return _failure(exc, time.monotonic() - started)
        verdict = command_verdict(response)
        elapsed = time.monotonic() - started
        if isinstance(response, CommandResponse):
            return CheckResult(
                verdict.status,
                messages=response.messages,
                sorries=response.sorries,
                tactics=response.tactics,
                seconds=elapsed,
                lean_version=version,
                reasons=verdict.reasons,
            )
        return CheckResult(verdict.status, seconds=elapsed, lean_version=version, reasons=verdict.reasons)

    async def check_file(self, text: str, names: list[str] | None = None) -> list[TheoremCheck]:
        """Check every theorem of a Lean file (or the named ones), in one REPL command.

        The file's header becomes the pool key; the rest is sent on the header's environment
        and each message is attributed to the theorem whose text contains it. An error outside
        every theorem (a broken ``def`` before them, say) makes every checked theorem an error:
        their verdicts could not be trusted.
        """
        parsed = parse_file(text)
        theorems = [d for d in parsed.declarations if d.kind in THEOREM_KINDS]
        wanted = [d for d in theorems if names is None or d.name in names]
        body = text[len(parsed.header):]
        shift = parsed.header.count("\n")
        result = await self.check(parsed.header, body)
        if result.status in (Status.TIMEOUT, Status.CRASHED):
            return [TheoremCheck(_display_name(d, text), result) for d in wanted]
        # Report positions in the user's file, not in the body we sent.
        messages = tuple(_shift_message(m, shift) for m in result.messages)
        sorries_all = tuple(_shift_sorry(s, shift) for s in result.sorries)
        index = LineIndex(text)
        spans = [(d, _line_span(index, d)) for d in theorems]
        outside = [
            m for m in messages
            if m.is_error and not any(lo <= m.pos.line <= hi for _, (lo, hi) in spans)
        ]
        checks = []
        for decl, (lo, hi) in spans:
            if decl not in wanted:
                continue
            mine = tuple(m for m in messages if lo <= m.pos.line <= hi)
            sorries = tuple(s for s in sorries_all if s.pos and lo <= s.pos.line <= hi)
            verdict = messages_verdict(mine, sorries)
            status, reasons = verdict.status, verdict.reasons
            if outside and status is not Status.ERROR:
                status = Status.ERROR
                reasons = tuple(
                    f"error outside the theorem at line {m.pos.line}: {m.data.splitlines()[0]}"
                    for m in outside
                )
            checks.append(TheoremCheck(
                _display_name(decl, text),
                CheckResult(status, mine, sorries, (), result.seconds, result.lean_version, reasons),
            ))
        return checks

    async def _lean_version(self, worker: Worker) -> str | None:
        """Ask the REPL itself which Lean it runs, once per process (no manifest can lie)."""
        if worker.lean_version is None:
            response = await worker.request(
                CommandRequest(cmd=_VERSION_PROBE, env=worker.header_env), timeout=self.timeout
            )
            worker.lean_version = _parse_version(response) or "unknown"
        return worker.lean_version

    # -- tactic mode ----------------------------------------------------------------------

    @asynccontextmanager
    async def proof_session(self, header: str, statement: str) -> AsyncIterator["ProofSession"]:
        """Pin one worker and open the root proof state of ``statement`` (``… :=`` or ``… := by``).

        Proof-state ids belong to one process, so every step of a session runs on that worker.
        """
        async with self.pool.acquire(header) as worker:
            session = ProofSession(self, worker, header, statement)
            await session.open()
            yield session


class ProofSession:
    def __init__(self, checker: LeanChecker, worker: Worker, header: str, statement: str) -> None:
        self.checker = checker
        self.worker = worker
        self.header = header
        self.statement = statement
        self.root: TacticStep | None = None

    async def open(self) -> TacticStep:
        cmd = _with_sorry_proof(self.statement)
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
        self.root = TacticStep("open", sorry.proof_state, (sorry.goal,))
        return self.root

    async def run_tactic(self, proof_state: int, tactic: str) -> TacticStep:
        """Run one tactic on ``proof_state``; timeouts and crashes come back as "error" steps."""
        try:
            response = await self.worker.request(
                TacticRequest(tactic=tactic, proof_state=proof_state), timeout=self.checker.timeout
            )
        except (ReplTimeout, ReplCrashed) as exc:
            return TacticStep("error", None, (), error=str(exc))
        if isinstance(response, ReplErrorResponse):
            return TacticStep("error", None, (), error=response.message)
        if not isinstance(response, ProofStepResponse):
            return TacticStep("error", None, (), error="unexpected response to a tactic")
        if response.errors or response.sorries:
            error = "; ".join(m.data for m in response.errors) or "the tactic left a sorry"
            return TacticStep("error", response.proof_state, response.goals, response.messages, error)
        status = "completed" if tactic_finished(response) else "open"
        return TacticStep(status, response.proof_state, response.goals, response.messages)

    async def recheck(self, proof: str) -> CheckResult:
        """Re-check ``statement + proof`` in command mode: the only way tactic mode says proved.

        It runs on the session's own worker: the pool may have no other to lend.
        """
        return await self.checker.check_on(self.worker, self.statement + proof)


def _failure(exc: Exception, seconds: float) -> CheckResult:
    status = Status.TIMEOUT if isinstance(exc, ReplTimeout) else (
        Status.CRASHED if isinstance(exc, ReplCrashed) else Status.ERROR)
    return CheckResult(status, seconds=seconds, reasons=(str(exc),))


def _with_sorry_proof(statement: str) -> str:
    stripped = statement.rstrip()
    if stripped.endswith("by"):
        return stripped + "\n  sorry"
    return stripped + " by\n  sorry"


def _parse_version(response: object) -> str | None:
    if not isinstance(response, CommandResponse):
        return None
    for message in response.messages:
        if message.severity == "info":
            return message.data.strip().strip('"')
    return None


def _shift_message(m: Message, lines: int) -> Message:
    return replace(m, pos=m.pos.shifted(lines), end_pos=m.end_pos.shifted(lines) if m.end_pos else None)


def _shift_sorry(s: Sorry, lines: int) -> Sorry:
    return replace(s, pos=s.pos.shifted(lines) if s.pos else None,
                   end_pos=s.end_pos.shifted(lines) if s.end_pos else None)


def _line_span(index: LineIndex, decl: Declaration) -> tuple[int, int]:
    first, _ = index.offset_to_line_col(decl.start)
    last, _ = index.offset_to_line_col(max(decl.start, decl.end - 1))
    return first, last


def _display_name(decl: Declaration, text: str) -> str:
    if decl.name:
        return decl.name
    line = text.count("\n", 0, decl.start) + 1
    return f"{decl.kind}@{line}"


async def gather_checks(checker: LeanChecker, jobs: list[tuple[str, str]]) -> list[CheckResult]:
    """Check several (header, body) pairs concurrently; the pool bounds the parallelism."""
    return list(await asyncio.gather(*(checker.check(h, b) for h, b in jobs)))
