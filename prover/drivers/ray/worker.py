"""The Lean worker: what one Ray actor holds (a REPL pool, the checker over it, a proposer) and
runs (whole attempts, searches, file checks), and the benchmark items sent to it."""
from __future__ import annotations

import dataclasses
import os
import random
from typing import Any, Mapping, Sequence

from benchmarks.runner import EvalPlan, run_attempt
from prover.config import Settings, as_settings
from prover.drivers.ray.serving import hosted_on


def portable_item(item: Any) -> Any:
    """A copy of a benchmark item that pickles: the raw record (a read-only mapping proxy,
    not picklable, and not needed remotely) is left behind."""
    if dataclasses.is_dataclass(item) and not isinstance(item, type) and isinstance(getattr(item, "record", None), Mapping):
        return dataclasses.replace(item, record={})
    return item


class LeanWorker:
    """What one Ray actor holds: a REPL pool keyed by header, the checker over it and a
    proposer; it runs whole attempts, searches and file checks on them."""

    def __init__(self, spec: Any, settings: Settings | Mapping[str, Any], *, policy: str,
                 prompt_format: str | None, servers: Mapping[str, Sequence[Any]] | None = None,
                 processes: int = 1) -> None:
        from prover.drivers.stack import lean_checker

        # Wired as in a local run (prover.drivers.stack), with this actor's REPL processes.
        self.settings = as_settings(settings)
        self.lean = lean_checker(spec, self.settings, processes=processes)
        self.pool = self.lean.pool
        self.policy, self.prompt_format, self.servers = policy, prompt_format, dict(servers or {})
        self._proposer: Any = None
        self.annotations: dict = {}  # synth: each distinct proof annotated once (synth.enrich)

    @property
    def proposer(self) -> Any:
        if self._proposer is None:
            from prover.drivers.stack import usable_proposer

            self._proposer = usable_proposer(self.policy, prompt_format=self.prompt_format,
                                             policy_for=hosted_on(self.servers),
                                             settings=self.settings)
        return self._proposer

    async def warm(self, header: str | None, strict: bool = True) -> str | None:
        """Build the proposer and start one REPL on ``header`` (``prover.drivers.prove.preflight``:
        a missing Lean is raised, and a header Lean refuses when ``strict``); its Lean version."""
        from prover.drivers.prove import preflight

        self.proposer  # noqa: B018 - a policy that cannot be used is raised now, not mid-run
        if header is None:
            return None
        return await preflight(self.lean, header, strict=strict)

    async def attempt(self, plan: EvalPlan, item: Any, attempt: int, timeout: float | None,
                      run: str = "", kind: str = "eval") -> dict[str, Any]:
        line = await run_attempt(plan, item, attempt, proposer=self.proposer, lean=self.lean,
                                 timeout=timeout, run=run)
        if kind == "synth":
            from prover.drivers.synth import enrich

            line = await enrich(line, item, self.lean, self.annotations)
        return line

    async def search(self, problem: Any, method: str, budget: Any, rng: random.Random,
                     options: Mapping[str, Any]) -> Any:
        from search import search

        return await search(problem, method=method, proposer=self.proposer, lean=self.lean,
                            budget=budget, rng=rng, **dict(options))

    async def check_file(self, text: str, names: list[str] | None,
                         timeout: float) -> list[Any]:
        from lean_bridge.checker import LeanChecker

        checker = LeanChecker(self.pool, timeout=timeout, integrity=self.lean.integrity)
        return await checker.check_file(text, names)

    def pid(self) -> int:
        return os.getpid()

    async def close(self) -> None:
        from prover.drivers.stack import close_stack

        await close_stack(self.pool, self._proposer)


__all__ = ["LeanWorker", "portable_item"]
