"""``--json`` output that stays one JSON document on stdout, whatever else writes there.

A backend may write to stdout: vLLM logs about 80 lines there while its engine starts (its
logger's stream, and the engine core, a child process that inherits fd 1), a library may
``print``. So while a command run with ``--json`` runs, file descriptor 1 points at stderr, and
so does ``sys.stdout``: Python writes, C writes and child processes all land on stderr. The
JSON document alone goes to the saved stdout (``echo_json``). Without ``--json`` nothing moves.
"""
from __future__ import annotations

import functools
import io
import os
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TextIO, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

# Where echo_json writes while a --json command runs: the real stdout, saved. A stack, so that a
# command invoked inside another (tests calling main twice) restores the outer one.
_sinks: list[TextIO] = []


def _fd_of(stream: Any) -> int | None:
    try:
        return int(stream.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


@contextmanager
def stdout_to_stderr() -> Iterator[TextIO]:
    """Point fd 1 and ``sys.stdout`` at stderr; yield a stream on the original stdout."""
    old_stdout = sys.stdout
    old_stdout.flush()
    saved: int | None = None
    sink: TextIO = old_stdout
    try:
        os.fstat(1)
        os.fstat(2)
    except OSError:  # no fd 1/2 (embedded use): only the Python level can be moved
        pass
    else:
        saved = os.dup(1)
        os.dup2(2, 1)
        if _fd_of(old_stdout) == 1:
            # The real stdout is fd 1: write the document to its saved copy. Otherwise (a
            # test runner's captured stdout) the Python-level stream is the one to write to.
            sink = os.fdopen(os.dup(saved), "w", encoding="utf-8", closefd=True)
    sys.stdout = sys.stderr
    try:
        yield sink
    finally:
        sys.stdout.flush()
        old_stdout.flush()  # what was buffered in it went to fd 1, i.e. stderr, until now
        sys.stdout = old_stdout
        if sink is not old_stdout:
            sink.close()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def json_command(func: F) -> F:
    """Decorate a click command that takes ``as_json``: with ``--json``, its body runs with
    stdout moved to stderr (``stdout_to_stderr``) and writes its document with ``echo_json``.
    Put it below the click decorators, right above the function."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("as_json"):
            return func(*args, **kwargs)
        with stdout_to_stderr() as sink:
            _sinks.append(sink)
            try:
                return func(*args, **kwargs)
            finally:
                _sinks.pop()

    return wrapper  # type: ignore[return-value]


def echo_json(text: str) -> None:
    """Write the command's JSON document to stdout: the real one while ``--json`` moved it."""
    if _sinks:
        _sinks[-1].write(text + "\n")
        _sinks[-1].flush()
    else:
        click.echo(text)


__all__ = ["echo_json", "json_command", "stdout_to_stderr"]
