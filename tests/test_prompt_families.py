"""Golden strings for every model family's prompt format (shared/reference/prompts.md).

Each expected string is written from prompts.md's quoted source (Python literals there, with
the upstream rule that fills them applied to a real miniF2F row read from /work/shared),
never from this implementation's output. Extraction cases follow the same sections.
"""
from __future__ import annotations

import asyncio

import pytest
from conftest import jsonl_rows, row_problem
from scripted_policy import ScriptedPolicy

from prover.policies.policy import ChatMessage
from prover.policies.prompts import PROMPT_FORMATS, get_format
from prover.policies.proposer import LMProposer
from search.priority import PRIORITIES, NodePriority
from search.problem import Problem
from search.protocols import StepContext

# prompts.md §6 (Goedel-Prover-V2 `DeepSeekCoTHandler.prover_inference`), verbatim.
V2_COT_TEXT = (
    "\n\nBefore producing the Lean 4 code to formally prove the given theorem, provide a "
    "detailed proof plan outlining the main proof steps and strategies.\nThe plan should "
    "highlight key ideas, intermediate lemmas, and proof structures that will guide the "
    "construction of the final formal proof.")
DEFAULT_HEAD = ("import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\n"
                "open BigOperators Real Nat Topology Rat\n\n")


@pytest.fixture(scope="module")
def row(minif2f: list[dict]) -> dict:
    return minif2f[0]


def _lean4_code(row: dict) -> str:
    """Goedel-V2's ``lean4_code`` field: header + docstring + statement (its dataset rows)."""
    return row["header"] + row["informal_prefix"] + row["formal_statement"]


# -- DeepSeek-Prover-V2 (§2) and V1.5 (§1) -----------------------------------------------------

# §2: the README quick start's two literals, verbatim (its example is miniF2F mathd_algebra_10).
DS_V2_README_STATEMENT = """
import Mathlib
import Aesop

set_option maxHeartbeats 0

open BigOperators Real Nat Topology Rat

/-- What is the positive difference between $120\\%$ of 30 and $130\\%$ of 20? Show that it is 10.-/
theorem mathd_algebra_10 : abs ((120 : ℝ) / 100 * 30 - 130 / 100 * 20) = 10 := by
  sorry
""".strip()
DS_V2_README_PROMPT = """
Complete the following Lean 4 code:

```lean4
{}
```

Before producing the Lean 4 code to formally prove the given theorem, provide a detailed proof plan outlining the main proof steps and strategies.
The plan should highlight key ideas, intermediate lemmas, and proof structures that will guide the construction of the final formal proof.
""".strip()


def test_deepseek_v2_cot_is_the_readme_message(minif2f):
    r = next(x for x in minif2f if x["name"] == "mathd_algebra_10")
    messages = get_format("deepseek-v2-cot").build(row_problem(r), "", None).messages
    assert messages == (ChatMessage("user", DS_V2_README_PROMPT.format(DS_V2_README_STATEMENT)),)
    # non-CoT (paper App. A.1): the same message without the two sentences
    non_cot = get_format("deepseek-v2").build(row_problem(r), "", None).messages[0].content
    assert non_cot == DS_V2_README_PROMPT.format(DS_V2_README_STATEMENT).split("\n\nBefore")[0]
    assert get_format("deepseek-v2-cot").stop == () and get_format("deepseek-v2").chat


def test_deepseek_v15_prompts_are_upstreams_format_strings(row):
    # §1 non_cot_prompt / cot_prompt over the row's header, informal_prefix, formal_statement
    data = {"header": row["header"], "informal_prefix": row["informal_prefix"],
            "formal_statement": row["formal_statement"]}
    non_cot = "Complete the following Lean 4 code:\n\n```lean4\n{header}{informal_prefix}{formal_statement}"
    cot = ("Complete the following Lean 4 code with explanatory comments preceding each line of "
           "code:\n\n```lean4\n{header}{informal_prefix}{formal_statement}")
    assert get_format("deepseek-v1.5").build(row_problem(row), "", None).prompt == non_cot.format(**data)
    assert get_format("deepseek-v1.5-cot").build(row_problem(row), "", None).prompt == cot.format(**data)
    # post_process_output: the text before the first triple backtick
    out = "  norm_num\n```\nmore```"
    assert get_format("deepseek-v1.5").extract(out) == out[:out.find("```")]


