"""Workspace pins, files, the old-REPL flush patch, and setup failing fast without network."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lean_bridge.errors import ReplUnavailable
from lean_bridge.workspace import (
    Pins,
    patch_repl_flush,
    read_pins,
    workspace_spec,
    write_workspace,
)

REPO = Path(__file__).resolve().parents[1]


def test_default_pins_are_the_deepseek_environment():
    assert Pins.default() == Pins("v4.9.0-rc1", "d1d1e4b72c6e009edd97cabe1d661b021fe8eeae", "v4.9.0-rc1")
    assert read_pins(REPO) == Pins.default()  # the committed lakefile and toolchain agree


def test_other_toolchain_uses_tags_of_the_same_name(tmp_path):
    pins = Pins.for_toolchain("v4.15.0")
    write_workspace(tmp_path, pins)
    assert read_pins(tmp_path) == Pins("v4.15.0", "v4.15.0", "v4.15.0")
    assert (tmp_path / "lean-toolchain").read_text() == "leanprover/lean4:v4.15.0\n"
    assert not pins.needs_flush_patch and Pins.default().needs_flush_patch


@pytest.mark.parametrize("bad", ["4.15.0", "v4.15", "latest", "v4.12.0", "v4.20.1"])
def test_bad_or_untagged_toolchains_are_refused(bad):
    with pytest.raises(ValueError):
        Pins.for_toolchain(bad)


def test_flush_patch_is_inserted_once_after_the_blank_line(tmp_path):
    main = tmp_path / "REPL" / "Main.lean"
    main.parent.mkdir()
    main.write_text('where loop : M IO Unit := do\n  let query ← getLines\n'
                    '  IO.println <| toString <| ← response\n'
                    '  IO.println "" -- easier to parse the output if there are blank lines\n'
                    '  loop\n')
    assert patch_repl_flush(tmp_path) is True
    lines = main.read_text().splitlines()
    assert lines[4] == "  (← IO.getStdout).flush" and lines[5] == "  loop"
    assert patch_repl_flush(tmp_path) is False  # idempotent
    assert main.read_text().count("flush") == 1


def test_unbuilt_workspace_says_how_to_fix(tmp_path):
    with pytest.raises(ReplUnavailable, match="prover setup"):
        workspace_spec(tmp_path)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_setup_without_network_fails_fast_with_exit_3(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "PROVER_NETWORK_PROBE": f"127.0.0.1:{closed_port()}"}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "prover.cli", "setup", "--toolchain", "v4.15.0", "--workspace", str(tmp_path / "ws")],
        capture_output=True, text=True, env=env, timeout=60, cwd=REPO,
    )
    assert result.returncode == 3, result.stderr
    assert "no network" in result.stderr
    assert time.monotonic() - started < 30
    assert not (tmp_path / "ws" / ".lake").exists()  # nothing was half-downloaded
