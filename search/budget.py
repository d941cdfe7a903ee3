"""Search budgets in the paper's notation ``N×T``: N independent attempts (trees or sampling
runs), T generations each. A proof found by any attempt counts; its ``cost`` is the number of
generations spent until it, counting earlier attempts in full (DeepSeek-Prover-V1.5 §3.4)."""
from __future__ import annotations

import re
from dataclasses import dataclass

_SPEC = re.compile(r"^\s*(\d+)\s*[x×*]\s*(\d+)\s*$")


@dataclass(frozen=True)
class Budget:
    attempts: int
    per_attempt: int

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.per_attempt < 1:
            raise ValueError(f"a budget needs at least 1x1, got {self.attempts}x{self.per_attempt}")

    @classmethod
    def parse(cls, spec: str) -> "Budget":
        """``"4x32"`` (also ``4×32``). A bare number is refused: ``4`` could mean four attempts
        (pass@4) or four generations, and taking it silently as either one runs another
        experiment than the one meant."""
        if spec.strip().isdigit():
            n = int(spec)
            raise ValueError(f"budget {spec.strip()!r} is ambiguous: write NxT, N attempts of T "
                             f"generations each (e.g. 1x{n} for one attempt of {n} generations, "
                             f"{n}x1 for {n} attempts of one)")
        match = _SPEC.match(spec)
        if not match:
            raise ValueError(f"budget must look like NxT, N attempts of T generations each "
                             f"(e.g. 4x32), got {spec!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def total(self) -> int:
        return self.attempts * self.per_attempt

    def __str__(self) -> str:
        return f"{self.attempts}x{self.per_attempt}"

    def cost(self, attempt: int, generation: int) -> int:
        """Generations spent up to and including ``generation`` (1-based) of ``attempt`` (0-based)."""
        return attempt * self.per_attempt + generation
