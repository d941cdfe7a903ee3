"""What one RMaxTS rollout learned about its candidate, and its JSON form.

An outcome is kept for the run (``search.verdicts.OnceEach``, keyed by the normalised
candidate) so that a copy of the candidate, sampled again in this tree or a later one, takes
it without a Lean call; the checkpoint carries the kept outcomes, so a resumed run reuses
exactly what an uninterrupted one would. The saved form drops each segment's ``probe``: a
proof-state id belongs to the process that made it, gone after a restart; a kept outcome is
only ever inserted into the tree, never probed again.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lean_bridge.outcome import Status

from .segments import Segment


@dataclass(frozen=True)
class RolloutOutcome:
    status: Status | None  # Lean's verdict; None when nothing was checked
    proof: str | None  # set when verified
    segments: tuple[Segment, ...]
    reason: str | None = None  # Lean's first reason (why a crashed check got no verdict)
    empty: bool = False  # the continuation was empty: the prefix alone was checked
    honest_prefix: bool = False  # rejected; its prefix before the banned part was checked
    shared: bool = False  # another rollout's outcome for the same candidate (no check of its own)
    key: str | None = None  # the candidate it was computed for, normalised (set when fresh)

    def to_json(self, *, segments: bool = True) -> dict[str, Any]:
        """JSON form; ``segments=False`` leaves the path out (a journal line has it)."""
        data: dict[str, Any] = {"status": None if self.status is None else self.status.value,
                                "proof": self.proof, "reason": self.reason, "empty": self.empty,
                                "honest_prefix": self.honest_prefix}
        if segments:
            data["segments"] = [[s.text, s.state_after, s.end, s.indent] for s in self.segments]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RolloutOutcome":
        status = data.get("status")
        return cls(None if status is None else Status(status), data.get("proof"),
                   tuple(Segment(text, state, int(end), int(indent))
                         for text, state, end, indent in data.get("segments") or ()),
                   data.get("reason"), bool(data.get("empty")), bool(data.get("honest_prefix")))


def outcomes_to_json(kept: dict[str, RolloutOutcome]) -> list[list[Any]]:
    """A run's kept outcomes, by normalised candidate, for its checkpoint."""
    return [[key, outcome.to_json()] for key, outcome in kept.items()]


def outcomes_from_json(rows: list[list[Any]] | None) -> dict[str, RolloutOutcome]:
    """``outcomes_to_json``'s rows back (a checkpoint without them keeps none)."""
    return {str(key): RolloutOutcome.from_json(data) for key, data in rows or ()}


__all__ = ["RolloutOutcome", "outcomes_from_json", "outcomes_to_json"]
