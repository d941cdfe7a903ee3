"""What a search returns, for any algorithm: the proof (or None) and what it cost.

Besides the proof, a result says how many of the search's Lean checks got no verdict:
``crashed`` (the REPL died, or answered something that is not a response) and ``timeouts``
(Lean's time limit). The two are not alike: a timeout is Lean's answer about that candidate
("too slow"), an honest failure; a crash says nothing about the candidate, so a search that
found no proof with a crash in it did not really search its budget. ``LeanTally`` counts both
the same way for every method, from each check's status.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Status values of ``lean_bridge.outcome.Status`` (compared as strings: the enum is a str).
CRASHED, TIMEOUT = "crashed", "timeout"


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
    crashed: int = 0  # Lean checks with no verdict: the REPL crashed or answered garbage
    timeouts: int = 0  # Lean checks that hit the time limit
    crash_cause: str | None = None  # why the first of the crashed checks got no verdict
    # Whole-proof sampling: the turn that gave the proof (0 = a first answer, r = its r-th
    # self-correction); None for the other methods and when nothing was proved.
    round: int | None = None
    # Distinct candidates sent to the full verdict (identical ones, up to trailing whitespace,
    # are judged once: ``search.verdicts``); ``lean_calls`` counts only real Lean calls. None
    # for a method that does not count them (best-first judges tactics, not candidates).
    distinct: int | None = None

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
            "distinct": self.distinct,
            "seconds": round(self.seconds, 4),
            "cost": self.cost,
            "tree_stats": self.tree_stats,
            "crashed": self.crashed,
            "timeouts": self.timeouts,
            "crash_cause": self.crash_cause,
            "round": self.round,
        }


@dataclass
class LeanTally:
    """Crashed and timed-out Lean checks of one search (module docstring)."""

    crashed: int = 0
    timeouts: int = 0
    cause: str | None = None

    def note(self, status: Any, reason: str | None = None) -> None:
        """Count one check by its status (a ``Status`` or its value); other statuses are
        Lean's verdicts and count nothing."""
        if status == CRASHED:
            self.crashed += 1
            if self.cause is None:
                self.cause = (reason or "the Lean REPL crashed")[:500]
        elif status == TIMEOUT:
            self.timeouts += 1

    def check(self, result: Any) -> Any:
        """Count a ``CheckResult`` and hand it back (``tally.check(await verify(…))``)."""
        self.note(result.status, result.reasons[0] if result.reasons else None)
        return result

    def add(self, other: "SearchResult | LeanTally") -> None:
        """Take in the counts of a search run inside this one (a lemma's, an attempt's)."""
        crashed = other.crashed
        self.crashed += crashed
        self.timeouts += other.timeouts
        if self.cause is None and crashed:
            self.cause = other.crash_cause if isinstance(other, SearchResult) else other.cause

    def fields(self) -> dict[str, Any]:
        """The ``SearchResult`` keyword arguments of these counts."""
        return {"crashed": self.crashed, "timeouts": self.timeouts, "crash_cause": self.cause}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LeanTally":
        """From ``fields()`` as saved (a checkpoint); missing keys count zero."""
        return cls(int(data.get("crashed") or 0), int(data.get("timeouts") or 0),
                   data.get("crash_cause"))
