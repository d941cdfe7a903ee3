"""`prover bench-system`: the figures are produced with their contract keys (no timing asserts:
performance is reported by the benchmark, not judged by tests)."""
from __future__ import annotations

import json
import shutil
import subprocess

KEYS = {"rmaxts_overhead_us_per_expansion", "nodes", "utilization", "workers", "latency_s",
        "header_imports", "checks", "bytes_per_node"}


def bench(*args: str, sizes: str = "300") -> subprocess.CompletedProcess:
    done = subprocess.run([shutil.which("prover"), "bench-system", "--checkpoint-sizes", sizes,
                           *args],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr
    return done


def test_bench_system_json_has_the_contract_keys():
    done = bench("--json", "--nodes", "300", "--workers", "2", "--latency", "0.01", "--checks", "12")
    report = json.loads(done.stdout)
    assert KEYS <= set(report)
    assert report["nodes"] >= 300 and report["workers"] == 2 and report["checks"] == 12
    assert report["header_imports"] == 2  # one import per worker, whatever the number of checks
    assert 0 < report["utilization"] <= 1.05 and report["bytes_per_node"] > 0
    assert done.returncode == (0 if all(report["targets_met"].values()) else 1)


def test_bench_system_reports_header_imports_per_search_method():
    report = json.loads(bench("--json", "--nodes", "100", "--workers", "2", "--latency", "0.01",
                              "--checks", "4").stdout)
    for method in ("sample", "rmaxts", "bestfirst", "decompose"):
        # Half the problems are provable (early stop), half not: both halves ran.
        assert report[f"proved_{method}"] == report["search_problems"] // 2 == 2
        assert report[f"header_imports_{method}"] == report[f"processes_{method}"] <= 2
        assert report["targets_met"][f"header_imports_{method}"] is True
    text = bench("--nodes", "100", "--workers", "1", "--latency", "0.01", "--checks", "2")
    line = next(row for row in text.stdout.splitlines() if row.startswith("header_imports_rmaxts"))
    assert line.split()[1] == "1" and "(target = processes_rmaxts <= workers)  ok" in line


def test_bench_system_reports_checkpoint_cost_with_and_without_at_each_size():
    report = json.loads(bench("--json", "--nodes", "100", "--workers", "1", "--latency", "0.01",
                              "--checks", "2", sizes="200,400").stdout)
    for n in (200, 400):
        on, off = report[f"checkpoint_us_per_expansion_on_{n}"], \
            report[f"checkpoint_us_per_expansion_off_{n}"]
        assert on > 0 and off > 0 and report[f"checkpoint_cost_ratio_{n}"] == on / off
        assert f"checkpoint_cost_ratio_{n}" not in report["targets_met"]  # no target at 200
        on, off = report[f"checkpoint_loop_us_per_expansion_on_{n}"], \
            report[f"checkpoint_loop_us_per_expansion_off_{n}"]
        assert on > 0 and off > 0 and report[f"checkpoint_loop_cost_ratio_{n}"] == on / off
    assert report["checkpoint_peak_memory_nodes"] == 400
    assert report["checkpoint_peak_memory_ratio"] >= 1.0  # a peak is never below what is held
    assert "checkpoint_peak_memory_ratio" in report["targets_met"]
    bad = subprocess.run([shutil.which("prover"), "bench-system", "--checkpoint-sizes", "1k"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "not a list of sizes" in bad.stderr
