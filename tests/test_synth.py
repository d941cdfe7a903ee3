"""``prover synth``: verified proofs become training records — annotated, deduplicated, resumable.

End to end through the installed ``prover`` command with the portfolio policy and the fake REPL
(a real subprocess on the wire protocol), on real miniF2F statements from ../shared."""
from __future__ import annotations

import asyncio
import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import fake_repl_command

from benchmarks.datasets import DatasetError
from benchmarks.resultlog import read_lines
from benchmarks.runner import EvalPlan
from prover.drivers.synth import load_statements, records_of
from prover.records import TrainingRecord, content_hash
from search import Budget
from search.problem import DEFAULT_HEADER, Problem

PROVER = shutil.which("prover") or "prover"


def five_statements(shared: Path, tmp_path: Path) -> Path:
    rows = [line for line in (shared / "benchmarks" / "minif2f.jsonl").read_text().splitlines()
            if json.loads(line)["split"] == "test"][:5]
    path = tmp_path / "five.jsonl"
    path.write_text("\n".join(rows) + "\n")
    return path


def synth(statements: Path, out: Path, *args: str, fake: tuple[str, ...] = ()):
    command = [PROVER, "synth", str(statements), "--out", str(out),
               "--repl", shlex.join(fake_repl_command(*fake)), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def records(out: Path) -> list[dict]:
    return list(read_lines(out / "records.jsonl"))


def test_five_minif2f_statements_give_five_loadable_records(shared, tmp_path):
    statements = five_statements(shared, tmp_path)
    out = tmp_path / "run"
    result = synth(statements, out, "--search", "sample", "--budget", "2x4")
    assert result.returncode == 0, result.stderr
    got = records(out)
    names = [json.loads(line)["name"] for line in statements.read_text().splitlines()]
    # Two attempts each find the same portfolio proof: one record per theorem, not two.
    assert sorted(r["name"] for r in got) == sorted(names)
    assert len(list(read_lines(out / "results.jsonl"))) == 10
    source = {json.loads(line)["name"]: json.loads(line) for line in statements.read_text().splitlines()}
    for r in got:
        assert r["kind"] == "theorem" and r["parent"] is None
        assert r["header"] == source[r["name"]]["header"]
        assert r["statement"] == source[r["name"]]["formal_statement"]
        assert r["id"] == content_hash(r["header"], r["statement"], r["proof"])
        assert r["verifier"]["lean"] == "4.9.0-rc1" and r["verifier"]["prover"]
        assert r["search"] == "sample" and r["policy"] == "portfolio"
        assert r["annotated_proof"] is not None
    datasets = pytest.importorskip("datasets")  # in the dev extra: present in CI
    loaded = datasets.load_dataset("json", data_files=str(out / "records.jsonl"), split="train")
    assert loaded.num_rows == 5
    assert {"statement", "header", "proof", "annotated_proof", "id", "lemmas"} <= set(loaded.column_names)


def test_rerun_adds_nothing_and_a_crash_before_the_records_is_repaired(shared, tmp_path):
    statements = five_statements(shared, tmp_path)
    out = tmp_path / "run"
    assert synth(statements, out, "--search", "sample", "--budget", "1x4").returncode == 0
    full = (out / "records.jsonl").read_bytes()
    again = synth(statements, out, "--search", "sample", "--budget", "1x4")
    assert again.returncode == 0 and "0 to run" in again.stderr
    assert (out / "records.jsonl").read_bytes() == full
    # A crash after the attempt lines were written but before their records were.
    kept = b"".join(full.splitlines(keepends=True)[:2])
    (out / "records.jsonl").write_bytes(kept + b'{"id": "cut sh')
    repaired = synth(statements, out, "--search", "sample", "--budget", "1x4")
    assert repaired.returncode == 0, repaired.stderr
    assert "restored 3 record(s)" in repaired.stderr
    got = records(out)
    assert len(got) == 5 and len({r["id"] for r in got}) == 5
    assert (out / "records.jsonl").read_bytes().startswith(kept)


def test_unproved_statements_give_no_records(shared, tmp_path):
    statements = five_statements(shared, tmp_path)
    out = tmp_path / "run"
    result = synth(statements, out, "--search", "sample", "--budget", "1x2",
                   fake=("--error-on", "theorem"))
    assert result.returncode == 0, result.stderr
    assert records(out) == []
    assert all(r["status"] == "unproved" for r in read_lines(out / "results.jsonl"))


RULES = {"rules": [{"on": "cmd", "match": "intro n\\n", "tactics": [
    {"tactic": "intro n", "goals": "⊢ ∀ (n : ℕ), n + 0 = n", "line": 2, "column": 2,
     "endLine": 2, "endColumn": 9},
    {"tactic": "simp", "goals": "n : ℕ\n⊢ n + 0 = n", "line": 3, "column": 2,
     "endLine": 3, "endColumn": 6}]}]}


def test_annotation_puts_the_state_after_each_segment_in_v15_format(tmp_path):
    from lean_bridge.checker import LeanChecker
    from lean_bridge.pool import PoolConfig, ReplPool
    from lean_bridge.process import ReplSpec
    from search.annotate import annotated

    script = tmp_path / "rules.json"
    script.write_text(json.dumps(RULES))

    async def go():
        pool = ReplPool(ReplSpec(fake_repl_command("--script", str(script))), PoolConfig(max_processes=1))
        try:
            lean = LeanChecker(pool, timeout=10)
            problem = Problem("t", DEFAULT_HEADER, "theorem t : ∀ n : ℕ, n + 0 = n := by\n")
            return await annotated(lean, problem, "  intro n\n  simp\n")
        finally:
            await pool.close()

    text, version = asyncio.run(go())
    assert text == "  intro n\n  /- tactic state:\n    n : ℕ\n    ⊢ n + 0 = n\n  -/\n  simp\n"
    assert version == "4.9.0-rc1"


class _Item:
    benchmark, name, split, category = "set", "thm", "all", "all"
    problem = Problem("thm", DEFAULT_HEADER, "theorem thm (x : ℕ) : x = x := by\n")


def test_each_decomposition_lemma_is_its_own_record():
    line = {"proved": True, "proof": "  have h : x = x := by rfl\n  exact h\n", "run": "r",
            "annotated_proof": None, "lean_version": "4.9.0-rc1",
            "lemmas": [{"name": "thm_h", "statement": "theorem thm_h (x : ℕ) : x = x := by\n",
                        "proof": "  rfl\n", "solved": True, "annotated_proof": "  rfl\n"},
                       {"name": "thm_k", "statement": "theorem thm_k : False := by\n",
                        "proof": None, "solved": False}]}
    plan = EvalPlan("set", None, "decompose", Budget(1, 4), "portfolio")
    out = records_of(line, _Item(), plan, package_version="0.1.0")
    assert [(r.kind, r.name, r.parent) for r in out] == [("theorem", "thm", None),
                                                         ("lemma", "thm_h", "thm")]
    assert out[0].lemmas == ("thm_h",)
    assert out[1].statement == "theorem thm_h (x : ℕ) : x = x := by\n"
    assert len({r.id for r in out}) == 2
    with pytest.raises(ValueError):
        TrainingRecord("n", "", "", "", None, kind="axiom", source="s")


def test_statement_sets_accept_benchmark_files_and_refuse_bad_lines(shared, tmp_path):
    proofnet = load_statements(shared / "benchmarks" / "proofnet.jsonl")
    assert len(proofnet) == 371
    assert all(i.problem.statement.endswith(":= by\n") for i in proofnet)
    first = json.loads((shared / "benchmarks" / "proofnet.jsonl").read_text().splitlines()[0])
    assert proofnet[0].problem.name == first["theorem_name"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"name": "a", "formal_statement": "theorem a : True := by\\n"}\n{"name": "b"}\n')
    with pytest.raises(DatasetError, match="bad.jsonl:2"):
        load_statements(bad)
    plain = tmp_path / "plain.jsonl"
    plain.write_text('{"name": "a", "formal_statement": "theorem a : True :="}\n')
    (item,) = load_statements(plain)
    assert item.problem.header == DEFAULT_HEADER
    assert item.problem.statement == "theorem a : True := by\n"


def test_decomposition_lemmas_become_records_of_their_own(tmp_path):
    statements = tmp_path / "conj.jsonl"
    statements.write_text(json.dumps({
        "name": "conj",
        "formal_statement": "theorem conj (a b : ℕ) (h : a = b) : b = a ∧ a + 0 = b := by\n"}) + "\n")
    out = tmp_path / "run"
    result = synth(statements, out, "--search", "decompose", "--budget", "1x4")
    assert result.returncode == 0, result.stderr
    got = {r["name"]: r for r in records(out)}
    theorem = got.pop("conj")
    assert theorem["kind"] == "theorem" and sorted(theorem["lemmas"]) == sorted(got)
    assert len(got) == 2
    for name, lemma in got.items():
        assert lemma["kind"] == "lemma" and lemma["parent"] == "conj"
        assert lemma["statement"].startswith(f"theorem {name} (a b : ℕ) (h : a = b) :")
        assert lemma["proof"].strip() and lemma["proof"].strip() in theorem["proof"]
    (line,) = read_lines(out / "results.jsonl")
    assert line["unsolved"] == [] and {x["name"] for x in line["lemmas"]} == set(got)
