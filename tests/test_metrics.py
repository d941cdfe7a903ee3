"""Metrics of an evaluation run (pass@k, cost curves, categories, summary) and reading run
directories (shards, duplicates, partial writes, corruption, mixed runs)."""
from __future__ import annotations

import json
import math
import random
from fractions import Fraction
from pathlib import Path

import pytest

from benchmarks.metrics import (
    ProblemStats,
    benchmark_pass_at_k,
    category_table,
    cost_curve,
    default_budgets,
    default_ks,
    max_k,
    pass_at_k,
    per_problem,
    summary,
)
from benchmarks.rundir import (
    RunDirError,
    load_manifest,
    load_results,
    load_run,
    result_files,
)


def line(problem: str, attempt: int, *, proved: bool = False, cost: int | None = None,
         status: str | None = None, run: str = "r1", per_attempt: int = 4,
         attempts: int = 2, generations: int | None = None, category: str = "algebra") -> dict:
    return {"run": run, "benchmark": "minif2f", "split": "valid", "problem": problem,
            "theorem": problem, "category": category, "attempt": attempt, "attempts": attempts,
            "per_attempt": per_attempt, "status": status or ("proved" if proved else "unproved"),
            "proved": proved, "proof": "  simp\n" if proved else None,
            "cost": cost if proved else None,
            "generations": generations if generations is not None else (cost if proved else per_attempt),
            "lean_calls": 3, "seconds": 0.5, "method": "sample", "seed": 0, "error": None,
            "finished": "2026-01-01T00:00:00+00:00"}


def manifest(problems, *, run: str = "r1", categories=None, attempts: int = 2,
             per_attempt: int = 4, benchmark: str = "minif2f", split: str = "valid") -> dict:
    return {"format": "prover-eval/1", "run": run, "benchmark": benchmark, "split": split,
            "variant": {}, "problems": list(problems), "categories": categories or {},
            "budget": f"{attempts}x{per_attempt}", "attempts": attempts,
            "per_attempt": per_attempt, "search": "sample", "policy": "fake:echo", "model": None,
            "seed": 0, "prompt_format": "deepseek-v1.5",
            "package": {"version": "0.1.0", "git_commit": "abc1234"},
            "lean": {"toolchain": "v4.9.0-rc1", "mathlib": "d1d1e4b", "repl": "v4.9.0-rc1"},
            "config": {}, "created": "2026-01-01T00:00:00+00:00", "shards": []}


def write_run(path: Path, man: dict, files: dict[str, list[dict]]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "manifest.json").write_text(json.dumps(man), encoding="utf-8")
    for name, lines in files.items():
        (path / name).write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


# The hand-checked run of the brief: budget 2x4; a proved in attempt 0 at cost 3 (→ 3);
# b proved only in attempt 1 at cost 2 (→ 1*4 + 2 = 6); c never proved.
ABC = [line("a", 0, proved=True, cost=3), line("a", 1, proved=True, cost=1),
       line("b", 0), line("b", 1, proved=True, cost=2),
       line("c", 0), line("c", 1, status="timeout")]


# -- pass@k -----------------------------------------------------------------------------------

def test_pass_at_k_hand_computed_values():
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - math.comb(3, 2) / math.comb(5, 2))
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)
    assert pass_at_k(5, 0, 3) == 0.0
    assert pass_at_k(5, 3, 3) == 1.0  # n - c = 2 < k: every draw of 3 holds a success
    assert pass_at_k(5, 5, 5) == 1.0
    assert pass_at_k(1, 1, 1) == 1.0 and pass_at_k(1, 0, 1) == 0.0


def test_pass_at_k_matches_exact_fractions_for_large_n():
    rng = random.Random(7)
    for _ in range(200):
        n = rng.randrange(1, 3000)
        c = rng.randrange(0, n + 1)
        k = rng.randrange(1, n + 1)
        exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
        assert pass_at_k(n, c, k) == pytest.approx(float(exact), rel=1e-9, abs=1e-12)
    # Binomials here have thousands of digits; the product form stays finite and exact enough.
    assert pass_at_k(10000, 1, 1) == pytest.approx(1e-4, rel=1e-9)
    assert pass_at_k(10000, 3, 5000) == pytest.approx(
        float(1 - Fraction(math.comb(9997, 5000), math.comb(10000, 5000))), rel=1e-9)


