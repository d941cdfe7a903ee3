"""Resumable RMaxTS trees: one checkpoint file per (problem, attempt) in a folder of the run.

``search.rmaxts`` writes a tree's checkpoint when given a path and resumes from it when the
file exists; this module decides where that file lives and when it may be used. ``prover eval``
and ``synth`` keep theirs in ``RUN/checkpoints/``, ``prover prove`` in ``FILE.prover-checkpoints/``
beside the progress sidecar. A checkpoint is only for method ``rmaxts`` (the other searches
keep no tree worth saving).

File names: ``<slug>-<hash of the name>.<attempt>.<digest>.json``. The slug is the problem id
cut to safe ASCII (ids hold ``/``, spaces, unicode), the name hash makes two ids with the same
slug distinct, and the digest covers everything the tree depends on: the id, the attempt, the
problem's header and statement, and the run's search settings (method, budget, seed, policy,
options). So a tree grown for another statement or other settings has another name and is
never picked up; when one is found for the same (problem, attempt) it is removed with a note.
The file at the expected name is checked too (``load_checkpoint``: format, problem name and
budget); one that does not match is removed with a note and the attempt starts afresh.

Lifetime: a checkpoint is removed once the attempt's outcome is durably recorded (its result
line fsync'd, or the progress sidecar rewritten), whatever the outcome, so the folder holds at
most the attempts in flight and disk stays bounded. An ``error`` attempt, which a rerun redoes,
starts afresh as well: a finished tree would answer the redo from the file without new work.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from search.problem import Problem
from search.rmaxts import load_checkpoint

# Completed rollouts between checkpoints: rmaxts' own default. Upstream saves every 128
# samples; a rollout (a generation and a Lean check, seconds) costs far more than writing the
# tree's JSON, so an interruption here loses at most 32 rollouts of a 6,400-sample tree.
CHECKPOINT_EVERY = 32
CHECKPOINT_DIR = "checkpoints"  # inside an eval/synth run directory
METHOD = "rmaxts"  # the one search with a tree to resume
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_SLUG_MAX = 48


def safe_stem(name: str) -> str:
    """A file-name stem for the problem id ``name``: safe ASCII, distinct for distinct ids."""
    slug = _UNSAFE.sub("_", name).strip("_-")[:_SLUG_MAX] or "problem"
    return f"{slug}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:10]}"


def tree_digest(name: str, attempt: int, problem: Problem, settings: Mapping[str, Any]) -> str:
    """What a tree was grown for, as a short hex digest (part of its file name)."""
    identity = {"name": name, "attempt": attempt, "header": problem.header,
                "statement": problem.statement, "theorem": problem.name,
                "settings": dict(settings)}
    data = json.dumps(identity, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Resume:
    """The checkpoint an attempt runs with, written every ``every`` completed rollouts;
    ``generations`` were asked before this run."""
    path: Path
    generations: int = 0
    every: int = CHECKPOINT_EVERY


@dataclass(frozen=True)
class TreeCheckpoints:
    """The checkpoint folder of one run. ``settings`` are the run's search settings (they go
    into every file's digest); ``say`` hears the notes (resumed, stale, unusable)."""
    directory: Path
    settings: Mapping[str, Any]
    every: int = CHECKPOINT_EVERY
    say: Callable[[str], None] | None = None

    def path(self, name: str, attempt: int, problem: Problem) -> Path:
        digest = tree_digest(name, attempt, problem, self.settings)
        return self.directory / f"{safe_stem(name)}.{attempt}.{digest}.json"

    def _files_of(self, name: str, attempt: int) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob(f"{safe_stem(name)}.{attempt}.*.json"))

    def _note(self, text: str) -> None:
        if self.say is not None:
            self.say(text)

    def prepare(self, name: str, attempt: int, problem: Problem, budget: Any) -> Resume:
        """The checkpoint for this attempt: the folder exists, trees grown for anything else
        are gone (with a note), and a usable file there is resumed (with a note)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(name, attempt, problem)
        what = f"{name} #{attempt}"
        for other in self._files_of(name, attempt):
            if other != path:
                self._note(f"{what}: ignoring checkpoint {other.name}, grown for another "
                           "statement or other search settings; removed")
                other.unlink(missing_ok=True)
        if not path.exists():
            return Resume(path, every=self.every)
        why = None
        try:
            data = load_checkpoint(path)
        except (OSError, ValueError) as exc:
            data, why = {}, str(exc)
        if why is None and data.get("problem") != problem.name:
            why = f"it is for problem {data.get('problem')!r}"
        if why is None and data.get("budget") != str(budget):
            why = f"it is for budget {data.get('budget')!r}, not {budget}"
        if why is not None:
            self._note(f"{what}: ignoring checkpoint {path.name} ({why}); starting afresh")
            path.unlink(missing_ok=True)
            return Resume(path, every=self.every)
        done = int(data.get("generations") or 0)
        state = "finished, answered from it" if data.get("finished") else \
            f"{done} generation(s) done"
        self._note(f"{what}: resuming its tree from {path.name} ({state})")
        return Resume(path, done, self.every)

    def discard(self, name: str, attempt: int) -> None:
        """Remove every checkpoint of this (problem, attempt): its outcome is recorded."""
        for path in self._files_of(name, attempt):
            path.unlink(missing_ok=True)

    def close(self) -> None:
        """Remove the folder when nothing is left in it (a run that finished everything).
        Only where no other process may use it (``prove``: one run per file); the shards of an
        eval run share theirs, and one could be about to write a tree there."""
        try:
            self.directory.rmdir()
        except OSError:  # absent, or holds trees of unfinished attempts
            pass


def checkpoint_options(method: str, resume: Resume | None) -> dict[str, Any]:
    """The search options that make an ``rmaxts`` search checkpoint to ``resume.path``."""
    if resume is None or method != METHOD:
        return {}
    return {"checkpoint": resume.path, "checkpoint_every": resume.every}


__all__ = ["CHECKPOINT_DIR", "CHECKPOINT_EVERY", "METHOD", "Resume", "TreeCheckpoints",
           "checkpoint_options", "safe_stem", "tree_digest"]
