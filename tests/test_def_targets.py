"""A declaration a reference names is judged whatever its kind: ProofNet's 14 `def` items.

The fake REPL accepts every tactic, so where a verdict is not "proved" only the trust layer
(static integrity, the statement comparison, the `#print axioms` audit) can have made it so.
"""
from __future__ import annotations

import json
import re

import pytest
from conftest import fake_repl_command

from benchmarks.datasets import load_benchmark
from lean_bridge.checker import LeanChecker
from lean_bridge.integrity import scan_integrity
from lean_bridge.outcome import Status
from lean_bridge.pool import PoolConfig, ReplPool
from lean_bridge.process import ReplSpec
from lean_bridge.reference import (
    compare_to_reference,
    load_references,
    references_for_file,
    references_from_lean,
)
from search.verify import reference_of, verify

HONEST = "  exact inferInstance\n"


def checker(*args: str) -> LeanChecker:
    return LeanChecker(ReplPool(ReplSpec(fake_repl_command(*args)), PoolConfig(max_processes=1)),
                       timeout=10)


@pytest.fixture(scope="module")
def def_items(shared):
    items = [i for i in load_benchmark("proofnet", data=shared / "benchmarks" / "proofnet.jsonl")
             if i.record["decl_kind"] == "def"]
    assert len(items) == 14
    return items


def _codes(result) -> set[str]:
    return {r.split(":")[0] for r in result.reasons}


def _weaken_type(statement: str) -> str:
    """The def's type, after the signature's last ` : `, made weaker (`CommGroup G` -> `Group G`)."""
    sig_end = statement.rindex(":=")
    colon = max(m.start() for m in re.finditer(r"\s:\s", statement[:sig_end]))
    head, ty = statement[:colon], statement[colon:sig_end]
    for old, new in (("CommGroup", "Group"), ("CommRing", "Ring"), ("≃ₗ[ℚ]", "≃"), ("≃*", "≃")):
        if old in ty:
            i = ty.rindex(old)
            return head + ty[:i] + new + ty[i + len(old):] + statement[sig_end:]
    raise AssertionError(f"no weakening for {ty!r}")


def _drop_first_binder(statement: str) -> str | None:
    """The statement without its first binder group, or None when it has none."""
    name_end = re.match(r"(?:noncomputable\s+)?def\s+\S+", statement).end()
    m = re.compile(r"\s*([({\[])").match(statement, name_end)
    if not m:
        return None
    depth = 0
    for j in range(m.start(1), len(statement)):
        depth += {"(": 1, "{": 1, "[": 1, ")": -1, "}": -1, "]": -1}.get(statement[j], 0)
        if depth == 0:
            return statement[:m.start(1)] + statement[j + 1:].lstrip(" ")
    raise AssertionError("unbalanced binder")


# -- the 14 ProofNet def items, through search.verify ------------------------------------------

async def test_honest_sorry_and_changed_signature_for_every_def_item(def_items):
    c = checker()
    seen = {"proved": [], "incomplete": [], "weakened": [], "dropped": []}
    try:
        for it in def_items:
            p = it.problem
            assert p.statement.lstrip().split()[0] in ("def", "noncomputable")
            proved = await verify(c, p, HONEST)
            assert proved.status is Status.PROVED, (p.name, proved.reasons)
            assert proved.lean_version  # Lean ran: the verdict is not static only
            seen["proved"].append(p.name)

            gap = await verify(c, p, "  sorry\n")
            assert gap.status is Status.INCOMPLETE, (p.name, gap.reasons)
            seen["incomplete"].append(p.name)

            weaker = p.header + _weaken_type(p.statement) + HONEST
            result = await c.check(p.header, weaker[len(p.header):], reference=reference_of(p))
            assert result.status is Status.REJECTED and _codes(result) == {"statement_changed"}, \
                (p.name, result.reasons)
            seen["weakened"].append(p.name)

            dropped = _drop_first_binder(p.statement)
            if dropped is not None:
                result = await c.check(p.header, dropped + HONEST, reference=reference_of(p))
                assert result.status is Status.REJECTED, (p.name, result.reasons)
                assert "statement_changed" in _codes(result), (p.name, result.reasons)
                seen["dropped"].append(p.name)
    finally:
        await c.pool.close()
    assert len(seen["proved"]) == len(seen["incomplete"]) == len(seen["weakened"]) == 14
    assert len(seen["dropped"]) == 13  # exercise_4_1_34 has no binders