# -- Goedel-Prover-V2 (§6) ---------------------------------------------------------------------

def goedel_v2_reference(row: dict) -> str:
    # §6: formal_statement = lean4_code.split(":= by")[0] + ":= by sorry", then the F-string.
    formal_statement = _lean4_code(row).split(":= by")[0] + ":= by sorry"
    return ("Complete the following Lean 4 code:\n\n```lean4\n" + formal_statement + "```"
            + V2_COT_TEXT)


def test_goedel_v2_first_round_is_one_user_message(row):
    fmt = get_format("goedel-v2")
    assert fmt.chat and fmt.output == "file" and fmt.stop == ()
    messages = fmt.build(row_problem(row), "", None).messages
    assert messages == (ChatMessage("user", goedel_v2_reference(row)),)
    content = messages[0].content
    # the closing fence directly after `sorry`, on the theorem's own line
    assert ":= by sorry```\n\nBefore producing" in content
    assert "sorry\n```" not in content
    assert content.startswith("Complete the following Lean 4 code:\n\n```lean4\n" + DEFAULT_HEAD
                              + row["informal_prefix"] + "theorem " + row["name"])


def test_goedel_v2_message_matches_upstream_rule_on_every_minif2f_row(minif2f):
    fmt = get_format("goedel-v2")
    for r in minif2f:
        assert fmt.build(row_problem(r), "", None).messages[0].content == goedel_v2_reference(r), \
            r["name"]


def test_goedel_v2_refuses_a_prefix(row):
    with pytest.raises(ValueError):
        get_format("goedel-v2").build(row_problem(row), "  simp\n", None)


@pytest.mark.parametrize("name, answer", [
    ("goedel-v2", "### Detailed Proof\n{sketch}### Complete Lean 4 Proof\n{proof}\n"),
    ("kimina", "<think>\nplan\n{sketch}</think>\n{proof}"),
])
def test_the_last_closed_block_is_the_answer(name, answer):
    # an answer as these models write it: a sketch with `sorry` first, the proof last
    sketch = "```lean4\ntheorem a : 1 = 1 := by\n  sorry\n```\n"
    proof = "```lean4\ntheorem a : 1 = 1 := by\n  rfl\n```"
    assert get_format(name).extract(answer.format(sketch=sketch, proof=proof)) == \
        "theorem a : 1 = 1 := by\n  rfl"


def test_goedel_v2_extraction_rules():
    fmt = get_format("goedel-v2")
    # a final block left open is no answer: the last closed one counts (upstream regexes)
    assert fmt.extract("```lean4\nA\n```\n```lean4\nB cut off") == "A"
    # fallbacks: closed without a newline before the fence, then a ```lean block
    assert fmt.extract("```lean4\ntheorem a : True := trivial```") == "theorem a : True := trivial"
    assert fmt.extract("```lean\nexample : True := trivial\n```") == "example : True := trivial\n"
    assert fmt.extract("no code here") == ""


@pytest.mark.parametrize("tactic", ["apply?", "exact?"])
def test_goedel_v2_refuses_search_tactics(tactic):
    text = f"```lean4\ntheorem a : 1 = 1 := by\n  {tactic}\n```"
    assert get_format("goedel-v2").extract(text) == ""


def test_goedel_v2_through_the_proposer_grafts_the_proof(row):
    p = row_problem(row)
    good = ("plan...\n```lean4\n" + _lean4_code(row).split(":= by")[0] + ":= by sorry\n```\n"
            "### Complete Lean 4 Proof\n```lean4\n" + DEFAULT_HEAD + row["formal_statement"]
            + "  norm_num\n  ring\n```\n")
    refused = "```lean4\n" + row["formal_statement"] + "  exact?\n```"
    policy = ScriptedPolicy([good, refused, "no block at all"])
    proposer = LMProposer(policy, get_format("goedel-v2"))
    out = asyncio.run(proposer.propose_proofs(p, 3))
    assert [o.text for o in out] == ["  norm_num\n  ring\n"]
    assert proposer.dropped == 2
    assert policy.requests[0].messages == (ChatMessage("user", goedel_v2_reference(row)),)
    assert policy.requests[0].stop == ()


