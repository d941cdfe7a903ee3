"""Checking proofs with Lean: command mode on a header's environment, and tactic mode.

``LeanChecker`` is what the rest of the project talks to. It owns no processes: it borrows
workers from a ``ReplPool`` and turns every answer (or the lack of one) into a
``CheckResult``. Timeouts and crashes are statuses, so a search can keep going.
"""
from __future__ import annotations

import bisect
import re
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import AsyncIterator, Sequence

from .axioms import audit_axioms, parse_print_axioms
from .errors import HeaderError, ReplCrashed, ReplTimeout
from .integrity import THEOREM_KINDS, Finding, IntegrityOptions, parsed, scan_integrity
from .outcome import (
    CheckResult,
    Status,
    command_verdict,
    failure_of,
    messages_verdict,
)
from .pool import ReplPool, Worker
from .protocol import (
    CommandRequest,
    CommandResponse,
    Message,
    Sorry,
    Tactic,
)
from .reference import Reference, compare_to_reference
from .tactic_mode import ProofSession, StepStatus, TacticStep
from .text import Declaration, LineIndex, RepeatedName
from .text import repeated_names as text_repeated_names

_VERSION_PROBE = "#eval Lean.versionString"
# Findings a reference's own preamble can excuse (integrity._TRUSTABLE).
_WAIVABLE = frozenset({"environment_change", "set_option", "metaprogramming"})
# What gets a verdict: every named theorem/lemma, and any declaration a reference names,
# whatever its kind (ProofNet's `def` items), judged by the same layers. Other defs are
# preamble. Anonymous `example`s are never checked: `#print axioms` needs a name, and nothing
# is "proved" without the axiom audit.


# A finding outside every theorem concerns each of them, so each row would repeat it: past
# this many, a row names the first ones and counts the rest (the output stays linear).
_SHARED_SHOWN = 3
_PLAIN_GAP_RE = re.compile(r"(sorry|admit)(?![\w'!?.])")


@dataclass(frozen=True)
class TheoremCheck:
    """One declaration's share of a file check. A file may declare a name twice (Lean
    refuses the second): each declaration has its own row, told apart by ``line``."""

    name: str
    result: CheckResult
    line: int = 0  # of its keyword in the checked text; 0 for a reference target it lacks


def repeated_names(checks: Sequence[TheoremCheck]) -> list[RepeatedName]:
    """The names that more than one row of a file check declares, in order of first line."""
    return text_repeated_names((c.name, c.line) for c in checks if c.line)


