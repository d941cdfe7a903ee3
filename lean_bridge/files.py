"""Writing files so that a crash never leaves half of one: results, checkpoints, the user's
Lean file. Everything that persists work goes through ``atomic_write``."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes, *, mode_from: Path | None = None) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never a
    part: a temporary file in the same directory, flushed to disk, then ``os.replace``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        source = mode_from if mode_from is not None else path
        if source.exists():
            shutil.copymode(source, tmp)
        else:  # mkstemp makes files private (0600); a new file gets the usual umask mode
            os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once, at import: os.umask can only be read by setting it, which is process-wide.
_UMASK = _umask()