@pytest.fixture(scope="module")
def item(def_items):
    """Herstein 2.2.3: `def exercise_2_2_3 {G : Type*} [Group G] … : CommGroup G`."""
    return next(i for i in def_items if i.name == "Herstein_exercise_2_2_3").problem


@pytest.mark.parametrize("before, proof, code", [
    ("", "  native_decide\n", "native_decide"),
    ("", "  exact sorryAx _ false\n", "sorry"),
    ("", "  exact?\n", "search_tactic"),
    ("axiom cheat : ∀ (G : Type) [Group G], CommGroup G\n\n", HONEST, "axiom"),
    ("instance (G : Type*) [Group G] : CommGroup G := sorry\n\n", HONEST, "environment_change"),
    ("set_option debug.skipKernelTC true\n\n", HONEST, "debug_option"),
    ("open Nat in\n", HONEST, "environment_change"),
])
async def test_banned_constructs_around_a_def_target_are_rejected(item, before, proof, code):
    c = checker()
    try:
        result = await c.check(item.header, before + item.statement + proof,
                               reference=reference_of(item))
    finally:
        await c.pool.close()
    assert result.status is Status.REJECTED, result.reasons
    assert code in _codes(result), result.reasons


@pytest.mark.parametrize("keyword", ["abbrev", "instance", "theorem", "opaque"])
async def test_the_def_keyword_must_stay(item, keyword):
    c = checker()
    try:
        result = await c.check(item.header, item.statement.replace("def", keyword, 1) + HONEST,
                               reference=reference_of(item))
    finally:
        await c.pool.close()
    assert result.status is Status.REJECTED and "statement_changed" in _codes(result), result.reasons


async def test_noncomputable_and_auxiliary_defs_are_allowed(item):
    aux = "def twice (n : ℕ) : ℕ := 2 * n\n\nlemma twice_eq (n : ℕ) : twice n = n + n := by\n  omega\n\n"
    c = checker()
    try:
        noncomputable = await c.check(item.header, "noncomputable " + item.statement + HONEST,
                                      reference=reference_of(item))
        helped = await c.check(item.header, aux + item.statement + HONEST, reference=reference_of(item))
        # An auxiliary def whose name the target's signature uses would change what it means.
        clash = await c.check(item.header, "def CommGroup (G : Type) : Type := G\n\n"
                              + item.statement + HONEST, reference=reference_of(item))
        # An auxiliary def with a gap is not the target's gap: it taints the target.
        aux_gap = await c.check(item.header, "def helper : ℕ := sorry\n\n" + item.statement + HONEST,
                                reference=reference_of(item))
    finally:
        await c.pool.close()
    assert noncomputable.status is Status.PROVED, noncomputable.reasons
    # The auxiliary lemma is a theorem of the file and gets its verdict too; all are proved.
    assert helped.status is Status.PROVED, helped.reasons
    assert clash.status is Status.REJECTED and "name_clash" in _codes(clash), clash.reasons
    assert aux_gap.status is Status.REJECTED and "sorry" in _codes(aux_gap), aux_gap.reasons


