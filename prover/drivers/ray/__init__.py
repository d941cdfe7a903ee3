"""``--ray``: the same attempts, searches and checks, run by Ray actors spread over a cluster.

What runs where:

* **Lean workers** (``LeanWorker``, one Ray actor per CPU, ``num_cpus`` = its REPL processes):
  each owns a header-keyed ``ReplPool`` with the local limits (``max_requests`` recycling,
  ``header_timeout``, the memory limit of the ``ReplSpec``), a ``LeanChecker`` with the
  per-request ``timeout``, and a proposer, and runs whole attempts (``runner.run_attempt``,
  plus ``synth.enrich`` for synth), whole theorem searches (``prove``) and file checks.
* **Generation servers** (``PolicyServer``, one per GPU, or per ``tensor_parallel_size`` GPUs for
  vLLM): the ``hf:``/``vllm:`` policies, behind a ``BatchingPolicy`` on the server side, so the
  requests of every Lean worker coalesce into the engine's batches. A worker's proposer talks to
  them through ``RemotePolicy``. ``portfolio`` and ``openai:`` (a client of servers that exist
  anyway) live inside each Lean worker.
* **The driver** (the ``prover`` process) schedules: each attempt is an actor method call (a Ray
  task) on an idle worker, preferably one already warm on the problem's import header, and
  ``runner.run_eval`` writes every result line exactly as in local mode: same files, resumable,
  no line written anywhere else, so a lost node can neither lose nor duplicate one.

Failure rule: when the worker running a call dies (actor killed, process gone, node lost), it
is replaced by a new actor and the call is retried once; a second loss gives an ``error``
line, which a rerun redoes (``runner.is_final``). A call that outlives its wall-clock limit by
``GRACE_S`` is cancelled (``ray.cancel``) and its worker replaced. Generation servers are
restarted by Ray itself (``max_restarts``, ``max_task_retries``): their handles live inside
every worker, and a seeded request gives the same completions when asked again.

Ray is an optional dependency (``pip install 'lean-prover[ray]'``): it is imported only when
``--ray`` is used, and this module imports without it. The actor classes are plain classes,
made remote with ``ray.remote(cls)`` at start.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Mapping, Sequence

from benchmarks.runner import EvalInputError, EvalPlan, result_line, run_attempt
from prover.drivers.prove import ProveInputError
from prover.policies.backends.spec import BackendSpec, parse_spec

INSTALL_HINT = "pip install 'lean-prover[ray]'"
GPU_KINDS = ("hf", "vllm")  # policies hosted on generation servers (one engine per GPU)
GRACE_S = 30.0  # how long past its own wall-clock limit a call may take before it is cancelled
START_TIMEOUT_S = 600.0  # an actor not started by then (no free CPU, a broken node) is dropped
SERVER_RESTARTS = 3


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


async def _get(ref: Any) -> Any:
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


def _cancel(ref: Any) -> None:
    import ray

    try:
        ray.cancel(ref)
    except Exception:  # the task may be gone already; cancelling is best effort
        pass


def _kill(handle: Any) -> None:
    import ray

    try:
        ray.kill(handle, no_restart=True)
    except Exception:  # already dead
        pass


def portable_item(item: Any) -> Any:
    """A copy of a benchmark item that pickles: the raw record (a read-only mapping proxy,
    not picklable, and not needed remotely) is left behind."""
    if dataclasses.is_dataclass(item) and isinstance(getattr(item, "record", None), Mapping):
        return dataclasses.replace(item, record={})
    return item


# -- generation ----------------------------------------------------------------------------------

class PolicyServer:
    """A generation engine in an actor (``num_gpus`` = what the engine needs). Many Lean
    workers call ``generate`` at once; the server-side ``BatchingPolicy`` turns calls that
    arrive together into one engine batch, as it does locally for concurrent searches."""

    def __init__(self, spec: str, *, batch_window: float = 0.005) -> None:
        self.spec, self.batch_window = spec, batch_window
        self.policy: Any = None

    def _policy(self) -> Any:
        # Built on first use, not in __init__: a backend that cannot load then reaches the
        # driver as its own exception, and a restarted actor rebuilds it on its next call.
        if self.policy is None:
            from prover.policies.backends.factory import make_policy
            from prover.policies.policy import BatchingPolicy

            self.policy = BatchingPolicy(make_policy(self.spec), window=self.batch_window)
        return self.policy

    async def load(self) -> str:
        return self._policy().name

    async def generate(self, requests: Sequence[Any]) -> list[list[Any]]:
        return await self._policy().generate(requests)

    def batches(self) -> int:
        """Engine calls made so far (fewer than requests when batching works)."""
        return 0 if self.policy is None else self.policy.calls

    async def close(self) -> None:
        if self.policy is not None:
            await self.policy.close()


class RemotePolicy:
    """A ``Policy`` whose ``generate`` runs on generation servers: each call goes to the server
    this worker has the fewest calls in flight on (ties broken from a random start, so that
    workers do not all begin on the first server)."""

    def __init__(self, servers: Sequence[Any], name: str) -> None:
        if not servers:
            raise ValueError("a remote policy needs at least one generation server")
        self.servers, self.name = list(servers), name
        self.in_flight = [0] * len(self.servers)
        self._start = random.randrange(len(self.servers))

    async def generate(self, requests: Sequence[Any]) -> list[list[Any]]:
        count = len(self.servers)
        order = [(self._start + k) % count for k in range(count)]
        pick = min(order, key=lambda i: self.in_flight[i])
        self.in_flight[pick] += 1
        try:
            return await _get(self.servers[pick].generate.remote(list(requests)))
        finally:
            self.in_flight[pick] -= 1

    async def close(self) -> None:  # the servers belong to the driver
        return None


def build_proposer(spec: str, *, prompt_format: str | None,
                   servers: Mapping[str, Sequence[Any]] | None = None,
                   batch_window: float = 0.005) -> Any:
    """``prover.policies.proposer.make_proposer``, except that each part of the spec found in
    ``servers`` (keyed by ``str(part)``) generates on those servers."""
    from prover.policies.proposer import make_proposer

    servers = servers or {}

    def hosted(part: BackendSpec) -> Any:
        return RemotePolicy(servers[str(part)], str(part)) if str(part) in servers else None

    return make_proposer(spec, prompt_format=prompt_format, batch_window=batch_window,
                         policy_for=hosted)


def hosted_parts(spec: str, kinds: Sequence[str] = GPU_KINDS) -> list[BackendSpec]:
    """The parts of a policy spec that run on generation servers."""
    parsed = parse_spec(spec)
    parts = parsed.parts if parsed.kind == "mix" else (parsed,)
    return [p for p in dict.fromkeys(parts) if p.kind in kinds]


def gpus_per_engine(part: BackendSpec) -> int:
    return int(part.options.get("tensor_parallel_size", 1)) if part.kind == "vllm" else 1


@dataclass(frozen=True)
class ServerPlan:
    """How many generation servers a part gets, and the GPUs (0: on CPU) each holds."""
    part: BackendSpec
    count: int
    gpus: float


def plan_servers(parts: Sequence[BackendSpec], cluster_gpus: float, *,
                 gpus_per_server: float | None = None) -> list[ServerPlan]:
    """One engine per GPU (``tensor_parallel_size`` GPUs for vLLM), the cluster's GPUs split
    evenly between the parts; one CPU engine per part when there is no GPU (or
    ``gpus_per_server`` is 0)."""
    plans = []
    share = cluster_gpus / len(parts) if parts else 0
    for part in parts:
        need = gpus_per_engine(part) if gpus_per_server is None else gpus_per_server
        if need > 0 and share >= need:
            plans.append(ServerPlan(part, int(share // need), need))
        else:
            plans.append(ServerPlan(part, 1, 0))
    return plans


# -- the Lean worker -----------------------------------------------------------------------------

class LeanWorker:
    """What one Ray actor holds: a REPL pool keyed by header, the checker over it and a
    proposer; it runs whole attempts, searches and file checks on them."""

    def __init__(self, spec: Any, settings: Mapping[str, Any], *, policy: str,
                 prompt_format: str | None, servers: Mapping[str, Sequence[Any]] | None = None,
                 processes: int = 1) -> None:
        from lean_bridge.checker import LeanChecker
        from lean_bridge.pool import PoolConfig, ReplPool

        self.pool = ReplPool(spec, PoolConfig(max_processes=processes,
                                              max_requests=settings["max_requests"],
                                              header_timeout=settings["header_timeout"]))
        self.lean = LeanChecker(self.pool, timeout=settings["timeout"])
        self.policy, self.prompt_format, self.servers = policy, prompt_format, dict(servers or {})
        self._proposer: Any = None
        self.annotations: dict = {}  # synth: each distinct proof annotated once (synth.enrich)

    @property
    def proposer(self) -> Any:
        if self._proposer is None:
            from prover.policies.backends.errors import BackendUnavailable

            try:
                self._proposer = build_proposer(self.policy, prompt_format=self.prompt_format,
                                                servers=self.servers)
            except (ValueError, OSError, ImportError, BackendUnavailable) as exc:
                raise ProveInputError(f"cannot use --policy {self.policy}: {exc}") from None
        return self._proposer

    async def warm(self, header: str | None) -> str | None:
        """Build the proposer and start one REPL on ``header`` (``prover.drivers.prove.preflight``:
        a missing Lean or a header that does not elaborate is raised); its Lean version."""
        from prover.drivers.prove import preflight

        self.proposer  # noqa: B018 - a policy that cannot be used is raised now, not mid-run
        if header is None:
            return None
        await preflight(self.lean, header)
        return await self.lean.lean_version(header)

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
        from prover.drivers.stack import close_proposer

        await self.pool.close()
        await close_proposer(self._proposer)


# -- the driver's view of the workers ------------------------------------------------------------

@dataclass(eq=False)
class Member:
    """A live Lean worker actor, and the headers it has REPLs warm on."""
    handle: Any
    headers: set[str] = field(default_factory=set)
    last_used: float = 0.0


class Fleet:
    """The Lean worker actors: hands an idle one to each call (one warm on the call's header
    when there is one), and replaces a lost one in the background."""

    def __init__(self, make: Callable[[], Any], *, start_timeout: float = START_TIMEOUT_S) -> None:
        self.make, self.start_timeout = make, start_timeout
        self.members: list[Member] = []  # alive, idle or busy
        self.idle: list[Member] = []
        self.starting = 0
        self.replaced = 0
        self.dropped = 0  # replacements that never started
        self.lean_version: str | None = None
        self._cond: asyncio.Condition | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def _condition(self) -> asyncio.Condition:
        if self._cond is None:  # bound to the loop that runs the fleet
            self._cond = asyncio.Condition()
        return self._cond

    @property
    def size(self) -> int:
        return len(self.members)

    async def _warm(self, handle: Any, header: str | None) -> str | None:
        return await asyncio.wait_for(_get(handle.warm.remote(header)), self.start_timeout)

    async def start(self, count: int, header: str | None) -> None:
        """Start ``count`` workers, each warm on ``header``. A Lean that cannot start, a header
        that does not elaborate or an unusable policy is raised; workers the cluster cannot
        place within ``start_timeout`` are dropped (at least one must start)."""
        from ray.exceptions import RayActorError

        handles = [self.make() for _ in range(count)]
        results = await asyncio.gather(*(self._warm(h, header) for h in handles),
                                       return_exceptions=True)
        lost: list[BaseException] = []
        for handle, result in zip(handles, results):
            if isinstance(result, (asyncio.TimeoutError, RayActorError)):
                lost.append(result)
                _kill(handle)
            elif isinstance(result, BaseException):
                for h in handles:
                    _kill(h)
                raise result
            else:
                self.lean_version = self.lean_version or result
                member = Member(handle, {header} if header is not None else set())
                self.members.append(member)
                self.idle.append(member)
        if not self.members:
            raise RuntimeError(f"no Lean worker could start on the Ray cluster within "
                               f"{self.start_timeout:g} s: {lost[0]!r}")

    async def acquire(self, header: str | None) -> Member:
        async with self._condition:
            while True:
                if self.idle:
                    warm = [m for m in self.idle if header in m.headers]
                    member = max(warm, key=lambda m: m.last_used) if warm else \
                        min(self.idle, key=lambda m: m.last_used)
                    self.idle.remove(member)
                    return member
                if not self.members and not self.starting:
                    raise RuntimeError("every Lean worker on the Ray cluster was lost and none "
                                       "could be replaced")
                await self._condition.wait()

    async def release(self, member: Member, header: str | None) -> None:
        async with self._condition:
            if member in self.members and member not in self.idle:
                if header is not None:
                    member.headers.add(header)
                member.last_used = time.monotonic()
                self.idle.append(member)
            self._condition.notify(1)

    async def replace(self, member: Member, header: str | None) -> None:
        """Retire ``member`` (dead, or not to be trusted) and start a new worker for it,
        warm on ``header``; it joins the idle workers once it answers."""
        _kill(member.handle)
        async with self._condition:
            if member in self.members:
                self.members.remove(member)
            if member in self.idle:
                self.idle.remove(member)
            self.starting += 1
            self.replaced += 1
        task = asyncio.create_task(self._replacement(header))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _replacement(self, header: str | None) -> None:
        handle = self.make()
        member = None
        try:
            await self._warm(handle, header)
            member = Member(handle, {header} if header is not None else set(), time.monotonic())
        except asyncio.CancelledError:  # the run is ending
            _kill(handle)
            raise
        except Exception:  # could not be placed or started: the fleet goes on one smaller
            _kill(handle)
            self.dropped += 1
        finally:
            async with self._condition:
                self.starting -= 1
                if member is not None:
                    self.members.append(member)
                    self.idle.append(member)
                self._condition.notify_all()

    async def call(self, header: str | None, method: str, *args: Any,
                   limit: float | None = None,
                   on_lost: Callable[[BaseException], None] | None = None) -> Any:
        """``method(*args)`` on an idle worker; when the worker is lost (``on_lost`` is told),
        once more on another (``WorkerLost`` after the second loss). Past ``limit`` seconds
        the call is cancelled, its worker replaced, and ``asyncio.TimeoutError`` raised."""
        from ray.exceptions import RayActorError

        failure: BaseException | None = None
        for _ in range(2):
            member = await self.acquire(header)
            ref = getattr(member.handle, method).remote(*args)
            try:
                result = await asyncio.wait_for(_get(ref), limit)
            except asyncio.TimeoutError:
                _cancel(ref)
                await self.replace(member, header)
                raise
            except RayActorError as exc:
                failure = exc
                await self.replace(member, header)
                if on_lost is not None:
                    on_lost(exc)
                continue
            except BaseException:  # cancelled, or raised by the call itself
                _cancel(ref)
                await self.release(member, header)
                raise
            await self.release(member, header)
            return result
        first = (str(failure).splitlines() or [""])[0]
        raise WorkerLost(f"the Lean worker running it was lost twice: "
                         f"{type(failure).__name__}: {first}")

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        closing = [m.handle.close.remote() for m in self.members]
        if closing:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), 30)
        for member in self.members:
            _kill(member.handle)
        self.members, self.idle = [], []


class WorkerLost(RuntimeError):
    """A call lost its Lean worker twice (the retry too)."""


# -- eval and synth ------------------------------------------------------------------------------

class RayAttempts:
    """``runner.Attempts`` on a fleet of Lean worker actors."""

    def __init__(self, plan: EvalPlan, fleet: Fleet, *, run: str = "", kind: str = "eval",
                 servers: Sequence[Any] = (), grace: float = GRACE_S) -> None:
        import ray

        self.plan, self.fleet, self.run, self.kind, self.grace = plan, fleet, run, kind, grace
        self.servers = list(servers)
        self.retried: list[tuple[str, int]] = []  # one entry per loss of a worker under it
        self._plan_ref = ray.put(plan)  # sent once, not with every call

    @property
    def capacity(self) -> int:
        """Attempts that can run at once: the workers that started."""
        return max(1, self.fleet.size)

    @property
    def lean_version(self) -> str | None:
        return self.fleet.lean_version

    def describe(self) -> str:
        import ray

        resources = ray.cluster_resources()
        return (f"ray: {self.fleet.size} Lean worker(s), {len(self.servers)} generation "
                f"server(s) on a cluster of {resources.get('CPU', 0):g} CPU(s), "
                f"{resources.get('GPU', 0):g} GPU(s)")

    async def __call__(self, item: Any, attempt: int, timeout: float | None) -> dict[str, Any]:
        started = time.monotonic()
        limit = None if timeout is None else timeout + self.grace
        try:
            return await self.fleet.call(
                item.problem.header, "attempt", self._plan_ref, portable_item(item), attempt,
                timeout, self.run, self.kind, limit=limit,
                on_lost=lambda exc: self.retried.append((item.name, attempt)))
        except asyncio.TimeoutError:
            return result_line(self.plan, item, attempt, status="timeout", run=self.run,
                               seconds=time.monotonic() - started,
                               error=f"the Lean worker did not answer within the wall-clock "
                                     f"limit of {timeout:.0f} s")
        except WorkerLost as exc:
            return result_line(self.plan, item, attempt, status="error", run=self.run,
                               seconds=time.monotonic() - started, error=str(exc))


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
async def ray_cluster(*, address: str, spec: Any, settings: Mapping[str, Any],
                      prompt_format: str | None, header: str | None,
                      workers: int | None = None, processes: int = 1,
                      hosted: Sequence[str] = GPU_KINDS, gpus_per_server: float | None = None,
                      worker_class: type = LeanWorker,
                      start_timeout: float = START_TIMEOUT_S) -> AsyncIterator[Cluster]:
    """Connect (``connect``), start the generation servers and the Lean workers (each warm on
    ``header``), and stop them all afterwards (and the cluster, if ``local`` started it)."""
    ray = import_ray()
    settings = dict(settings)
    policy = settings["policy"]
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
            await asyncio.gather(*(_get(s.load.remote()) for s in servers))
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
        await fleet.start(count, header)
        yield Cluster(fleet, servers)
    finally:
        if fleet is not None:
            await fleet.close()
        for server in servers:
            _kill(server)
        if owned:
            ray.shutdown()


@contextlib.asynccontextmanager
async def ray_attempts(plan: EvalPlan, *, address: str, spec: Any, settings: Mapping[str, Any],
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
async def ray_prover(*, address: str, spec: Any, settings: Mapping[str, Any],
                     prompt_format: str | None, header: str, processes: int = 1,
                     **options: Any) -> AsyncIterator[RayProver]:
    """One Lean worker with ``processes`` REPLs (RMaxTS's concurrent expansions) for a file's
    theorems, which are proved one after the other (each statement holds the earlier proofs)."""
    async with ray_cluster(address=address, spec=spec, settings=settings,
                           prompt_format=prompt_format, header=header, workers=1,
                           processes=processes, **options) as cluster:
        yield RayProver(cluster.fleet, header)


__all__ = [
    "Fleet", "GPU_KINDS", "LeanWorker", "PolicyServer", "RayAttempts", "RayProver",
    "RayUnavailable", "RemotePolicy", "WorkerLost", "build_proposer", "connect", "hosted_parts",
    "import_ray", "plan_servers", "portable_item", "ray_attempts", "ray_cluster", "ray_prover",
    "worker_count",
]
