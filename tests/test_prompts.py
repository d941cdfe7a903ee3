"""Tests for `prover.policies.prompts`: exact prompt strings, extraction, proof grafting.

Golden strings are copied from shared/reference/deepseek-prover.md (§3.1-§3.3, §6.4,
§10.2), never from this implementation's output.
"""
from __future__ import annotations

import pytest
from conftest import jsonl_rows, row_problem

from lean_bridge.goals import extract_last_lean4_block
from prover.policies.policy import ChatMessage
from prover.policies.prompts import (
    PROMPT_FORMATS,
    chat_prompt,
    deepseek_v15_prompt,
    extract_tactic,
    extract_v15,
    get_format,
    next_tactic_prompt,
    proof_from_full_file,
    tactic_indent,
    tactic_state_comment,
)
from search.problem import DEFAULT_HEADER, Problem

# deepseek-prover.md §3.1, §3.2, §10.2 (Python literals there).
REF_HEADER = ("import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\n"
              "open BigOperators Real Nat Topology Rat\n\n")
REF_NON_COT = "Complete the following Lean 4 code:\n\n```lean4\n"
REF_COT = ("Complete the following Lean 4 code with explanatory comments preceding each line "
           "of code:\n\n```lean4\n")
REF_V2_COT_TAIL = (
    "\n```\n\nBefore producing the Lean 4 code to formally prove the given theorem, provide a "
    "detailed proof plan outlining the main proof steps and strategies.\nThe plan should "
    "highlight key ideas, intermediate lemmas, and proof structures that will guide the "
    "construction of the final formal proof.")
# §3.3 / §6.4: the aime_1983_p9 example at indent 2.
REF_STATE = ("x : ℝ\nh₀ : 0 < x ∧ x < π\nh₁ : 0 < x * x.sin\n"
             "⊢ 12 * (x * x.sin) ≤ 9 * (x ^ 2 * x.sin ^ 2) + 4")
REF_PREFIX = "  rw [le_div_iff h₁]\n"
REF_COMMENT = ("  /- tactic state:\n"
               "    x : ℝ\n"
               "    h₀ : 0 < x ∧ x < π\n"
               "    h₁ : 0 < x * x.sin\n"
               "    ⊢ 12 * (x * x.sin) ≤ 9 * (x ^ 2 * x.sin ^ 2) + 4\n"
               "  -/\n")


@pytest.fixture(scope="module")
def first(minif2f: list[dict]) -> dict:
    return minif2f[0]


# -- V1.5 ------------------------------------------------------------------------------------

def test_default_header_is_the_reference_one(first):
    assert DEFAULT_HEADER == REF_HEADER
    assert first["header"] == REF_HEADER  # miniF2F rows carry the default header (§3.1)


def test_v15_prompt_of_the_first_minif2f_record(first):
    p = row_problem(first)
    body = first["header"] + first["informal_prefix"] + first["formal_statement"]
    assert deepseek_v15_prompt(p) == REF_NON_COT + body
    assert deepseek_v15_prompt(p, cot=True) == REF_COT + body
    assert PROMPT_FORMATS["deepseek-v1.5"].build(p, "", None).prompt == REF_NON_COT + body
    assert PROMPT_FORMATS["deepseek-v1.5-cot"].build(p, "", None).prompt == REF_COT + body


def test_v15_prompt_without_informal_uses_empty_string(first):
    p = Problem(first["name"], first["header"], first["formal_statement"])
    assert deepseek_v15_prompt(p) == REF_NON_COT + first["header"] + first["formal_statement"]


def test_tactic_state_comment_matches_reference_example():
    assert tactic_state_comment(REF_STATE, 2) == REF_COMMENT


def test_tactic_state_comment_indents_every_line_by_indent_plus_two():
    comment = tactic_state_comment("a : ℕ\n⊢ a = a", 4)
    assert comment == "    /- tactic state:\n      a : ℕ\n      ⊢ a = a\n    -/\n"


