"""Lean CPU per check (``benchmarks.system_leancost``): the keys are there, and with a header
import that costs CPU a fresh process per check spends more Lean CPU per check than the warm
pool. The figures themselves are reported by ``prover bench-system``, not judged here; the
direction is what a nonzero import cost makes certain (every fresh check pays an import the
pool pays once per worker)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

from conftest import fake_repl_command

from benchmarks.system_leancost import lean_cost

KEYS = {"lean_cpu_s_per_check_pool", "lean_cpu_s_per_check_fresh",
        "lean_cpu_ratio_fresh_over_pool"}


def test_fresh_processes_cost_more_lean_cpu_per_check_than_the_pool():
    report = lean_cost(checks=6, workers=2, import_cpu=0.1)
    assert KEYS <= set(report)
    # Counted by the REPLs themselves (--stats): one import per worker against one per check.
    assert (report["leancost_imports_pool"], report["leancost_imports_fresh"]) == (2, 6)
    assert report["leancost_proved_pool"] == report["leancost_proved_fresh"] == 3  # same stream
    assert report["lean_cpu_s_per_check_fresh"] > report["lean_cpu_s_per_check_pool"] > 0
    # Each fresh check burnt its own import's CPU; the pool, two imports over six checks.
    assert report["lean_cpu_s_per_check_fresh"] >= 0.1
    assert report["lean_cpu_ratio_fresh_over_pool"] > 1


def child_cpu_s(*flags: str) -> float:
    """CPU seconds of one fake REPL that imports a header and exits, measured by a parent of
    its own (``RUSAGE_CHILDREN`` there counts only that child)."""
    measure = ("import json, resource, subprocess, sys\n"
               "done = subprocess.run(json.loads(sys.argv[1]), input=sys.argv[2], text=True,"
               " capture_output=True)\n"
               "assert done.returncode == 0, done.stderr\n"
               "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
               "print(u.ru_utime + u.ru_stime)\n")
    request = json.dumps({"cmd": "import Mathlib\n"}) + "\n\n"
    done = subprocess.run([sys.executable, "-c", measure, json.dumps(fake_repl_command(*flags)),
                           request], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return float(done.stdout)


def test_the_fake_import_burns_cpu_where_the_delay_only_sleeps():
    """``--import-cpu`` is what makes the figures mean anything: the REPL's own CPU time grows
    by the burn; ``--import-delay`` waits as long and costs (almost) none."""
    burnt, slept = child_cpu_s("--import-cpu", "0.4"), child_cpu_s("--import-delay", "0.4")
    assert burnt >= 0.4 and burnt - slept >= 0.3, (burnt, slept)


def test_bench_system_reports_the_lean_cost_keys():
    done = subprocess.run([shutil.which("prover"), "bench-system", "--json", "--nodes", "100",
                           "--workers", "1", "--latency", "0.01", "--checks", "2",
                           "--import-cpu", "0.05", "--lean-cost-checks", "3"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    assert KEYS <= set(report) and report["leancost_checks"] == 3
    assert report["targets_met"]["lean_cpu_ratio_fresh_over_pool"] is True
