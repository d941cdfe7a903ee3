"""Time and memory linear in the input: what can be counted, counted (no timings here).

Theorems that share a name, through the installed `prover check` and `prover prove`; output
sizes and counts of work at 1x and 4x for the input shapes of `benchmarks.pathological`
(which reports the timings and peak memory).
"""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import fake_repl_command

from benchmarks import pathological as patho

PROVER = shutil.which("prover")
DUP = "theorem dup (x : Nat) : x + 0 = x := by sorry\n"


def prover(tmp_path: Path, text: str, *args: str, fake: tuple[str, ...] = ()):
    path = tmp_path / "file.lean"
    path.write_text(text, encoding="utf-8")
    command = [PROVER, *args[:1], str(path), "--repl", shlex.join(fake_repl_command(*fake)),
               *args[1:]]
    return subprocess.run(command, capture_output=True, text=True, timeout=120), path


def check_json(tmp_path: Path, text: str, *args: str, fake: tuple[str, ...] = ()) -> dict:
    result, _ = prover(tmp_path, text, "check", "--json", *args, fake=fake)
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


def test_each_duplicate_is_reported_once_at_its_line_with_lean_s_verdict(tmp_path):
    report = check_json(tmp_path, DUP * 3)
    rows = report["theorems"]
    assert [(r["name"], r["line"], r["status"]) for r in rows] == [
        ("dup", 1, "incomplete"), ("dup", 2, "error"), ("dup", 3, "error")]
    # The first has its own gap; each later one Lean's refusal, at its own line only.
    assert any("sorry at line 1" in why for why in rows[0]["reasons"])
    for row in rows:
        named = {n for n in (1, 2, 3) for why in row["reasons"] if f"line {n}" in why}
        assert named == {row["line"]}, row
    assert rows[1]["reasons"] == ["line 2, column 8: error: 'dup' has already been declared"]
    assert rows[2]["reasons"] == ["line 3, column 8: error: 'dup' has already been declared"]
    (dup,) = report["duplicates"]
    assert dup["name"] == "dup" and dup["lines"] == [1, 2, 3]
    assert "declared 3 times" in dup["message"] and "only the first (line 1)" in dup["message"]


def test_duplicates_in_the_v4_33_wording_and_theorem_selects_them_all(tmp_path):
    text = "theorem keep : True := trivial\n" + DUP + "theorem dup : 1 = 1 := rfl\n"
    report = check_json(tmp_path, text, "--theorem", "dup", fake=("--version", "v4.33.0"))
    rows = report["theorems"]
    assert [(r["line"], r["status"]) for r in rows] == [(2, "incomplete"), (3, "error")]
    assert rows[1]["reasons"] == ["line 3, column 8: error: `dup` has already been declared"]
    assert [d["lines"] for d in report["duplicates"]] == [[2, 3]]


class _SilentWorker:
    """A REPL that accepts every command and answers `#print axioms` cleanly: one that missed
    a redeclaration (real Lean never does; the fake refuses it as Lean does)."""

    header, header_env, lean_version = "", 0, "4.9.0"

    async def request(self, request, timeout):
        from lean_bridge.protocol import CommandResponse, Message, Pos

        lines = request.cmd.split("\n")
        answers = tuple(Message("info", Pos(k, 0), None,
                                f"'{line.split()[-1]}' depends on axioms: [propext]")
                        for k, line in enumerate(lines, 1) if line.startswith("#print axioms"))
        return CommandResponse(env=1, messages=answers)


def test_a_second_declaration_of_a_name_is_never_called_proved():
    # `#print axioms d` answers for the first `d`: the second cannot be audited.
    import asyncio

    from lean_bridge.checker import LeanChecker

    async def run():
        checker = LeanChecker(pool=None)
        return await checker._judge("", "theorem d : True := trivial\ntheorem d : True := trivial\n",
                                    references=None, worker=_SilentWorker())

    first, second = asyncio.run(run())
    assert (first.line, first.result.status.value) == (1, "proved")
    assert (second.line, second.result.status.value) == (2, "rejected")
    assert "answers for the first `d` (line 1)" in second.result.reasons[0]