def test_v15_prompt_with_prefix_ends_with_reference_comment(first):
    p = row_problem(first)
    prompt = deepseek_v15_prompt(p, prefix=REF_PREFIX, tactic_state=REF_STATE)
    assert prompt == deepseek_v15_prompt(p) + REF_PREFIX + REF_COMMENT
    # No comment without a state (§6.3: the root prompt has none).
    assert deepseek_v15_prompt(p, prefix=REF_PREFIX) == deepseek_v15_prompt(p) + REF_PREFIX


@pytest.mark.parametrize("prefix, indent", [
    ("", 2),                                            # nothing to go by: §6.2's default
    ("  rw [le_div_iff h₁]\n", 2),
    ("  intro x\n  constructor\n    \n", 2),            # the last line with code
    ("    nlinarith [sq_nonneg (a - b),\n          sq_nonneg a]\n", 4),  # bracket continuation
    ("  norm_num\n  -- a comment at column 2\n      /- and a block -/\n", 2),
    ("  · simp\n", 2),
])
def test_tactic_indent_rule(prefix, indent):
    assert tactic_indent(prefix) == indent


def test_extract_v15_cuts_at_first_fence():
    assert extract_v15("  nlinarith [h₀]\n```\n\nThen ```lean4\nmore\n```") == "  nlinarith [h₀]\n"
    assert extract_v15("  simp\n") == "  simp\n"
    assert extract_v15("```") == ""


# -- chat formats ----------------------------------------------------------------------------

def test_v2_messages_match_reference(first):
    p = row_problem(first)
    file_text = (first["header"] + first["informal_prefix"] + first["formal_statement"]
                 + "  sorry").strip()
    assert file_text.endswith(":= by\n  sorry")
    non_cot = chat_prompt(p, cot=False, style="deepseek_v2")
    assert non_cot == (ChatMessage("user", REF_NON_COT + file_text + "\n```"),)
    cot = chat_prompt(p, cot=True, style="deepseek_v2")
    assert cot == (ChatMessage("user", REF_NON_COT + file_text + REF_V2_COT_TAIL),)
    assert PROMPT_FORMATS["deepseek-v2"].build(p, "", None).messages == non_cot
    assert PROMPT_FORMATS["deepseek-v2-cot"].build(p, "", None).messages == cot


def test_kimina_and_goedel_are_no_longer_the_v2_message(first):
    # they were stand-ins for the V2 non-CoT message; tests/test_prompt_families.py has theirs
    p = row_problem(first)
    v2 = chat_prompt(p, cot=False, style="deepseek_v2")
    for name in ("kimina", "goedel"):
        assert PROMPT_FORMATS[name].build(p, "", None).messages != v2


def test_chat_formats_refuse_a_prefix(first):
    with pytest.raises(ValueError):
        PROMPT_FORMATS["deepseek-v2"].build(row_problem(first), "  simp\n", None)


def test_chat_prompt_rejects_unknown_style(first):
    with pytest.raises(ValueError):
        chat_prompt(row_problem(first), cot=False, style="gpt")  # type: ignore[arg-type]


def test_last_lean4_block_is_the_last_of_several():
    text = ("### Lean 4 Proof with `have` Statements\n```lean4\ntheorem a : 1 = 1 := by\n"
            "  sorry\n```\nsome text\n```python\nprint(1)\n```\n"
            "### Complete Lean 4 Proof\n```lean4\ntheorem a : 1 = 1 := by\n  rfl\n```\n")
    assert extract_last_lean4_block(text) == "theorem a : 1 = 1 := by\n  rfl\n"


def test_last_block_accepts_lean_tag_and_unclosed_final_block():
    assert extract_last_lean4_block("```lean\nexample : True := trivial\n```") \
        == "example : True := trivial\n"
    assert extract_last_lean4_block("```lean4\nA\n```\n```lean4\nB cut off") == "B cut off"
    assert extract_last_lean4_block("no code here") is None
    assert extract_last_lean4_block("```python\nx = 1\n```") is None


