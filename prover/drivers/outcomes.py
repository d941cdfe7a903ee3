"""What ``prover prove`` found for one theorem: the row of its report and of its progress sidecar."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class TheoremStatus(str, enum.Enum):
    """A theorem's status in a ``prove`` report (the strings are the JSON report's)."""

    PROVED = "proved"
    UNPROVED = "unproved"

    def __str__(self) -> str:
        return self.value


@dataclass
class TheoremOutcome:
    name: str
    status: TheoremStatus = TheoremStatus.UNPROVED
    proof: str | None = None  # the text that follows `:=` in the file
    generations: int = 0
    lean_calls: int = 0
    seconds: float = 0.0
    method: str = ""
    cost: int | None = None
    tree: dict[str, Any] = field(default_factory=dict)
    reused: bool = False  # taken from the progress sidecar of an interrupted run
    reasons: list[str] = field(default_factory=list)
    crashed: int = 0  # Lean checks of the search that got no verdict (REPL crash, garbage)
    timeouts: int = 0  # Lean checks of the search that hit the time limit
    round: int | None = None  # sampling: the turn that gave the proof (0 = a first answer)
    distinct: int | None = None  # distinct candidates judged (SearchResult.distinct)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "proof": self.proof,
                "generations": self.generations, "lean_calls": self.lean_calls,
                "distinct": self.distinct,
                "seconds": round(self.seconds, 3), "method": self.method, "cost": self.cost,
                "reused": self.reused, "tree": self.tree, "reasons": self.reasons,
                "crashed": self.crashed, "timeouts": self.timeouts, "round": self.round}

    @classmethod
    def from_saved(cls, name: str, data: dict[str, Any]) -> "TheoremOutcome":
        return cls(name, TheoremStatus.PROVED, str(data["proof"]), int(data.get("generations", 0)),
                   int(data.get("lean_calls", 0)), float(data.get("seconds", 0.0)),
                   str(data.get("method", "")), data.get("cost"), dict(data.get("tree") or {}),
                   reused=True, round=data.get("round"), distinct=data.get("distinct"))


__all__ = ["TheoremOutcome", "TheoremStatus"]
