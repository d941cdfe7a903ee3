"""Lemma extraction: goals as Lean prints them -> standalone theorems; `have` steps read
from source text (synthetic cases and every `have` of the real Kimina proofs); the gaps of a
sketch and the inlining of lemma proofs back into it."""
from __future__ import annotations

import json
import re

import pytest

from lean_bridge.goals import parse_goal_text, signature_binders, theorem_name
from lean_bridge.text import mask_non_code, parse_file
from search.lemmas import (
    WITH_CONTEXT,
    WITHOUT_CONTEXT,
    fill_gaps,
    goal_lemma,
    have_steps,
    inaccessible_renames,
    rename_tactic,
    sketch_gaps,
    text_lemmas,
)


def only_theorem(statement: str) -> str:
    """The name of the one declaration ``statement`` parses into (asserting there is one)."""
    decls = parse_file(statement + "  sorry\n").declarations
    assert len(decls) == 1 and decls[0].kind == "theorem", statement
    return decls[0].name


# -- goals -------------------------------------------------------------------------------------

def test_multi_name_hypotheses_and_target():
    goal = parse_goal_text("a b c : ℝ\nh₀ : 0 < a ∧ 0 < b\n⊢ a * b > 0")
    assert [h.names for h in goal.hypotheses] == [("a", "b", "c"), ("h₀",)]
    assert goal.hypotheses[1].type == "0 < a ∧ 0 < b" and goal.target == "a * b > 0"
    lemma = goal_lemma(goal, "t_h")
    assert lemma.statement == "theorem t_h (a b c : ℝ) (h₀ : 0 < a ∧ 0 < b) : a * b > 0 := by\n"
    assert only_theorem(lemma.statement) == "t_h" and lemma.variant == WITH_CONTEXT


def test_instances_become_anonymous_instance_binders():
    goal = "α : Type u_1\ninst✝¹ : Fintype α\ninst✝ : DecidableEq α\ns : Finset α\n⊢ s.card ≤ Fintype.card α"
    lemma = goal_lemma(goal, "t_card")
    assert lemma.statement == ("theorem t_card (α : Type u_1) [Fintype α] [DecidableEq α] (s : Finset α) : "
                               "s.card ≤ Fintype.card α := by\n")
    # Instances need no name, so no rename_i is needed for them alone.
    assert rename_tactic(parse_goal_text("inst✝ : Fintype α\n⊢ True")) is None


def test_inaccessible_names_get_fresh_identifiers_everywhere():
    text = "x : ℕ\nx_1 : ℕ\nx✝ x✝¹ : ℕ\nh✝ : x✝ < x✝¹\n⊢ x✝ + x✝¹ = x✝¹ + x✝"
    goal = parse_goal_text(text)
    renames = inaccessible_renames(goal)
    # `x_1` is taken by a real hypothesis, so the fresh names skip it.
    assert renames == {"x✝": "x_2", "x✝¹": "x_3", "h✝": "h_1"}
    lemma = goal_lemma(goal, "t_comm")
    assert "✝" not in lemma.statement
    assert lemma.statement == ("theorem t_comm (x : ℕ) (x_1 : ℕ) (x_2 x_3 : ℕ) (h_1 : x_2 < x_3) : "
                               "x_2 + x_3 = x_3 + x_2 := by\n")
    assert rename_tactic(goal) == "rename_i x_2 x_3 h_1"


def test_rename_tactic_lists_every_inaccessible_in_context_order():
    goal = parse_goal_text("inst✝ : Fintype α\nn✝ : ℕ\nh : 0 < n✝\n⊢ n✝ ≠ 0")
    # rename_i names the LAST k inaccessible hypotheses: the instance keeps its place as `_`.
    assert rename_tactic(goal) == "rename_i _ n_1"


def test_multi_line_hypotheses_and_targets():
    text = ("case h\n"
            "f : ℕ → ℕ\n"
            "h₀ :\n"
            "  ∀ (m n : ℕ),\n"
            "    f (m + n) = f m + f n\n"
            "h₁ : f 1 = 2\n"
            "⊢ f 2 =\n"
            "    4")
    goal = parse_goal_text(text)
    assert goal.case == "h"
    assert goal.hypotheses[1].type == "∀ (m n : ℕ), f (m + n) = f m + f n"
    assert goal.target == "f 2 = 4"
    lemma = goal_lemma(goal, "t_f2")
    assert only_theorem(lemma.statement) == "t_f2"
    assert "(h₀ : ∀ (m n : ℕ), f (m + n) = f m + f n)" in lemma.statement


def test_turnstile_alone_on_its_line():
    goal = parse_goal_text("x : ℝ\n⊢\n  x ^ 2 ≥\n    0")
    assert goal.target == "x ^ 2 ≥ 0"
    assert goal_lemma(goal, "t_sq").statement == "theorem t_sq (x : ℝ) : x ^ 2 ≥ 0 := by\n"


