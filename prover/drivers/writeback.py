"""Writing ``prover prove``'s result: in place (``FILE.bak`` first) or to ``--output``, and only
while every file the result depends on is as it was when the run started."""
from __future__ import annotations

from pathlib import Path

from lean_bridge.files import atomic_write
from prover.drivers.progress import sha256_of

BACKUP_SUFFIX = ".bak"


class ChangedDuringRun(Exception):
    """A file the result depends on changed between the start of the run and the write."""

    def __init__(self, path: Path, before: str | None, after: str | None) -> None:
        def state(sha: str | None) -> str:
            return "absent" if sha is None else f"sha256 {sha[:12]}…"

        super().__init__(f"{path} changed while prove ran ({state(before)} at the start, "
                         f"{state(after)} now)")
        self.path = path


def file_state(path: Path) -> str | None:
    """The sha256 of ``path``'s bytes; None when there is no such file."""
    try:
        return sha256_of(path.read_bytes())
    except FileNotFoundError:
        return None


def _unchanged(path: Path, before: str | None) -> None:
    after = file_state(path)
    if after != before:
        raise ChangedDuringRun(path, before, after)


def write_result(file: Path, original: bytes, new_text: str, *, output: Path | None,
                 output_before: str | None = None) -> Path | None:
    """Write ``new_text``: to ``output`` (FILE untouched), or in place with ``FILE.bak`` kept.
    Nothing is written in place when nothing changed. Returns the path written, if any.

    Just before writing, FILE must still be ``original`` (and ``output`` still in the state
    ``output_before``, its sha256 at the start, None when it did not exist): an edit made while
    the run went on is never overwritten, nor is the result of an older text written anywhere.
    Otherwise ``ChangedDuringRun`` and nothing is written. The backup is ``original`` itself,
    so a ``.bak`` only ever holds what the user had."""
    data = new_text.encode("utf-8")
    to_output = output is not None and not _same_file(output, file)
    if not to_output and data == original:
        return None
    _unchanged(file, sha256_of(original))
    if to_output:
        assert output is not None
        _unchanged(output, output_before)
        atomic_write(output, data, mode_from=file)
        return output
    atomic_write(file.with_name(file.name + BACKUP_SUFFIX), original, mode_from=file)
    atomic_write(file, data, mode_from=file)
    return file


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


__all__ = ["BACKUP_SUFFIX", "ChangedDuringRun", "file_state", "write_result"]