class LeanChecker:
    """The one path to "proved": static integrity, then Lean, then the axiom audit.

    Args:
        pool: where REPL workers come from.
        timeout: wall-clock seconds per Lean request.
        integrity: options of the static layer (``native_decide`` allowed or not).
    """

    def __init__(self, pool: ReplPool, *, timeout: float = 60.0,
                 integrity: IntegrityOptions = IntegrityOptions()) -> None:
        self.pool = pool
        self.timeout = timeout
        self.integrity = integrity

    # -- command mode ---------------------------------------------------------------------

    async def check(self, header: str, body: str, *, reference: Reference | None = None,
                    all_tactics: bool = False) -> CheckResult:
        """The full verdict on ``header + body``: every theorem in it, and ``reference``'s
        target (a theorem, or a ``def`` …).

        Positions in the result are relative to ``header + body``. Raises ``HeaderError``
        when Lean answers ``header`` with an error: nothing was checked (the failed header's
        REPL is closed, never reused).
        """
        checks = await self._judge(header, body, references=[reference] if reference else None,
                                   all_tactics=all_tactics)
        return _combine(checks)

    async def check_on(self, worker: Worker, body: str, *, reference: Reference | None = None,
                       all_tactics: bool = False) -> CheckResult:
        """``check`` on a worker the caller already holds (a tactic session re-checking, or a
        search that needs the ``allTactics`` proof states on the worker it will probe)."""
        checks = await self._judge(worker.header, body, references=[reference] if reference else None,
                                   worker=worker, all_tactics=all_tactics)
        return _combine(checks)

    async def check_file(self, text: str, names: list[str] | None = None,
                         references: Sequence[Reference] | None = None, *,
                         refused: HeaderError | None = None) -> list[TheoremCheck]:
        """Check every theorem of a Lean file (or the named ones) in one REPL command: one row
        per declaration, in file order (a name declared twice gives two rows, at their lines).

        With ``references``, each reference target (theorem, or a ``def`` …, checked alike)
        must be present with its statement, and the file's header must be the reference's; a
        missing target gets a ``rejected`` row.

        ``refused``: Lean already refused this file's header (a preflight). The rows the
        static layer decides alone (a cheat, such as an ``import`` slipped in after the
        reference's header) are still given; if any row needs Lean, ``refused`` is raised
        without importing the header again.
        """
        header = parsed(text).header
        return await self._judge(header, text[len(header):], references=references, names=names,
                                 refused=refused)

    async def _judge(self, header: str, body: str, *, references: Sequence[Reference] | None,
                     names: list[str] | None = None, worker: Worker | None = None,
                     all_tactics: bool = False,
                     refused: HeaderError | None = None) -> list[TheoremCheck]:
        text = header + body
        index = LineIndex(text)
        # The static layer parses the same text: share its cache. A declaration is known by
        # its place in `theorems` (file order), never by its name: a file may repeat a name.
        theorems = _checked_declarations(parsed(text).declarations, references)
        owners = _Owners(index, theorems)
        wanted = None if names is None else frozenset(names)
        targets = [k for k, d in enumerate(theorems) if wanted is None or d.name in wanted]
        static = _static_findings(text, theorems, owners, references, self.integrity)
        shared = _shared(static.everyone, "findings outside the theorems")
        pending = [k for k in targets if k not in static.rejected and not shared]
        lean: dict[int, CheckResult] = {}
        if pending and refused is not None:
            raise refused
        if pending:
            started = time.monotonic()
            try:
                if worker is not None:
                    lean = await self._lean_phase(worker, body, theorems, pending, owners, header,
                                                  all_tactics)
                else:
                    async with self.pool.acquire(header) as held:
                        lean = await self._lean_phase(held, body, theorems, pending, owners,
                                                      header, all_tactics)
            except (ReplTimeout, ReplCrashed) as exc:
                # A HeaderError is not caught: the body was never checked, and Lean's message
                # about the header is the caller's to report (exit 3, an `error` attempt).
                failure = failure_of(exc, time.monotonic() - started)
                lean = {k: failure for k in pending}
        for k, reasons in static.gaps.items():
            # An honest `sorry` is a gap, not a cheat: Lean reports it (with its goal), and
            # should a REPL miss it, the static layer still keeps it from being "proved".
            if k in lean and lean[k].status in (Status.PROVED, Status.INCOMPLETE):
                lean[k] = replace(lean[k], status=Status.INCOMPLETE,
                                  reasons=tuple(dict.fromkeys((*lean[k].reasons, *reasons))))
        checks = []
        for k in targets:
            result = lean.get(k) or CheckResult(
                Status.REJECTED, reasons=(*static.rejected.get(k, ()), *shared))
            checks.append(TheoremCheck(theorems[k].name or "", result, owners.keyword_line(k)))
        checks += [TheoremCheck(n, CheckResult(Status.REJECTED, reasons=tuple(reasons)))
                   for n, reasons in static.missing.items()]
        return checks

    async def _lean_phase(self, worker: Worker, body: str, theorems: list[Declaration],
                          pending: list[int], owners: "_Owners", header: str,
                          all_tactics: bool) -> dict[int, CheckResult]:
        """Elaborate the body once, split the answer by declaration, audit the proved ones.

        The audit rides in the same command: ``#print axioms NAME`` lines after the body run in
        exactly the environment the body produced, and one command instead of two halves the
        round trips and the environments the REPL keeps (it never frees one). Messages after
        the body's last line belong to the audit; static integrity was judged on the body alone.
        Each message goes to the declaration whose lines hold it (one bisection, so the work
        is linear in declarations plus messages).
        """
        started = time.monotonic()
        body = body if body.endswith("\n") else body + "\n"
        body_lines = body.count("\n")
        # One audit line per name: Lean answers it for the first declaration of the name
        # (it refuses the others), so a second line would only repeat the first answer.
        audit = "".join(f"#print axioms {n}\n" for n in dict.fromkeys(theorems[k].name for k in pending))
        try:
            version = await self._lean_version(worker)
            response = await worker.request(
                CommandRequest(cmd=body + "\n" + audit, env=worker.header_env, all_tactics=all_tactics),
                timeout=self.timeout,
            )
        except (ReplTimeout, ReplCrashed) as exc:
            failure = failure_of(exc, time.monotonic() - started)
            return {k: failure for k in pending}
        elapsed = time.monotonic() - started
        if not isinstance(response, CommandResponse):
            verdict = command_verdict(response)
            return {k: CheckResult(verdict.status, seconds=elapsed, lean_version=version,
                                   reasons=verdict.reasons) for k in pending}
        audited = [m for m in response.messages if m.pos.line > body_lines]
        # Report positions in the whole text, not in the body we sent.
        shift = header.count("\n")
        mine: dict[int, list[Message]] = {}
        outside: list[Message] = []
        for m in response.messages:
            if m.pos.line <= body_lines:
                m = _shift_message(m, shift)
                owner = owners.owner(m.pos.line)
                if owner is not None:
                    mine.setdefault(owner, []).append(m)
                elif m.is_error:
                    outside.append(m)
        holes: dict[int, list[Sorry]] = {}
        for s in response.sorries:
            s = _shift_sorry(s, shift)
            owner = owners.owner(s.pos.line) if s.pos else None
            if owner is not None:
                holes.setdefault(owner, []).append(s)
        tactics = tuple(_shift_tactic(t, shift) for t in response.tactics)
        elsewhere = _shared([f"error outside the theorem at line {m.pos.line}: "
                             f"{m.data.splitlines()[0] if m.data else ''}" for m in outside],
                            "errors outside the theorems")
        answers = _axiom_answers(audited)
        results: dict[int, CheckResult] = {}
        for k in pending:
            messages, sorries = tuple(mine.get(k, ())), tuple(holes.get(k, ()))
            verdict = messages_verdict(messages, sorries)
            status, reasons = verdict.status, verdict.reasons
            if outside and status is not Status.ERROR:
                status, reasons = Status.ERROR, elsewhere
            result = CheckResult(status, messages, sorries, tactics, elapsed, version, reasons)
            if result.proved:
                name, first = theorems[k].name or "", owners.first_of(k)
                # The answer is about the first declaration of a name, the one Lean kept.
                audit_reasons = self._audit(name, answers) if first is None else [
                    f"axiom audit: `#print axioms {name}` answers for the first `{name}` "
                    f"(line {first}), not for this one"]
                if audit_reasons:
                    result = replace(result, status=Status.REJECTED, reasons=tuple(audit_reasons))
            results[k] = result
        return results

    def _audit(self, name: str, answers: dict[str, list[tuple[str, ...]]]) -> list[str]:
        """Reasons to reject ``name`` from its ``#print axioms`` answer (``_axiom_answers``);
        none when it is clean.

        A name whose axioms cannot be read is rejected too: "proved" must never rest on an
        audit that did not happen (an unclosed comment in the body would swallow the line).
        """
        found = answers.get(name, [])
        if len(found) != 1:
            return [f"axiom audit: no readable `#print axioms {name}` answer"]
        findings = audit_axioms(name, found[0], allow_native_decide=self.integrity.allow_native_decide)
        return [f"{f.code}: {f.message}" for f in findings if f.blocking]

    async def lean_version(self, header: str) -> str | None:
        """The Lean version of a REPL warm on ``header`` (for run manifests)."""
        async with self.pool.acquire(header) as worker:
            return await self._lean_version(worker)

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
    async def proof_session(self, header: str, statement: str,
                            reference: Reference | None = None, *,
                            open_root: bool = True) -> AsyncIterator["ProofSession"]:
        """Pin one worker and open the root proof state of ``statement`` (``… :=`` or ``… := by``).

        Proof-state ids belong to one process, so every step of a session runs on that worker.
        ``open_root=False`` pins the worker only (no Lean call; ``session.root`` stays None):
        for a caller that checks a proof there and probes the proof states of its answer.
        """
        async with self.pool.acquire(header) as worker:
            session = ProofSession(self, worker, header, statement, reference)
            if open_root:
                await session.open()
            yield session