def test_let_values_are_dropped_and_goals_without_hypotheses():
    goal = parse_goal_text("n : ℕ := 5\nh : n = 5\n⊢ n + 1 = 6")
    assert goal.hypotheses[0].value == "5" and goal.hypotheses[0].type == "ℕ"
    assert goal_lemma(goal, "t").statement == "theorem t (n : ℕ) (h : n = 5) : n + 1 = 6 := by\n"
    assert goal_lemma("⊢ 1 + 1 = 2", "t_two").statement == "theorem t_two : 1 + 1 = 2 := by\n"


def test_without_context_drops_the_named_steps_only():
    goal = "a b : ℝ\nh₀ : 0 < a\nhab : 0 < a * b\nhs hs' : 0 < a + b\n⊢ 0 < a * b + a"
    lemma = goal_lemma(goal, "t_x", variant=WITHOUT_CONTEXT, drop=("hab", "hs"))
    assert lemma.statement == "theorem t_x (a b : ℝ) (h₀ : 0 < a) (hs' : 0 < a + b) : 0 < a * b + a := by\n"
    assert lemma.variant == WITHOUT_CONTEXT


@pytest.mark.parametrize("bad", [
    "x : ℕ\n⊢ x = x\n\nx : ℕ\n⊢ x + 0 = x",  # two goals
    "x : ℕ\nh : x = 1",  # no target
    "no goals",
    "  x : ℕ\n⊢ x = x",  # a continuation of nothing
    "x : ℕ\n⊢ x = x\nh : 1 = 1",  # text after the target
])
def test_unreadable_goals_are_refused(bad):
    with pytest.raises(ValueError):
        parse_goal_text(bad)


# -- have steps in text -------------------------------------------------------------------------

PROOF = """
  -- have fake : 1 = 2 := by sorry   (a comment, not a step)
  have h₁ : 0 < a := by linarith
  have : 0 < b := h₀.2
  have hsum (c : ℝ) (hc : 0 < c) :
      0 < a + b + c := by
    have inner : 0 < a + b := by linarith
    linarith
  haveI := Classical.decEq ℝ
  have h2 := h₁
  have ⟨u, hu⟩ : ∃ u : ℝ, u = a := ⟨a, rfl⟩
  have hopen : a ≤ a
  · exact le_refl a
  have hlast : 0 < a * b := by positivity
  nlinarith [hlast]
"""
STATEMENT = "theorem demo (a b : ℝ) (h₀ : 0 < a ∧ 0 < b) :\n    0 < a * b + a := by\n"


def test_have_steps_read_names_binders_and_statements():
    steps = have_steps(PROOF)
    assert [(s.name, s.binders, s.statement) for s in steps] == [
        ("h₁", "", "0 < a"),
        ("this", "", "0 < b"),
        ("hsum", "(c : ℝ) (hc : 0 < c)", "0 < a + b + c"),
        ("inner", "", "0 < a + b"),
        ("hlast", "", "0 < a * b"),
    ]
    for s in steps:
        assert PROOF[s.start:].startswith("have") and PROOF[s.value_start - 2:s.value_start] == ":="


def test_text_lemmas_bind_the_theorem_and_the_steps_in_scope():
    assert theorem_name(STATEMENT) == "demo"
    assert signature_binders(STATEMENT) == "(a b : ℝ) (h₀ : 0 < a ∧ 0 < b)"
    lemmas = {lm.have: lm for lm in text_lemmas(STATEMENT, PROOF)}
    assert lemmas["h₁"].statement == "theorem demo_h₁ (a b : ℝ) (h₀ : 0 < a ∧ 0 < b) : 0 < a := by\n"
    assert lemmas["hsum"].statement == (
        "theorem demo_hsum (a b : ℝ) (h₀ : 0 < a ∧ 0 < b) (h₁ : 0 < a) (this : 0 < b) "
        "(c : ℝ) (hc : 0 < c) : 0 < a + b + c := by\n")
    # Inside hsum's proof: hsum itself is not yet a hypothesis; its own binders are not
    # in scope either (text extraction cannot know), the earlier steps are.
    assert "(hsum :" not in lemmas["inner"].statement and "(this : 0 < b)" in lemmas["inner"].statement
    # After hsum: the step `inner` (inside hsum's proof) is out of scope, hsum is in, as ∀.
    assert "(hsum : ∀ (c : ℝ) (hc : 0 < c), 0 < a + b + c)" in lemmas["hlast"].statement
    assert "(inner :" not in lemmas["hlast"].statement
    bare = {lm.have: lm for lm in text_lemmas(STATEMENT, PROOF, variant=WITHOUT_CONTEXT)}
    assert bare["hlast"].statement == "theorem demo_hlast (a b : ℝ) (h₀ : 0 < a ∧ 0 < b) : 0 < a * b := by\n"


def test_text_lemma_names_are_unique_and_comments_cannot_swallow_the_colon_eq():
    proof = "  have h : 1 = 1 -- why\n      := rfl\n  have h : 2 = 2 := rfl\n  rfl\n"
    lemmas = text_lemmas("theorem t : True := by\n", proof)
    assert [lm.name for lm in lemmas] == ["t_h", "t_h_2"]
    for lm in lemmas:
        assert only_theorem(lm.statement) == lm.name and lm.statement.endswith(":= by\n")
    assert lemmas[0].statement == "theorem t_h : 1 = 1 -- why\n:= by\n"