@pytest.mark.parametrize("n,c,k", [(5, 2, 6), (5, 2, 0), (5, 6, 1), (5, -1, 1), (0, 0, 1)])
def test_pass_at_k_rejects_undefined_arguments(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_default_ks_are_one_powers_of_two_and_n():
    assert default_ks(1) == [1]
    assert default_ks(8) == [1, 2, 4, 8]
    assert default_ks(12) == [1, 2, 4, 8, 12]
    assert default_ks(0) == []


# -- per problem, benchmark pass@k, cost curves --------------------------------------------------

def test_per_problem_counts_and_cumulative_first_cost():
    stats = per_problem(ABC)
    assert stats == {"a": ProblemStats(2, 2, 3), "b": ProblemStats(2, 1, 6),
                     "c": ProblemStats(2, 0, None)}
    # The cheapest proof wins even when a later attempt is read first.
    late_first = per_problem([line("x", 1, proved=True, cost=1), line("x", 0, proved=True, cost=4)])
    assert late_first["x"].first_cost == 4  # 0*4+4 = 4 < 1*4+1 = 5


def test_cost_curve_hand_checked():
    stats = per_problem(ABC)
    problems = ["a", "b", "c"]
    curve = cost_curve(stats, problems, [2, 3, 6, 8])
    assert [b for b, _ in curve] == [2, 3, 6, 8]
    assert [r for _, r in curve] == pytest.approx([0.0, 1 / 3, 2 / 3, 2 / 3])
    assert default_budgets(stats, problems, 8) == [3, 6, 8]
    # An unattempted problem in the manifest lowers the rate instead of vanishing.
    assert cost_curve(stats, problems + ["d"], [8]) == [(8, 0.5)]


def test_benchmark_pass_at_k_means_over_the_manifest():
    stats = per_problem(ABC)
    # a: 2/2, b: 1/2, c: 0/2 → pass@1 = (1 + 0.5 + 0) / 3; pass@2 = (1 + 1 + 0) / 3.
    assert benchmark_pass_at_k(stats, ["a", "b", "c"], 1) == pytest.approx(0.5)
    assert benchmark_pass_at_k(stats, ["a", "b", "c"], 2) == pytest.approx(2 / 3)
    assert benchmark_pass_at_k(stats, ["a", "b", "c", "d"], 1) == pytest.approx(1.5 / 4)
    assert benchmark_pass_at_k(stats, [], 1) == 0.0
    with pytest.raises(ValueError, match="'a'"):
        benchmark_pass_at_k(stats, ["a"], 3)
    assert max_k(stats, ["a", "b", "d"]) == 2


def test_category_table_rows():
    results = ABC + [line("e", 0, proved=True, cost=1), line("e", 1)]
    stats = per_problem(results)
    cats = {"a": "algebra", "b": "numbertheory", "c": "algebra", "e": "numbertheory"}
    rows = category_table(stats, cats, ["a", "b", "c", "e", "f"], k=1)
    assert [r.category for r in rows] == ["(none)", "algebra", "numbertheory"]
    none, alg, nt = rows
    assert (none.solved, none.total, none.rate, none.pass_at_k) == (0, 1, 0.0, 0.0)
    assert (alg.solved, alg.total) == (1, 2) and alg.rate == 0.5
    assert alg.pass_at_k == pytest.approx(0.5)  # a 1.0, c 0.0
    assert (nt.solved, nt.total) == (2, 2) and nt.rate == 1.0
    assert nt.pass_at_k == pytest.approx(0.5)  # b 0.5, e 0.5


def test_summary_of_a_partial_run():
    results = ABC + [line("d", 0, status="error"), line("zz", 0, proved=True, cost=1)]
    s = summary(manifest(["a", "b", "c", "d", "e"], categories={"a": "alg"}), results)
    assert (s.problems, s.attempted, s.complete, s.not_attempted, s.proved) == (5, 4, 3, 1, 2)
    assert s.pass_rate == pytest.approx(0.4)
    assert s.total_budget == 8 and s.budget == "2x4"
    # d has a single attempt, so pass@2 cannot be estimated yet.
    assert dict(s.pass_at_k) == pytest.approx({1: 1.5 / 5})
    assert s.ks_dropped == (2,)
    assert (s.timeouts, s.errors) == (1, 1)
    assert s.status_counts["proved"] == 3 and s.status_counts["unproved"] == 2
    assert s.unknown_problems == 1
    assert [b for b, _ in s.cost_curve] == [3, 6, 8]
    assert [r for _, r in s.cost_curve] == pytest.approx([0.2, 0.4, 0.4])
    assert s.generations == 3 + 1 + 4 + 2 + 4 + 4 + 4  # unknown problem zz not counted
    assert [c.category for c in s.categories] == ["(none)", "alg"]
    assert s.package["git_commit"] == "abc1234" and s.lean["toolchain"] == "v4.9.0-rc1"


def test_summary_reads_budget_string_when_counts_are_missing():
    man = manifest(["a"])
    del man["attempts"], man["per_attempt"]
    man["budget"] = "3x16"
    s = summary(man, [])
    assert (s.attempts, s.per_attempt, s.pass_at_k, s.attempted) == (3, 16, (), 0)


# -- run directories ----------------------------------------------------------------------------

def test_shards_merge_and_duplicates_keep_the_first(tmp_path):
    dup = dict(line("a", 0, proved=False), seconds=99.0)
    run = write_run(tmp_path / "run", manifest(["a", "b", "c"]), {
        "results.shard-2-of-10.jsonl": ABC[2:4],
        "results.shard-10-of-10.jsonl": ABC[4:] + [dup],
        "results.shard-1-of-10.jsonl": ABC[:2],
    })
    assert [p.name for p in result_files(run)] == [
        "results.shard-1-of-10.jsonl", "results.shard-2-of-10.jsonl",
        "results.shard-10-of-10.jsonl"]
    results = load_results(run)
    assert len(results) == 6
    a0 = [r for r in results if (r["problem"], r["attempt"]) == ("a", 0)]
    assert len(a0) == 1 and a0[0]["proved"] is True and a0[0]["seconds"] == 0.5
    assert per_problem(results) == per_problem(ABC)


def test_truncated_last_line_is_ignored(tmp_path):
    run = write_run(tmp_path / "run", manifest(["a", "b", "c"]), {"results.jsonl": ABC[:3]})
    path = run / "results.jsonl"
    full = json.dumps(ABC[3]) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(full[: len(full) // 2])  # killed mid-write: no newline
    results = load_results(run)
    assert [(r["problem"], r["attempt"]) for r in results] == [("a", 0), ("a", 1), ("b", 0)]


def test_corrupt_middle_line_names_file_and_line(tmp_path):
    run = write_run(tmp_path / "run", manifest(["a", "b", "c"]), {"results.jsonl": ABC[:3]})
    path = run / "results.jsonl"
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[1] = lines[1][:20]
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(RunDirError, match=r"results\.jsonl:2: not a JSON line"):
        load_results(run)
    # A corrupt last line that ends with a newline was written whole: also an error.
    path.write_text(json.dumps(ABC[0]) + "\n{not json}\n", encoding="utf-8")
    with pytest.raises(RunDirError, match=r"results\.jsonl:2"):
        load_results(run)


def test_lines_of_another_run_are_rejected(tmp_path):
    run = write_run(tmp_path / "run", manifest(["a", "b", "c"]), {
        "results.jsonl": ABC[:2], "results.shard-1-of-2.jsonl": [line("b", 0, run="r2")]})
    with pytest.raises(RunDirError, match="mixed runs") as info:
        load_results(run)
    assert "results.shard-1-of-2.jsonl:1" in str(info.value) and "'r2'" in str(info.value)


def test_missing_directory_or_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(RunDirError, match="not found"):
        load_manifest(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunDirError, match="no manifest.json"):
        load_results(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{", encoding="utf-8")
    with pytest.raises(RunDirError, match="not valid JSON"):
        load_manifest(tmp_path / "bad")
    assert issubclass(RunDirError, ValueError)


def test_a_run_with_no_results_yet_loads_empty(tmp_path):
    run = write_run(tmp_path / "run", manifest(["a"]), {})
    man, results = load_run(run)
    assert man["run"] == "r1" and results == []
    s = summary(man, results)
    assert (s.attempted, s.not_attempted, s.pass_rate) == (0, 1, 0.0)


def test_a_redone_error_attempt_replaces_the_error_line(tmp_path):
    # The runner records an infrastructure error and redoes that attempt on the next run.
    redo = [line("a", 0, status="error"), line("a", 1), line("a", 0, proved=True, cost=2),
            line("a", 1, status="error")]
    run = write_run(tmp_path / "run", manifest(["a"]), {"results.jsonl": redo})
    results = load_results(run)
    assert [(r["attempt"], r["status"]) for r in results] == [(0, "proved"), (1, "unproved")]
    assert per_problem(results)["a"] == ProblemStats(2, 1, 2)
