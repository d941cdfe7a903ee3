"""One run at a time writes a results file.

Two ``prover eval`` (or ``synth``) processes on the same ``--out`` and shard would both see
the same attempts missing and both run them: every attempt twice. So a run holds an exclusive
``flock`` on ``.NAME.lock`` beside its results file ``NAME`` for as long as it writes it, and
a second run on that file is refused with the holder's pid (written into the lock file).
Shards write different results files, so they hold different locks and run side by side.
``prover iterate`` holds one on its whole ``--out`` the same way (two of them would train one
model directory at once).

An OS lock, not a marker file: the kernel drops it when its holder exits, however it exits
(``kill -9`` included), so no stale lock is ever left to clean up. The lock file itself stays
(unlinking it would race with a process about to lock it); what it holds is the pid of its
last holder, which only means something while the lock is held. The descriptor is not
inherited by child processes (Lean REPLs), so a REPL outliving its run holds nothing.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Iterator

SAME_RUN = "another run on the same --out and shard; wait for it to finish, or use another " \
           "--out or --shard"


class RunLocked(RuntimeError):
    """Another process is writing this results file (the CLI's exit 2)."""

    def __init__(self, path: Path, pid: int | None, hint: str = SAME_RUN) -> None:
        who = f"pid {pid}" if pid is not None else "another process"
        super().__init__(f"{path} is being written by {who} ({hint})")
        self.path, self.pid = path, pid


def lock_path(results: Path) -> Path:
    return results.with_name(f".{results.name}.lock")


def _holder(fd: int) -> int | None:
    # The holder writes its pid right after it locks: give it a moment to do so.
    for _ in range(20):
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return int(text)
        time.sleep(0.05)
    return None


@contextlib.contextmanager
def writing(target: Path, *, lock: Path | None = None, hint: str = SAME_RUN) -> Iterator[None]:
    """Hold the lock of ``target`` (a results file; its lock file is ``lock_path(target)``
    unless ``lock`` is given) for the block; ``RunLocked``, with ``hint`` in the message, if
    another process holds it. The lock file's directory must exist."""
    path = lock if lock is not None else lock_path(Path(target))
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLocked(Path(target), _holder(fd), hint) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


__all__ = ["RunLocked", "lock_path", "writing"]
