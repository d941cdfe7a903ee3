"""What a Lean REPL process may touch: environment, temporary files, network.

Isolated:
* its own session and process group (killed as a whole; see process.py);
* resource limits: address space (RLIMIT_AS), CPU seconds over the process's life
  (RLIMIT_CPU; a warm REPL is recycled long before a sane limit), open files (RLIMIT_NOFILE);
  each capped at the limit the parent inherited (``ulimit``), which a child cannot exceed;
* a scrubbed environment: only what Lean and elan need (PATH, HOME, locale, ELAN_*/LEAN_*/LAKE_*)
  reaches it, so API keys and tokens of the user's shell do not;
* a private temporary directory (TMPDIR), removed when the process is closed;
* the network, with ``unshare -n`` (a new network namespace with no interfaces up) where the
  kernel allows it: as root directly, otherwise in a new user namespace (``unshare -rn``).
  This is probed once per Python process and reported, never assumed.

Not isolated: the file system (Lean runs as the user and can read what the user can; the
static integrity layer refuses the commands a proof could use to do I/O: ``#eval``,
``run_cmd``, ``elab``…), and CPU time is not shared fairly between processes.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Mapping

_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "USER", "LOGNAME", "SHELL", "TZ")
_KEEP_PREFIXES = ("ELAN_", "LEAN_", "LAKE_")


@dataclass(frozen=True)
class SandboxPolicy:
    isolate_network: bool = True
    scrub_environment: bool = True


def scrubbed_environment(base: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in base.items() if k in _KEEP or k.startswith(_KEEP_PREFIXES)}


@functools.lru_cache(maxsize=1)
def network_isolation_prefix() -> tuple[str, ...] | None:
    """The command prefix that runs a program without network here, or None if none works."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    candidates: list[tuple[str, ...]] = [(unshare, "-n", "--")] if os.geteuid() == 0 else []
    candidates.append((unshare, "-r", "-n", "--"))
    for prefix in candidates:
        try:
            probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return prefix
    return None


def describe(policy: SandboxPolicy, limits: object) -> dict[str, object]:
    """What a manifest or a ``--json`` report records about the isolation actually in force."""
    prefix = network_isolation_prefix() if policy.isolate_network else None
    configured = getattr(limits, "memory_bytes", None)
    return {
        "network_isolated": prefix is not None,
        "network_isolation": " ".join(prefix[:-1]) if prefix else None,
        "environment": "scrubbed" if policy.scrub_environment else "inherited",
        "tmpdir": "private per process",
        "process_group": "own session, killed as a group",
        "limits": {
            # What the REPL gets: the configured cap, lowered to an inherited hard limit.
            "address_space_bytes": _effective_memory(limits, configured),
            "address_space_configured_bytes": configured,
            "cpu_seconds": getattr(limits, "cpu_seconds", None),
            "open_files": getattr(limits, "open_files", None),
        },
    }


def _effective_memory(limits: object, configured: int | None) -> int | None:
    resolve = getattr(limits, "resolve", None)
    if resolve is None:
        return configured
    from .errors import ReplUnavailable

    try:
        memory: int | None = resolve().memory_bytes
        return memory
    except ReplUnavailable:
        return configured  # no REPL starts under it; the start itself says why
