"""Training records: Lean-verified proofs, one JSON object a line, in ``DIR/records*.jsonl``.

A record (written by ``prover synth``) holds ``id`` (sha256 hex of header + statement +
proof), ``name``, ``header``, ``statement`` (ends ``:= by\\n``), ``proof`` (continues the
statement), ``annotated_proof`` (the same proof with ``/- tactic state: … -/`` comments in
the V1.5 format, or null), ``informal`` (a docstring or null), ``kind`` ("theorem" or
"lemma"), ``parent`` (the theorem a decomposition lemma came from, or null), ``lemmas``,
``source``, ``verifier`` ({"lean", "prover"}), ``search`` and ``policy``.

The five text fields a prompt and a proof are built from (``id``, ``name``, ``header``,
``statement``, ``proof``) are required; the others default when absent, so records from a
newer writer with fewer fields still load. The id is trusted, not recomputed (the writer
owns the hashing), and a repeated id keeps its first record: the same proof twice would only
weigh it double.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prover.problem import Problem

from .errors import TrainInputError

RECORD_GLOB = "records*.jsonl"
_REQUIRED = ("id", "name", "header", "statement", "proof")
_OPTIONAL_TEXT = ("annotated_proof", "informal", "parent")


@dataclass(frozen=True)
class TrainingRecord:
    id: str
    name: str
    header: str
    statement: str
    proof: str
    annotated_proof: str | None = None
    informal: str | None = None
    kind: str = "theorem"
    parent: str | None = None
    lemmas: tuple[str, ...] = ()
    source: str = ""
    verifier: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    search: str = ""
    policy: str = ""

    @property
    def problem(self) -> Problem:
        return Problem(name=self.name, header=self.header, statement=self.statement,
                       informal=self.informal, source=self.source or None)

    @staticmethod
    def from_json(obj: object) -> TrainingRecord:
        """A record from one parsed JSON line; ``ValueError`` says which field is wrong."""
        if not isinstance(obj, dict):
            raise ValueError(f"a record is a JSON object, not {type(obj).__name__}")
        for key in _REQUIRED:
            if not isinstance(obj.get(key), str):
                raise ValueError(f"field {key!r} must be a string"
                                 + ("" if key in obj else " (it is missing)"))
        for key in _OPTIONAL_TEXT:
            if obj.get(key) is not None and not isinstance(obj[key], str):
                raise ValueError(f"field {key!r} must be a string or null")
        lemmas = obj.get("lemmas") or []
        if not isinstance(lemmas, list) or not all(isinstance(x, str) for x in lemmas):
            raise ValueError("field 'lemmas' must be a list of strings")
        verifier = obj.get("verifier") or {}
        if not isinstance(verifier, dict):
            raise ValueError("field 'verifier' must be an object")
        return TrainingRecord(
            id=obj["id"], name=obj["name"], header=obj["header"], statement=obj["statement"],
            proof=obj["proof"], annotated_proof=obj.get("annotated_proof"),
            informal=obj.get("informal"), kind=str(obj.get("kind") or "theorem"),
            parent=obj.get("parent"), lemmas=tuple(lemmas), source=str(obj.get("source") or ""),
            verifier=verifier, search=str(obj.get("search") or ""),
            policy=str(obj.get("policy") or ""),
        )


def record_files(data_dir: Path | str) -> list[Path]:
    """The record files of ``data_dir``, sorted; ``TrainInputError`` when there are none."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise TrainInputError(f"training data directory {data_dir} does not exist "
                              "(or is not a directory)")
    files = sorted(p for p in data_dir.glob(RECORD_GLOB) if p.is_file())
    if not files:
        raise TrainInputError(f"no {RECORD_GLOB} files in {data_dir}: run `prover synth` first, "
                              "or point --data at the directory it wrote")
    return files


def load_records(data_dir: Path | str) -> list[TrainingRecord]:
    """Every record of ``data_dir`` in file then line order, first of each id kept.

    Raises ``TrainInputError`` naming the file and line of anything unreadable, or when the
    files hold no record at all.
    """
    records: list[TrainingRecord] = []
    seen: set[str] = set()
    files = record_files(data_dir)
    for path in files:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise TrainInputError(f"cannot read {path}: {exc}") from None
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = TrainingRecord.from_json(json.loads(line))
            except ValueError as exc:  # json.JSONDecodeError is a ValueError too
                raise TrainInputError(f"{path}:{number}: not a training record: {exc}") from None
            if record.id not in seen:
                seen.add(record.id)
                records.append(record)
    if not records:
        raise TrainInputError(f"no records in {', '.join(str(p) for p in files)}")
    return records


__all__ = ["RECORD_GLOB", "TrainingRecord", "load_records", "record_files"]
