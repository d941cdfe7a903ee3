"""A Lean check that gets no verdict is not a failed proof (issue 13, item 8).

Through the installed ``prover``, against the fake REPL: ``--crash-on theorem`` answers the
header import and the version probe, then dies half-way through every answer about a proof
(stack-overflow text, status 134), as a REPL does that crashes on each candidate. Such an
attempt is an ``error`` line with the cause (redone by a rerun, exit 1); a candidate that hits
Lean's time limit (``--hang-on`` with a short ``--timeout``) stays an honest ``unproved``,
counted in ``timeouts``. ``prove`` names both in its JSON reasons and its table.
"""
from __future__ import annotations

import json

import pytest
from test_eval import PROVER, eval_cmd, first_valid, lines, run
from test_prove import prove, write

CRASH = ("--crash-on", "theorem")
HANG = ("--hang-on", "theorem")
STACK_OVERFLOW = "Stack overflow detected"  # what the fake's crash writes on stderr
WIDE = {"COLUMNS": "250"}  # the table on one line per row, as a wide terminal shows it
ONE = "import Mathlib\n\ntheorem lone (x : ℕ) (h : x = 2) : x + 1 = 3 := by\n  sorry\n"


def test_a_crashing_repl_gives_error_lines_exit_1_and_a_rerun_redoes_them(shared, tmp_path):
    out = tmp_path / "run"
    common = ("--limit", "2", "--budget", "2x2", "--workers", "1")
    crashed = run(eval_cmd(shared, out, *common, fake=CRASH))
    assert crashed.returncode == 1, crashed.stderr
    records = lines(out)
    assert sorted((r["problem"], r["attempt"]) for r in records) == sorted(
        (n, a) for n in first_valid(shared, 2) for a in range(2))
    for r in records:
        assert r["status"] == "error" and not r["proved"], r
        assert r["crashed"] >= 1 and r["timeouts"] == 0
        assert "got no verdict" in r["error"] and STACK_OVERFLOW in r["error"]
    assert "4 errors" in crashed.stderr
    # With a REPL that works, the rerun does every attempt again (none was final) and proves it.
    rerun = run(eval_cmd(shared, out, *common))
    assert rerun.returncode == 0, rerun.stderr
    assert "4 to run, 0 done before" in rerun.stderr
    final = [r for r in lines(out) if r["status"] != "error"]
    assert len(final) == 4 and all(r["proved"] and r["crashed"] == 0 for r in final)
    assert run([PROVER, "report", str(out)]).returncode == 0
    report = (out / "report.md").read_text()
    assert "attempts by status: proved 4, unproved 0, timeout 0, error 0." in report


@pytest.mark.parametrize("method", ["sample", "bestfirst", "decompose"])
def test_every_search_method_counts_crashed_checks_the_same_way(shared, tmp_path, method):
    out = tmp_path / "run"
    result = run(eval_cmd(shared, out, "--limit", "1", "--budget", "1x2", "--search", method,
                          "--workers", "1", fake=CRASH))
    assert result.returncode == 1, result.stderr
    [record] = lines(out)
    assert record["status"] == "error" and record["crashed"] >= 1, record
    assert STACK_OVERFLOW in record["error"]


def test_lean_timeouts_are_honest_failures_counted_in_the_line_and_the_report(shared, tmp_path):
    out = tmp_path / "run"
    result = run(eval_cmd(shared, out, "--limit", "1", "--budget", "1x2", "--search", "sample",
                          "--timeout", "0.3", "--workers", "1", fake=HANG))
    assert result.returncode == 0, result.stderr
    [record] = lines(out)
    assert record["status"] == "unproved" and record["error"] is None
    assert record["timeouts"] == 2 and record["crashed"] == 0
    assert "2 Lean timeouts" in result.stderr
    # Final: a rerun has nothing to do.
    again = run(eval_cmd(shared, out, "--limit", "1", "--budget", "1x2", "--search", "sample",
                         "--timeout", "0.3", "--workers", "1", fake=HANG))
    assert again.returncode == 0 and "0 to run, 1 done before" in again.stderr
    assert run([PROVER, "report", str(out)]).returncode == 0
    assert "Lean timeouts: 2 candidate checks" in (out / "report.md").read_text()


@pytest.mark.parametrize("method", ["sample", "rmaxts", "bestfirst", "decompose"])
def test_prove_names_crashed_checks_in_its_json_reasons_and_its_table(tmp_path, method):
    path = write(tmp_path, "one.lean", ONE)
    result = prove(path, "--search", method, "--budget", "1x2", "--json", fake=CRASH)
    assert result.returncode == 1, result.stderr
    [row] = json.loads(result.stdout)["theorems"]
    assert row["status"] == "unproved" and row["crashed"] >= 1
    crash_reasons = [r for r in row["reasons"] if "crashed the REPL" in r]
    assert len(crash_reasons) == 1 and STACK_OVERFLOW in crash_reasons[0]
    assert path.read_text() == ONE
    table = prove(path, "--search", method, "--budget", "1x2", fake=CRASH, env=WIDE)
    assert table.returncode == 1
    assert f"{row['crashed']} Lean check(s) crashed" in table.stdout


def test_prove_names_timed_out_checks(tmp_path):
    path = write(tmp_path, "one.lean", ONE)
    result = prove(path, "--search", "sample", "--budget", "1x2", "--timeout", "0.3", "--json",
                   fake=HANG)
    assert result.returncode == 1, result.stderr
    [row] = json.loads(result.stdout)["theorems"]
    assert row["timeouts"] == 2 and row["crashed"] == 0
    assert "2 Lean check(s) timed out (see --timeout)" in row["reasons"]
    table = prove(path, "--search", "sample", "--budget", "1x2", "--timeout", "0.3", fake=HANG,
                  env=WIDE)
    assert "no proof within the budget 1x2; 2 Lean check(s) timed out" in table.stdout
