"""One Lean REPL subprocess: start, one request at a time, wall-clock timeouts, kill.

The REPL has no timeout and no cancellation of its own, and ``lake env`` is the parent of the
``repl`` binary, so the only reliable way to stop it is to kill its whole process group. Every
process is therefore started in a new session (its own group) and killed with ``killpg``; we
never kill anything by name.

stderr is drained continuously into a bounded tail: Lean writes panics there, and a pipe that
is never read fills up (64 KiB) and blocks the REPL in the middle of a response.
"""
from __future__ import annotations

import asyncio
import collections
import os
import resource
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import psutil

from .errors import BridgeError, ReplCrashed, ReplTimeout, ReplUnavailable
from .protocol import (
    ProtocolError,
    Request,
    Response,
    decode_response_block,
    encode_request,
    is_block_end,
)
from .sandbox import SandboxPolicy, network_isolation_prefix, scrubbed_environment

GIB = 1024**3
_STDERR_TAIL_BYTES = 64 * 1024
# A response line can be long (an infotree, a huge goal); asyncio's default limit is 64 KiB.
_LINE_LIMIT = 256 * 1024 * 1024
_OOM_MARKERS = ("out of memory", "bad_alloc", "cannot allocate memory", "memoryerror")


def _describe_cap(memory_bytes: int | None) -> str:
    return "none" if memory_bytes is None else f"{memory_bytes / GIB:.2f} GiB"


# Below this much address space not even a bare Lean REPL (``lake env`` and the ``repl``
# binary, no Mathlib) gets going; with Mathlib it needs 8-12 GiB (see ProcessLimits).
MIN_ADDRESS_SPACE = 1 * GIB


@dataclass(frozen=True)
class ProcessLimits:
    """Resource limits applied in the child before it executes the REPL.

    ``memory_bytes`` is RLIMIT_AS: Mathlib needs about 8-12 GiB of address space (its
    .olean files are memory-mapped), so the default leaves room for that and no more.

    A limit inherited from the parent (``ulimit -v``, a batch scheduler) can only be
    lowered, never raised, so ``resolve`` caps each configured limit at the inherited hard
    limit, in the parent, where a failure can still be explained.
    """

    memory_bytes: int | None = 16 * GIB
    # CPU seconds over the process's whole life: a warm REPL serves many requests, so this is a
    # backstop against a runaway process, not a per-proof limit (that is the wall clock).
    cpu_seconds: int | None = 4 * 3600
    # Importing Mathlib opens thousands of .olean files; stay well above that.
    open_files: int | None = 65536

    def resolve(self, hard_limit: Callable[[int], int] | None = None) -> "ResolvedLimits":
        """The limits the child can actually be given, each the smaller of the configured one
        and the inherited hard limit (``hard_limit(resource)``, default the parent's own).

        Raises ReplUnavailable when the inherited address-space limit leaves no workable cap:
        below ``MIN_ADDRESS_SPACE`` and below the configured cap (a smaller configured cap is
        the user's own choice and taken as given).
        """
        hard_of = hard_limit or (lambda which: resource.getrlimit(which)[1])
        settings: list[tuple[int, int, int]] = []
        memory = self.memory_bytes
        inherited_as = _finite(hard_of(resource.RLIMIT_AS))
        if inherited_as is not None and inherited_as < min(memory or inherited_as + 1, MIN_ADDRESS_SPACE):
            raise ReplUnavailable(_address_space_message(inherited_as, memory))
        if memory is not None:
            memory = memory if inherited_as is None else min(memory, inherited_as)
            settings.append((resource.RLIMIT_AS, memory, memory))
        else:
            memory = inherited_as
        if self.cpu_seconds is not None:
            # The soft limit sends SIGXCPU, the hard one a second later SIGKILL.
            soft, hard = _capped(self.cpu_seconds, hard_of(resource.RLIMIT_CPU)), \
                _capped(self.cpu_seconds + 1, hard_of(resource.RLIMIT_CPU))
            settings.append((resource.RLIMIT_CPU, soft, hard))
        if self.open_files is not None:
            cap = _capped(self.open_files, hard_of(resource.RLIMIT_NOFILE))
            settings.append((resource.RLIMIT_NOFILE, cap, cap))
        return ResolvedLimits(memory, tuple(settings))


