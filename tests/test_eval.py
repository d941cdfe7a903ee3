"""``prover eval``: one line per attempt, resumable after kill -9, shards, limits, manifest.

The CLI runs as a real subprocess against the fake REPL (a real process on real pipes), on
the real miniF2F statements in ../shared; the runner's scheduling is also tested directly with
a scripted ``Attempts`` callable, which stands in for where attempts run (not for Lean)."""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import fake_repl_command, run_until

from benchmarks import runner
from benchmarks.resultlog import ResultLog, ResultLogError, read_lines
from search import Budget

PROVER = shutil.which("prover") or "prover"


def minif2f(shared: Path) -> Path:
    return shared / "benchmarks" / "minif2f.jsonl"


def eval_cmd(shared: Path, out: Path, *args: str, fake: tuple[str, ...] = ()) -> list[str]:
    repl = shlex.join(fake_repl_command(*fake))
    return [PROVER, "eval", "minif2f", "--data", str(minif2f(shared)), "--split", "valid",
            "--repl", repl, "--out", str(out), *args]


def run(command: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def lines(out: Path, pattern: str = "results*.jsonl") -> list[dict]:
    return [r for path in sorted(out.glob(pattern)) for r in read_lines(path)]


def first_valid(shared: Path, n: int) -> list[str]:
    names = []
    for raw in minif2f(shared).read_text().splitlines():
        record = json.loads(raw)
        if record["split"] == "valid":
            names.append(record["name"])
    return names[:n]


def test_twice_in_a_row_leaves_one_line_per_problem(shared, tmp_path):
    out = tmp_path / "run"
    command = eval_cmd(shared, out, "--limit", "6", "--search", "sample", "--budget", "1x4")
    first = run(command)
    assert first.returncode == 0, first.stderr
    records = lines(out)
    # One line per problem; in the order they finished (the next problem's generation may
    # start while one is in Lean, so a later problem can finish first).
    assert sorted(r["problem"] for r in records) == sorted(first_valid(shared, 6))
    assert all(r["status"] == "proved" and r["proof"] for r in records)  # the fake accepts
    before = (out / "results.jsonl").read_bytes()
    second = run(command)
    assert second.returncode == 0, second.stderr
    assert "0 to run, 6 done before" in second.stderr
    assert (out / "results.jsonl").read_bytes() == before
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["problems"] == first_valid(shared, 6)
    assert {r["run"] for r in records} == {manifest["run"]}
    assert manifest["package"]["version"] and manifest["package"]["git_commit"]
    assert manifest["lean"]["version"] == "4.9.0-rc1"  # asked from the (fake) REPL itself
    assert manifest["config"]["budget"] == "1x4" and manifest["seed"] == 0
    assert manifest["search"] == "sample" and manifest["policy"] == "portfolio"
    assert manifest["categories"]["mathd_algebra_182"] == "mathd"


def test_budget_n_attempts_each_with_its_own_line_and_failures_recorded(shared, tmp_path):
    out = tmp_path / "run"
    # Every proof fails in this fake Lean: each attempt spends its whole budget, unproved.
    result = run(eval_cmd(shared, out, "--limit", "2", "--search", "sample", "--budget", "3x2",
                          fake=("--error-on", "theorem")))
    assert result.returncode == 0, result.stderr
    records = lines(out)
    assert sorted((r["problem"], r["attempt"]) for r in records) == sorted(
        (n, a) for n in first_valid(shared, 2) for a in range(3))
    assert all(r["status"] == "unproved" and r["proof"] is None and r["cost"] is None
               and r["generations"] == 2 for r in records)


def test_sigkill_mid_run_then_rerun_gives_every_problem_exactly_once(shared, tmp_path):
    out = tmp_path / "run"
    command = eval_cmd(shared, out, "--limit", "6", "--search", "sample", "--budget", "1x4",
                       fake=("--latency", "0.25"))
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if results.exists() and results.read_bytes().count(b"\n") >= 2:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    survived = results.read_bytes()
    kept = survived.count(b"\n")
    assert 2 <= kept < 6, "the kill must land mid-run"
    with open(results, "ab") as f:  # what a kill during a write leaves behind
        f.write(b'{"problem": "half a li')
    rerun = run(command)
    assert rerun.returncode == 0, rerun.stderr
    records = lines(out)
    assert sorted(r["problem"] for r in records) == sorted(first_valid(shared, 6))
    assert results.read_bytes().startswith(survived)  # nothing done before was rewritten
    assert f"{6 - kept} to run, {kept} done before" in rerun.stderr


def test_shards_share_a_directory_and_merge(shared, tmp_path):
    out = tmp_path / "run"
    for shard in ("0/2", "1/2"):
        result = run(eval_cmd(shared, out, "--limit", "5", "--search", "sample", "--budget", "1x2",
                              "--shard", shard))
        assert result.returncode == 0, result.stderr
    assert len(lines(out, "results.shard-0-of-2.jsonl")) == 3
    assert len(lines(out, "results.shard-1-of-2.jsonl")) == 2
    assert sorted(r["problem"] for r in lines(out)) == sorted(first_valid(shared, 5))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["shards"] == ["0/2", "1/2"]


def test_a_directory_of_another_run_is_refused(shared, tmp_path):
    out = tmp_path / "run"
    assert run(eval_cmd(shared, out, "--limit", "1", "--search", "sample", "--budget", "1x2")).returncode == 0
    before = (out / "results.jsonl").read_bytes()
    other = run(eval_cmd(shared, out, "--limit", "1", "--search", "sample", "--budget", "1x3"))
    assert other.returncode == 2
    assert "holds another run" in other.stderr and "budget" in other.stderr
    assert (out / "results.jsonl").read_bytes() == before


def test_a_resume_with_other_sampling_is_refused(shared, tmp_path):
    # Sampling the user sets is part of the run: the same values, by flag or environment,
    # resume it; another temperature, or a max_tokens added, is another run (exit 2, names
    # the field, writes nothing).
    out = tmp_path / "run"
    base = eval_cmd(shared, out, "--limit", "1", "--search", "sample", "--budget", "2x2")
    env = {**os.environ, "PROVER_TEMPERATURE": "0.5"}
    first = subprocess.run(base, capture_output=True, text=True, timeout=120, env=env)
    assert first.returncode == 0, first.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sampling"] == {"temperature": 0.5}
    before = (out / "results.jsonl").read_bytes()
    for other in (["--temperature", "0.7"], ["--temperature", "0.5", "--max-tokens", "100"], []):
        refused = run(base + other)
        assert refused.returncode == 2, (other, refused.stderr)
        assert "holds another run" in refused.stderr and "sampling" in refused.stderr, other
        assert (out / "results.jsonl").read_bytes() == before
        assert json.loads((out / "manifest.json").read_text()) == manifest
    again = run(base + ["--temperature", "0.5"])
    assert again.returncode == 0, again.stderr
    assert "0 to run, 2 done" in again.stderr


def test_unset_sampling_keeps_the_run_id_of_runs_recorded_before_it():
    from benchmarks.manifest import run_id

    plan = runner.EvalPlan("minif2f", "valid", "sample", Budget(1, 2), "portfolio")
    # the id a default run had before sampling joined the identity (its ten keys, hashed)
    old_keys = ("kind", "benchmark", "split", "variant", "search", "budget", "policy",
                "prompt_format", "seed", "options")
    blob = json.dumps({k: plan.identity().get(k) for k in old_keys}, sort_keys=True,
                      ensure_ascii=False)
    assert run_id(plan.identity()) == hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
    warmer = runner.EvalPlan("minif2f", "valid", "sample", Budget(1, 2), "portfolio",
                             sampling={"temperature": 0.7})
    assert run_id(warmer.identity()) != run_id(plan.identity())


@pytest.mark.parametrize("args, message", [
    (("--split", "nope"), "no split"),
    (("--names", "not_a_problem"), "no problem named not_a_problem"),
    (("--shard", "2/2"), "--shard"),
    (("--budget", "lots"), "budget"),
    (("--search", "magic"), "unknown search"),
])
def test_bad_options_exit_2_and_write_nothing(shared, tmp_path, args, message):
    out = tmp_path / "run"
    result = run(eval_cmd(shared, out, *args))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert not (out / "results.jsonl").exists()


def test_missing_data_file_exit_2(tmp_path):
    result = run([PROVER, "eval", "minif2f", "--data", str(tmp_path / "nope.jsonl"),
                  "--repl", shlex.join(fake_repl_command()), "--out", str(tmp_path / "o")])
    assert result.returncode == 2 and "nope.jsonl" in result.stderr


def test_no_repl_exit_3(shared, tmp_path):
    result = run([PROVER, "eval", "minif2f", "--data", str(minif2f(shared)), "--limit", "1",
                  "--repl", "/nonexistent/repl", "--out", str(tmp_path / "o")])
    assert result.returncode == 3, result.stderr


def test_problem_timeout_records_timeouts_that_a_rerun_keeps(shared, tmp_path):
    out = tmp_path / "run"
    command = eval_cmd(shared, out, "--limit", "2", "--search", "sample", "--budget", "2x2",
                       "--problem-timeout", "0.6", fake=("--latency", "0.5"))
    result = run(command)
    assert result.returncode == 0, result.stderr
    records = lines(out)
    assert len(records) == 4
    assert all(r["status"] == "timeout" and not r["proved"] for r in records)
    assert "timed out" in result.stderr
    assert run(command).returncode == 0
    assert len(lines(out)) == 4


# -- the runner's scheduling, with scripted attempts ------------------------------------------

class Item:
    def __init__(self, name: str) -> None:
        from search.problem import Problem

        self.name, self.split, self.category = name, "test", "x"
        self.problem = Problem(name, "", f"theorem {name} : True := by\n")


class Scripted:
    """Attempts whose outcome is given per (problem, attempt); counts the calls."""

    def __init__(self, outcomes: dict, delay: float = 0.0) -> None:
        self.outcomes, self.delay, self.calls, self.in_flight, self.peak = outcomes, delay, [], 0, 0

    async def __call__(self, item, attempt, timeout):
        self.calls.append((item.name, attempt))
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(self.delay)
        self.in_flight -= 1
        status = self.outcomes.get((item.name, attempt), "unproved")
        plan = runner.EvalPlan("b", "test", "sample", Budget(2, 3), "portfolio")
        line = runner.result_line(plan, item, attempt, status=status,
                                  error="boom" if status == "error" else None)
        if status == "proved":
            line.update(proof="  trivial\n", cost=2)
        return line


def test_errors_are_redone_by_a_rerun_and_proved_lines_are_not(tmp_path):
    plan = runner.EvalPlan("b", "test", "sample", Budget(2, 3), "portfolio", concurrency=2)
    items = [Item("p"), Item("q")]
    first = Scripted({("p", 0): "proved", ("q", 1): "error"})
    with runner.open_log(tmp_path, None) as log:
        tally = asyncio.run(runner.run_eval(plan, items, log, first, run="r1"))
    assert sorted(first.calls) == [("p", 0), ("p", 1), ("q", 0), ("q", 1)]
    assert tally.errors == 1 and tally.solved == {"p"}
    second = Scripted({("q", 1): "proved"})
    with runner.open_log(tmp_path, None) as log:
        tally = asyncio.run(runner.run_eval(plan, items, log, second, run="r1"))
    assert second.calls == [("q", 1)]  # only the errored attempt again
    assert tally.solved == {"p", "q"} and tally.finished == 2
    records = list(read_lines(tmp_path / "results.jsonl"))
    assert [(r["problem"], r["attempt"], r["status"]) for r in records][-1] == ("q", 1, "proved")


def test_concurrency_bounds_problems_in_flight(tmp_path):
    plan = runner.EvalPlan("b", "test", "sample", Budget(1, 3), "portfolio", concurrency=3)
    items = [Item(f"p{i}") for i in range(8)]
    attempts = Scripted({}, delay=0.05)
    with runner.open_log(tmp_path, None) as log:
        asyncio.run(runner.run_eval(plan, items, log, attempts))
    assert attempts.peak == 3 and len(attempts.calls) == 8


def test_result_log_cuts_a_partial_tail_but_refuses_a_corrupt_middle(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"problem": "a", "attempt": 0}\n{"problem": "b", "att')
    with ResultLog(path, runner.result_key) as log:
        assert log.done == {("a", 0)}
        log.append({"problem": "b", "attempt": 0})
        assert not log.append({"problem": "b", "attempt": 0})
    assert [r["problem"] for r in read_lines(path)] == ["a", "b"]
    path.write_bytes(b'{"problem": "a", "attempt": 0}\nnot json\n{"problem": "b", "attempt": 0}\n')
    with pytest.raises(ResultLogError, match="r.jsonl:2"):
        ResultLog(path, runner.result_key)


def test_shard_and_selection_rules():
    items = [Item(f"p{i}") for i in range(7)]
    assert [i.name for i in runner.shard_of(items, (1, 3))] == ["p1", "p4"]
    assert [i.name for i in runner.select(items, names=["p5", "p2"])] == ["p2", "p5"]
    assert [i.name for i in runner.select(items, limit=2)] == ["p0", "p1"]
    with pytest.raises(runner.EvalInputError):
        runner.parse_shard("3/3")
    with pytest.raises(runner.EvalInputError):
        runner.select(items, names=["zz"])


def test_report_after_eval_writes_markdown_and_png_plots(shared, tmp_path):
    out = tmp_path / "run"
    # Proofs fail in this fake Lean unless they use `norm_num`: a pass rate between 0 and 1.
    assert run(eval_cmd(shared, out, "--limit", "6", "--search", "sample", "--budget", "2x4",
                        fake=("--error-on", r"theorem(?![\s\S]*norm_num)"))).returncode == 0
    records = lines(out)
    solved = {r["problem"] for r in records if r["proved"]}
    assert 0 < len(solved) < 6
    result = run([PROVER, "report", str(out)])
    assert result.returncode == 0, result.stderr
    report = (out / "report.md").read_text()
    rate = f"{100 * len(solved) / 6:.1f}%"
    assert rate in report.split("## Per category")[0]  # the overall table carries the rate
    plots = sorted(out.glob("*.png"))
    assert plots and all(p.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for p in plots)
    assert all(f"]({p.name})" in report for p in plots)
    assert run([PROVER, "report", str(tmp_path / "nothing")]).returncode == 2


def eval_without_data(shared: Path, tmp_path: Path, out: Path, *args: str):
    """``prover eval minif2f`` without ``--data``, its download already in the cache (a copy
    of the shared file, as a first download leaves it); (the result, the cached file)."""
    from benchmarks.download import cache_path

    cache = tmp_path / "cache"
    cached = cache_path("minif2f", cache / "benchmarks")
    cached.parent.mkdir(parents=True)
    shutil.copyfile(minif2f(shared), cached)
    result = subprocess.run(
        [PROVER, "eval", "minif2f", "--search", "sample", "--budget", "1x2",
         "--repl", shlex.join(fake_repl_command()), "--out", str(out), *args],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PROVER_CACHE": str(cache)})
    return result, cached


def test_without_data_the_cached_download_is_used(shared, tmp_path):
    out = tmp_path / "run"
    result, _ = eval_without_data(shared, tmp_path, out, "--split", "test", "--limit", "2")
    assert result.returncode == 0, result.stderr
    assert len(lines(out)) == 2 and all(r["split"] == "test" for r in lines(out))


def test_ctrl_c_exits_130_keeps_finished_lines_and_a_rerun_completes(shared, tmp_path):
    out = tmp_path / "run"
    command = eval_cmd(shared, out, "--limit", "5", "--search", "sample", "--budget", "1x4",
                       fake=("--latency", "0.25"))
    results = out / "results.jsonl"
    code, _out, err = run_until(
        command, lambda: results.exists() and results.read_bytes().count(b"\n") >= 1,
        what="a result line")
    assert code == 130, err
    assert "rerun to resume" in err
    kept = results.read_bytes()
    assert 1 <= kept.count(b"\n") < 5
    assert run(command).returncode == 0
    assert sorted(r["problem"] for r in lines(out)) == sorted(first_valid(shared, 5))
    assert results.read_bytes().startswith(kept)


def test_result_lines_carry_the_attempt_statuses_and_refuse_others():
    from benchmarks.metrics import STATUSES, AttemptStatus

    plan = runner.EvalPlan("b", "test", "sample", Budget(2, 3), "portfolio")
    assert STATUSES == ("proved", "unproved", "timeout", "error")
    for status in AttemptStatus:
        line = runner.result_line(plan, Item("p"), 0, status=status)
        assert line["status"] == status.value and type(line["status"]) is str
        assert line["proved"] == (status is AttemptStatus.PROVED)
        assert runner.is_final(line) == (status is not AttemptStatus.ERROR)
    with pytest.raises(ValueError):
        runner.result_line(plan, Item("p"), 0, status="maybe")
