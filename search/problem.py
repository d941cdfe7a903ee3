"""What is to be proved: a Lean theorem statement with the header it needs.

``header + statement + proof`` is a complete Lean file. ``statement`` ends in ``:= by\\n``
(miniF2F, PutnamBench) or ``:=`` (ProofNet); a proof continues it.
"""
from __future__ import annotations

from dataclasses import dataclass

DEFAULT_HEADER = (
    "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\n"
    "open BigOperators Real Nat Topology Rat\n\n"
)


@dataclass(frozen=True)
class Problem:
    name: str
    header: str
    statement: str
    informal: str | None = None  # a docstring (``/-- … -/``) models were trained to see
    source: str | None = None

    def file_with(self, proof: str) -> str:
        return self.header + self.statement + proof

    @property
    def ends_with_by(self) -> bool:
        return self.statement.rstrip().endswith("by")
