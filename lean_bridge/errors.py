"""The bridge's small error vocabulary.

A Lean *rejection* (an error message, a sorry, a timeout, a crash while checking a proof) is
data: it ends up as a ``CheckResult`` status. These exceptions are for the layer below that:
a REPL process that cannot be started, or one that stopped answering a request. The checker
turns the last two into statuses; the first reaches the user with the fix in the message.
"""
from __future__ import annotations


class BridgeError(Exception):
    """Base class of everything the bridge raises on purpose."""


class ReplUnavailable(BridgeError):
    """No REPL can be started here (missing executable, no workspace, toolchain missing)."""


class HeaderError(BridgeError):
    """The import header of a pool key did not elaborate (a missing module, a typo)."""

    def __init__(self, header: str, detail: str) -> None:
        super().__init__(f"the header did not elaborate: {detail}")
        self.header = header
        self.detail = detail


class ReplTimeout(BridgeError):
    """A request outlived its wall-clock limit; the process group was killed."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no answer from the Lean REPL within {seconds:g} s")
        self.seconds = seconds


class ReplCrashed(BridgeError):
    """The REPL died or broke the protocol while serving a request.

    ``cause`` is one of ``"out_of_memory"`` (RLIMIT_AS or the OOM killer), ``"signal"``,
    ``"exit"`` (it exited: a stack overflow, an uncaught exception), ``"garbage"`` (it wrote
    something that is not a response) or ``"eof"`` (stdout closed, status unknown).
    """

    def __init__(self, cause: str, detail: str, returncode: int | None = None) -> None:
        super().__init__(f"the Lean REPL crashed ({cause}): {detail}")
        self.cause = cause
        self.detail = detail
        self.returncode = returncode


class NoAvailableRepl(BridgeError):
    """Every REPL of the pool stayed busy until the caller's deadline."""
