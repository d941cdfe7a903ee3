"""A pool of warm REPL processes keyed by import header.

``import Mathlib`` costs seconds to minutes and gigabytes per process, so each process
elaborates its header once and every proof is then sent as ``{"cmd": body, "env": H}`` on
that header's environment ``H``. Environments are immutable, so one ``H`` serves any number of
attempts. The pool keeps at most ``max_processes`` processes: a caller gets a free one with
the same header, else a new one while under the cap, else the least recently used free one is
evicted for it, else it waits (backpressure) until one is released or its deadline passes.

A process that timed out or crashed is destroyed, never returned. One whose caller was
cancelled mid-request (a search that stops at its first proof cancels the rollouts still in
flight) is healthy: the REPL answers the abandoned request anyway, so that answer is read in
the background, within the request's own timeout, and the worker rejoins the free list only
once it is back in step; should the abandoned request time out or crash, the process is
destroyed as usual. Likewise a header import whose caller was cancelled is finished and its
worker kept: with Mathlib the import is the expensive part of a process's life, so header
imports stay equal to the processes started.
Processes are recycled after ``max_requests`` requests or above ``max_rss_bytes`` because the
REPL never frees an environment or proof state (repl #77).
"""
from __future__ import annotations

import asyncio
import itertools
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Coroutine

from .affinity import pick
from .errors import HeaderError, NoAvailableRepl, ReplCrashed, ReplTimeout
from .process import ReplProcess, ReplSpec
from .protocol import (
    CommandRequest,
    CommandResponse,
    ReplErrorResponse,
    Request,
    Response,
)


@dataclass(frozen=True)
class PoolConfig:
    max_processes: int = 1
    max_requests: int = 1000
    max_rss_bytes: int | None = None
    header_timeout: float = 900.0


@dataclass
class PoolStats:
    started: int = 0
    header_imports: int = 0
    recycled: int = 0
    evicted: int = 0
    destroyed: int = 0
    # Workers whose caller was cancelled mid-request, returned once the answer was read.
    resynced: int = 0


class Worker:
    """A started REPL whose header has been elaborated into ``header_env``."""

    _ids = itertools.count()

    def __init__(self, process: ReplProcess, header: str, header_env: int) -> None:
        self.id = next(self._ids)
        self.process = process
        self.header = header
        self.header_env = header_env
        self.last_used = time.monotonic()
        self.broken = False
        self.lean_version: str | None = None

    async def request(self, request: Request, *, timeout: float | None) -> Response:
        # A cancelled caller does not break the worker: the process reads the abandoned
        # answer itself and the pool waits for that before lending the worker again.
        try:
            return await self.process.request(request, timeout=timeout)
        except (ReplTimeout, ReplCrashed):
            self.broken = True
            raise