# -- Goedel-Prover-SFT (§5) -------------------------------------------------------------------

V15_COT_TEXT = ("Complete the following Lean 4 code with explanatory comments preceding each "
                "line of code:\n\n```lean4\n")


def test_goedel_sft_prompt_is_the_v15_cot_completion(row):
    fmt = get_format("goedel")
    assert not fmt.chat and fmt.output == "continuation" and fmt.stop == ()
    parts = fmt.build(row_problem(row), "", None)
    assert parts.messages is None
    assert parts.prompt == V15_COT_TEXT + row["header"] + row["informal_prefix"] \
        + row["formal_statement"]


def goedel_sft_reference(prompt: str, output: str) -> str | None:
    # §5: re.search(r'```lean4\n(.*?)\n```', model_input + output, re.DOTALL).group(1)
    import re
    m = re.search(r"```lean4\n(.*?)\n```", prompt + output, re.DOTALL)
    return None if m is None else m.group(1)


@pytest.mark.parametrize("output", [
    "  -- We use norm_num\n  norm_num\n```\nThe proof is done.\n```lean4\nmore\n```",
    "  simp\n  ring```\n  linarith\n```",   # a fence inside a line does not close the block
    "```\n",                                 # closes at once: an empty proof
    "  nlinarith [sq_nonneg x]\n",           # never closed: upstream's "None"
])
def test_goedel_sft_extraction_is_the_first_block_of_prompt_plus_output(row, output):
    fmt = get_format("goedel")
    prompt = fmt.build(row_problem(row), "", None).prompt
    ref = goedel_sft_reference(prompt, output)
    got = fmt.extract(output)
    if ref is None:
        assert got == ""
    else:
        opened = prompt[prompt.index("```lean4\n") + len("```lean4\n"):]
        assert opened + got == ref + "\n"


def test_goedel_sft_unclosed_output_is_dropped_by_the_proposer(row):
    policy = ScriptedPolicy(["  norm_num\n```", "  norm_num\n  -- out of tokens"])
    proposer = LMProposer(policy, get_format("goedel"))
    out = asyncio.run(proposer.propose_proofs(row_problem(row), 2))
    assert [o.text for o in out] == ["  norm_num\n"]
    assert proposer.dropped == 1
    assert policy.requests[0].messages is None and policy.requests[0].stop == ()


# -- Kimina-Prover-Preview-Distill (§3) -------------------------------------------------------

KIMINA_SYSTEM = "You are an expert in mathematics and Lean 4."


def kimina_reference(problem: str, formal_statement: str) -> str:
    # §3, the card's quick start, verbatim
    prompt = "Think about and solve the following problem step by step in Lean 4."
    prompt += f"\n# Problem:{problem}"""
    prompt += f"\n# Formal statement:\n```lean4\n{formal_statement}\n```\n"
    return prompt


def test_kimina_messages_are_the_card_quick_start(minif2f):
    # the card's own example problem, read from the shared miniF2F copy
    r = next(x for x in minif2f if x["name"] == "mathd_algebra_478")
    fmt = get_format("kimina")
    assert fmt.chat and fmt.output == "file" and fmt.stop == ()
    formal = r["header"] + r["informal_prefix"] + r["formal_statement"]
    assert formal.endswith(":= by\n")  # the card's triple-quoted statement ends so
    assert fmt.build(row_problem(r), "", None).messages == (
        ChatMessage("system", KIMINA_SYSTEM),
        ChatMessage("user", kimina_reference(r["informal_statement"], formal)))
    content = fmt.build(row_problem(r), "", None).messages[1].content
    assert content.endswith(":= by\n\n```\n") and "sorry" not in content


def test_kimina_problem_is_the_docstring_when_the_statement_holds_it(minif2f):
    # `prove` hands a file's theorem over with its docstring inside the statement (after a
    # lemma with a docstring of its own): `# Problem:` still gets the theorem's informal
    # text, and the formal block shows the file's text once, as on the card.
    from prover.drivers.targets import gaps_of, problem_for

    r = next(x for x in minif2f if x["name"] == "mathd_algebra_478")
    lemma = "/-- A helper. -/\nlemma helper : (1 : ℕ) = 1 := rfl\n\n"
    text = r["header"] + lemma + r["informal_prefix"] + r["formal_statement"] + "  sorry\n"
    (target,) = gaps_of(text)
    problem = problem_for(text, target, proofs={})
    assert problem.informal is None and r["informal_prefix"] in problem.statement
    content = get_format("kimina").build(problem, "", None).messages[1].content
    formal = r["header"] + lemma + r["informal_prefix"] + r["formal_statement"]
    assert content == kimina_reference(r["informal_statement"], formal)


