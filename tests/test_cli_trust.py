"""`prover check --against` end to end: every cheat exits 1 through the CLI while the fake REPL
accepts everything (so only the trust layer can catch it), honest proofs exit 0, and the axiom
audit reads Lean's `#print axioms` output."""
from __future__ import annotations

import json
import shlex

import pytest
from cheat_cases import CHEATS, CLEAN
from click.testing import CliRunner
from conftest import fake_repl_command

from prover.cli import cli

ACCEPT_ALL = shlex.join(fake_repl_command())


def run(tmp_path, candidate: str, reference: str | None = None, *args: str, repl: str = ACCEPT_ALL,
        ref_name: str = "ref.lean"):
    cand = tmp_path / "cand.lean"
    cand.write_text(candidate)
    argv = ["check", str(cand), "--repl", repl, "--json", *args]
    if reference is not None:
        ref = tmp_path / ref_name
        ref.write_text(reference)
        argv += ["--against", str(ref)]
    result = CliRunner().invoke(cli, argv)
    return result, (json.loads(result.stdout) if result.stdout.strip().startswith("{") else None)


def as_jsonl(reference: str) -> str:
    """The same reference in the benchmark schema (name, header, formal_statement)."""
    from lean_bridge.reference import references_from_lean

    return "\n".join(json.dumps({"name": r.name, "header": r.header, "formal_statement": r.statement})
                     for r in references_from_lean(reference).values()) + "\n"


@pytest.mark.parametrize("form", ["lean", "jsonl"])
@pytest.mark.parametrize("cheat", CHEATS, ids=[c.id for c in CHEATS])
def test_every_cheat_exits_1_with_its_reason(tmp_path, cheat, form):
    reference = cheat.reference if form == "lean" else as_jsonl(cheat.reference)
    result, report = run(tmp_path, cheat.candidate, reference, ref_name=f"ref.{form}")
    assert result.exit_code == 1, result.output
    rows = report["theorems"]
    flagged = [r for r in rows if r["status"] in ("rejected", "incomplete")]
    assert flagged, rows
    reasons = " | ".join(reason for r in flagged for reason in r["reasons"])
    if form == "jsonl" and cheat.code in ("missing_theorem", "statement_changed"):
        # A renamed theorem matches no record: it is rejected as missing from the benchmark.
        assert "missing_theorem" in reasons or cheat.code in reasons, reasons
    else:
        assert cheat.code in reasons, reasons


