"""An append-only JSONL file of results that survives ``kill -9``.

Each result is one line, written with a single ``write`` and ``fsync``'d before the next one
starts, so after a crash the file holds every finished result and at most one partial last
line. Opening the log for appending cuts that partial line off (its attempt was never
recorded, so it runs again) — appending after it would glue two records into one corrupt line.
A damaged line anywhere else is not something a crash produces, so it is an error, not skipped.

A log has one writer (``benchmarks.runlock`` keeps a second run off a results file), unless it
is ``shared``: the training records of ``prover synth``, which every shard of a run appends
to. A shared log appends under an exclusive ``flock`` of ``.NAME.lock`` and first reads what
the other writers appended since (so a record is never written twice) and cuts a partial line
a killed writer left; each of these reads starts where the last one ended, so the work stays
linear in the file.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any, Callable, Hashable, Iterator


class ResultLogError(ValueError):
    """A results file that cannot be trusted (a corrupt line that is not the last one)."""


def read_lines(path: Path) -> Iterator[dict[str, Any]]:
    """The complete records of ``path`` in order; a partial last line is ignored."""
    for _, record in numbered_lines(path):
        yield record


def numbered_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) for each complete line of ``path``; ``ResultLogError`` names the
    file and line of one that is not a JSON object."""
    data = Path(path).read_bytes()
    yield from _parse(data[:data.rfind(b"\n") + 1], path, first_line=1)


def _parse(complete: bytes, path: Path, *, first_line: int) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, raw in enumerate(complete.split(b"\n"), start=first_line):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ResultLogError(f"{path}:{number}: not a JSON line ({exc}); the file was "
                                 "edited or damaged, not cut short by a crash") from None
        if not isinstance(record, dict):
            raise ResultLogError(f"{path}:{number}: expected a JSON object")
        yield number, record


class ResultLog:
    """Appends records to one JSONL file; ``done`` holds the keys of those already there that
    ``final`` accepts (a record it refuses, e.g. an infrastructure error, is redone by a rerun).
    ``shared``: other processes append to the same file (module docstring)."""

    def __init__(self, path: Path, key: Callable[[dict[str, Any]], Hashable],
                 final: Callable[[dict[str, Any]], bool] = lambda record: True, *,
                 shared: bool = False) -> None:
        self.path = Path(path)
        self.key = key
        self.final = final
        self.done: set[Hashable] = set()
        self.records: list[dict[str, Any]] = []
        self._lock = self.path.with_name(f".{self.path.name}.lock") if shared else None
        self._offset = 0  # bytes of complete lines read (or written) so far
        self._line = 1  # the number of the line that starts at ``_offset``
        with self._exclusive():
            if self.path.exists():
                self._catch_up()
            self._file = open(self.path, "ab")

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        if self._lock is None:
            yield
            return
        with open(self._lock, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _catch_up(self) -> None:
        """Read the complete lines after ``_offset`` and cut a partial last line off."""
        with open(self.path, "rb+") as f:
            f.seek(self._offset)
            data = f.read()
            cut = data.rfind(b"\n") + 1
            if cut < len(data):
                f.truncate(self._offset + cut)
                f.flush()
                os.fsync(f.fileno())
        complete = data[:cut]
        for number, record in _parse(complete, self.path, first_line=self._line):
            try:
                self._remember(record)
            except (KeyError, TypeError) as exc:  # a JSON object, but not one of ours
                raise ResultLogError(f"{self.path}:{number}: not a record of this file "
                                     f"(no usable {exc}); the file was edited or damaged") from None
        self._offset += cut
        self._line += complete.count(b"\n")

    def append(self, record: dict[str, Any]) -> bool:
        """Write ``record`` unless its key is done already; True when it was written."""
        with self._exclusive():
            if self._lock is not None:
                self._catch_up()
            if self.key(record) in self.done:
                return False
            line = json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
            self._file.write(line)
            self._file.flush()
            os.fsync(self._file.fileno())
            self._offset += len(line)
            self._line += 1
        self._remember(record)
        return True

    def _remember(self, record: dict[str, Any]) -> None:
        k = self.key(record)
        if k not in self.done:
            self.records.append(record)
            if self.final(record):
                self.done.add(k)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "ResultLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
