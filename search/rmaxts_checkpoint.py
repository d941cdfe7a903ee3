"""The checkpoint side of an RMaxTS run (``search.rmaxts._Search``): what its journal
(``search.tree_journal``) gets when a tree starts, at each mark, and what a resumed run takes
back. A mixin, so that the loop's module stays the loop; the attributes it reads are the
run's own, declared here for the type checker."""
from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from search.problem import Problem

from .budget import Budget
from .result import LeanTally
from .rollouts import RolloutOutcome, outcomes_from_json, outcomes_to_json
from .tree import Tree
from .tree_journal import JOURNAL_FORMAT, JournalWriter, Rollout, replay
from .verdicts import Seen


class CheckpointedRun:
    """Journal writes and resume for a run; the run's fields are set by its constructor."""

    problem: Problem
    budget: Budget
    rng: random.Random
    max_tokens: int
    checkpoint: Path | None
    journal: JournalWriter | None
    unsaved: list[dict[str, Any] | Rollout]
    fresh: bool
    abandoned: list[int]
    root_goal: str
    tree: Tree | None
    attempt: int
    started: int
    completed: int
    generations: int
    lean_calls: int
    outcomes: Seen[str, RolloutOutcome]
    inherited: dict[str, RolloutOutcome]  # the shared store's outcomes when the run started
    seconds_before: float
    proof: str | None
    cost: int | None
    finished: bool
    trace: list[dict[str, Any]]
    tally: LeanTally
    per_tree: list[dict[str, Any]]
    max_running: int
    t0: float

    def _new_tree(self, *, first: bool = False, snapshot: bool = False) -> None:
        """Start the current attempt's tree (or, ``snapshot``, carry the loaded one over
        into a fresh journal) and mark it."""
        if not snapshot:
            self.tree = Tree(self.root_goal)
        if self.journal is None:
            return
        assert self.tree is not None
        line: dict[str, Any] = {"k": "tree", "attempt": self.attempt,
                                "root_goal": self.root_goal, "max_tokens": self.max_tokens}
        if (first or snapshot) and self.inherited:  # only a run with a shared store has any
            line["inherited"] = outcomes_to_json(self.inherited)
        if snapshot:  # a resumed run compacts: the file restarts from the replayed state
            line |= {"snapshot": self.tree.to_dict(), "trace": self.trace,
                     "outcomes": outcomes_to_json(self.outcomes.kept())}
        if snapshot:
            self.journal.restart([self._header(), line, self._mark([])])
        else:  # the file is written at the first mark (a fresh run's then starts afresh)
            self.fresh |= first
            self.unsaved.append(line)
            if not first:
                self._save()

    def _header(self) -> dict[str, Any]:
        return {"format": JOURNAL_FORMAT, "problem": self.problem.name,
                "budget": str(self.budget)}

    def _mark(self, in_flight: list[int]) -> dict[str, Any]:
        """The journal's mark: the counters as they are with the ``in_flight`` rollouts (the
        nodes they were started at) dropped; a resumed run launches those again."""
        version, state, gauss = self.rng.getstate()
        return {
            "k": "mark", "in_flight": in_flight, "abandoned": self.abandoned,
            "attempt": self.attempt,
            "started": self.started - len(in_flight), "completed": self.completed,
            "generations": self.generations - len(in_flight), "lean_calls": self.lean_calls,
            "distinct": self.outcomes.distinct,
            "seconds": self.seconds_before + time.monotonic() - self.t0,
            "root_goal": self.root_goal, "proof": self.proof, "cost": self.cost,
            "finished": self.finished, "max_running": self.max_running,
            "rng": [version, list(state), gauss], "per_tree": list(self.per_tree),
            **self.tally.fields(),
        }

    def _save(self, *, in_flight: list[int] | None = None) -> None:
        """Append the rollouts since the last mark and a new mark (off the event loop)."""
        if self.journal is None:
            return
        lines = [*self.unsaved, self._mark(in_flight or [])]
        if self.fresh:
            self.journal.restart([self._header(), *lines], fresh=True)
        else:
            self.journal.append(lines)
        self.unsaved, self.fresh = [], False

    def _load(self) -> None:
        assert self.checkpoint is not None
        loaded = replay(self.checkpoint)
        data = loaded.state
        if loaded.header.get("problem") != self.problem.name:
            raise ValueError(f"checkpoint {self.checkpoint} is for problem "
                             f"{loaded.header.get('problem')!r}, not {self.problem.name!r}")
        version, state, gauss = data["rng"]
        self.rng.setstate((version, tuple(state), gauss))
        self.tree = loaded.tree
        self.root_goal, self.proof, self.cost = data["root_goal"], data["proof"], data["cost"]
        for counter in ("attempt", "started", "completed", "generations", "lean_calls",
                        "max_running"):
            setattr(self, counter, int(data[counter]))
        # Back into the store: the outcomes of earlier searches it started with (not this
        # run's, so not in its ``distinct``), then its own.
        self.inherited = outcomes_from_json(loaded.inherited)
        self.outcomes.once.merge(self.inherited)
        self.outcomes.restore(outcomes_from_json(loaded.outcomes), int(data.get("distinct") or 0))
        self.seconds_before = float(data["seconds"])
        self.finished = bool(data["finished"])
        self.per_tree = list(data["per_tree"])
        self.trace = loaded.trace
        self.tally = LeanTally.from_dict(data)
        if not self.finished:  # lines after the last mark (or a cut one) must not stay
            self._new_tree(snapshot=True)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by ``rmaxts_search`` (a journal, or the older single document),
    as one dict: its header and last mark's counters, ``trace``, ``outcomes``, and ``tree``
    in ``Tree.to_dict`` form (``Tree.from_dict(data["tree"])`` is its tree)."""
    return replay(Path(path)).as_checkpoint()


__all__ = ["CheckpointedRun", "load_checkpoint"]