@dataclass
class _Static:
    """What the static layer says, by declaration (its place in the checked list)."""

    rejected: dict[int, list[str]]  # reasons to reject
    gaps: dict[int, list[str]]  # honest `sorry`/`admit`
    everyone: list[str]  # findings outside every theorem: they concern them all
    missing: dict[str, list[str]]  # reference targets the text does not declare, by name


class _Owners:
    """Which checked declaration holds a line: their line spans are disjoint and in file
    order (each declaration starts on a line of its own), so one bisection finds it."""

    def __init__(self, index: LineIndex, decls: Sequence[Declaration]) -> None:
        self.index = index
        self.decls = decls
        self.spans = [_line_span(index, d) for d in decls]
        self.starts = [lo for lo, _ in self.spans]
        first: dict[str, int] = {}
        for k, d in enumerate(decls):
            first.setdefault(d.name or "", k)
        self._first = first

    def owner(self, line: int) -> int | None:
        k = bisect.bisect_right(self.starts, line) - 1
        return k if k >= 0 and line <= self.spans[k][1] else None

    def first_of(self, k: int) -> int | None:
        """The keyword line of the first declaration of ``k``'s name, when ``k`` is not it."""
        first = self._first.get(self.decls[k].name or "", k)
        return None if first == k else self.keyword_line(first)

    def named(self, name: str) -> int | None:
        """The first declaration of ``name`` (the one Lean keeps and a reference compares)."""
        return self._first.get(name)

    def keyword_line(self, k: int) -> int:
        return self.index.offset_to_line_col(self.decls[k].keyword_start)[0]