@dataclass(frozen=True)
class ResolvedLimits:
    """Limits that the child is allowed to set: none above its inherited hard limit."""

    memory_bytes: int | None  # the address-space cap in force in the child (None: unlimited)
    settings: tuple[tuple[int, int, int], ...]  # (resource, soft, hard)

    def apply(self) -> None:
        """Runs in the child between fork and exec: only async-signal-safe work."""
        for which, soft, hard in self.settings:
            resource.setrlimit(which, (soft, hard))


def _finite(limit: int) -> int | None:
    return None if limit == resource.RLIM_INFINITY else limit


def _capped(value: int, inherited_hard: int) -> int:
    return value if inherited_hard == resource.RLIM_INFINITY else min(value, inherited_hard)


def _address_space_message(inherited: int, configured: int | None) -> str:
    wanted = "no cap" if configured is None else f"{configured / GIB:g} GiB"
    return (
        f"cannot start the Lean REPL: this process inherited a hard address-space limit of "
        f"{inherited / 2**20:.0f} MiB (`ulimit -v`), below the {MIN_ADDRESS_SPACE / GIB:g} GiB "
        f"a Lean REPL needs to start (the configured cap is {wanted}, PROVER_MEMORY_GB; Mathlib "
        f"needs 8-12 GiB). Run prover from a shell without that limit, or, to try anyway, set "
        f"PROVER_MEMORY_GB to at most {inherited / GIB:.2f}."
    )


@dataclass(frozen=True)
class ReplSpec:
    """How to start a REPL: any executable that speaks the protocol.

    For a real Lean workspace this is ``["lake", "env", "<repl binary>"]`` with the workspace
    as ``cwd``; in tests it is the fake REPL.
    """

    command: tuple[str, ...]
    cwd: Path | None = None
    env: Mapping[str, str] | None = None  # added to the (scrubbed) environment
    limits: ProcessLimits = field(default_factory=ProcessLimits)
    sandbox: SandboxPolicy = field(default_factory=SandboxPolicy)

    def describe(self) -> str:
        return " ".join(self.command) + (f"  (in {self.cwd})" if self.cwd else "")


