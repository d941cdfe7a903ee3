"""Starting and stopping what a ``--ray`` run uses: the generation servers and the Lean worker
fleet (``ray_cluster``), and what ``eval``/``synth`` (``ray_attempts``) and ``prove``
(``ray_prover``) get on top of it."""
from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass
from typing import Any, AsyncIterator, Mapping, Sequence

from benchmarks.runner import EvalPlan
from prover.config import Settings, as_settings
from prover.drivers.prove import ProveInputError
from prover.drivers.ray.fleet import Fleet, RayAttempts
from prover.drivers.ray.runtime import START_TIMEOUT_S, connect, get, import_ray, kill
from prover.drivers.ray.serving import (
    GPU_KINDS,
    SERVER_RESTARTS,
    PolicyServer,
    hosted_parts,
    plan_servers,
)
from prover.drivers.ray.worker import LeanWorker


def worker_count(cluster_cpus: float, servers_on_cpu: int, workers: int | None, *,
                 processes: int = 1) -> int:
    """Lean workers: ``workers`` when given, else as many as the CPUs left by CPU-hosted
    generation servers hold (``processes`` CPUs each); never more than the cluster can place,
    never fewer than one."""
    room = max(1, int((cluster_cpus - servers_on_cpu) // processes))
    return max(1, min(workers, room) if workers else room)


@dataclass
class Cluster:
    """Started actors: the Lean worker fleet and the generation servers."""
    fleet: Fleet
    servers: list[Any]


@contextlib.asynccontextmanager
async def ray_cluster(*, address: str, spec: Any, settings: Settings | Mapping[str, Any],
                      prompt_format: str | None, header: str | None,
                      workers: int | None = None, processes: int = 1,
                      hosted: Sequence[str] = GPU_KINDS, gpus_per_server: float | None = None,
                      worker_class: type = LeanWorker,
                      start_timeout: float = START_TIMEOUT_S,
                      strict_header: bool = True) -> AsyncIterator[Cluster]:
    """Connect (``connect``), start the generation servers and the Lean workers (each warm on
    ``header``), and stop them all afterwards (and the cluster, if ``local`` started it)."""
    ray = import_ray()
    settings = as_settings(settings)
    policy = settings.policy
    parts = hosted_parts(policy, hosted)
    # Decided before connecting: a `local` cluster is sized for the workers asked for.
    cpu_servers_guess = len(parts) if gpus_per_server in (None, 0) else 0
    owned = connect(address, num_cpus=None if not workers else
                    workers * processes + cpu_servers_guess)
    servers: list[Any] = []
    fleet: Fleet | None = None
    try:
        resources = ray.cluster_resources()
        plans = plan_servers(parts, resources.get("GPU", 0), gpus_per_server=gpus_per_server)
        remote_server = ray.remote(PolicyServer)
        by_part: dict[str, list[Any]] = {}
        for plan in plans:
            for _ in range(plan.count):
                handle = remote_server.options(
                    num_cpus=1 if plan.gpus == 0 else 0, num_gpus=plan.gpus,
                    max_restarts=SERVER_RESTARTS, max_task_retries=SERVER_RESTARTS,
                    max_concurrency=1000).remote(str(plan.part))
                by_part.setdefault(str(plan.part), []).append(handle)
                servers.append(handle)
        try:
            await asyncio.gather(*(get(s.load.remote()) for s in servers))
        except Exception as exc:
            raise ProveInputError(f"cannot use --policy {policy}: {exc}") from None
        on_cpu = sum(p.count for p in plans if p.gpus == 0)
        count = worker_count(resources.get("CPU", 1), on_cpu, workers, processes=processes)
        remote_worker = ray.remote(worker_class).options(num_cpus=processes, max_concurrency=1000)

        def make() -> Any:
            return remote_worker.remote(spec, settings, policy=policy,
                                        prompt_format=prompt_format, servers=by_part,
                                        processes=processes)

        fleet = Fleet(make, start_timeout=start_timeout)
        await fleet.start(count, header, strict=strict_header)
        yield Cluster(fleet, servers)
    finally:
        if fleet is not None:
            await fleet.close()
        for server in servers:
            kill(server)
        if owned:
            ray.shutdown()


@contextlib.asynccontextmanager
async def ray_attempts(plan: EvalPlan, *, address: str, spec: Any,
                       settings: Settings | Mapping[str, Any],
                       prompt_format: str | None, run: str = "", kind: str = "eval",
                       header: str | None = None, workers: int | None = None,
                       **options: Any) -> AsyncIterator[RayAttempts]:
    """``runner.Attempts`` on a Ray cluster: give it to ``runner.run_eval`` (which writes the
    lines) with ``plan.concurrency`` set to its ``capacity``. ``options`` go to
    ``ray_cluster`` (``hosted``, ``gpus_per_server``, ``worker_class``, ``start_timeout``)."""
    async with ray_cluster(address=address, spec=spec, settings=settings,
                           prompt_format=prompt_format, header=header, workers=workers,
                           **options) as cluster:
        yield RayAttempts(plan, cluster.fleet, run=run, kind=kind, servers=cluster.servers)


# -- prove ---------------------------------------------------------------------------------------

class RayProver:
    """What ``prover prove --ray`` needs: a ``searcher`` for ``prover.drivers.prove.prove_file`` and a
    file checker for ``final_check``, both run by a Lean worker actor."""

    def __init__(self, fleet: Fleet, header: str) -> None:
        self.fleet, self.header = fleet, header

    async def search(self, problem: Any, *, method: str, proposer: Any = None, lean: Any = None,
                     budget: Any, rng: random.Random, **options: Any) -> Any:
        """``search.search``'s signature; ``proposer`` and ``lean`` are the worker's own."""
        return await self.fleet.call(problem.header, "search", problem, method, budget, rng,
                                     options)

    def checker(self, timeout: float) -> "RemoteFileChecker":
        return RemoteFileChecker(self.fleet, self.header, timeout)


@dataclass(frozen=True)
class RemoteFileChecker:
    """``LeanChecker.check_file`` on a Lean worker (the driver may have no Lean)."""
    fleet: Fleet
    header: str
    timeout: float

    async def check_file(self, text: str, names: list[str] | None = None) -> list[Any]:
        return await self.fleet.call(self.header, "check_file", text, names, self.timeout)


@contextlib.asynccontextmanager
async def ray_prover(*, address: str, spec: Any, settings: Settings | Mapping[str, Any],
                     prompt_format: str | None, header: str, processes: int = 1,
                     **options: Any) -> AsyncIterator[RayProver]:
    """One Lean worker with ``processes`` REPLs (RMaxTS's concurrent expansions) for a file's
    theorems, which are proved one after the other (each statement holds the earlier proofs)."""
    async with ray_cluster(address=address, spec=spec, settings=settings,
                           prompt_format=prompt_format, header=header, workers=1,
                           processes=processes, **options) as cluster:
        yield RayProver(cluster.fleet, header)


__all__ = [
    "Cluster", "RayProver", "RemoteFileChecker", "ray_attempts", "ray_cluster", "ray_prover",
    "worker_count",
]