def _static_findings(text: str, theorems: Sequence[Declaration], owners: _Owners,
                     references: Sequence[Reference] | None,
                     options: IntegrityOptions) -> _Static:
    """Reasons to reject, and honest gaps (``sorry``/``admit``), by declaration, without Lean.

    A finding inside a theorem's lines concerns that theorem; one outside every theorem (an
    ``axiom`` or an ``instance`` before it, a changed header) concerns them all. A reference's
    findings concern the first declaration of its name; a reference target missing from the
    text appears under its own name.
    """
    # One scan per reference. A finding about the environment is waived when any reference has
    # the same item (its own preamble); every other finding counts wherever it shows up.
    scans = [{(f.code, f.line, f.column, f.message): f
              for f in scan_integrity(text, reference=ref.text if ref else None,
                                      target=ref.name if ref else None, options=options)}
             for ref in (list(references) if references else [None])]
    findings = {k: f for scan in scans for k, f in scan.items()
                if f.code not in _WAIVABLE or all(k in other for other in scans)}
    static = _Static({}, {}, [], {})
    index = owners.index
    for f in findings.values():
        if not f.blocking:
            continue
        owner = owners.owner(f.line)
        reason = f"{f.code}: {f.message} (line {f.line})"
        if owner is not None and f.code == "sorry" and _is_plain_gap(text, index, f):
            static.gaps.setdefault(owner, []).append(reason)
        elif owner is None:
            static.everyone.append(reason)
        else:
            static.rejected.setdefault(owner, []).append(reason)
    for ref in references or ():
        for f in compare_to_reference(text, ref):
            if not f.blocking:
                continue
            reason = f"{f.code}: {f.message}"
            target = owners.named(ref.name)
            if f.code == "missing_theorem":
                static.missing.setdefault(ref.name, []).append(reason)
            elif target is not None:
                static.rejected.setdefault(target, []).append(reason)
            else:
                static.everyone.append(reason)
    return static


def _checked_declarations(decls: Sequence[Declaration],
                           references: Sequence[Reference] | None) -> list[Declaration]:
    """The declarations that get a verdict: named theorems/lemmas, and those the references
    name, whatever their kind (a reference's target is what the candidate must prove)."""
    named = frozenset(r.name for r in references or ())
    return [d for d in decls if d.name and (d.kind in THEOREM_KINDS or d.name in named)]


def _is_plain_gap(text: str, index: LineIndex, finding: Finding) -> bool:
    """A ``sorry``/``admit`` token, as opposed to a smuggled ``sorryAx``."""
    try:
        offset = index.line_col_to_offset(finding.line, finding.column)
    except ValueError:
        return False
    return _PLAIN_GAP_RE.match(text, offset) is not None


def _shared(reasons: list[str], what: str) -> tuple[str, ...]:
    """Reasons every row carries: the first few verbatim, then how many more."""
    if len(reasons) <= _SHARED_SHOWN + 1:
        return tuple(reasons)
    return (*reasons[:_SHARED_SHOWN], f"… and {len(reasons) - _SHARED_SHOWN} more {what}")


def _axiom_answers(messages: Sequence[Message]) -> dict[str, list[tuple[str, ...]]]:
    """Each ``#print axioms`` answer among ``messages``, by the name it is about (read once)."""
    answers: dict[str, list[tuple[str, ...]]] = {}
    for m in messages:
        if m.severity == "info" and (found := parse_print_axioms(m.data)) is not None:
            answers.setdefault(found[0], []).append(found[1])
    return answers


def _combine(checks: list[TheoremCheck]) -> CheckResult:
    """One result for several theorems: the first that is not proved decides."""
    if not checks:
        return CheckResult(Status.ERROR, reasons=("no theorem or lemma to check",))
    for check in checks:
        if not check.result.proved:
            return check.result
    return checks[-1].result


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


def _shift_tactic(t: Tactic, lines: int) -> Tactic:
    return replace(t, pos=t.pos.shifted(lines), end_pos=t.end_pos.shifted(lines))


def _line_span(index: LineIndex, decl: Declaration) -> tuple[int, int]:
    first, _ = index.offset_to_line_col(decl.start)
    last, _ = index.offset_to_line_col(max(decl.start, decl.end - 1))
    return first, last


# The tactic-mode names stay importable from here, where callers have always found them.
__all__ = ["LeanChecker", "ProofSession", "StepStatus", "TacticStep", "TheoremCheck",
           "repeated_names"]
