"""Tests for the verdict's static layers: `integrity`, `reference`, `axioms`.

Two directions, both measured on real data: every cheat in `cheat_cases.CHEATS` must be
caught with the right code, and nothing honest may be rejected: not the `CLEAN` cases, not
the 197 real Kimina proofs, not the 1,531 benchmark statements with their own preambles.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from cheat_cases import CHEATS, CLEAN

from lean_bridge.axioms import ALLOWED_AXIOMS, audit_axioms, parse_print_axioms
from lean_bridge.integrity import Finding, IntegrityOptions, scan_integrity
from lean_bridge.reference import (
    BadReference,
    Reference,
    compare_to_reference,
    load_references,
    references_from_lean,
)
from lean_bridge.text import find_sorry_proofs, replace_proof

ALL_CODES = {
    "sorry", "search_tactic", "axiom", "exit", "debug_option", "unsafe", "native_decide",
    "metaprogramming", "environment_change", "set_option", "name_clash", "import",
    "header_changed", "missing_theorem", "statement_changed", "preamble_changed",
}
ALLOW_NATIVE = IntegrityOptions(allow_native_decide=True)


def _jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _only_reference(reference_text: str) -> Reference:
    refs = references_from_lean(reference_text)
    assert len(refs) == 1
    return next(iter(refs.values()))


def all_findings(candidate: str, reference_text: str,
                 options: IntegrityOptions = IntegrityOptions()) -> list[Finding]:
    """Both static layers, as the checker runs them."""
    return (scan_integrity(candidate, reference=reference_text, options=options)
            + compare_to_reference(candidate, _only_reference(reference_text)))


def _blocking(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.blocking]


# -- (a) cheats ------------------------------------------------------------------------------

def test_cheat_catalogue_is_broad():
    ids = [c.id for c in CHEATS]
    assert len(ids) == len(set(ids)) >= 45
    assert {c.code for c in CHEATS} == ALL_CODES  # every code has at least one cheat
    # ids start with the construct they use (`sorry_in_have`, `open_in_prefix`, …)
    assert len({i.split("_")[0] for i in ids}) >= 20


@pytest.mark.parametrize("cheat", CHEATS, ids=lambda c: c.id)
def test_cheat_is_caught(cheat):
    blocking = _blocking(all_findings(cheat.candidate, cheat.reference))
    assert cheat.code in {f.code for f in blocking}, blocking


# Without a reference the header's `import`s and `open`s (those right after the header are
# header commands too) are the candidate's to choose, and the protected statement is its own;
# the statement rules need the reference by definition. (Lean rejects an `import` after an
# `open` by itself.)
NEEDS_REFERENCE = {"open_in_header", "open_top_level", "import_after_header"}
STATEMENT_CODES = {"header_changed", "missing_theorem", "statement_changed", "preamble_changed",
                   "name_clash"}


@pytest.mark.parametrize("cheat", [c for c in CHEATS if c.code not in STATEMENT_CODES
                                   and c.id not in NEEDS_REFERENCE], ids=lambda c: c.id)
def test_content_cheats_are_caught_without_a_reference(cheat):
    assert cheat.code in {f.code for f in _blocking(scan_integrity(cheat.candidate))}


def test_name_clash_without_a_reference_protects_the_last_theorem():
    text = "import Mathlib\n\ndef f (n : ℕ) : ℕ := n\n\ntheorem t (n : ℕ) : f n = n := by\n  rfl\n"
    (finding,) = scan_integrity(text)
    assert (finding.code, finding.line, finding.column) == ("name_clash", 3, 4)
    assert scan_integrity(text.replace("def f", "def g").replace("f n = n", "n = n")) == []


def test_native_decide_is_reported_not_blocking_when_allowed():
    cheat = next(c for c in CHEATS if c.id == "native_decide")
    findings = all_findings(cheat.candidate, cheat.reference, ALLOW_NATIVE)
    assert not _blocking(findings)
    assert [f.code for f in findings] == ["native_decide"]


def test_finding_positions_point_at_the_word():
    text = "import Mathlib\n\ntheorem t : 1 = 1 := by\n  -- sorry\n  exact sorry\n"
    (finding,) = scan_integrity(text)
    assert (finding.code, finding.line, finding.column, finding.blocking) == ("sorry", 5, 8, True)


def test_search_suggestions_are_not_blocking():
    text = "import Mathlib\n\ntheorem t (x : ℕ) : x + 0 = x := by\n  simp?\n"
    assert [(f.code, f.blocking) for f in scan_integrity(text)] == [("search_tactic", False)]


@pytest.mark.parametrize("proof, codes", [
    ("  with_reducible admit", ["sorry"]),
    ("  (admit)", ["sorry"]),
    ("  case h => stop", ["sorry"]),
    ("  norm_num <;> admit", ["sorry"]),
    ("  exact stop", []),
    ("  intro stop", []),
    ("  have admit : p := stop\n  exact admit", []),
    ("  obtain ⟨h, stop⟩ := hint", []),
    ("  first | hint | simp", ["search_tactic"]),
    ("  exact hint", []),
    ("  simp [hint]", []),
])
def test_tactic_words_that_are_also_names(proof, codes):
    text = "import Mathlib\n\ntheorem t (p : Prop) (stop hint : p) : p := by\n" + proof
    assert [f.code for f in _blocking(scan_integrity(text))] == codes


def test_hint_as_a_name_is_not_a_tactic():
    text = ("import Mathlib\n\ntheorem t (hint : 1 = 1) : 1 = 1 := by\n  have h := hint\n"
            "  rcases h with hint\n  exact hint\n")
    assert scan_integrity(text) == []
    assert [f.code for f in scan_integrity(text + "  · hint\n")] == ["search_tactic"]


def test_unknown_command_after_the_header_is_not_waived():
    # text.parse_file lets the header's last `open` run on over a command it does not know.
    text = ("import Mathlib\nopen Real\nsimproc s (_ = _) := fun _ => return .continue\n\n"
            "theorem t : 1 = 1 := by\n  rfl\n")
    assert "metaprogramming" in {f.code for f in _blocking(scan_integrity(text))}


REF_T = "import Mathlib\n\ntheorem t : True := by\n  sorry"


@pytest.mark.parametrize("text", ["import", "@[", "/-", '"', "theorem", "set_option", "#",
                                  "open X in", "theorem t : True := by\n  /- unclosed sorry"])
def test_degenerate_input_never_raises(text):
    found = scan_integrity(text) + scan_integrity(text, reference=REF_T)
    found += compare_to_reference(text, _only_reference(REF_T))
    assert all(isinstance(f, Finding) and f.line >= 1 for f in found)
    # A comment that never closes swallows the rest of the file, in Lean as here.
    assert "sorry" not in {f.code for f in found}


def test_empty_candidate():
    assert scan_integrity("") == []
    codes = [f.code for f in compare_to_reference("", _only_reference(REF_T))]
    assert codes == ["header_changed", "missing_theorem"]


def test_kept_placeholder_is_sorry_even_though_the_reference_has_it():
    cheat = next(c for c in CHEATS if c.id == "putnam_kept_sorry")
    codes = [f.code for f in _blocking(all_findings(cheat.candidate, cheat.reference))]
    assert codes == ["sorry"]


# -- (b) honest files ------------------------------------------------------------------------

@pytest.mark.parametrize("case", CLEAN, ids=lambda c: c[0])
def test_clean_file_passes(case):
    _, candidate, reference = case
    assert _blocking(all_findings(candidate, reference)) == []


# -- (c) no false rejections on real proofs ----------------------------------------------------

def test_real_proofs_have_no_blocking_findings(shared, tmp_path):
    records = _jsonl(shared / "reference" / "real-proofs" / "kimina_preview_minif2f_test.jsonl")
    assert len(records) == 197
    blocking: list[tuple[str, Finding]] = []
    native_only: set[str] = set()
    for r in records:
        # The reference: this file's header + this theorem's statement + a sorry proof.
        path = tmp_path / f"{r['name']}.lean"
        path.write_text(r["code"], encoding="utf-8")
        ref = load_references(path)[r["name"]]
        assert "sorry" in ref.text and ref.text.startswith(ref.header + ref.statement)
        # Kimina's verifier accepted native_decide; with it allowed nothing may block.
        found = all_findings(r["code"], ref.text, ALLOW_NATIVE)
        blocking += [(r["name"], f) for f in _blocking(found)]
        # With the default options, native_decide and nothing else blocks.
        default_codes = {f.code for f in _blocking(scan_integrity(r["code"], reference=ref.text))}
        assert default_codes <= {"native_decide"}, (r["name"], default_codes)
        if default_codes:
            native_only.add(r["name"])
    print(f"\nreal proofs: {len(records)}, blocking findings: {len(blocking)}, "
          f"blocked only by native_decide under the default options: {len(native_only)}")
    assert blocking == []
    assert len(native_only) == sum("native_decide" in r["code"] for r in records) == 11


# -- (d) the benchmarks' own preambles are accepted --------------------------------------------

def _honest(ref: Reference) -> str:
    proof = "  norm_num" if ref.statement.endswith("\n") else " by\n  norm_num"
    return ref.header + ref.statement + proof


@pytest.mark.parametrize("bench_name", ["minif2f", "proofnet", "putnambench"])
def test_benchmark_statements_are_accepted(shared, bench_name):
    path = shared / "benchmarks" / f"{bench_name}.jsonl"
    records = {r["name"]: r for r in _jsonl(path)}
    refs = load_references(path)
    assert refs.keys() == records.keys()
    rejected: list[tuple[str, Finding]] = []
    kept_sorry = Counter()
    for key, ref in refs.items():
        candidate = _honest(ref)
        if bench_name == "putnambench":
            # As is, the no-answer abbrev keeps its `sorry`: that, and only that, is found.
            codes = Counter(f.code for f in _blocking(all_findings(candidate, ref.text)))
            assert set(codes) <= {"sorry"}, (key, codes)
            kept_sorry[records[key]["has_answer"]] += codes["sorry"]
            # Filled with the upstream answer, the file is clean.
            for d in sorted(find_sorry_proofs(candidate, ("abbrev", "def")), key=lambda d: -d.start):
                candidate = replace_proof(candidate, d, " " + records[key]["answer"])
        found = (scan_integrity(candidate, reference=ref.text)
                 + compare_to_reference(candidate, ref))
        rejected += [(key, f) for f in _blocking(found)]
    print(f"\n{bench_name}: {len(refs)} statements, false rejections: {len(rejected)}")
    assert rejected == []
    if bench_name == "putnambench":
        assert kept_sorry == {True: 346, False: 0}


# -- (e) axioms ----------------------------------------------------------------------------------

@pytest.mark.parametrize("data, expected", [
    ("'mathd_algebra_10' depends on axioms: [propext, Classical.choice, Quot.sound]",
     ("mathd_algebra_10", ("propext", "Classical.choice", "Quot.sound"))),
    # Lean wraps long lists after a comma and indents the rest.
    ("'Nightstream.Run.activeWellFormed' depends on axioms: [propext,\n Classical.choice,\n Quot.sound]",
     ("Nightstream.Run.activeWellFormed", ("propext", "Classical.choice", "Quot.sound"))),
    ("'Formal.invariant_reachable' does not depend on any axioms", ("Formal.invariant_reachable", ())),
    ("'bad' depends on axioms: [sorryAx]\n", ("bad", ("sorryAx",))),
    ("'x'' depends on axioms: [propext, Foo.«weird, name»]", ("x'", ("propext", "Foo.«weird, name»"))),
    ("'t' depends on axioms: [propext, Lean.ofReduceBool]", ("t", ("propext", "Lean.ofReduceBool"))),
    ("'t' depends on axioms: [t._native.native_decide.ax_1_1]", ("t", ("t._native.native_decide.ax_1_1",))),
])
def test_parse_print_axioms(data, expected):
    assert parse_print_axioms(data) == expected


@pytest.mark.parametrize("data", [
    "declaration uses 'sorry'", "", "depends on axioms: [propext]",
    "'a' depends on axioms: [propext]\n'b' depends on axioms: [propext]",
    "unknown constant 'foo'",
])
def test_parse_print_axioms_rejects_other_messages(data):
    assert parse_print_axioms(data) is None


def test_audit_axioms_rules():
    assert ALLOWED_AXIOMS == ("propext", "Classical.choice", "Quot.sound")
    assert audit_axioms("t", ALLOWED_AXIOMS) == []
    assert audit_axioms("t", ()) == []
    assert [f.code for f in audit_axioms("t", ("propext", "sorryAx"))] == ["sorry"]
    (custom,) = audit_axioms("t", ("propext", "cheat"))
    assert (custom.code, custom.blocking) == ("axiom", True) and "cheat" in custom.message
    # «escapes» do not smuggle a name in, and a look-alike is not the real one.
    assert audit_axioms("t", ("«propext»", "Classical.«choice»")) == []
    assert [f.code for f in audit_axioms("t", ("«Classical.choice»",))] == ["axiom"]
    native = ("propext", "Lean.ofReduceBool", "Lean.trustCompiler", "t._native.native_decide.ax_1_1")
    assert [(f.code, f.blocking) for f in audit_axioms("t", native)] == [("native_decide", True)] * 3
    assert [(f.code, f.blocking) for f in audit_axioms("t", native, allow_native_decide=True)] \
        == [("native_decide", False)] * 3


def test_audit_of_parsed_output_end_to_end():
    name, axioms = parse_print_axioms("'t' depends on axioms: [propext,\n sorryAx,\n Quot.sound]")
    assert [f.code for f in audit_axioms(name, axioms)] == ["sorry"]


# -- (f) loading references -------------------------------------------------------------------

def test_load_references_from_benchmark_jsonl(shared):
    minif2f = load_references(shared / "benchmarks" / "minif2f.jsonl")
    record = _jsonl(shared / "benchmarks" / "minif2f.jsonl")[0]
    ref = minif2f[record["name"]]
    assert (ref.name, ref.header, ref.statement) == (record["name"], record["header"],
                                                     record["formal_statement"])
    assert ref.text == ref.header + ref.statement + "  sorry"
    # ProofNet: keyed by the unique id, named by the Lean declaration; header defs move to
    # the statement, and the text still reads header + statement + placeholder.
    proofnet = load_references(shared / "benchmarks" / "proofnet.jsonl")
    records = {r["name"]: r for r in _jsonl(shared / "benchmarks" / "proofnet.jsonl")}
    assert len(proofnet) == 371 and len({r.name for r in proofnet.values()}) < 371
    for key, ref in proofnet.items():
        r = records[key]
        assert ref.name == r["theorem_name"]
        assert ref.header + ref.statement == r["header"] + r["formal_statement"]
        assert ref.text == ref.header + ref.statement + " by\n  sorry"
    rudin = proofnet["Rudin_exercise_3_6a"]
    assert rudin.header.endswith("open scoped BigOperators\n\n")
    assert rudin.statement.startswith("noncomputable section")


def test_load_references_from_a_lean_file(tmp_path):
    path = tmp_path / "refs.lean"
    path.write_text(
        "import Mathlib\n\nopen Real\n\n"
        "def g (n : ℕ) : ℕ := 2 * n\n\n"
        "theorem first (n : ℕ) : g n = 2 * n := by\n  simp [g]\n\n"
        "abbrev answer : ℕ := sorry\n\n"
        "/-- The second one. -/\nlemma second : g 2 = answer := by\n  sorry\n", encoding="utf-8")
    refs = load_references(path)
    assert list(refs) == ["first", "second"]
    first, second = refs["first"], refs["second"]
    assert first.header == second.header == "import Mathlib\n\nopen Real\n\n"
    assert first.statement == "def g (n : ℕ) : ℕ := 2 * n\n\ntheorem first (n : ℕ) : g n = 2 * n :="
    assert first.text == first.header + first.statement + " by\n  sorry"
    # Items before a theorem belong to it; other theorems (and their proofs) do not.
    assert "abbrev answer" in second.statement and "theorem first" not in second.statement
    assert "/-- The second one. -/" in second.statement
    filled = second.text.replace("answer : ℕ := sorry", "answer : ℕ := 4").replace("  sorry", "  rfl")
    assert _blocking(scan_integrity(filled, reference=second.text)
                     + compare_to_reference(filled, second)) == []


@pytest.mark.parametrize("name, content, message", [
    ("missing.jsonl", None, "cannot read"),
    ("bad.jsonl", b'{"name": "a", "header": "", "formal_statement": "theorem a : True := by\\n"}\n{oops\n',
     "bad.jsonl:2: bad JSON"),
    ("keys.jsonl", b'{"name": "a", "header": ""}\n', "keys.jsonl:1: missing or non-string key(s) formal_statement"),
    ("array.jsonl", b'["a"]\n', "expected a JSON object"),
    ("latin1.jsonl", '{"name": "é"}'.encode("latin-1"), "not UTF-8"),
    ("dup.jsonl", b'{"name": "a", "header": "", "formal_statement": "theorem a : True := by\\n"}\n' * 2,
     "dup.jsonl:2: duplicate name 'a'"),
    ("absent.jsonl", b'{"name": "a", "header": "", "formal_statement": "theorem b : True := by\\n"}\n',
     "no declaration named 'a'"),
    ("empty.jsonl", b"\n\n", "no theorems"),
    ("defs.lean", b"import Mathlib\n\ndef f : Nat := 1\n", "no theorems"),
    ("twice.lean", b"import Mathlib\n\ntheorem a : True := trivial\n\ntheorem a : True := trivial\n",
     "twice.lean:5: theorem 'a' is declared twice"),
    ("refs.txt", b"theorem a : True := trivial\n", "expected a .jsonl or .lean file"),
])
def test_reference_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BadReference, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_references(path)


def test_reference_error_is_a_value_error():
    assert issubclass(BadReference, ValueError)
    with pytest.raises(ValueError):
        references_from_lean("import Mathlib\n")