def test_the_table_says_it_once(tmp_path):
    result, _ = prover(tmp_path, DUP * 3, "check")
    assert result.returncode == 1
    assert result.stdout.count("is declared 3 times") == 1
    assert "Traceback" not in result.stderr


def test_the_output_of_n_duplicates_is_n_times_that_of_one(tmp_path):
    one, four = (check_json(tmp_path, DUP * n) for n in (10, 40))
    size = lambda r: len(json.dumps(r["theorems"], ensure_ascii=False))  # noqa: E731
    assert len(four["theorems"]) == 40
    assert 3.6 <= size(four) / size(one) <= 4.4
    # Reasons per row do not grow with the number of rows.
    assert max(len(r["reasons"]) for r in four["theorems"]) == \
        max(len(r["reasons"]) for r in one["theorems"])
    assert len(four["duplicates"]) == 1 and len(four["duplicates"][0]["lines"]) == 40


def test_findings_outside_every_theorem_are_not_repeated_without_bound(tmp_path):
    # Every row must say why it is rejected, but N rows x M outside findings is quadratic:
    # a row shows the first few and counts the rest.
    axioms = "".join(f"axiom a{i} : False\n" for i in range(12))
    theorems = "".join(f"theorem t{i} : True := trivial\n" for i in range(30))
    report = check_json(tmp_path, axioms + theorems)
    rows = report["theorems"]
    assert len(rows) == 30 and {r["status"] for r in rows} == {"rejected"}
    for row in rows:
        assert len(row["reasons"]) == 4
        assert row["reasons"][0].startswith("axiom:")
        assert row["reasons"][-1] == "… and 9 more findings outside the theorems"


