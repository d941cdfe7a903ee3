"""What a search returns, for any algorithm: the proof (or None) and what it cost."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SearchResult:
    problem: str  # the problem's name
    proof: str | None  # continues problem.statement; verified by the full verdict when set
    generations: int  # proposals asked of the policy
    lean_calls: int  # candidate checks and tactic runs sent to Lean
    seconds: float
    cost: int | None = None  # generations spent until the proof, earlier attempts in full
    method: str = ""
    tree_stats: dict[str, Any] = field(default_factory=dict)
    trace: tuple[dict[str, Any], ...] = ()

    @property
    def proved(self) -> bool:
        return self.proof is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "problem": self.problem,
            "method": self.method,
            "proved": self.proved,
            "proof": self.proof,
            "generations": self.generations,
            "lean_calls": self.lean_calls,
            "seconds": round(self.seconds, 4),
            "cost": self.cost,
            "tree_stats": self.tree_stats,
        }