class ReplPool:
    def __init__(self, spec: ReplSpec, config: PoolConfig = PoolConfig()) -> None:
        if config.max_processes < 1:
            raise ValueError("a REPL pool needs at least one process")
        self.spec = spec
        self.config = config
        self.stats = PoolStats()
        self._free: list[Worker] = []
        self._busy: set[Worker] = set()
        self._starting = 0
        self._cond: asyncio.Condition | None = None
        self._closed = False
        # Work that outlives a cancelled caller: resynchronising workers, finishing imports.
        self._background: set[asyncio.Task[None]] = set()

    @property
    def _condition(self) -> asyncio.Condition:
        # Created lazily so that it binds to the loop that runs the pool.
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    def _total(self) -> int:
        return len(self._free) + len(self._busy) + self._starting

    @asynccontextmanager
    async def acquire(self, header: str, *, wait: float | None = None) -> AsyncIterator[Worker]:
        """A worker for ``header`` for the duration of the block.

        Raises HeaderError when the header does not elaborate, NoAvailableRepl when ``wait``
        seconds pass with every process busy, and whatever starting the REPL raises.
        """
        worker = await self._checkout(header, wait)
        try:
            yield worker
        finally:
            await self._checkin(worker)

    async def _checkout(self, header: str, wait: float | None) -> Worker:
        if self._closed:
            raise RuntimeError("the REPL pool is closed")
        deadline = None if wait is None else time.monotonic() + wait
        evict: Worker | None = None
        async with self._condition:
            while True:
                choice = pick(self._free, header, headers=lambda w: (w.header,),
                              last_used=lambda w: w.last_used)
                if choice is not None and choice.warm:
                    self._free.remove(choice.unit)
                    self._busy.add(choice.unit)
                    return choice.unit
                if self._total() < self.config.max_processes:
                    break
                if choice is not None:  # no free worker is warm: the least recently used goes
                    evict = choice.unit
                    self._free.remove(evict)
                    self.stats.evicted += 1
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    # We may have been the one waiter woken for a released worker: pass it on.
                    self._condition.notify(1)
                    raise NoAvailableRepl(
                        f"all {self.config.max_processes} Lean REPLs stayed busy for {wait:g} s"
                    )
                try:
                    await asyncio.wait_for(self._condition.wait(), remaining)
                except asyncio.TimeoutError:
                    continue
            self._starting += 1
        start = asyncio.ensure_future(self._start(header, evict))
        try:
            return await asyncio.shield(start)
        except asyncio.CancelledError:
            # The caller gave up, the import goes on: its worker joins the free list.
            self._spawn(self._adopt(start))
            raise

    async def _start(self, header: str, evict: Worker | None) -> Worker:
        """Start a worker in the slot reserved by ``_starting``; it is busy when returned."""
        try:
            if evict is not None:
                await evict.process.close()
            worker = await self._start_worker(header)
        except BaseException:
            async with self._condition:
                self._starting -= 1
                self._condition.notify_all()
            raise
        async with self._condition:
            self._starting -= 1
            self._busy.add(worker)
        return worker

    async def _adopt(self, start: "asyncio.Future[Worker]") -> None:
        """Check in the worker of a start whose caller was cancelled, once it has started."""
        try:
            await asyncio.wait({start})
        except asyncio.CancelledError:  # the pool is closing: stop the start too
            start.cancel()
            await asyncio.wait({start})
            raise
        if not start.cancelled() and start.exception() is None:
            await self._checkin(start.result())

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _start_worker(self, header: str) -> Worker:
        process = ReplProcess(self.spec)
        await process.start()
        self.stats.started += 1
        try:
            response = await process.request(
                CommandRequest(cmd=header), timeout=self.config.header_timeout
            )
        except BaseException:
            await process.close()
            raise
        self.stats.header_imports += 1
        problem = _header_problem(response)
        if problem is not None:
            await process.close()
            raise HeaderError(header, problem)
        assert isinstance(response, CommandResponse)
        return Worker(process, header, response.env)

    async def _checkin(self, worker: Worker) -> None:
        if not worker.process.in_sync and not self._closed:
            # Its caller was cancelled mid-request: lend it again once the answer is read.
            self._spawn(self._checkin_in_sync(worker))
            return
        retire = worker.broken or not worker.process.alive or self._closed
        recycle = not retire and (
            worker.process.requests_served >= self.config.max_requests
            or (
                self.config.max_rss_bytes is not None
                and worker.process.rss_bytes() > self.config.max_rss_bytes
            )
        )
        if retire or recycle:
            if retire:
                self.stats.destroyed += 1
            else:
                self.stats.recycled += 1
            await worker.process.close()
        async with self._condition:
            self._busy.discard(worker)
            if not (retire or recycle):
                worker.last_used = time.monotonic()
                self._free.append(worker)
            # One slot was freed, so one waiter can proceed (it takes the worker, or evicts it
            # for its own header). Waking all of them costs O(waiters) per release.
            self._condition.notify(1)

    async def _checkin_in_sync(self, worker: Worker) -> None:
        await worker.process.wait_in_sync()
        if worker.process.alive and not self._closed:
            self.stats.resynced += 1
        await self._checkin(worker)

    async def close(self) -> None:
        """Kill every process of the pool; busy ones are killed when they are checked in."""
        self._closed = True
        async with self._condition:
            free, self._free = self._free, []
            busy = list(self._busy)
        for worker in free + busy:
            await worker.process.close()
        background = list(self._background)
        for task in background:
            task.cancel()
        if background:
            await asyncio.wait(background)

    async def __aenter__(self) -> "ReplPool":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _header_problem(response: Response) -> str | None:
    if isinstance(response, ReplErrorResponse):
        return response.message
    assert isinstance(response, CommandResponse)
    errors = response.errors
    if errors:
        first = errors[0]
        return f"line {first.pos.line}: {first.data}"
    return None