def _expected_simple_haves(proof: str) -> list[tuple[str, str]]:
    """``have name : stmt :=`` written on one line, found independently by a regex on the
    code (comments and strings blanked)."""
    mask = mask_non_code(proof)
    pattern = re.compile(r"(?<![\w'!?.])have[ \t]+([^\W\d][\w'!?]*)[ \t]*:(?!=)([^\n]*?):=")
    return [(m.group(1), proof[m.start(2):m.end(2)].strip()) for m in pattern.finditer(mask)
            if "(" not in mask[m.end(1):m.start(2)] and _balanced(mask[m.start(2):m.end(2)])]


def _balanced(text: str) -> bool:
    depth = 0
    for c in text:
        depth += c in "([{⟨⦃"
        depth -= c in ")]}⟩⦄"
        if depth < 0:
            return False
    return depth == 0


def test_text_lemmas_of_every_have_in_the_real_proofs(shared):
    path = shared / "reference" / "real-proofs" / "kimina_preview_minif2f_test.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(records) > 100
    checked = 0
    for record in records:
        code = record["code"]
        for decl in parse_file(code).declarations:
            if decl.kind not in ("theorem", "lemma"):
                continue
            statement, proof = code[decl.start:decl.body_start], code[decl.body_start:decl.end]
            lemmas = text_lemmas(statement, proof)
            steps = have_steps(proof)
            assert [lm.have for lm in lemmas] == [s.name for s in steps]
            # Every one-line `have name : stmt :=` the regex sees is a step, same statement.
            found = [(s.name, s.statement) for s in steps]
            for expected in _expected_simple_haves(proof):
                assert expected in found, (record["name"], expected)
            names = set()
            for lemma, step in zip(lemmas, steps):
                text = lemma.statement
                assert _balanced(mask_non_code(text)), (record["name"], text)
                assert only_theorem(text) == lemma.name and lemma.name not in names
                assert lemma.name.startswith(f"{decl.name}_")
                assert step.statement in text and step.statement in proof
                assert text.endswith(":= by\n")
                names.add(lemma.name)
                checked += 1
    assert checked > 1000  # the file holds ~1600 typed haves


# -- sketch gaps and filling --------------------------------------------------------------------

SKETCH = """  have h1 : 0 < a := by sorry
  have h2 : 0 < b := by
    sorry
  have h3 : 0 < a * b := sorry
  · have h4 : 0 < a + b := by sorry
    nlinarith [h1, h2, h3, h4]
"""


def test_sketch_gaps_find_each_have_proof():
    gaps = sketch_gaps(SKETCH)
    assert [g.name for g in gaps] == ["h1", "h2", "h3", "h4"]
    assert all(SKETCH[g.sorry:g.sorry + 5] == "sorry" for g in gaps)
    assert gaps[2].earlier == ("h1", "h2") and gaps[0].earlier == ()
    closing = sketch_gaps("  have h : 1 = 1 := by sorry\n  sorry\n")
    assert [(g.name, g.step is None, g.earlier) for g in closing] == [("h", False, ()), ("close", True, ("h",))]


@pytest.mark.parametrize("bad", [
    "  have h : 1 = 1 := by\n    simp\n    sorry\n  exact h\n",  # sorry after a tactic
    "  nlinarith [sorry]\n",
    "  have h : 1 = 1 := by sorry <;> simp\n  exact h\n",
    "  sorry\n  simp\n",  # a sorry that is not the closing step
])
def test_sketch_gaps_refuse_other_sorries(bad):
    with pytest.raises(ValueError):
        sketch_gaps(bad)


def test_fill_gaps_inlines_each_form_at_the_right_column():
    gaps = sketch_gaps(SKETCH)
    proofs = ["  positivity\n", "  linarith [h₀]\n", "  apply mul_pos\n  · exact h1\n  · exact h2\n",
              "  linarith\n"]
    filled = fill_gaps(SKETCH, [(g, p, None) for g, p in zip(gaps, proofs)])
    assert filled == """  have h1 : 0 < a := by
    positivity
  have h2 : 0 < b := by
    linarith [h₀]
  have h3 : 0 < a * b := by
    apply mul_pos
    · exact h1
    · exact h2
  · have h4 : 0 < a + b := by
      linarith
    nlinarith [h1, h2, h3, h4]
"""
    assert "sorry" not in filled


def test_fill_gaps_puts_the_prelude_first_and_fills_the_closing_step():
    sketch = "  have h : n✝ = n✝ := by sorry\n  sorry\n"
    gaps = sketch_gaps(sketch)
    filled = fill_gaps(sketch, [(gaps[0], "    rfl\n", "rename_i n_1"), (gaps[1], "  exact trivial\n", None)])
    assert filled == "  have h : n✝ = n✝ := by\n    rename_i n_1\n    rfl\n  exact trivial\n"
