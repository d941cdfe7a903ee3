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

FORMAT = "prover-record/1"
KINDS = ("theorem", "lemma")


def content_hash(header: str, statement: str, proof: str) -> str:
    blob = "\x00".join((header, statement, proof)).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


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
    verifier: dict[str, Any] = field(default_factory=dict)  # {"lean": …, "prover": …}
    search: str = ""
    policy: str = ""
    run: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"record kind must be one of {KINDS}, not {self.kind!r}")

    @property
    def id(self) -> str:
        return content_hash(self.header, self.statement, self.proof)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["lemmas"] = list(self.lemmas)
        return {"id": self.id, "format": FORMAT, **data}
