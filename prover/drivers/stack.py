"""The concrete pieces every search run needs, wired once: a REPL pool, the checker over it and
the proposer named by ``--policy``. Used by ``prove``, ``eval`` and ``synth`` alike, so they
start, check and shut down the same way."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, AsyncIterator

from lean_bridge.checker import LeanChecker
from lean_bridge.pool import PoolConfig, ReplPool
from lean_bridge.process import ReplSpec
from prover.drivers.prove import ProveInputError, preflight


@dataclass(frozen=True)
class Stack:
    pool: ReplPool
    lean: LeanChecker
    proposer: Any


@contextlib.asynccontextmanager
async def search_stack(spec: ReplSpec, settings: Any, *, prompt_format: str | None,
                       header: str | None) -> AsyncIterator[Stack]:
    """Start the pool (one REPL on ``header`` first, so a missing or broken Lean is reported
    before any work: ``ReplUnavailable`` / ``ProveInputError``), build the proposer, and
    close both afterwards whatever happened."""
    from prover.policies.backends.errors import BackendUnavailable
    from prover.policies.proposer import make_proposer

    pool = ReplPool(spec, PoolConfig(max_processes=settings["workers"],
                                     max_requests=settings["max_requests"],
                                     header_timeout=settings["header_timeout"]))
    proposer = None
    try:
        lean = LeanChecker(pool, timeout=settings["timeout"])
        if header is not None:
            await preflight(lean, header)
        try:
            proposer = make_proposer(settings["policy"], prompt_format=prompt_format)
        except (ValueError, OSError, ImportError, BackendUnavailable) as exc:
            raise ProveInputError(f"cannot use --policy {settings['policy']}: {exc}") from None
        yield Stack(pool, lean, proposer)
    finally:
        await pool.close()
        await close_proposer(proposer)


async def close_proposer(proposer: Any) -> None:
    for part in getattr(proposer, "proposers", [proposer]) if proposer is not None else []:
        policy = getattr(part, "policy", part)
        close = getattr(policy, "close", None)
        if close is not None:
            try:
                await close()
            except Exception:  # closing is best effort; the run's outcome stands
                pass