def test_prove_proves_the_first_of_a_repeated_name_and_says_why_not_the_others(tmp_path):
    result, path = prover(tmp_path, DUP * 3, "prove", "--budget", "1x4", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [t["name"] for t in report["theorems"]] == ["dup"]
    assert result.stderr.count("is declared 3 times") == 1
    assert "only the first can be proved" in result.stderr
    lines = path.read_text().splitlines()
    assert "sorry" not in "\n".join(lines[:2]) and lines[-2:] == [DUP.strip()] * 2


def test_prove_names_a_redeclared_sorry_when_nothing_else_is_left(tmp_path):
    text = "theorem dup : True := trivial\ntheorem dup : True := by sorry\n"
    result, _ = prover(tmp_path, text, "prove", "--budget", "1x4")
    assert result.returncode == 2
    assert "redeclaration" in result.stderr and "Traceback" not in result.stderr


# -- counts of work and output sizes, for every shape of the benchmark ----------------------

SMALL = 8_000


def _lexed(monkeypatch) -> list[int]:
    """Record the length of every text the lexer reads."""
    import lean_bridge._scan as scan_mod
    import lean_bridge.text as text_mod

    seen: list[int] = []
    real = scan_mod.scan

    def counting(text: str):
        seen.append(len(text))
        return real(text)

    monkeypatch.setattr(scan_mod, "scan", counting)
    monkeypatch.setattr(text_mod, "scan", counting)
    return seen


def _clear_caches() -> None:
    from lean_bridge import integrity, reference, text

    for cache in (text.parsed, text.masked, integrity.placeholder_names,
                  integrity._reference_context, reference._candidate_view):
        cache.cache_clear()


@pytest.mark.parametrize("shape", sorted(patho.SHAPES))
def test_the_static_layer_lexes_each_text_a_fixed_number_of_times(shape, monkeypatch):
    from lean_bridge.integrity import scan_integrity
    from prover.drivers import prove as pv

    def work(size: int) -> tuple[int, int]:
        text = patho.SHAPES[shape](size)
        _clear_caches()
        seen = _lexed(monkeypatch)
        scan_integrity(text)
        try:
            targets = pv.select_targets(text)
            pv.problem_for(text, targets[-1], proofs={}, gaps=pv.gaps_of(text))
        except pv.ProveInputError:
            pass
        whole = sum(1 for n in seen if n == len(text))
        return whole, sum(seen) // len(text)

    (whole1, chars1), (whole4, chars4) = work(SMALL), work(4 * SMALL)
    assert whole1 == whole4 <= 2  # the whole text is lexed once (memoized), not per item
    assert chars4 <= chars1 + 1  # characters lexed per input character do not grow


def test_a_run_of_attribute_lines_is_read_once(monkeypatch):
    import lean_bridge.text as text_mod

    visited: list[int] = []
    real = text_mod._IndentedDeclarations.__init__

    def counting(self, mask):
        real(self, mask)
        visited.append(0)
        self.memo = _CountingDict(visited)

    monkeypatch.setattr(text_mod._IndentedDeclarations, "__init__", counting)
    work = []
    for size in (SMALL, 4 * SMALL):
        visited.clear()
        text = patho.stacked_modifiers(size)
        decls = text_mod.parse_file(text).declarations
        assert [d.name for d in decls] == ["stacked"]  # no line starts a declaration
        work.append(len(visited) / text.count("\n"))
    assert work[1] <= work[0] + 0.5  # positions read per line do not grow


class _CountingDict(dict):
    def __init__(self, counter: list[int]) -> None:
        super().__init__()
        self.counter = counter

    def __setitem__(self, key, value) -> None:
        self.counter.append(1)
        super().__setitem__(key, value)


@pytest.mark.parametrize("shape", sorted(patho.SHAPES))
def test_check_output_grows_at_most_linearly(shape, tmp_path):
    counts = []
    for k, size in enumerate((SMALL, 4 * SMALL)):
        path = tmp_path / f"{k}.lean"
        path.write_text(patho.SHAPES[shape](size), encoding="utf-8")
        counts.append(patho.run_check(path))
    one, four = counts
    assert one["exit"] in (0, 1) and four["exit"] in (0, 1)
    assert four["json_bytes"] <= 4.5 * one["json_bytes"]
    assert four["reasons"] <= 4.5 * max(one["reasons"], 1)
    assert four["rows"] <= 4.5 * one["rows"]


def test_the_audit_reads_each_answer_once(monkeypatch, tmp_path):
    import lean_bridge.checker as checker

    calls: list[str] = []
    real = checker.parse_print_axioms
    monkeypatch.setattr(checker, "parse_print_axioms", lambda d: calls.append(d) or real(d))
    counts = []
    for n in (20, 80):
        calls.clear()
        path = tmp_path / f"t{n}.lean"
        path.write_text("".join(f"theorem t{i} : True := trivial\n" for i in range(n)))
        assert patho.run_check(path)["statuses"] == ["proved"]
        counts.append(len(calls))
    assert counts == [20, 80]  # one answer per theorem, each read once


def test_references_from_a_lean_file_carry_no_other_theorem_s_text():
    from lean_bridge.reference import references_from_lean

    def total(n: int) -> int:
        text = "import Mathlib\n\ndef helper : Nat := 1\n\n" + "".join(
            f"-- number {i}\ntheorem t{i} : helper = 1 := rfl\n\n" for i in range(n))
        refs = references_from_lean(text)
        assert len(refs) == n
        assert "-- number 3\n" in refs["t3"].statement and "number 2" not in refs["t3"].statement
        return sum(len(r.text) for r in refs.values())

    assert 3.6 <= total(200) / total(50) <= 4.4


def test_the_benchmark_script_reports_each_shape_and_tool():
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.pathological", "--mb", "0.002,0.004",
         "--shapes", "one_name,nested", "--tools", "check,parse_file", "--json"],
        capture_output=True, text=True, timeout=120, cwd=Path(patho.__file__).parents[1])
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    assert {(r["shape"], r["tool"]) for r in rows} == {
        (s, t) for s in ("one_name", "nested") for t in ("check", "parse_file")}
    assert all(r["s_per_mb"] >= 0 and r["mib_per_mb"] >= 0 for r in rows)
    dup = [r for r in rows if r["shape"] == "one_name" and r["tool"] == "check"]
    # One row per copy of the theorem: as many copies as fill the size.
    assert [r["counts"]["rows"] for r in dup] == [-(-n // len(DUP)) for n in (2000, 4000)]
    assert dup[0]["counts"]["statuses"] == ["error", "incomplete"]