class ReplProcess:
    """A started REPL. Cheap to construct; ``start()`` spawns, ``close()`` kills the group."""

    def __init__(self, spec: ReplSpec) -> None:
        self.spec = spec
        self.requests_served = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._stderr_tail: collections.deque[bytes] = collections.deque()
        self._stderr_size = 0
        self._stderr_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._killed_by_us = False
        self._tmpdir: str | None = None
        # The background read of an answer whose caller was cancelled (see request()).
        self._abandoned: asyncio.Task[None] | None = None
        self.answers_dropped = 0
        self._memory_cap: int | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> "ReplProcess":
        command = self.spec.command
        # Resolve the program ourselves: behind `unshare` a missing executable would only show
        # up as the wrapper's exit status, not as "cannot start".
        if not command or shutil.which(command[0]) is None:
            raise ReplUnavailable(
                f"cannot start the Lean REPL `{self.spec.describe()}`: "
                f"{command[0] if command else 'empty command'!s} is not an executable. "
                "Run `prover setup` to build one, or pass `--repl CMD` / set PROVER_REPL."
            )
        # Resolved here, in the parent: a setrlimit that fails in the child only ever says
        # "Exception occurred in preexec_fn".
        limits = self.spec.limits.resolve()
        self._memory_cap = limits.memory_bytes
        if self.spec.sandbox.isolate_network:
            command = (*(network_isolation_prefix() or ()), *command)
        self._tmpdir = tempfile.mkdtemp(prefix="prover-repl-")
        base = scrubbed_environment(os.environ) if self.spec.sandbox.scrub_environment else dict(os.environ)
        env = {**base, **(self.spec.env or {}), "TMPDIR": self._tmpdir}
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=str(self.spec.cwd) if self.spec.cwd else None,
                env=env,
                start_new_session=True,
                preexec_fn=limits.apply,
                limit=_LINE_LIMIT,
            )
        except subprocess.SubprocessError as exc:
            self._remove_tmpdir()
            raise ReplUnavailable(
                f"cannot start the Lean REPL `{self.spec.describe()}`: setting its resource "
                f"limits failed ({exc}; address-space cap {_describe_cap(limits.memory_bytes)}). "
                "Lower PROVER_MEMORY_GB, or run prover from a shell without inherited limits."
            ) from exc
        except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
            self._remove_tmpdir()
            raise ReplUnavailable(
                f"cannot start the Lean REPL `{self.spec.describe()}`: {exc}. "
                "Run `prover setup` to build one, or pass `--repl CMD` / set PROVER_REPL."
            ) from exc
        self._stderr_task = asyncio.create_task(self._drain_stderr())
        return self

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def stderr_tail(self) -> str:
        return b"".join(self._stderr_tail).decode("utf-8", "replace")

    def rss_bytes(self) -> int:
        """Resident memory of the REPL and its children (``lake env`` runs the binary as one)."""
        if not self.alive or self.pid is None:
            return 0
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                continue
        return total

    async def close(self) -> None:
        """Kill the whole process group and reap it. Safe to call twice."""
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            self._killed_by_us = True
            self._kill_group()
        try:
            await asyncio.wait_for(proc.wait(), timeout=10)
        except asyncio.TimeoutError:  # pragma: no cover - SIGKILL cannot be ignored
            pass
        # The group may outlive its leader (a grandchild that ignored the pipe closing).
        self._kill_group()
        if self._stderr_task:
            self._stderr_task.cancel()
            try:
                await self._stderr_task
            except (asyncio.CancelledError, Exception):
                pass
        if proc.stdin and not proc.stdin.is_closing():
            proc.stdin.close()
        self._remove_tmpdir()
        abandoned = self._abandoned
        if abandoned is not None and not abandoned.done() and abandoned is not asyncio.current_task():
            abandoned.cancel()  # its answer can no longer come: the group is dead
            await asyncio.wait({abandoned})

    def _remove_tmpdir(self) -> None:
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def _kill_group(self) -> None:
        if self._proc is None:
            return
        try:
            # The child called setsid(), so its pgid is its pid even after it has exited.
            os.killpg(self._proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    async def _drain_stderr(self) -> None:
        assert self._proc and self._proc.stderr
        while True:
            chunk = await self._proc.stderr.read(65536)
            if not chunk:
                return
            self._stderr_tail.append(chunk)
            self._stderr_size += len(chunk)
            while self._stderr_size > _STDERR_TAIL_BYTES and len(self._stderr_tail) > 1:
                self._stderr_size -= len(self._stderr_tail.popleft())

    # -- requests ---------------------------------------------------------------------------

    async def request(self, request: Request | dict[str, Any], *, timeout: float | None) -> Response:
        """Send one request and wait for its response.

        Raises ReplTimeout (the group is killed first) or ReplCrashed (the process is dead
        or unusable and has been killed). A ``{"message": …}`` answer is returned, not raised.

        A caller cancelled mid-request does not take the process down with it: the REPL
        answers that request anyway, so its answer is read and dropped in the background
        (``in_sync`` is False meanwhile) within the request's own timeout, and the next
        request waits for that. Only when the abandoned request fails (its timeout passes,
        the REPL crashes) is the process killed, as it would have been in the foreground.
        """
        if self._proc is None:
            raise RuntimeError("ReplProcess.request() before start()")
        async with self._lock:
            await self.wait_in_sync()
            if not self.alive:
                raise await self._crashed("eof", "the process had already exited")
            deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
            # The exchange is its own task so that a cancelled caller leaves it running.
            exchange = asyncio.ensure_future(self._exchange(request))
            try:
                return await self._answer(exchange, timeout, deadline)
            except asyncio.CancelledError:
                self._abandoned = asyncio.create_task(self._absorb(exchange, timeout, deadline))
                raise

    @property
    def in_sync(self) -> bool:
        """No abandoned request is still being answered: the next request's answer is its own."""
        return self._abandoned is None or self._abandoned.done()

    async def wait_in_sync(self) -> None:
        """Until the answer to an abandoned request has been read (or the process killed).

        Cancelling the waiter does not cancel the background read (``asyncio.wait``)."""
        if self._abandoned is not None:
            await asyncio.wait({self._abandoned})

    async def _answer(self, exchange: "asyncio.Future[Response]", timeout: float | None,
                      deadline: float | None) -> Response:
        """The exchange's response by ``deadline``; every failure leaves the process killed."""
        remaining = None if deadline is None else max(0.0, deadline - asyncio.get_running_loop().time())
        try:
            response = await asyncio.wait_for(asyncio.shield(exchange), remaining)
        except asyncio.TimeoutError:
            exchange.cancel()
            await self.close()
            raise ReplTimeout(timeout or 0.0) from None
        except ProtocolError as exc:
            await self.close()
            raise ReplCrashed("garbage", str(exc)) from None
        except (BrokenPipeError, ConnectionResetError, EOFError):
            raise await self._crashed("eof", "stdout closed in the middle of a request") from None
        self.requests_served += 1
        return response

    async def _absorb(self, exchange: "asyncio.Future[Response]", timeout: float | None,
                      deadline: float | None) -> None:
        """Read and drop the answer to a request whose caller was cancelled."""
        try:
            await self._answer(exchange, timeout, deadline)
        except BridgeError:
            return  # the process was killed; whoever asks next finds it dead
        except asyncio.CancelledError:
            exchange.cancel()
            await self.close()
            raise
        self.answers_dropped += 1

    async def _exchange(self, request: Request | dict[str, Any]) -> Response:
        assert self._proc and self._proc.stdin and self._proc.stdout
        self._proc.stdin.write(encode_request(request))
        await self._proc.stdin.drain()
        lines: list[bytes] = []
        while True:
            line = await self._proc.stdout.readline()
            if not line:
                raise EOFError
            if is_block_end(line):
                if lines:
                    return decode_response_block(lines)
                continue  # tolerate stray blank lines between responses
            lines.append(line)

    async def _crashed(self, cause: str, detail: str) -> ReplCrashed:
        """Reap the dead process and classify how it died from its status and stderr."""
        proc = self._proc
        assert proc is not None
        try:
            await asyncio.wait_for(proc.wait(), timeout=5)
        except asyncio.TimeoutError:
            pass
        # Let the drain task collect what the process wrote just before dying.
        if self._stderr_task:
            try:
                await asyncio.wait_for(asyncio.shield(self._stderr_task), timeout=2)
            except (asyncio.TimeoutError, Exception):
                pass
        await self.close()
        tail = self.stderr_tail().strip()
        code = proc.returncode
        lowered = tail.lower()
        if any(marker in lowered for marker in _OOM_MARKERS):
            cause = "out_of_memory"
        elif code is not None and code < 0:
            cause = "out_of_memory" if code == -signal.SIGKILL and not self._killed_by_us else "signal"
        elif code is not None:
            cause = "exit"
        last = tail.splitlines()[-1] if tail else "no stderr output"
        detail = f"{detail}; exit status {code}; stderr: {last[:300]}"
        if cause == "out_of_memory" and self._memory_cap is not None:
            # The cap may be lower than configured (an inherited `ulimit -v`): say which it was.
            detail += f"; address-space cap {_describe_cap(self._memory_cap)} (PROVER_MEMORY_GB)"
        return ReplCrashed(cause, detail, code)
