"""Reaching Ray: importing it (an optional dependency), joining the cluster, and the small
helpers every part of ``--ray`` uses on a Ray call or actor (await a result, cancel, kill)."""
from __future__ import annotations

from typing import Any

from benchmarks.runner import EvalInputError
from prover.drivers.prove import ProveInputError

INSTALL_HINT = "pip install 'lean-prover[ray]'"
GRACE_S = 30.0  # how long past its own wall-clock limit a call may take before it is cancelled
START_TIMEOUT_S = 600.0  # an actor not started by then (no free CPU, a broken node) is dropped


class RayUnavailable(EvalInputError, ProveInputError):
    """``--ray`` cannot be used: Ray is not installed, or the cluster cannot be reached (the
    CLI's exit 2, for ``eval``/``synth`` and ``prove`` alike)."""


def import_ray():
    """The ``ray`` module, or ``RayUnavailable`` saying what to install."""
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable(f"--ray needs Ray, which cannot be imported here ({exc}): "
                             f"{INSTALL_HINT}") from None
    return ray


def connect(address: str, *, num_cpus: int | None = None) -> bool:
    """Join (or start) the cluster ``--ray`` names; whether this call did it (and so must
    ``ray.shutdown()``). ``local``: a new private cluster of this machine (``num_cpus``
    logical CPUs, default all); ``auto``: the cluster ``ray start`` runs on this machine
    (or ``$RAY_ADDRESS``); anything else: the address of a head node (``HOST:PORT``). A
    process already connected (a test, a notebook) keeps its connection."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    try:
        if address == "local":
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False)
        else:
            ray.init(address=address)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise RayUnavailable(f"cannot reach the Ray cluster at --ray {address}: {exc}") from None
    return True


async def get(ref: Any) -> Any:
    """Await a Ray result; an exception raised inside the remote call is re-raised as itself
    (``ReplUnavailable`` stays exit 3, ``ProveInputError`` exit 2), not wrapped."""
    from ray.exceptions import RayTaskError

    try:
        return await ref
    except RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, Exception):
            raise cause from None
        raise


def cancel(ref: Any) -> None:
    import ray

    try:
        ray.cancel(ref)
    except Exception:  # the task may be gone already; cancelling is best effort
        pass


def kill(handle: Any) -> None:
    import ray

    try:
        ray.kill(handle, no_restart=True)
    except Exception:  # already dead
        pass


__all__ = [
    "GRACE_S", "INSTALL_HINT", "START_TIMEOUT_S", "RayUnavailable", "cancel", "connect", "get",
    "import_ray", "kill",
]
