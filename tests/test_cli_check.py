"""`prover check` through the installed command, against the fake REPL."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import fake_repl_command, process_alive

PROVER = shutil.which("prover")

GOOD = """import Mathlib
open Real

theorem easy (x : ℝ) (h : x = 2) : x + 1 = 3 := by
  subst h
  norm_num

/-- a docstring -/
theorem also_easy : (2 : ℕ) + 2 = 4 := by norm_num
"""

WITH_SORRY = GOOD + """
theorem open_one (n : ℕ) : n + 0 = n := by
  sorry
"""


def run_check(tmp_path: Path, text: str | bytes, *args: str, fake: tuple[str, ...] = (), env=None,
              timeout: float = 60) -> subprocess.CompletedProcess:
    path = tmp_path / "file.lean"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    repl = shlex.join(fake_repl_command(*fake))
    command = [PROVER, "check", str(path), "--repl", repl, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def statuses(result) -> dict[str, str]:
    return {t["name"]: t["status"] for t in json.loads(result.stdout)["theorems"]}


def test_prover_is_installed():
    assert PROVER, "the `prover` console script is not on PATH"


def test_good_proofs_are_proved_exit_0(tmp_path):
    result = run_check(tmp_path, GOOD, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert statuses(result) == {"easy": "proved", "also_easy": "proved"}
    assert report["lean_version"] == "4.9.0-rc1"
    assert all(set(t) >= {"name", "status", "reasons", "seconds"} for t in report["theorems"])


def test_sorry_is_incomplete_exit_1(tmp_path):
    result = run_check(tmp_path, WITH_SORRY, "--json")
    assert result.returncode == 1, result.stderr
    assert statuses(result) == {"easy": "proved", "also_easy": "proved", "open_one": "incomplete"}
    reasons = json.loads(result.stdout)["theorems"][2]["reasons"]
    assert any("sorry" in r for r in reasons)


def test_only_the_named_theorem(tmp_path):
    result = run_check(tmp_path, WITH_SORRY, "--json", "--theorem", "easy")
    assert result.returncode == 0, result.stderr
    assert statuses(result) == {"easy": "proved"}


def test_lean_error_is_error(tmp_path):
    result = run_check(tmp_path, GOOD, "--json", fake=("--error-on", "subst h", "--error-data", "unknown tactic"))
    assert result.returncode == 1
    assert statuses(result) == {"easy": "error", "also_easy": "proved"}
    reason = json.loads(result.stdout)["theorems"][0]["reasons"][0]
    # Positions are reported in the user's file (line 5), not in the body sent after the header.
    assert "unknown tactic" in reason and reason.startswith("line 5,")


def test_error_outside_theorems_taints_all(tmp_path):
    text = "import Mathlib\n\ndef broken : ℕ := oops\n\ntheorem t : True := trivial\n"
    result = run_check(tmp_path, text, "--json", fake=("--error-on", "oops"))
    assert result.returncode == 1
    assert statuses(result) == {"t": "error"}


def test_silent_repl_times_out_and_leaves_no_process(tmp_path):
    pid_file = tmp_path / "repl.pid"
    started = time.monotonic()
    result = run_check(tmp_path, GOOD, "--json", "--timeout", "1.5",
                       fake=("--hang-on", "norm_num", "--pid-file", str(pid_file)))
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert set(statuses(result).values()) == {"timeout"}
    assert 1.5 <= elapsed < 30
    pid = int(pid_file.read_text())
    assert not process_alive(pid)


def test_dying_repl_is_crashed(tmp_path):
    result = run_check(tmp_path, GOOD, "--json", fake=("--crash-on", "norm_num"))
    assert result.returncode == 1, result.stderr
    assert set(statuses(result).values()) == {"crashed"}


def test_human_table(tmp_path):
    result = run_check(tmp_path, WITH_SORRY)
    assert result.returncode == 1
    assert "open_one" in result.stdout and "incomplete" in result.stdout and "proved" in result.stdout


def test_repl_from_environment_variable(tmp_path):
    path = tmp_path / "f.lean"
    path.write_text(GOOD)
    env = {**os.environ, "PROVER_REPL": shlex.join(fake_repl_command())}
    result = subprocess.run([PROVER, "check", str(path), "--json"], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("text,args,needle", [
    ("import Mathlib\n\ndef f := 1\n", (), "no theorem"),
    (GOOD, ("--theorem", "nope"), "no theorem named nope"),
    (b"theorem t : True := trivial -- \xff\xfe\n", (), "not UTF-8"),
])
def test_bad_input_exit_2(tmp_path, text, args, needle):
    result = run_check(tmp_path, text, *args)
    assert result.returncode == 2
    assert needle in result.stderr


def test_missing_file_exit_2(tmp_path):
    result = subprocess.run([PROVER, "check", str(tmp_path / "missing.lean")], capture_output=True, text=True)
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_unstartable_repl_exit_3(tmp_path):
    path = tmp_path / "f.lean"
    path.write_text(GOOD)
    result = subprocess.run([PROVER, "check", str(path), "--repl", "/nonexistent/repl-binary"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert "prover setup" in result.stderr


def test_no_workspace_and_no_network_exit_3(tmp_path):
    path = tmp_path / "f.lean"
    path.write_text(GOOD)
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "PROVER_REPL"}
    env["PROVER_NETWORK_PROBE"] = f"127.0.0.1:{port}"
    result = subprocess.run([PROVER, "check", str(path), "--workspace", str(tmp_path / "ws")],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 3
    assert "first use" in result.stderr and "no network" in result.stderr