def test_kimina_problem_without_docstring_uses_goedels_fallback(row):
    p = Problem(row["name"], row["header"], row["formal_statement"])
    content = get_format("kimina").build(p, "", None).messages[1].content
    # KiminaCoTHandler.clean_code_string over the statement up to ':= by'
    cleaned = "\n".join(
        line for line in (row["header"] + row["formal_statement"]).split(":= by")[0]
        .__add__(":= by").splitlines()
        if not (line.startswith("import") or line.startswith("set_option")
                or line.startswith("open") or line.strip() == ""))
    assert content == kimina_reference(cleaned, row["header"] + row["formal_statement"])


def test_kimina_extraction_refuses_what_goedel_v2_refuses():
    # Goedel-V2's KiminaCoTHandler extracts as its DeepSeek handler (prompts.py)
    fmt = get_format("kimina")
    assert fmt.extract("```lean4\ntheorem a : 1 = 1 := by\n  exact?\n```") == ""


@pytest.mark.parametrize("name", ["kimina", "kimina-2025"])
def test_the_system_turn_reaches_the_backends(row, name):
    from prover.policies.backends.hf import render_chat
    from prover.policies.backends.openai import chat_body

    messages = get_format(name).build(row_problem(row), "", None).messages
    body = chat_body(get_format(name).build(row_problem(row), "", None).request(n=2), "m")
    assert body["messages"] == [{"role": m.role, "content": m.content} for m in messages]
    assert body["messages"][0]["role"] == "system"

    class Template:  # a tokenizer's chat template (no weights here): records what it renders
        chat_template = "{{ messages }}"

        def apply_chat_template(self, chat, tokenize, add_generation_prompt):
            self.chat = chat
            return "rendered"

    tokenizer = Template()
    assert render_chat(tokenizer, messages) == "rendered"
    assert tokenizer.chat == body["messages"]


# -- Kimina-Prover 2025 (§4) ------------------------------------------------------------------

KIMINA_2025_SYSTEM = ("You are an expert programmer and mathematician who helps formalizing "
                      "mathematical problems in Lean 4.")


def test_kimina_2025_messages_are_the_demo_first_turn(row):
    fmt = get_format("kimina-2025")
    assert fmt.chat and fmt.output == "file" and fmt.stop == ()
    statement = (row["header"] + row["informal_prefix"] + row["formal_statement"]) \
        .split(":= by")[0] + ":= by sorry"
    prompt = "Think about and solve the following problems step by step in Lean 4."
    prompt += "\n\n"
    prompt += statement
    assert fmt.build(row_problem(row), "", None).messages == (
        ChatMessage("system", KIMINA_2025_SYSTEM), ChatMessage("user", prompt))
    assert "```" not in prompt


def test_kimina_2025_extraction_takes_the_last_block_with_the_whole_file():
    fmt = get_format("kimina-2025")
    whole = "import Mathlib\n\ntheorem a : 1 = 1 := by\n  rfl"
    answer = (f"<think>\n```lean4\n{whole.replace('rfl', 'sorry')}\n```\n</think>\n"
              f"```lean4\n{whole}\n```\nand a lemma:\n```lean4\nhave h : 1 = 1 := by rfl\n```")
    # the last block lacks `import`/`theorem`, so the one before it is the proof
    assert fmt.extract(answer) == whole
    assert fmt.extract("```lean4\ntheorem a : 1 = 1 := by\n  rfl\n```") == ""
    assert fmt.extract("```lean4\n" + whole) == ""  # never closed


def test_kimina_2025_through_the_proposer(row):
    p = row_problem(row)
    answer = ("```lean4\n" + row["header"] + row["formal_statement"] + "  norm_num\n```")
    policy = ScriptedPolicy([answer, "No proof."])
    proposer = LMProposer(policy, get_format("kimina-2025"))
    out = asyncio.run(proposer.propose_proofs(p, 2))
    assert [o.text for o in out] == ["  norm_num\n"] and proposer.dropped == 1
    assert [m.role for m in policy.requests[0].messages] == ["system", "user"]