def test_cheats_through_the_installed_command(tmp_path):
    """The same contract through the `prover` executable, on a spread of cheat kinds."""
    import shutil
    import subprocess

    picked = {c.code: c for c in CHEATS}.values()  # one cheat per finding code
    for cheat in picked:
        cand, ref = tmp_path / "cand.lean", tmp_path / "ref.jsonl"
        cand.write_text(cheat.candidate)
        ref.write_text(as_jsonl(cheat.reference))
        done = subprocess.run([shutil.which("prover"), "check", str(cand), "--against", str(ref),
                               "--repl", ACCEPT_ALL], capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, (cheat.id, done.stdout, done.stderr)


@pytest.mark.parametrize("case", CLEAN, ids=[c[0] for c in CLEAN])
def test_honest_files_exit_0(tmp_path, case):
    _, candidate, reference = case
    result, report = run(tmp_path, candidate, reference)
    assert result.exit_code == 0, result.output
    assert {r["status"] for r in report["theorems"]} == {"proved"}


def test_against_a_benchmark_jsonl(tmp_path, shared):
    minif2f = shared / "benchmarks" / "minif2f.jsonl"
    record = json.loads(minif2f.read_text().splitlines()[0])
    honest = record["header"] + record["formal_statement"] + "  nlinarith\n"
    result, report = run(tmp_path, honest, None, "--against", str(minif2f))
    assert result.exit_code == 0, result.output
    line = 1 + honest[:honest.index("theorem " + record["name"])].count("\n")
    assert report["theorems"] == [{"name": record["name"], "line": line, "status": "proved",
                                   "reasons": [], "seconds": report["theorems"][0]["seconds"]}]
    # Weaken the conclusion: same name, different statement.
    weakened = honest.replace(":= by", "∨ True := by", 1)
    result, report = run(tmp_path, weakened, None, "--against", str(minif2f))
    assert result.exit_code == 1
    assert report["theorems"][0]["status"] == "rejected"
    assert "statement_changed" in report["theorems"][0]["reasons"][0]
    # Rename it: nothing in the benchmark is proved by that.
    renamed = honest.replace(record["name"], record["name"] + "_easy", 1)
    result, report = run(tmp_path, renamed, None, "--against", str(minif2f))
    assert result.exit_code == 1 and report["theorems"][0]["status"] == "rejected"


AXIOM_RULES = {"rules": [
    {"match": "#print axioms good", "axioms": ["propext", "Classical.choice", "Quot.sound"]},
    {"match": "#print axioms pure", "axioms": []},
    {"match": "#print axioms smuggled", "axioms": ["propext", "Mathlib.cheat"]},
    {"match": "#print axioms fast", "axioms": ["propext", "Lean.ofReduceBool"]},
]}

AXIOM_FILE = """import Mathlib

theorem good : 1 + 1 = 2 := by norm_num

theorem pure : True := trivial

theorem smuggled : 2 + 2 = 4 := by norm_num

theorem fast : 2 ^ 10 % 7 = 2 := by native_decide
"""


def test_axiom_audit_reads_print_axioms(tmp_path):
    script = tmp_path / "axioms.json"
    script.write_text(json.dumps(AXIOM_RULES))
    repl = shlex.join(fake_repl_command("--script", str(script)))
    result, report = run(tmp_path, AXIOM_FILE, None, repl=repl)
    statuses = {r["name"]: r["status"] for r in report["theorems"]}
    assert statuses == {"good": "proved", "pure": "proved", "smuggled": "rejected", "fast": "rejected"}
    smuggled = next(r for r in report["theorems"] if r["name"] == "smuggled")
    assert any("Mathlib.cheat" in reason for reason in smuggled["reasons"])
    assert result.exit_code == 1
    # Allowing native_decide also allows the axiom it adds.
    result, report = run(tmp_path, AXIOM_FILE, None, "--allow-native-decide", "--theorem", "fast", repl=repl)
    assert result.exit_code == 0, result.output
    assert report["theorems"][0]["status"] == "proved"


def test_unauditable_theorem_is_not_proved(tmp_path):
    # A REPL that refuses the command carrying the audit: nothing is proved.
    script = tmp_path / "refuse.json"
    script.write_text(json.dumps({"rules": [{"match": "#print axioms", "message": "Unknown environment."}]}))
    repl = shlex.join(fake_repl_command("--script", str(script)))
    result, report = run(tmp_path, "theorem q : True := trivial\n", None, repl=repl)
    assert result.exit_code == 1
    assert report["theorems"][0]["status"] != "proved"


def test_an_audit_answer_that_is_missing_or_for_another_name_rejects():
    from lean_bridge.checker import LeanChecker, _axiom_answers
    from lean_bridge.protocol import Message, Pos

    checker = LeanChecker(pool=None)  # the audit reading is pure; no REPL needed
    info = lambda data: Message("info", Pos(9, 0), None, data)  # noqa: E731
    audit = lambda *datas: checker._audit("q", _axiom_answers([info(d) for d in datas]))  # noqa: E731
    assert audit("'q' depends on axioms: [propext]") == []
    assert audit() and "no readable" in audit()[0]
    assert audit("'other' depends on axioms: [propext]")
    assert "sorry" in audit("'q' depends on axioms: [propext, sorryAx]")[0]
    # Two answers for one name cannot be told apart: neither is trusted.
    assert "no readable" in audit("'q' depends on axioms: [propext]",
                                  "'q' depends on axioms: [propext, sorryAx]")[0]


@pytest.mark.parametrize("content,suffix,needle", [
    (None, ".jsonl", "cannot use --against"),
    ('{"name": "x", "header": ""\n', ".jsonl", "cannot use --against"),
    (b"\xff\xfe not utf-8", ".lean", "cannot use --against"),
])
def test_unreadable_reference_exit_2(tmp_path, content, suffix, needle):
    cand = tmp_path / "cand.lean"
    cand.write_text("theorem q : True := trivial\n")
    ref = tmp_path / ("ref" + suffix)
    if content is not None:
        ref.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = CliRunner().invoke(cli, ["check", str(cand), "--repl", ACCEPT_ALL, "--against", str(ref)])
    assert result.exit_code == 2
    assert needle in result.output
    assert cand.read_text() == "theorem q : True := trivial\n"  # nothing else touched


def test_sandbox_is_reported(tmp_path):
    _, report = run(tmp_path, "theorem q : True := trivial\n")
    sandbox = report["sandbox"]
    assert sandbox["environment"] == "scrubbed" and sandbox["limits"]["address_space_bytes"] > 0
    assert isinstance(sandbox["network_isolated"], bool)


def test_proofnet_names_repeat_and_the_matching_record_is_used(tmp_path, shared):
    proofnet = shared / "benchmarks" / "proofnet.jsonl"
    records = [json.loads(line) for line in proofnet.read_text().splitlines()]
    by_name = {}
    for r in records:
        by_name.setdefault(r["theorem_name"], []).append(r)
    name, group = next((n, g) for n, g in by_name.items()
                       if len(g) > 1 and len({r["formal_statement"] for r in g}) > 1
                       and all(r["decl_kind"] == "theorem" for r in g))
    record = group[-1]
    honest = record["header"] + record["formal_statement"] + " by\n  simp\n"
    result, report = run(tmp_path, honest, None, "--against", str(proofnet))
    assert result.exit_code == 0, result.output
    assert report["theorems"][0]["name"] == name
