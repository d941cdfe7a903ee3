"""The progress sidecar of ``prover prove`` (``FILE.prover-progress.json``): proofs found so far,
each keyed by the problem it proves, so an interrupted or refused run loses nothing."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from lean_bridge.files import atomic_write
from prover.drivers.outcomes import TheoremOutcome, TheoremStatus
from search.problem import Problem

PROGRESS_FORMAT = "prover-progress/1"
PROGRESS_SUFFIX = ".prover-progress.json"
CHECKPOINTS_SUFFIX = ".prover-checkpoints"  # FILE.prover-checkpoints/: RMaxTS trees in flight


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def problem_key(problem: Problem) -> str:
    """What a saved proof is valid for: the sha256 of exactly what was proved, the header and
    the statement with everything before the theorem (``problem_for``)."""
    return sha256_of((problem.header + "\0" + problem.statement).encode("utf-8"))


class ProgressStore:
    """``FILE.prover-progress.json``: the proofs found so far, each with the ``problem_key`` of
    the problem it proves.

    A saved proof is reused when its theorem comes up with the same problem: the theorem and
    everything before it unchanged (the earlier theorems carrying the same new proofs). So an
    interrupted run resumes, and a run whose result was not written because FILE was edited
    meanwhile applies its proofs on the next run to every theorem the edit did not touch.
    ``sha256`` is FILE's as read by this run (said in the note when it differs from the
    sidecar's). ``enabled=False`` (a dry run) reads the sidecar but never writes or deletes it.
    """

    def __init__(self, file: Path, sha256: str, *, enabled: bool = True) -> None:
        self.path = file.with_name(file.name + PROGRESS_SUFFIX)
        self.file = file
        self.sha256 = sha256
        self.enabled = enabled
        self.proofs: dict[str, dict[str, Any]] = {}
        self.note: str | None = None  # why an existing sidecar was not used
        self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            self.note = f"ignoring unreadable {self.path.name}: {exc}"
            return
        if not isinstance(data, dict) or data.get("format") != PROGRESS_FORMAT:
            self.note = f"ignoring {self.path.name}: not a {PROGRESS_FORMAT} file"
            return
        proofs = data.get("proofs")
        if isinstance(proofs, dict):
            self.proofs = {k: v for k, v in proofs.items() if isinstance(v, dict)
                           and isinstance(v.get("proof"), str) and isinstance(v.get("problem"), str)}
        if self.proofs:
            changed = f"{self.file.name} changed since it was written; " \
                if data.get("sha256") != self.sha256 else ""
            self.note = (f"{len(self.proofs)} proof(s) saved by an earlier run in {self.path.name}: "
                         f"{changed}each is reused where its theorem and everything before it "
                         "are unchanged")

    @property
    def checkpoint_dir(self) -> Path:
        """Where the RMaxTS trees of FILE's theorems are checkpointed, beside the sidecar."""
        return self.file.with_name(self.file.name + CHECKPOINTS_SUFFIX)

    def saved(self, name: str, key: str) -> dict[str, Any] | None:
        """The saved proof of ``name`` if it was found for the problem ``key``."""
        entry = self.proofs.get(name)
        return entry if entry is not None and entry.get("problem") == key else None

    def record(self, outcome: TheoremOutcome, key: str) -> None:
        if outcome.status is TheoremStatus.PROVED and outcome.proof is not None:
            entry = outcome.to_json()
            for field_ in ("name", "status", "reused", "reasons"):
                entry.pop(field_, None)
            self.proofs[outcome.name] = {**entry, "problem": key}
        self.save()

    def retain(self, names: set[str]) -> None:
        """Forget the proofs of every other theorem (those the final check refused)."""
        self.proofs = {k: v for k, v in self.proofs.items() if k in names}

    def save(self, *, only_if_useful: bool = False) -> None:
        """Write the sidecar; with ``only_if_useful``, only when it holds a proof or exists."""
        if not self.enabled or (only_if_useful and not self.proofs and not self.path.exists()):
            return
        data = {"format": PROGRESS_FORMAT, "file": self.file.name, "sha256": self.sha256,
                "proofs": self.proofs}
        atomic_write(self.path, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))

    def delete(self) -> None:
        if self.enabled:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass


__all__ = ["CHECKPOINTS_SUFFIX", "PROGRESS_FORMAT", "PROGRESS_SUFFIX", "ProgressStore",
           "problem_key", "sha256_of"]
