"""One writer per results file (issue 13, item 3), through the installed ``prover``.

Two runs on one ``--out`` and shard would both run every missing attempt; the second must be
refused (exit 2, naming the holder's pid) while shards of one run still go side by side, and a
holder killed with SIGKILL must leave nothing that blocks the next run. The fake REPL's
``--latency`` keeps the first run busy long enough for the second to meet it.
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import fake_repl_command
from test_eval import PROVER, eval_cmd, first_valid, lines, minif2f, run

from benchmarks.resultlog import ResultLog, read_lines
from benchmarks.runlock import RunLocked, lock_path, writing

SLOW = ("--latency", "0.15")


def start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def wait_for_lines(path: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {n} lines")


def keys(records: list[dict]) -> list[tuple[str, int]]:
    return sorted((r["problem"], r["attempt"]) for r in records)


def busy_run(shared: Path, out: Path, budget: str) -> tuple[list[str], subprocess.Popen]:
    """An eval of 4 problems on ``out``, started and seen writing; (its command, its process)."""
    command = eval_cmd(shared, out, "--limit", "4", "--budget", budget, "--search", "sample",
                       "--workers", "1", fake=SLOW)
    proc = start(command)
    wait_for_lines(out / "results.jsonl", 1, proc)
    return command, proc


def test_a_second_run_on_the_same_directory_exits_2_naming_the_holder(shared, tmp_path):
    out = tmp_path / "run"
    command, first = busy_run(shared, out, "2x2")
    second = run(command)
    assert second.returncode == 2, second.stderr
    assert f"is being written by pid {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    # Exactly one line per attempt: the refused run ran none.
    assert keys(lines(out)) == sorted((n, a) for n in first_valid(shared, 4) for a in range(2))


def test_shards_of_one_run_go_side_by_side(shared, tmp_path):
    out = tmp_path / "run"
    shards = [start(eval_cmd(shared, out, "--limit", "4", "--budget", "1x2", "--search",
                             "sample", "--workers", "1", "--shard", f"{i}/2", fake=SLOW))
              for i in range(2)]
    for proc in shards:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert keys(lines(out)) == sorted((n, 0) for n in first_valid(shared, 4))
    assert sorted(json.loads((out / "manifest.json").read_text())["shards"]) == ["0/2", "1/2"]


def test_a_killed_holder_leaves_no_stale_lock(shared, tmp_path):
    out = tmp_path / "run"
    command, holder = busy_run(shared, out, "1x2")
    os.killpg(holder.pid, signal.SIGKILL)
    holder.wait()
    assert lock_path(out / "results.jsonl").exists()  # the file stays; the lock went with the pid
    rerun = run(command)
    assert rerun.returncode == 0, rerun.stderr
    assert keys(lines(out)) == sorted((n, 0) for n in first_valid(shared, 4))


def test_synth_is_locked_the_same_way_and_its_shards_share_records(shared, tmp_path):
    out = tmp_path / "synth"
    statements = minif2f(shared)

    def synth(*args: str) -> list[str]:
        return [PROVER, "synth", str(statements), "--out", str(out), "--limit", "6",
                "--budget", "1x2", "--search", "sample", "--workers", "1",
                "--repl", shlex.join(fake_repl_command(*SLOW)), *args]

    shards = [start(synth("--shard", f"{i}/2")) for i in range(2)]
    wait_for_lines(out / "results.shard-0-of-2.jsonl", 1, shards[0])
    refused = run(synth("--shard", "0/2"))
    assert refused.returncode == 2, refused.stderr
    assert f"is being written by pid {shards[0].pid}" in refused.stderr
    for proc in shards:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    records = list(read_lines(out / "records.jsonl"))
    assert len(records) == 6 and len({r["id"] for r in records}) == 6
    assert sorted(r["name"] for r in records) == sorted(
        json.loads(raw)["name"] for raw in statements.read_text().splitlines()[:6])


def test_the_lock_refuses_a_second_holder_and_frees_on_exit(tmp_path):
    results = tmp_path / "results.jsonl"
    with writing(results):
        assert lock_path(results).read_text().strip() == str(os.getpid())
        with pytest.raises(RunLocked, match=f"pid {os.getpid()}"):
            with writing(results):
                pass
    with writing(results):  # released by the first block
        pass


def test_a_shared_log_never_writes_a_record_twice_and_cuts_a_killed_writers_tail(tmp_path):
    path = tmp_path / "records.jsonl"

    def key(record: dict) -> str:
        return record["id"]

    a, b = ResultLog(path, key, shared=True), ResultLog(path, key, shared=True)
    assert a.append({"id": "x"})
    assert not b.append({"id": "x"})  # b reads what a appended since b was opened
    with open(path, "ab") as f:
        f.write(b'{"id": "half')  # a writer killed mid-line
    assert b.append({"id": "y"})
    assert not a.append({"id": "y"}) and a.append({"id": "z"})
    a.close(), b.close()
    assert [r["id"] for r in read_lines(path)] == ["x", "y", "z"]
    assert path.read_bytes().endswith(b"\n")


def test_a_second_iterate_on_the_same_out_exits_2_naming_the_holder(tmp_path):
    statements = tmp_path / "s.jsonl"
    statements.write_text(json.dumps({"name": "t", "formal_statement":
                                      "theorem t : (1 : ℕ) = 1 := by\n"}) + "\n")
    out = tmp_path / "iter"
    out.mkdir()
    model = tmp_path / "model"  # exists: the lock, not the model check, must refuse the run
    model.mkdir()
    command = [PROVER, "iterate", str(statements), "--model", str(model),
               "--out", str(out), "--policy", "portfolio", "--repl",
               shlex.join(fake_repl_command())]
    # This process stands for a first `prover iterate` still at work on `out`.
    with writing(out, lock=out / ".iterate.lock"):
        refused = run(command)
    assert refused.returncode == 2, refused.stderr
    assert f"is being written by pid {os.getpid()}" in refused.stderr
    assert "another `prover iterate`" in refused.stderr
    assert not (out / "round-0").exists()  # it did nothing
