"""The driver's view of the Lean workers: the fleet of actors that hands an idle one to each
call (one warm on the call's header when there is one) and replaces a lost one, and
``runner.Attempts`` on it for ``eval`` and ``synth``."""
from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from benchmarks.metrics import AttemptStatus
from benchmarks.runner import EvalPlan, result_line
from lean_bridge.affinity import pick
from prover.drivers.ray.runtime import GRACE_S, START_TIMEOUT_S, cancel, get, kill
from prover.drivers.ray.worker import portable_item


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

    async def _warm(self, handle: Any, header: str | None, strict: bool = True) -> str | None:
        return await asyncio.wait_for(get(handle.warm.remote(header, strict)), self.start_timeout)

    async def start(self, count: int, header: str | None, *, strict: bool = True) -> None:
        """Start ``count`` workers, each warm on ``header``. A Lean that cannot start, a header
        Lean refuses (when ``strict``, see ``LeanWorker.warm``) or an unusable policy is
        raised; workers the cluster cannot place within ``start_timeout`` are dropped (at
        least one must start)."""
        from ray.exceptions import RayActorError

        handles = [self.make() for _ in range(count)]
        results = await asyncio.gather(*(self._warm(h, header, strict=strict) for h in handles),
                                       return_exceptions=True)
        lost: list[BaseException] = []
        for handle, result in zip(handles, results, strict=True):
            if isinstance(result, (asyncio.TimeoutError, RayActorError)):
                lost.append(result)
                kill(handle)
            elif isinstance(result, BaseException):
                for h in handles:
                    kill(h)
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
                # The pool's own choice (lean_bridge.affinity): warm on the header, else the
                # least recently used idle worker, which then imports the header itself.
                choice = pick(self.idle, header, headers=lambda m: m.headers,
                              last_used=lambda m: m.last_used)
                if choice is not None:
                    self.idle.remove(choice.unit)
                    return choice.unit
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
        kill(member.handle)
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
            # A header was judged when the fleet started: a replacement is warm or knows why not.
            await self._warm(handle, header, strict=False)
            member = Member(handle, {header} if header is not None else set(), time.monotonic())
        except asyncio.CancelledError:  # the run is ending
            kill(handle)
            raise
        except Exception:  # could not be placed or started: the fleet goes on one smaller
            kill(handle)
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
                result = await asyncio.wait_for(get(ref), limit)
            except asyncio.TimeoutError:
                cancel(ref)
                await self.replace(member, header)
                raise
            except RayActorError as exc:
                failure = exc
                await self.replace(member, header)
                if on_lost is not None:
                    on_lost(exc)
                continue
            except BaseException:  # cancelled, or raised by the call itself
                cancel(ref)
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
            kill(member.handle)
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
            return result_line(self.plan, item, attempt, status=AttemptStatus.TIMEOUT, run=self.run,
                               seconds=time.monotonic() - started,
                               error=f"the Lean worker did not answer within the wall-clock "
                                     f"limit of {timeout:.0f} s")
        except WorkerLost as exc:
            return result_line(self.plan, item, attempt, status=AttemptStatus.ERROR, run=self.run,
                               seconds=time.monotonic() - started, error=str(exc))


__all__ = ["Fleet", "Member", "RayAttempts", "WorkerLost"]
