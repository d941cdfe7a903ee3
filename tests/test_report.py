"""report.md and its plots from synthetic run directories built by the contract, and the
curated table of published results behind the report's side-by-side section."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from benchmarks.published import (
    PUBLISHED,
    SOURCES,
    STATEMENT_SETS,
    comparable_rows,
    statement_set,
)
from benchmarks.report import CATEGORIES_PNG, CURVE_PNG, format_table, write_report
from benchmarks.rundir import RunDirError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CATS = {"a": "algebra", "b": "numbertheory", "c": "algebra"}


def attempt(problem: str, n: int, *, run: str = "r1", proved: bool = False, cost: int | None = None,
            status: str | None = None, attempts: int = 2, per_attempt: int = 4,
            benchmark: str = "minif2f", split: str = "valid") -> dict:
    return {"run": run, "benchmark": benchmark, "split": split, "problem": problem,
            "theorem": problem, "category": CATS.get(problem, "other"), "attempt": n,
            "attempts": attempts, "per_attempt": per_attempt,
            "status": status or ("proved" if proved else "unproved"), "proved": proved,
            "proof": "  norm_num\n" if proved else None, "cost": cost if proved else None,
            "generations": cost if proved else per_attempt, "lean_calls": 2, "seconds": 0.25,
            "method": "sample", "seed": 0, "error": None, "finished": "2026-01-02T00:00:00+00:00"}


def make_run(path: Path, lines: list[dict], *, run: str = "r1", attempts: int = 2,
             per_attempt: int = 4, benchmark: str = "minif2f", split: str = "valid",
             problems=("a", "b", "c"), variant=None, shard_files: int = 1) -> Path:
    path.mkdir(parents=True)
    manifest = {"format": "prover-eval/1", "run": run, "benchmark": benchmark, "split": split,
                "variant": variant or {}, "problems": list(problems),
                "categories": {p: CATS.get(p, "other") for p in problems},
                "budget": f"{attempts}x{per_attempt}", "attempts": attempts,
                "per_attempt": per_attempt, "search": "sample", "policy": "hf:tiny-prover",
                "model": "hf:tiny-prover", "seed": 1234, "prompt_format": "deepseek-v1.5",
                "package": {"version": "0.1.0", "git_commit": "deadbeefcafe"},
                "lean": {"toolchain": "leanprover/lean4:v4.9.0-rc1", "mathlib": "d1d1e4b72c6e",
                         "repl": "v4.9.0-rc1"},
                "config": {"workers": 2}, "created": "2026-01-01T12:00:00+00:00", "shards": []}
    (path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    for i in range(shard_files):
        name = "results.jsonl" if shard_files == 1 else f"results.shard-{i + 1}-of-{shard_files}.jsonl"
        chunk = lines[i::shard_files]
        (path / name).write_text("".join(json.dumps(x) + "\n" for x in chunk), encoding="utf-8")
    return path


def run_abc(path: Path, **kw) -> Path:
    # Budget 2x4: a proved in attempt 0 at cost 3 (→ 3), b only in attempt 1 at cost 2
    # (→ 6), c never (one attempt timed out).
    lines = [attempt("a", 0, proved=True, cost=3), attempt("a", 1, proved=True, cost=1),
             attempt("b", 0), attempt("b", 1, proved=True, cost=2),
             attempt("c", 0), attempt("c", 1, status="timeout")]
    return make_run(path, lines, **kw)


def run_r2(path: Path, **kw) -> Path:
    # Budget 1x8: only a is proved, at cost 5.
    kw.setdefault("run", "r2")
    lines = [attempt("a", 0, run=kw["run"], proved=True, cost=5, attempts=1, per_attempt=8),
             attempt("b", 0, run=kw["run"], attempts=1, per_attempt=8),
             attempt("c", 0, run=kw["run"], attempts=1, per_attempt=8)]
    return make_run(path, lines, attempts=1, per_attempt=8, **kw)


def table_rows(text: str, first_header: str) -> list[list[str]]:
    """The body rows of the markdown table whose first header cell is ``first_header``."""
    lines = text.split("\n")
    start = next(i for i, l in enumerate(lines[:-1])
                 if l.startswith(f"| {first_header} |") and lines[i + 1].startswith("|---"))
    rows = []
    for l in lines[start + 2:]:
        if not l.startswith("|"):
            break
        rows.append([c.strip() for c in l.strip("|").split(" | ")])
    return rows


def section(text: str, title: str) -> str:
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


# -- format_table ---------------------------------------------------------------------------

def test_format_table_aligns_numbers_and_escapes_pipes():
    text = format_table([("a|b", 3, "50.0%"), ("c", 12, "—")], ["name", "n", "rate"])
    lines = text.strip().split("\n")
    assert lines[0] == "| name | n | rate |"
    assert lines[1] == "|---|---:|---:|"
    assert lines[2] == "| a\\|b | 3 | 50.0% |"
    with pytest.raises(ValueError):
        format_table([("only one",)], ["x", "y"])


# -- the report ------------------------------------------------------------------------------

def test_report_tables_hold_the_hand_checked_numbers(tmp_path):
    pytest.importorskip("matplotlib")
    run = run_abc(tmp_path / "r1", shard_files=2)
    files = write_report(run)
    assert files.report == run / "report.md" and files.plot_error is None
    text = files.report.read_text(encoding="utf-8")
    assert text.startswith("# Evaluation report: minif2f (valid), run r1")

    info = dict(table_rows(text, "field"))
    assert info["budget"].startswith("2x4") and "8 per problem" in info["budget"]
    assert info["seed"] == "1234" and info["model"] == "hf:tiny-prover"
    assert info["package"] == "0.1.0 (commit deadbeefcafe)"
    assert info["Lean toolchain"] == "leanprover/lean4:v4.9.0-rc1"
    assert info["Mathlib"] == "d1d1e4b72c6e" and info["created"] == "2026-01-01T12:00:00+00:00"

    # 2 of 3 proved; pass@1 = (2/2 + 1/2 + 0/2) / 3; pass@2 = (1 + 1 + 0) / 3.
    overall = table_rows(text, "problems")
    assert overall == [["3", "3", "3", "2", "66.7%", "50.0%", "66.7%"]]
    assert "pass@1 | pass@2 |" in section(text, "Overall")
    assert "timeout 1" in section(text, "Overall") and "error 0" in section(text, "Overall")

    cats = {r[0]: r[1:] for r in table_rows(text, "category")}
    assert cats["algebra"] == ["1", "2", "50.0%", "50.0%"]
    assert cats["numbertheory"] == ["1", "1", "100.0%", "50.0%"]
    assert cats["**all**"] == ["2", "3", "66.7%", "50.0%"]

    curve = table_rows(text, "generations")
    assert curve == [["3", "1", "33.3%"], ["6", "2", "66.7%"], ["8", "2", "66.7%"]]


def test_report_plots_are_real_pngs_linked_from_the_report(tmp_path):
    pytest.importorskip("matplotlib")
    run = run_abc(tmp_path / "r1")
    files = write_report(run)
    assert {p.name for p in files.plots} == {CURVE_PNG, CATEGORIES_PNG}
    text = files.report.read_text(encoding="utf-8")
    for png in files.plots:
        data = png.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 10_000
        assert f"]({png.name})" in text
        assert (files.report.parent / png.name).is_file()  # the link is relative and resolves


def test_report_is_deterministic_and_can_go_elsewhere(tmp_path):
    pytest.importorskip("matplotlib")
    run = run_abc(tmp_path / "r1")
    first = write_report(run, out=tmp_path / "out1")
    second = write_report(run, out=tmp_path / "out2")
    assert not (run / "report.md").exists()
    assert first.report.parent == tmp_path / "out1"
    assert first.report.read_bytes() == second.report.read_bytes()
    for a, b in zip(first.plots, second.plots):
        assert a.read_bytes() == b.read_bytes()


def test_compare_adds_the_other_runs_column(tmp_path):
    pytest.importorskip("matplotlib")
    r1 = run_abc(tmp_path / "r1")
    r2 = run_r2(tmp_path / "r2")
    text = write_report(r1, [r2]).report.read_text(encoding="utf-8")
    compared = section(text, "Compared runs")
    assert "| metric | r1 | r2 |" in compared
    rows = {r[0]: r[1:] for r in table_rows(compared, "metric")}
    assert rows["budget"] == ["2x4", "1x8"]
    assert rows["proved"] == ["2", "1"]
    assert rows["pass rate"] == ["66.7%", "33.3%"]
    assert rows["pass@1"] == ["50.0%", "33.3%"]
    assert rows["pass@2"] == ["66.7%", "—"]  # r2 has one attempt per problem
    assert rows["pass rate within 8 generations"] == ["66.7%", "33.3%"]
    assert "Warning" not in compared
    # Without --compare the section is absent.
    assert "Compared runs" not in write_report(r1, out=tmp_path / "solo").report.read_text()


def test_compare_warns_when_benchmarks_or_problems_differ(tmp_path):
    pytest.importorskip("matplotlib")
    r1 = run_abc(tmp_path / "r1")
    other = make_run(tmp_path / "pn", [attempt("x", 0, run="pn", benchmark="proofnet",
                                               split="test", proved=True, cost=1)],
                     run="pn", benchmark="proofnet", split="test", problems=("x",))
    compared = section(write_report(r1, [other]).report.read_text(encoding="utf-8"),
                       "Compared runs")
    assert "pn is on proofnet (test), this run on minif2f (valid)" in compared
    assert "different problem list (0 problems in common)" in compared


def test_published_section_cites_sources_and_warns(tmp_path):
    pytest.importorskip("matplotlib")
    text = write_report(run_abc(tmp_path / "r1")).report.read_text(encoding="utf-8")
    published = section(text, "Published results")
    rows = table_rows(published, "system")
    assert rows[0][0] == "**this run** (valid)" and rows[0][4] == "66.7%"
    assert any(r[0] == "DeepSeek-Prover-V1.5-RL" and r[6] == "[V1.5] Table 1" for r in rows)
    assert "test split; this run is on 'valid'" in published
    assert "covers 3 of the 244 valid problems" in published
    assert f"[V1.5] {SOURCES['V1.5']}" in published


def test_report_without_matplotlib_says_how_to_get_plots(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    files = write_report(run_abc(tmp_path / "r1"))
    assert files.plots == () and "matplotlib" in files.plot_error
    text = files.report.read_text(encoding="utf-8")
    assert ".png)" not in text and not list((tmp_path / "r1").glob("*.png"))
    assert "pip install 'lean-prover[plot]'" in section(text, "Plots")
    assert table_rows(text, "problems") == [["3", "3", "3", "2", "66.7%", "50.0%", "66.7%"]]


def test_unreadable_run_directory_raises(tmp_path):
    with pytest.raises(RunDirError, match="no manifest.json"):
        (tmp_path / "x").mkdir()
        write_report(tmp_path / "x")


# -- published results -----------------------------------------------------------------------

def test_published_rows_are_well_formed():
    assert 15 <= len(PUBLISHED) <= 30
    for row in PUBLISHED:
        key = row.source[1:row.source.index("]")]
        assert key in SOURCES and row.statements in STATEMENT_SETS
        assert row.benchmark in ("minif2f", "proofnet", "putnambench") and row.split == "test"
        if row.budget.startswith("pass@"):
            assert row.budget_total == int(row.budget[5:])
        else:
            n, t = row.budget.split("x")
            assert row.budget_total == int(n) * int(t)
        if row.benchmark == "putnambench":
            assert row.solved is not None
    rmaxts = [r for r in PUBLISHED if r.method == "rmaxts" and r.benchmark == "minif2f"]
    assert {r.budget for r in rmaxts} >= {"1x3200", "4x6400", "16x6400"}
    assert {"DeepSeek", "Goedel", "Kimina"} <= {r.system.split("-")[0] for r in PUBLISHED}


def test_published_rows_agree_with_the_team_notes(shared):
    """Every curated number and budget appears on a line of leaderboards.md citing its source."""
    notes = (shared / "reference" / "leaderboards.md").read_text(encoding="utf-8")
    lines = notes.split("\n")
    for row in PUBLISHED:
        key = row.source[:row.source.index("]") + 1]
        number = str(row.solved) if row.solved is not None else f"{row.result}"
        budget = row.budget[5:] if row.budget.startswith("pass@") else row.budget.replace("x", "×")
        num_re = re.compile(rf"(?<![\d.]){re.escape(number)}(?![\d])")
        bud_re = re.compile(rf"(?<![\d.]){re.escape(budget)}(?![\d])")
        assert any(key in l and num_re.search(l) and bud_re.search(l) for l in lines), row


def test_comparable_rows_pick_the_nearest_budget_per_system():
    c = comparable_rows("minif2f", "test", 3200)
    by_system = {(r.system, r.size): r for r in c.rows}
    assert len(by_system) == len(c.rows)  # one row per system
    assert by_system[("DeepSeek-Prover-V1.5-RL + RMaxTS", "7B")].budget == "1x3200"
    assert by_system[("DeepSeek-Prover-V1.5-RL", "7B")].budget == "pass@3200"
    # 671B has pass@32 and pass@8192: 8192 is nearer 3200 on a log scale.
    assert by_system[("DeepSeek-Prover-V2 (CoT)", "671B MoE")].budget == "pass@8192"
    assert all(r.benchmark == "minif2f" for r in c.rows)
    assert not any("test split" in w for w in c.warnings)
    c = comparable_rows("minif2f", "test", 25600)
    by_system = {(r.system, r.size): r for r in c.rows}
    assert by_system[("DeepSeek-Prover-V1.5-RL + RMaxTS", "7B")].budget == "4x6400"


def test_comparable_rows_warnings():
    # Our default statements are DeepSeek-V1.5's; Goedel-V2 and DeepSeek-V2 used revised sets.
    c = comparable_rows("minif2f", "valid", 32, problems=244)
    text = " ".join(c.warnings)
    assert "this run is on 'valid'" in text
    assert "'goedel-v2'" in text and "'deepseek-v2'" in text
    assert "covers" not in text
    revised = comparable_rows("minif2f", "test", 32, statements=statement_set("minif2f", {"revised": True}))
    text = " ".join(revised.warnings)
    assert "this run uses 'goedel-v2'" in text and "'deepseek-v1.5'" in text
    assert "ProofNet-valid" in " ".join(comparable_rows("proofnet", "valid", 32).warnings)
    putnam = comparable_rows("putnambench", "test", 1024, problems=672)
    assert any("640 → 672" in w for w in putnam.warnings)
    assert any("with-answer" in w for w in comparable_rows(
        "putnambench", "test", 1024, statements=statement_set("putnambench", {"no_answer": True})).warnings)
    assert comparable_rows("unknown", "test", 32).rows == ()
    with pytest.raises(ValueError):
        comparable_rows("minif2f", "test", 0)


def test_statement_set_from_manifest_variant():
    assert statement_set("minif2f", {}) == "deepseek-v1.5"
    assert statement_set("minif2f", {"revised": False}) == "deepseek-v1.5"
    assert statement_set("minif2f", {"revised": True}) == "goedel-v2"
    assert statement_set("minif2f", {"revision": "deepseek_prover_v2"}) == "deepseek-v2"
    assert statement_set("putnambench", {"no_answer": False}) == "putnambench-head"
    assert statement_set("proofnet", None) == "deepseek-v1.5"
