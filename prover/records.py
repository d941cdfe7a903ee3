"""Training records: one verified proof (of a theorem, or of a lemma found by decomposition)
per JSON line, in the form ``datasets.load_dataset("json", …)`` reads and ``prover train``
trains on.

The id is a content hash of what the model learns from (header, statement, proof), so the
same proof found twice — by two attempts, two runs, or as a lemma of two theorems — is one
record. ``annotated_proof`` is the proof with DeepSeek-Prover-V1.5's ``/- tactic state: … -/``
comments after each segment (tactic-state augmentation), when Lean reported the states.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

from search.problem import Problem

FORMAT = "prover-record/1"
KINDS = ("theorem", "lemma")


def content_hash(header: str, statement: str, proof: str) -> str:
    blob = "\x00".join((header, statement, proof)).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


_REQUIRED = ("id", "name", "header", "statement", "proof")
_OPTIONAL_TEXT = ("annotated_proof", "informal", "parent")


@dataclass(frozen=True)
class TrainingRecord:
    name: str
    header: str
    statement: str  # ends ``:= by\n``; ``header + statement + proof`` is the verified file
    proof: str
    annotated_proof: str | None
    kind: str  # "theorem" or "lemma"
    source: str  # the statement set (benchmark or file) it came from
    informal: str | None = None
    parent: str | None = None  # for a lemma: the theorem whose decomposition produced it
    lemmas: tuple[str, ...] = ()  # for a theorem: the lemmas its proof was assembled from
    verifier: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    search: str = ""
    policy: str = ""
    run: str = ""
    # The content hash, computed unless given: a record read back keeps the id it was
    # written with (the writer owns the hashing).
    id: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"record kind must be one of {KINDS}, not {self.kind!r}")
        if not self.id:
            object.__setattr__(self, "id", content_hash(self.header, self.statement, self.proof))

    @property
    def problem(self) -> Problem:
        return Problem(name=self.name, header=self.header, statement=self.statement,
                       informal=self.informal, source=self.source or None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["lemmas"] = list(self.lemmas)
        return {"format": FORMAT, **data}

    @staticmethod
    def from_json(obj: object) -> "TrainingRecord":
        """A record from one parsed JSON line; ``ValueError`` says which field is wrong.
        Only the five text fields a prompt and a proof are built from are required, so
        records with fewer of the other fields still load."""
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
            policy=str(obj.get("policy") or ""), run=str(obj.get("run") or ""))