# -- step provers (§7-8) ---------------------------------------------------------------------

def _goal(row: dict) -> str:
    return row["goal"]  # the statement's root goal, as Lean prints it (shared miniF2F rows)


def im_chat(user: str) -> str:
    # §7 chat_template_to_prompt for one user message
    return "<|im_start|>user\n" + user + "<|im_end|>\n<|im_start|>assistant\n"


def test_internlm2_step_prompt(row):
    fmt = get_format("internlm2-step")
    assert fmt.output == "tactic" and fmt.stop == ("<|im_end|>",)
    assert fmt.priority == "token-mean"
    goal = _goal(row)
    context = StepContext(row_problem(row), ("intro z",))
    parts = fmt.build_goal(goal, context)
    assert parts.messages is None
    assert parts.prompt == im_chat(f"DECL {row['name']}\nGOAL {goal}\n")
    # the README example's shape
    assert fmt.build_goal("a b n : N\n⊢ (a * b) ^ n = a ^ n * b ^ n", StepContext(
        Problem("MyNat.mul_pow", "", "theorem MyNat.mul_pow (a b n : N) : "
                "(a * b) ^ n = a ^ n * b ^ n := by\n"))).prompt == im_chat(
        "DECL MyNat.mul_pow\nGOAL a b n : N\n⊢ (a * b) ^ n = a ^ n * b ^ n\n")
    # build() is build_goal at the root
    assert fmt.build(row_problem(row), "", goal).prompt == im_chat(
        f"DECL {row['name']}\nGOAL {goal}\n")


def test_internlm25_step_prompt(row):
    fmt = get_format("internlm2.5-step")
    goal = _goal(row)
    tactics = ("intro z", "norm_num [h₀]")
    parts = fmt.build_goal(goal, StepContext(row_problem(row), tactics))
    assert parts.prompt == im_chat(
        f"---\nNAME: {row['name']}\n\n"
        f"---\nPROOF_BEFORE: intro z\nnorm_num [h₀]\n\n"
        f"---\nSTATE_BEFORE: {goal}\n\n"
        f"---\nTACTIC: ")
    root = fmt.build_goal(goal, StepContext(row_problem(row))).prompt
    assert "---\nPROOF_BEFORE: \n\n---\nSTATE_BEFORE: " in root


def test_step_prompts_use_the_declared_name(shared):
    # ProofNet ids are not theorem names: LeanDojo's full_name is the declared one
    r = jsonl_rows(shared / "benchmarks" / "proofnet.jsonl")[0]
    p = row_problem(r)
    prompt = get_format("internlm2-step").build_goal("⊢ True", StepContext(p)).prompt
    assert prompt == im_chat(f"DECL {r['theorem_name']}\nGOAL ⊢ True\n")


def test_internlm_formats_need_the_context(row):
    for name in ("internlm2-step", "internlm2.5-step"):
        with pytest.raises(ValueError, match="StepContext"):
            get_format(name).build_goal(_goal(row))


def test_bfs_prover_prompt(row):
    fmt = get_format("bfs-prover")
    assert fmt.output == "tactic" and not fmt.chat and fmt.stop == ()
    assert fmt.priority == "bfs-prover"
    assert fmt.build_goal(_goal(row)).prompt == _goal(row) + ":::"
    assert fmt.build_goal(_goal(row), StepContext(row_problem(row), ("simp",))).prompt \
        == _goal(row) + ":::"


