"""A verified proof with DeepSeek-Prover-V1.5's tactic-state comments (tactic-state
augmentation for training data, reference §2.2 / §3.3): after each line-level segment, the
``/- tactic state: … -/`` comment of the state it leaves, exactly as RMaxTS prompts carry it.
"""
from __future__ import annotations

from typing import Sequence

from lean_bridge.outcome import Status
from search.problem import Problem
from search.protocols import LeanChecker

from .segments import NO_GOALS, Segment
from .states import resolve_states, segments_of
from .verify import verify


def annotate(proof: str, segments: Sequence[Segment]) -> str:
    """``proof`` with a state comment after each segment whose state is known. The closing
    ``no goals`` state is left out (nothing follows it); text after the last segment, or
    after a segment whose state could not be learnt, is kept as it is."""
    out, end = [], 0
    for seg in segments:
        out.append(seg.text)
        end = seg.end
        if not seg.resolved:
            break
        if seg.state_after != NO_GOALS:
            out.append(seg.comment())
    out.append(proof[end:])
    return "".join(out)


async def annotated(lean: LeanChecker, problem: Problem, proof: str) -> tuple[str | None, str | None]:
    """(annotated proof, Lean version) from a fresh check of ``proof`` with tactic states,
    ambiguous states learnt in tactic mode; (None, version) unless Lean says proved."""
    result = await verify(lean, problem, proof, all_tactics=True)
    if result.status is not Status.PROVED:
        return None, result.lean_version
    segments, _ = await resolve_states(lean, problem, proof, segments_of(problem, proof, result))
    return annotate(proof, segments), result.lean_version
