"""An append-only JSONL file of results that survives ``kill -9``.

Each result is one line, written with a single ``write`` and ``fsync``'d before the next one
starts, so after a crash the file holds every finished result and at most one partial last
line. Opening the log for appending cuts that partial line off (its attempt was never
recorded, so it runs again) — appending after it would glue two records into one corrupt line.
A damaged line anywhere else is not something a crash produces, so it is an error, not skipped.
"""
from __future__ import annotations

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
    complete = data if data.endswith(b"\n") else data[:data.rfind(b"\n") + 1]
    for number, raw in enumerate(complete.split(b"\n"), start=1):
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
    ``final`` accepts (a record it refuses, e.g. an infrastructure error, is redone by a rerun)."""

    def __init__(self, path: Path, key: Callable[[dict[str, Any]], Hashable],
                 final: Callable[[dict[str, Any]], bool] = lambda record: True) -> None:
        self.path = Path(path)
        self.key = key
        self.final = final
        self.done: set[Hashable] = set()
        self.records: list[dict[str, Any]] = []
        if self.path.exists():
            self._repair_tail()
            for number, record in numbered_lines(self.path):
                try:
                    self._remember(record)
                except (KeyError, TypeError) as exc:  # a JSON object, but not one of ours
                    raise ResultLogError(f"{self.path}:{number}: not a record of this file "
                                         f"(no usable {exc}); the file was edited or damaged") from None
        self._file = open(self.path, "ab")

    def _repair_tail(self) -> None:
        with open(self.path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
                f.flush()
                os.fsync(f.fileno())

    def append(self, record: dict[str, Any]) -> bool:
        """Write ``record`` unless its key is done already; True when it was written."""
        if self.key(record) in self.done:
            return False
        line = json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
        self._file.write(line)
        self._file.flush()
        os.fsync(self._file.fileno())
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