@pytest.mark.parametrize("name, raw, tactic", [
    ("internlm2-step", "PROOFSTEP induction n with t Ht", "induction n with t Ht"),
    ("internlm2-step", "  nlinarith [sq_nonneg x]  ", "nlinarith [sq_nonneg x]"),
    ("internlm2-step", "PROOFSTEP sorry", ""),
    ("internlm2.5-step", " simp [h₀]\n", "simp [h₀]"),
    ("internlm2.5-step", "admit", ""),
    ("internlm2.5-step", "norm_num <;> native_decide", ""),
    ("bfs-prover", " nlinarith [sq_nonneg (a - b)]\n", "nlinarith [sq_nonneg (a - b)]"),
    ("bfs-prover", "intro x\nsimp", "intro x\nsimp"),      # a multi-line tactic is kept
    ("bfs-prover", "exact sorry", ""),
    ("bfs-prover", "rcases h with ⟨x, hx⟩", "rcases h with ⟨x, hx⟩"),
    ("bfs-prover", "rcases h with ⟨x, ?_⟩", ""),           # buggy keyword + ?_
    ("bfs-prover", "refine ⟨?_, ?_⟩", "refine ⟨?_, ?_⟩"),    # ?_ alone is fine
    ("bfs-prover", "simpa using h", "simpa using h"),
    ("bfs-prover", "simpa using h _", ""),                   # simpa with a placeholder
    ("bfs-prover", "simpa [f _,g] using h", ""),
])
def test_step_extraction_and_candidate_filters(name, raw, tactic):
    assert get_format(name).extract(raw) == tactic


def test_step_proposer_drops_refused_candidates(row):
    table = ["PROOFSTEP norm_num", "PROOFSTEP sorry", "PROOFSTEP admit"]
    policy = ScriptedPolicy(table)
    fmt = get_format("internlm2-step")
    proposer = LMProposer(policy, fmt)
    context = StepContext(row_problem(row))
    out = asyncio.run(proposer.propose_tactics(_goal(row), 3, context=context))
    assert [o.text for o in out] == ["norm_num"] and proposer.dropped == 2
    request = policy.requests[0]
    assert request.prompt == im_chat(f"DECL {row['name']}\nGOAL {_goal(row)}\n")
    assert request.messages is None and request.stop == ("<|im_end|>",)


# -- best-first priorities (search.priority) ---------------------------------------------------

def test_node_priority_rules():
    cumulative, mean, bfs = (NodePriority(r) for r in PRIORITIES)
    assert cumulative.edge_score(-1.2, 4) == -1.2 and cumulative.key(-3.0, 3) == -3.0
    assert mean.edge_score(-1.2, 4) == pytest.approx(-0.3) and mean.edge_score(-1.2, 0) == -1.2
    assert mean.key(-3.0, 3) == -3.0
    assert bfs.edge_score(-1.2, 4) == pytest.approx(-0.3) and bfs.edge_score(-1.2, 0) == -1.2
    assert bfs.key(-3.0, 3) == pytest.approx(-3.0 / 9) and bfs.key(0.0, 0) == 0.0
    assert NodePriority("bfs-prover", depth_reward=0.0).key(-3.0, 3) == -3.0
    with pytest.raises(ValueError):
        NodePriority("fastest")
    with pytest.raises(ValueError):
        NodePriority("bfs-prover", depth_reward=-1)


def test_bestfirst_gets_the_step_formats_priority_as_an_option():
    from prover.cli.common import SearchSettings, settings_from
    from search.budget import Budget

    settings = settings_from({})
    budget = Budget.parse("1x8")
    for fmt, options in (("bfs-prover", {"priority": "bfs-prover"}),
                         ("internlm2-step", {"priority": "token-mean"}),
                         ("next-tactic", {})):
        assert SearchSettings(settings, "bestfirst", budget, fmt).search_options() == options
    assert SearchSettings(settings, "sample", budget, "goedel-v2").search_options() == {}


def test_every_format_is_registered_under_its_name():
    for name, fmt in PROMPT_FORMATS.items():
        assert fmt.name == name
    assert set(PROMPT_FORMATS) == {
        "deepseek-v1.5", "deepseek-v1.5-cot", "deepseek-v2", "deepseek-v2-cot", "goedel",
        "goedel-v2", "kimina", "kimina-2025", "internlm2-step", "internlm2.5-step",
        "bfs-prover", "next-tactic"}
    # deepseek-v1.5-base is not a format: its few-shot examples are not in shared/
    assert "deepseek-v1.5-base" not in PROMPT_FORMATS
    tactic = {n for n, f in PROMPT_FORMATS.items() if f.output == "tactic"}
    assert tactic == {"internlm2-step", "internlm2.5-step", "bfs-prover", "next-tactic"}
    assert all(PROMPT_FORMATS[n].build_goal is not None for n in tactic)
