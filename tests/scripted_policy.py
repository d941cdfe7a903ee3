"""A model stand-in for proposer tests: a ``Policy`` that answers every request with the
scripted texts, in order (the first ``n``), and records the requests it was sent."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from prover.policies.policy import Completion, GenerationRequest


@dataclass
class ScriptedPolicy:
    """Returns the scripted texts, in order, for every request. Each completion has
    ``tokens = len(text)`` and a log-probability that falls with its place (-0.5 per text),
    so a ranking by log-probability keeps the script's order."""

    texts: list[str]
    name: str = "scripted"
    requests: list[GenerationRequest] = field(default_factory=list)

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        self.requests.extend(requests)
        return [[Completion(t, tokens=len(t), logprob=-0.5 * i)
                 for i, t in enumerate(self.texts[:r.n])] for r in requests]

    async def close(self) -> None:
        return None
