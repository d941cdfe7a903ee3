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
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import psutil

from .errors import ReplCrashed, ReplTimeout, ReplUnavailable
from .sandbox import SandboxPolicy, network_isolation_prefix, scrubbed_environment
from .protocol import (
    ProtocolError,
    Request,
    Response,
    decode_response_block,
    encode_request,
    is_block_end,
)

GIB = 1024**3
_STDERR_TAIL_BYTES = 64 * 1024
# A response line can be long (an infotree, a huge goal); asyncio's default limit is 64 KiB.
_LINE_LIMIT = 256 * 1024 * 1024
_OOM_MARKERS = ("out of memory", "bad_alloc", "cannot allocate memory", "memoryerror")


@dataclass(frozen=True)
class ProcessLimits:
    """Resource limits applied in the child before it executes the REPL.

    ``memory_bytes`` is RLIMIT_AS: Mathlib needs about 8-12 GiB of address space (its
    .olean files are memory-mapped), so the default leaves room for that and no more.
    """

    memory_bytes: int | None = 16 * GIB
    # CPU seconds over the process's whole life: a warm REPL serves many requests, so this is a
    # backstop against a runaway process, not a per-proof limit (that is the wall clock).
    cpu_seconds: int | None = 4 * 3600
    # Importing Mathlib opens thousands of .olean files; stay well above that.
    open_files: int | None = 65536

    def apply(self) -> None:
        """Runs in the child between fork and exec: only async-signal-safe work."""
        if self.memory_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (self.memory_bytes, self.memory_bytes))
        if self.cpu_seconds is not None:
            # The soft limit sends SIGXCPU, the hard one a second later SIGKILL.
            resource.setrlimit(resource.RLIMIT_CPU, (self.cpu_seconds, self.cpu_seconds + 1))
        if self.open_files is not None:
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            cap = self.open_files if hard == resource.RLIM_INFINITY else min(self.open_files, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (cap, cap))


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
                preexec_fn=self.spec.limits.apply,
                limit=_LINE_LIMIT,
            )
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

    async def request(self, request: Request | dict, *, timeout: float | None) -> Response:
        """Send one request and wait for its response.

        Raises ReplTimeout (the group is killed first) or ReplCrashed (the process is dead
        or unusable and has been killed). A ``{"message": …}`` answer is returned, not raised.
        """
        if self._proc is None:
            raise RuntimeError("ReplProcess.request() before start()")
        async with self._lock:
            if not self.alive:
                raise await self._crashed("eof", "the process had already exited")
            try:
                response = await asyncio.wait_for(self._exchange(request), timeout)
            except asyncio.TimeoutError:
                await self.close()
                raise ReplTimeout(timeout or 0.0) from None
            except ProtocolError as exc:
                await self.close()
                raise ReplCrashed("garbage", str(exc)) from None
            except (BrokenPipeError, ConnectionResetError, EOFError):
                raise await self._crashed("eof", "stdout closed in the middle of a request")
            except asyncio.CancelledError:
                # The REPL may be half-way through the request: its next answer would be
                # read as the answer to someone else's request. It cannot be reused.
                await self.close()
                raise
            self.requests_served += 1
            return response

    async def _exchange(self, request: Request | dict) -> Response:
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
        return ReplCrashed(cause, f"{detail}; exit status {code}; stderr: {last[:300]}", code)
