"""The concrete pieces every search run needs, wired once: a REPL pool, the checker over it and
the proposer named by ``--policy``. Used by ``prove``, ``eval`` and ``synth`` alike, so they
start, check and shut down the same way."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, AsyncIterator, Mapping

from lean_bridge.checker import LeanChecker
from lean_bridge.pool import PoolConfig, ReplPool
from lean_bridge.process import ReplSpec
from prover.config import Settings, as_settings
from prover.drivers.prove import ProveInputError, preflight


@dataclass(frozen=True)
class Stack:
    pool: ReplPool
    lean: LeanChecker
    proposer: Any
    lean_version: str | None = None  # what the preflight's REPL said (None: no header given)


def lean_checker(spec: ReplSpec, settings: Settings, *, processes: int) -> LeanChecker:
    """A header-keyed pool of up to ``processes`` REPLs with the run's limits (``max_requests``
    recycling, ``header_timeout``), and the checker over it with the per-request ``timeout``;
    the pool is its ``pool``. Local runs and each Ray Lean worker build theirs here."""
    pool = ReplPool(spec, PoolConfig(max_processes=processes,
                                     max_requests=settings.max_requests,
                                     header_timeout=settings.header_timeout))
    return LeanChecker(pool, timeout=settings.timeout)


def usable_proposer(policy: str, *, prompt_format: str | None, policy_for: Any = None,
                    settings: Any = None) -> Any:
    """``make_proposer(policy)``; a policy that cannot be used (bad spec, missing model or
    backend) is the usage error ``ProveInputError`` (exit 2). ``policy_for`` as in
    ``make_proposer`` (Ray: the parts hosted on generation servers); ``settings`` gives the
    sampling the user set (temperature, top_p, max_tokens; else the model family's)."""
    from prover.policies.backends.errors import BackendUnavailable
    from prover.policies.proposer import Sampling, make_proposer

    try:
        return make_proposer(policy, prompt_format=prompt_format, policy_for=policy_for,
                             sampling=Sampling.of(settings))
    except (ValueError, OSError, ImportError, BackendUnavailable) as exc:
        raise ProveInputError(f"cannot use --policy {policy}: {exc}") from None


@contextlib.asynccontextmanager
async def search_stack(spec: ReplSpec, settings: Settings | Mapping[str, Any], *,
                       prompt_format: str | None, header: str | None,
                       strict_header: bool = True) -> AsyncIterator[Stack]:
    """Start the pool (one REPL on ``header`` first, so a missing or broken Lean is reported
    before any work: ``ReplUnavailable``; a header Lean refuses: ``HeaderRejected`` when
    ``strict_header``, see ``preflight``), build the proposer, and close both afterwards
    whatever happened."""
    settings = as_settings(settings)
    lean = lean_checker(spec, settings, processes=settings.workers)
    proposer = None
    try:
        version = None if header is None else \
            await preflight(lean, header, strict=strict_header)
        proposer = usable_proposer(settings.policy, prompt_format=prompt_format,
                                   settings=settings)
        yield Stack(lean.pool, lean, proposer, version)
    finally:
        await close_stack(lean.pool, proposer)


async def close_stack(pool: ReplPool, proposer: Any) -> None:
    """Close the pool, then the proposer (``None``: not built yet)."""
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
