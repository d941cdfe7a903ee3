"""atomic_write: whole files only, and the permissions a user expects."""
from __future__ import annotations

import os
import stat

import pytest

from lean_bridge.files import atomic_write


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_file_gets_the_umask_mode_not_a_private_one(tmp_path):
    old = os.umask(0o022)
    try:
        import importlib

        import lean_bridge.files as files

        importlib.reload(files)  # the module reads the umask once, at import
        files.atomic_write(tmp_path / "new.json", b"{}")
    finally:
        os.umask(old)
        importlib.reload(files)
    assert mode(tmp_path / "new.json") == 0o644
    assert (tmp_path / "new.json").read_bytes() == b"{}"


def test_an_existing_file_keeps_its_mode_and_no_temporary_is_left(tmp_path):
    path = tmp_path / "run.sh"
    path.write_text("old")
    path.chmod(0o750)
    atomic_write(path, b"new")
    assert mode(path) == 0o750 and path.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.sh"]


def test_a_failed_write_leaves_the_old_file_whole(tmp_path):
    path = tmp_path / "keep.txt"
    path.write_text("old")
    with pytest.raises(TypeError):
        atomic_write(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