async def test_axiom_audit_runs_for_the_def(item, tmp_path):
    script = tmp_path / "rules.json"
    script.write_text(json.dumps({"rules": [
        {"match": r"#print axioms exercise_2_2_3", "axioms": ["propext", "sorryAx", "Quot.sound"]},
    ]}))
    custom = tmp_path / "custom.json"
    custom.write_text(json.dumps({"rules": [
        {"match": r"#print axioms exercise_2_2_3", "axioms": ["propext", "cheat"]},
    ]}))
    verdicts = {}
    for label, path in (("sorryAx", script), ("custom", custom)):
        c = checker("--script", str(path))
        try:
            verdicts[label] = await verify(c, item, HONEST)
        finally:
            await c.pool.close()
    assert verdicts["sorryAx"].status is Status.REJECTED
    assert any("sorryAx" in r for r in verdicts["sorryAx"].reasons), verdicts["sorryAx"].reasons
    assert verdicts["custom"].status is Status.REJECTED
    assert any("cheat" in r for r in verdicts["custom"].reasons), verdicts["custom"].reasons


async def test_lean_error_in_the_def_is_error(item):
    c = checker("--error-on", "bad_tactic")
    try:
        result = await verify(c, item, "  bad_tactic\n")
    finally:
        await c.pool.close()
    assert result.status is Status.ERROR and any(m.is_error for m in result.messages), result


# -- a def nobody names stays preamble -----------------------------------------------------------

async def test_defs_without_a_reference_are_not_targets(item):
    text = item.header + "def helper : ℕ := 3\n\ntheorem uses : 3 = 3 := by\n  rfl\n"
    c = checker()
    try:
        alone = await c.check(item.header, item.statement + HONEST)
        rows = await c.check_file(text)
        example = await c.check(item.header, "example : CommGroup ℤ := by\n  exact inferInstance\n",
                                reference=reference_of(item))
    finally:
        await c.pool.close()
    assert alone.status is Status.ERROR and "no theorem or lemma" in alone.reasons[0]
    assert [r.name for r in rows] == ["uses"] and rows[0].result.status is Status.PROVED
    # An anonymous example is no answer to the reference: its target is missing.
    assert example.status is Status.REJECTED and "missing_theorem" in _codes(example)


def test_static_layers_protect_the_def_target(item):
    ref = reference_of(item)
    honest = item.header + item.statement + HONEST
    assert [f for f in scan_integrity(honest, reference=ref.text, target=ref.name) if f.blocking] == []
    assert compare_to_reference(honest, ref) == []
    weaker = item.header + _weaken_type(item.statement) + HONEST
    assert [f.code for f in compare_to_reference(weaker, ref)] == ["statement_changed"]


# -- references from files: `prover check --against` ---------------------------------------------

async def test_file_with_def_items_against_the_benchmark_jsonl(shared, def_items):
    refs = load_references(shared / "benchmarks" / "proofnet.jsonl")
    a = next(i.problem for i in def_items if i.name == "Herstein_exercise_2_2_3")
    b = next(i.problem for i in def_items if i.name == "Herstein_exercise_4_2_5")
    assert a.header == b.header  # one file, one header
    honest = a.header + a.statement + HONEST + "\n" + b.statement + HONEST
    chosen = references_for_file(refs, honest)
    assert [r.name for r in chosen] == ["exercise_2_2_3", "exercise_4_2_5"]
    cheat = honest.replace(b.statement, _weaken_type(b.statement))
    c = checker()
    try:
        good = await c.check_file(honest, None, chosen)
        bad = await c.check_file(cheat, None, references_for_file(refs, cheat))
    finally:
        await c.pool.close()
    assert [(r.name, r.result.status) for r in good] == [("exercise_2_2_3", Status.PROVED),
                                                         ("exercise_4_2_5", Status.PROVED)]
    assert [(r.name, r.result.status) for r in bad] == [("exercise_2_2_3", Status.PROVED),
                                                        ("exercise_4_2_5", Status.REJECTED)]
    assert "statement_changed" in _codes(bad[1].result)


def test_references_for_file_prefers_the_record_the_file_states(tmp_path):
    path = tmp_path / "bench.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"name": "A_x", "theorem_name": "x", "header": "import Mathlib\n\n",
         "formal_statement": "def x : Type := by\n"},
        {"name": "B_x", "theorem_name": "x", "header": "import Mathlib\n\n",
         "formal_statement": "def x : Type 1 := by\n"},
        {"name": "C_t", "theorem_name": "t", "header": "import Mathlib\n\n",
         "formal_statement": "theorem t : True := by\n"},
    ]) + "\n")
    refs = load_references(path)
    text = "import Mathlib\n\ndef helper : ℕ := 1\n\ndef x : Type 1 := by\n  exact PUnit\n"
    assert [r.statement for r in references_for_file(refs, text)] == ["def x : Type 1 := by\n"]
    assert references_for_file(refs, "import Mathlib\n\ndef other : ℕ := 1\n") == []


