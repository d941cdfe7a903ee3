"""Starting Lean before any work: one REPL on the run's header, then its version.

Every command that talks to Lean (check, prove, eval, synth, train grpo) starts one REPL this
way first and keeps it warm in the pool. A program that exits at once (``--repl true``), never
speaks the protocol (``--repl cat`` echoes the request back), or crashes or hangs on its first
two requests is not a REPL whose verdicts mean anything: it is reported as "no Lean REPL could
be started" (``ReplUnavailable``, the CLI's exit 3) with the command, the request, what
happened and how to fix it, instead of surfacing later as failed proofs or a raw crash.
"""
from __future__ import annotations

from typing import Any

from lean_bridge.checker import _VERSION_PROBE as VERSION_PROBE
from lean_bridge.errors import BridgeError, ReplCrashed, ReplTimeout, ReplUnavailable


def _happened(exc: BridgeError) -> str:
    if isinstance(exc, ReplTimeout):
        return f"it did not answer within {exc.seconds:g} s"
    if isinstance(exc, ReplCrashed):
        detail = exc.detail.rstrip(". ")
        if exc.cause == "garbage":
            return f"it answered something that is not a Lean REPL response ({detail})"
        if exc.cause in ("exit", "eof"):
            return f"it exited without answering ({detail})"
        return f"it crashed ({exc.cause}: {detail})"
    return str(exc)


def _fix(exc: BridgeError, stage: str) -> str:
    if isinstance(exc, ReplTimeout):
        setting = "header_timeout (PROVER_HEADER_TIMEOUT)" if stage == "import" else "--timeout"
        return (f"if Lean is only slow here, raise {setting}; otherwise run the command by "
                "hand and send it the request followed by a blank line")
    return ("the command must start a Lean REPL (leanprover-community/repl) that reads JSON "
            "requests such as {\"cmd\": \"" + VERSION_PROBE + "\"} followed by a blank line "
            "and answers each one; check --repl / PROVER_REPL / `repl` in prover.toml, or run "
            "`prover setup` and leave them unset to use the workspace's REPL")


def unavailable(command: str, request: str, stage: str, exc: BridgeError) -> ReplUnavailable:
    """The ``ReplUnavailable`` for a REPL that failed its first requests (module docstring)."""
    return ReplUnavailable(f"no Lean REPL could be started: `{command}` was sent {request} "
                           f"and {_happened(exc)}. Fix: {_fix(exc, stage)}.")


def _first_line(header: str) -> str:
    lines = [line for line in header.splitlines() if line.strip()]
    if not lines:
        return "an empty header"
    return f"`{lines[0]}`" + (f" (and {len(lines) - 1} more line(s))" if len(lines) > 1 else "")


async def start_lean(lean: Any, header: str) -> str | None:
    """Start one REPL of ``lean``'s pool on ``header`` and ask its Lean version (the worker
    stays warm for the work that follows); the version.

    Raises ``HeaderError`` when the header does not elaborate (bad input, not a broken Lean)
    and ``ReplUnavailable`` when no REPL starts or it fails the import or the version probe.
    """
    command = lean.pool.spec.describe()
    try:
        async with lean.pool.acquire(header):
            pass
    except (ReplCrashed, ReplTimeout) as exc:
        raise unavailable(command, f"the file's import header ({_first_line(header)})", "import",
                          exc) from None
    try:
        return await lean.lean_version(header)
    except (ReplCrashed, ReplTimeout) as exc:
        raise unavailable(command, f"its first command (`{VERSION_PROBE}`)", "version",
                          exc) from None
