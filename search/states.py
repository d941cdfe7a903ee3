"""The tactic states along a checked proof: its truncate-and-resume segments (reference §6.1-6.2)
and, where ``allTactics`` leaves a state ambiguous, the state learnt by running the segment in
tactic mode (design.md §5). RMaxTS grows its tree from these; training data annotates proofs
with them (``search.annotate``)."""
from __future__ import annotations

from lean_bridge.errors import BridgeError
from lean_bridge.integrity import IntegrityOptions, scan_integrity
from lean_bridge.outcome import CheckResult, Status
from lean_bridge.protocol import Pos
from lean_bridge.tactic_mode import ProofSession, StepStatus
from lean_bridge.text import LineIndex
from search.problem import Problem
from search.protocols import LeanChecker

from .segments import Segment, goals_text, pos_to_offset, proof_origin, segment, truncate
from .verify import reference_of

# No verdict on the text, or a rejected one: a rejected candidate's Lean answer (if any) is
# not trusted for states; its honest prefix (``rejected_prefix``) is checked on its own.
_NO_PATH = (Status.TIMEOUT, Status.CRASHED, Status.REJECTED)


def rejected_prefix(problem: Problem, proof: str, *,
                    integrity: IntegrityOptions = IntegrityOptions()) -> str:
    """The whole lines of a candidate the trust layer rejected that come before the first
    thing it objects to; "" when there are none, or nothing it objects to has a place in
    the proof.

    The static layer (``lean_bridge.integrity.scan_integrity``, run here as the checker runs
    it: the problem's reference, the checker's options) gives each blocking finding (a
    banned tactic such as ``apply?``/``exact?``, ``native_decide``, a new ``axiom``, a
    ``sorry``) a line and column; the cut is the start of the line of the earliest one in
    the proof, so a partial line is dropped, as truncation drops one (module
    ``search.rmaxts``). A finding before the proof (header, statement) leaves nothing
    honest; an axiom-audit rejection has no position, so nothing is cut from it. The
    prefix is only a candidate: the caller checks it again, through the whole trust layer.
    """
    origin = problem.header + problem.statement
    reference = reference_of(problem)
    base_line, base_column = proof_origin(origin)
    index = LineIndex(proof)
    cut: int | None = None
    for f in scan_integrity(origin + proof, reference=reference.text, target=reference.name,
                            options=integrity):
        if not f.blocking or f.line <= 0:
            continue
        off = pos_to_offset(Pos(f.line, f.column), index, base_line=base_line,
                            base_column=base_column)
        if off is None:
            return ""
        cut = off if cut is None else min(cut, off)
    return "" if cut is None else proof[:proof.rfind("\n", 0, cut) + 1]


def segments_of(problem: Problem, proof: str, result: CheckResult) -> list[Segment]:
    """The truncate-and-resume segments of ``proof`` (it continues ``problem.statement``)
    from its verdict (§6.1-6.2): positions in ``result`` are relative to ``header +
    statement + proof``, as ``LeanChecker.check`` reports them."""
    if result.status in _NO_PATH:
        return []
    base_line, base_column = proof_origin(problem.header + problem.statement)
    complete = result.status is Status.PROVED
    valid_end = len(proof) if complete else truncate(
        proof, result.messages, result.sorries, base_line=base_line, base_column=base_column)
    return segment(proof, valid_end, result.tactics, result.sorries, complete=complete,
                   base_line=base_line, base_column=base_column)


async def resolve_states(lean: LeanChecker, problem: Problem, proof: str,
                         segments: list[Segment], *, session: ProofSession | None = None
                         ) -> tuple[list[Segment], int]:
    """Resolve the first unresolved segments' probes in tactic mode; (segments, Lean calls).

    Proof-state ids belong to the process that made them. ``session``: the worker the
    ``segments``' answer came from is held there, and the probes run on it directly. Else the
    proof is re-checked (with ``allTactics``) on the worker a new proof session pins, and the
    probes of that answer run there. The path ends at the first probe that cannot be run or
    fails.
    """
    first = next((i for i, s in enumerate(segments) if not s.resolved), None)
    if first is None or segments[first].probe is None:
        return (segments if first is None else segments[:first]), 0
    if session is not None:
        return await _probed(session, segments)
    reference = reference_of(problem)
    calls = 1
    try:
        async with lean.proof_session(problem.header, problem.statement, reference) as pinned:
            calls += 1
            again = await lean.check_on(pinned.worker, problem.statement + proof,
                                        reference=reference, all_tactics=True)
            out, probes = await _probed(pinned, segments_of(problem, proof, again))
            return out, calls + probes
    except (BridgeError, ValueError):
        # No worker, no root proof state, a crash while opening: keep what was certain.
        return segments[:first], calls


async def _probed(session: ProofSession, segments: list[Segment]) -> tuple[list[Segment], int]:
    """``segments`` up to the first that no probe resolves, each probe run on ``session``'s
    worker; (segments, probes run)."""
    out: list[Segment] = []
    calls = 0
    for seg in segments:
        if not seg.resolved:
            if seg.probe is None:
                break
            calls += 1
            step = await session.run_tactic(seg.probe.proof_state, seg.probe.tactic)
            if step.status is StepStatus.ERROR:
                break
            seg = seg.resolve(goals_text(step.goals))
        out.append(seg)
    return out, calls