def test_proof_from_full_file_round_trip(minif2f):
    proof = "  nlinarith [sq_nonneg (x - 1)]\n  norm_num\n"
    for row in minif2f[:20]:
        p = row_problem(row)
        model_file = row["header"] + row["informal_prefix"] + row["formal_statement"] + proof
        got = proof_from_full_file(p, model_file)
        assert got == proof
        assert p.file_with(got) == row["header"] + row["formal_statement"] + proof


def test_proof_from_full_file_shapes(first):
    p = row_problem(first)
    head = first["header"] + first["formal_statement"][:-len(" by\n")]
    assert head.endswith(":=")
    # `by tac` on one line moves to its own line; trailing blanks are normalised.
    assert proof_from_full_file(p, head + " by simp\n\n\n") == "  simp\n"
    # a term proof becomes `exact`
    assert proof_from_full_file(p, head + " foo_lemma _") == "  exact foo_lemma _\n"
    # a trailing comment is not part of the proof
    assert proof_from_full_file(p, head + " by\n  ring\n-- done\n") == "  ring\n"
    # an empty `by` has no proof
    assert proof_from_full_file(p, head + " by\n") is None


def test_proof_from_full_file_missing_theorem_is_none(first):
    p = row_problem(first)
    assert proof_from_full_file(p, first["header"] + "theorem other : 1 = 1 := by\n  rfl\n") is None
    assert proof_from_full_file(p, "") is None


def test_proof_from_full_file_term_mode_statement(shared):
    row = jsonl_rows(shared / "benchmarks" / "proofnet.jsonl")[0]
    assert row["formal_statement"].endswith(":=")
    # ProofNet ids are not theorem names: the statement's own name is used.
    assert row["name"] != row["theorem_name"]
    p = row_problem(row)
    model_file = row["header"] + row["formal_statement"] + " by\n  simp\n"
    got = proof_from_full_file(p, model_file)
    assert got == " by\n  simp\n"
    assert p.file_with(got) == model_file


# -- next tactic and registry ----------------------------------------------------------------

def test_next_tactic_prompt_and_extraction():
    assert next_tactic_prompt("x : ℕ\n⊢ x = x") == "[GOAL]\nx : ℕ\n⊢ x = x\n[PROOFSTEP]\n"
    assert extract_tactic("  simp [h]  \nlinarith\n") == "simp [h]"
    assert extract_tactic("\n\n  omega") == "omega"
    assert extract_tactic("   \n") == ""
    fmt = PROMPT_FORMATS["next-tactic"]
    assert fmt.build_goal is not None
    assert fmt.build_goal("⊢ True").prompt == "[GOAL]\n⊢ True\n[PROOFSTEP]\n"
    with pytest.raises(ValueError):
        fmt.build(Problem("t", "", "theorem t : True := by\n"), "", None)


def test_registry_names_kinds_and_stops():
    assert set(PROMPT_FORMATS) >= {"deepseek-v1.5", "deepseek-v1.5-cot", "deepseek-v2",
                                   "deepseek-v2-cot", "kimina", "goedel", "goedel-v2",
                                   "kimina-2025", "next-tactic"}
    for name, fmt in PROMPT_FORMATS.items():
        assert fmt.name == name
    assert PROMPT_FORMATS["deepseek-v1.5"].stop == ("```",)
    assert PROMPT_FORMATS["deepseek-v1.5-cot"].stop == ("```",)
    assert {n for n, f in PROMPT_FORMATS.items() if f.output == "file"} == {
        "deepseek-v2", "deepseek-v2-cot", "kimina", "kimina-2025", "goedel-v2"}
    assert all(f.chat for f in PROMPT_FORMATS.values() if f.output == "file")
    assert not PROMPT_FORMATS["goedel"].chat
    assert PROMPT_FORMATS["next-tactic"].output == "tactic"
    assert get_format("kimina") is PROMPT_FORMATS["kimina"]
    with pytest.raises(ValueError):
        get_format("nope")
