"""The one way search decides a candidate proves its problem: the bridge's full verdict
(static integrity, Lean, axiom audit) with the problem's own statement as the reference, so a
candidate that edits the statement, or smuggles an axiom, is never reported as a proof."""
from __future__ import annotations

from lean_bridge.outcome import CheckResult
from lean_bridge.pool import Worker
from lean_bridge.reference import Reference, placeholder_for
from search.problem import Problem
from search.protocols import LeanChecker


def reference_of(problem: Problem) -> Reference:
    return Reference(
        name=problem.name,
        header=problem.header,
        statement=problem.statement,
        text=problem.header + problem.statement + placeholder_for(problem.statement),
    )


async def verify(lean: LeanChecker, problem: Problem, proof: str, *, all_tactics: bool = False) -> CheckResult:
    """Check ``header + statement + proof`` against the problem's statement."""
    return await lean.check(problem.header, problem.statement + proof,
                            reference=reference_of(problem), all_tactics=all_tactics)


async def verify_on(lean: LeanChecker, worker: Worker, problem: Problem, proof: str, *,
                    all_tactics: bool = False) -> CheckResult:
    """``verify`` on a worker the caller holds, so that the proof states of the answer can be
    probed there (they belong to that process)."""
    return await lean.check_on(worker, problem.statement + proof,
                               reference=reference_of(problem), all_tactics=all_tactics)