async def test_lean_reference_file_with_a_def_item():
    reference = ("import Mathlib\n\n"
                 "abbrev answer : ℕ := sorry\n\n"
                 "theorem uses_answer : answer = 2 := by\n  sorry\n\n"
                 "def exercise (G : Type) [Group G] (h : ∀ a b : G, a * b = b * a) : CommGroup G := sorry\n\n"
                 "instance instExercise : Inhabited ℕ := sorry\n")
    refs = references_from_lean(reference)
    # `answer` is the preamble of the theorem that uses it; the def and instance stand alone.
    assert list(refs) == ["uses_answer", "exercise", "instExercise"]
    assert "abbrev answer" in refs["uses_answer"].statement
    assert "uses_answer" not in refs["exercise"].statement
    candidate = ("import Mathlib\n\nabbrev answer : ℕ := 2\n\n"
                 "theorem uses_answer : answer = 2 := by\n  rfl\n\n"
                 "def exercise (G : Type) [Group G] (h : ∀ a b : G, a * b = b * a) : CommGroup G :=\n"
                 "  { inferInstanceAs (Group G) with mul_comm := h }\n\n"
                 "instance instExercise : Inhabited ℕ := ⟨0⟩\n")
    c = checker()
    try:
        good = await c.check_file(candidate, None, list(refs.values()))
        # The instance the reference asks for is fine; another one before it is not.
        extra = candidate.replace("instance instExercise",
                                  "instance : Add ℕ := ⟨Nat.mul⟩\n\ninstance instExercise")
        bad = await c.check_file(extra, None, list(refs.values()))
        # The def's own gap is the def's, not the other targets'.
        gap = await c.check_file(candidate.replace("  { inferInstanceAs (Group G) with mul_comm := h }",
                                                   "  sorry"), None, list(refs.values()))
    finally:
        await c.pool.close()
    assert {r.name: r.result.status for r in good} == dict.fromkeys(refs, Status.PROVED)
    assert {r.result.status for r in bad} == {Status.REJECTED}
    assert all("environment_change" in _codes(r.result) for r in bad)
    assert {r.name: r.result.status for r in gap} == {
        "uses_answer": Status.PROVED, "exercise": Status.INCOMPLETE, "instExercise": Status.PROVED}


def test_prover_check_against_proofnet_judges_a_def_item(shared, tmp_path):
    """The CLI path: `prover check FILE --against proofnet.jsonl` for a def-only file."""
    import shlex
    import shutil
    import subprocess

    item = next(i for i in load_benchmark("proofnet", data=shared / "benchmarks" / "proofnet.jsonl")
                if i.record["decl_kind"] == "def")
    repl = shlex.join(fake_repl_command())
    against = str(shared / "benchmarks" / "proofnet.jsonl")

    def check(statement: str):
        path = tmp_path / "item.lean"
        path.write_text(item.problem.header + statement + "  exact inferInstance\n")
        return subprocess.run([shutil.which("prover") or "prover", "check", str(path), "--against",
                               against, "--repl", repl, "--json"],
                              capture_output=True, text=True, timeout=120)

    honest = check(item.problem.statement)
    assert honest.returncode == 0, honest.stderr
    (verdict,) = json.loads(honest.stdout)["theorems"]
    assert verdict["name"] == item.problem.name and verdict["status"] == "proved"
    weakened = check(_weaken_type(item.problem.statement))
    assert weakened.returncode == 1
    (verdict,) = json.loads(weakened.stdout)["theorems"]
    assert verdict["status"] == "rejected" and "statement_changed" in " ".join(verdict["reasons"])
