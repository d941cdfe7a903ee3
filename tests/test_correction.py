"""Self-correction: the correction turns as golden strings (shared/reference/prompts.md §4 and
§6, the upstream files it quotes), and whole-proof sampling with corrections through the
real checker against the fake REPL (a scripted policy stands in for the model).

Golden strings are written out by hand from the layouts prompts.md quotes; none is built
with the code under test.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Sequence

import pytest
from conftest import fake_repl_command

from lean_bridge.outcome import CheckResult, Status
from lean_bridge.protocol import Message, Pos, Tactic
from prover.policies.correction import (
    COMMENT,
    GOEDEL_V2,
    KIMINA_2025,
    Turn,
    comment_feedback,
    goals_before,
    goedel_error_text,
    goedel_feedback,
    kimina_feedback,
    next_parts,
    style_for,
)
from prover.policies.policy import ChatMessage, Completion, GenerationRequest
from prover.policies.portfolio import PortfolioPolicy
from prover.policies.prompts import PROMPT_FORMATS, PromptParts, deepseek_v15_prompt, get_format
from prover.policies.proposer import LMProposer
from search import Budget
from search.mix import MixProposer
from search.problem import DEFAULT_HEADER, Problem
from search.protocols import Proposal, can_correct
from search.sampling import sample_search

STATEMENT = "theorem t (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := by\n"
PROBLEM = Problem("t", DEFAULT_HEADER, STATEMENT)
BAD = "  nlinarith [h₀, bad]\n"
GOOD = "  linarith\n"
CODE = DEFAULT_HEADER + STATEMENT + BAD  # line 9 is BAD; "bad" is at columns 17..20
# `h₀` is two code points and four UTF-8 bytes: a byte column would put the marks elsewhere.
UNKNOWN = Message("error", Pos(9, 17), Pos(9, 20), "unknown identifier 'bad'")

ANALYSIS = ("\n\nBefore producing the Lean 4 code to formally prove the given theorem, provide a "
            "detailed analysis of the error message.")
# The first error's block up to the statement: the window of lines before line 9 of CODE.
ERROR_1_HEAD = (
    "\nError 1:\n"
    "\nCorresponding Code:\n```lean4\n"
    "\n"
    "open BigOperators Real Nat Topology Rat\n"
    "\n"
    "theorem t (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := by\n")
GOLDEN_GOEDEL = (
    "The proof (Round 0) is not correct. Following is the compilation error message, where we "
    "use <error></error> to signal the position of the error.\n\n"
    + ERROR_1_HEAD +
    "  nlinarith [h₀, <error>bad</error>]\n"
    "\n"
    "\n```\n"
    "\nError Message: unknown identifier 'bad'\n"
    + ANALYSIS)


# -- styles ---------------------------------------------------------------------------------

def test_style_follows_the_prompt_format():
    assert style_for(get_format("goedel-v2")) == GOEDEL_V2
    assert style_for(get_format("kimina-2025")) == KIMINA_2025
    # Raw completion families get Goedel's non-CoT comment form.
    for name in ("deepseek-v1.5", "deepseek-v1.5-cot", "goedel"):
        assert not get_format(name).chat and style_for(get_format(name)) == COMMENT
    # Other chat formats: Goedel-V2's turn (its pipeline uses it for DeepSeek-V2 and Kimina).
    assert style_for(get_format("deepseek-v2-cot")) == GOEDEL_V2
    assert style_for(get_format("kimina")) == GOEDEL_V2
    assert style_for(get_format("next-tactic")) is None
    assert all(style_for(f) is None for f in PROMPT_FORMATS.values() if f.output == "tactic")


def test_the_style_a_format_gets_is_the_one_its_family_lists():
    from prover.policies.families import FAMILIES

    listed = [(f.name, f.correction, style_for(get_format(f.prompt_format)))
              for f in FAMILIES if f.correction is not None]
    assert listed and all(mine == theirs for _name, theirs, mine in listed), listed


# -- Goedel-Prover-V2 -----------------------------------------------------------------------

def test_goedel_feedback_is_the_published_message_marked_at_the_span():
    assert goedel_feedback(CODE, [UNKNOWN], 0) == GOLDEN_GOEDEL


def test_goedel_round_number_is_the_refused_answers_round():
    text = goedel_feedback(CODE, [UNKNOWN], 1)
    assert text.startswith("The proof (Round 1) is not correct. Following is the compilation")
    assert text == GOLDEN_GOEDEL.replace("(Round 0)", "(Round 1)")


def test_goedel_end_of_line_when_the_end_position_is_null():
    message = Message("error", Pos(9, 2), None, "linarith failed")
    text = goedel_error_text(CODE, [message])
    assert "\n  <error>nlinarith [h₀, bad]</error>\n" in text
    assert text.endswith("\nError Message: linarith failed\n")


def test_goedel_multi_line_span_is_truncated_after_five_middle_lines():
    proof = ("  have h1 : x = 2 := by\n    linarith\n    -- a\n    -- b\n    -- c\n    -- d\n"
             "    -- e\n  exact h1\n")
    code = DEFAULT_HEADER + STATEMENT + proof  # proof lines 9..16
    message = Message("error", Pos(9, 2), Pos(16, 10), "type mismatch")
    assert goedel_error_text(code, [message]) == (
        ERROR_1_HEAD +
        "  <error>have h1 : x = 2 := by\n"
        "    linarith\n"
        "    -- a\n"
        "    -- b\n"
        "    -- c\n"
        "    -- d\n"
        "\n"
        "    ... --[Truncated]-- ...\n"
        "  exact h1</error>\n"
        "\n"
        "\n```\n"
        "\nError Message: type mismatch\n")
    # Five lines between are all shown, with no truncation line.
    short = DEFAULT_HEADER + STATEMENT + proof.replace("    -- e\n", "")
    text = goedel_error_text(short, [Message("error", Pos(9, 2), Pos(15, 10), "m")])
    assert "Truncated" not in text and "    -- d\n  exact h1</error>\n" in text


def test_goedel_shows_eight_errors_and_counts_the_rest_warnings_aside():
    errors = [Message("error", Pos(9, 2), Pos(9, 11), f"e{i}") for i in range(10)]
    warning = Message("warning", Pos(9, 2), Pos(9, 11), "unused variable")
    text = goedel_error_text(CODE, [warning, *errors])
    assert "\nError 8:\n" in text and "\nError 9:\n" not in text
    assert "\nError Message: e7\n" in text and "e8" not in text and "unused" not in text
    assert text.endswith("\nError Message: e7\n\n... [Omitted 2 more errors] ...\n")
    assert "[Omitted" not in goedel_error_text(CODE, errors[:8])


# -- Kimina-Prover (2025) -------------------------------------------------------------------

KIMINA_CODE = "import Mathlib\n\n" + STATEMENT + BAD  # the demo's file: one import line
GOAL = "x : ℝ\nh₀ : 2 * x = 4\n⊢ x = 2"
SNIPPET = ("Lean 4 code snippet with error:\n```lean4\n"
           "001  | \n"
           "002  | theorem t (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := by\n"
           "003 >|   nlinarith [h₀, bad]\n"
           "004  | \n"
           "```\n")


def test_kimina_feedback_has_goals_message_and_numbered_snippet():
    tactic = Tactic("nlinarith [h₀, bad]", GOAL, Pos(4, 2), Pos(4, 21), 0)
    failed = Message("error", Pos(4, 2), Pos(4, 21), "linarith failed\n")
    unknown = Message("error", Pos(4, 17), Pos(4, 20), "unknown identifier 'bad'")
    check = CheckResult(Status.ERROR, (failed, unknown), tactics=(tactic,))
    assert kimina_feedback(KIMINA_CODE, check) == (
        "# Error 1:\n"
        "Goals state before error position: \n" + GOAL + "\n\n"
        "Error message: \nlinarith failed\n\n"
        + SNIPPET +
        # The tactic holds this error but is not inside its span: no goals (the demo's rule).
        "# Error 2:\n"
        "Error message: \nunknown identifier 'bad'\n\n"
        + SNIPPET)


def test_kimina_shows_three_errors_and_falls_back_on_the_reasons():
    errors = tuple(Message("error", Pos(4, 2), Pos(4, 11), f"e{i}") for i in range(4))
    text = kimina_feedback(KIMINA_CODE, CheckResult(Status.ERROR, errors))
    assert text.count("# Error ") == 3 and "e3" not in text
    sorry = CheckResult(Status.INCOMPLETE, reasons=("sorry at line 4: ⊢ x = 2",))
    assert kimina_feedback(KIMINA_CODE, sorry) == \
        "# System Error:\nError message: \nsorry at line 4: ⊢ x = 2\n\n"


def test_kimina_goals_come_from_the_nearest_tactic_inside_the_span():
    outer = Tactic("constructor", "⊢ outer", Pos(4, 2), Pos(6, 0), 0)
    inner = Tactic("simp", "⊢ inner", Pos(4, 4), Pos(4, 8), 1)
    nearest = Tactic("simp", "⊢ nearest", Pos(4, 2), Pos(4, 9), 2)
    error = Message("error", Pos(4, 2), Pos(4, 9), "x")
    assert goals_before(error, [outer, inner, nearest]) == "⊢ nearest"
    assert goals_before(error, [outer]) is None
    assert goals_before(Message("error", Pos(4, 2), None, "x"), [nearest]) is None


# -- raw completion: Goedel's non-CoT comment form ------------------------------------------

GOLDEN_COMMENT = (
    "-- The previous proof attempt (Round 0) resulted in compilation errors:\n"
    "-- Error 1:\n"
    "-- Corresponding Code:\n"
    "-- ```lean4\n"
    "-- open BigOperators Real Nat Topology Rat\n"
    "-- theorem t (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := by\n"
    "--   nlinarith [h₀, <error>bad</error>]\n"
    "-- ```\n"
    "-- Error Message: unknown identifier 'bad'\n"
    "-- Please provide a corrected version. Wrap the proof in ```lean4 and ```.")


def test_comment_feedback_is_the_error_text_as_lean_comments():
    assert comment_feedback(CODE, [UNKNOWN], 0) == GOLDEN_COMMENT


def test_comment_turn_continues_the_raw_prompt_and_reopens_the_statement():
    first = deepseek_v15_prompt(PROBLEM)
    check = CheckResult(Status.ERROR, (UNKNOWN,))
    parts = next_parts(COMMENT, Turn(PromptParts(prompt=first), BAD), PROBLEM, CODE, check, 0)
    assert parts.messages is None
    assert parts.prompt == (first + BAD + "```\n\n" + GOLDEN_COMMENT + "\n\n```lean4\n"
                            + DEFAULT_HEADER + STATEMENT)
    # An answer that carries its own closing fence (no stop string) is cut at it.
    again = next_parts(COMMENT, Turn(PromptParts(prompt=first), BAD + "```\nnoise"), PROBLEM,
                       CODE, check, 0)
    assert again.prompt == parts.prompt


def test_chat_turn_is_user_assistant_user():
    user = ChatMessage("user", "first question")
    check = CheckResult(Status.ERROR, (UNKNOWN,))
    parts = next_parts(GOEDEL_V2, Turn(PromptParts(messages=(user,)), "raw answer"), PROBLEM,
                       CODE, check, 0)
    assert parts.messages == (user, ChatMessage("assistant", "raw answer"),
                              ChatMessage("user", GOLDEN_GOEDEL))
    with pytest.raises(ValueError, match="chats"):
        next_parts(GOEDEL_V2, Turn(PromptParts(prompt="raw"), "x"), PROBLEM, CODE, check, 0)


# -- sampling with corrections, through the fake REPL ---------------------------------------

def block(proof: str) -> str:
    return f"Plan: …\n\n```lean4\n{DEFAULT_HEADER}{STATEMENT}{proof}```\n"


@dataclass
class TurnPolicy:
    """A chat model stand-in: a first answer (no assistant turn yet) fails, a later one passes
    when ``fixes``; records every request."""

    fixes: bool = True
    name: str = "turns"
    requests: list[GenerationRequest] = field(default_factory=list)

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        self.requests.extend(requests)
        out = []
        for r in requests:
            later = r.messages is not None and any(m.role == "assistant" for m in r.messages)
            text = block(GOOD if later and self.fixes else BAD)
            out.append([Completion(text, tokens=5) for _ in range(r.n)])
        return out

    async def close(self) -> None:
        return None


@pytest.fixture
async def lean(tmp_path):
    from lean_bridge.checker import LeanChecker
    from lean_bridge.pool import PoolConfig, ReplPool
    from lean_bridge.process import ReplSpec

    script = tmp_path / "rules.json"
    script.write_text(json.dumps({"rules": [
        {"match": "bad", "messages": [{"severity": "error", "data": "unknown identifier 'bad'"}]}]}))
    checker = LeanChecker(ReplPool(ReplSpec(fake_repl_command("--script", str(script))),
                                   PoolConfig(max_processes=1)), timeout=30)
    try:
        yield checker
    finally:
        await checker.pool.close()


async def test_a_refused_answer_is_corrected_on_round_one(lean):
    policy = TurnPolicy()
    proposer = LMProposer(policy, get_format("goedel-v2"))
    result = await sample_search(PROBLEM, proposer=proposer, lean=lean, budget=Budget(1, 2),
                                 rng=random.Random(0), self_correct=1)
    assert result.proved and result.round == 1 and result.proof == GOOD
    assert result.generations == 2 and result.cost == 2
    assert [(e["round"], e["status"]) for e in result.trace] == [(0, "error"), (1, "proved")]
    first, second = policy.requests
    assert first.n == 1 and second.n == 1
    assert second.messages == (*first.messages, ChatMessage("assistant", block(BAD)),
                               ChatMessage("user", GOLDEN_GOEDEL))


async def test_budget_counts_every_turn(lean):
    for rounds, total, asks, trace in (
            (0, 4, [4], [0, 0, 0, 0]),
            (1, 4, [2, 1, 1], [0, 0, 1, 1]),
            (2, 5, [2, 1, 1, 1], [0, 0, 1, 1, 2]),
            (3, 3, [1, 1, 1], [0, 1, 2])):
        policy = TurnPolicy(fixes=False)
        result = await sample_search(PROBLEM, proposer=LMProposer(policy, get_format("goedel-v2")),
                                     lean=lean, budget=Budget(1, total), rng=random.Random(0),
                                     self_correct=rounds)
        assert not result.proved and result.round is None
        assert result.generations == total, rounds
        assert [r.n for r in policy.requests] == asks, rounds
        assert [e["round"] for e in result.trace] == trace, rounds
        if rounds == 3:  # one chain: each turn shows the whole conversation so far
            assert [len(r.messages) for r in policy.requests] == [1, 3, 5]
            assert policy.requests[2].messages[2].content.startswith("The proof (Round 0)")
            assert policy.requests[2].messages[4].content.startswith("The proof (Round 1)")


async def test_a_second_attempt_corrects_afresh_and_cost_counts_attempts(lean):
    policy = TurnPolicy(fixes=False)
    proposer = LMProposer(policy, get_format("goedel-v2"))
    result = await sample_search(PROBLEM, proposer=proposer, lean=lean, budget=Budget(2, 2),
                                 rng=random.Random(0), self_correct=1)
    assert result.generations == 4 and [len(r.messages) for r in policy.requests] == [1, 3, 1, 3]


async def test_proposers_that_cannot_correct_sample_as_before(lean):
    assert not can_correct(PortfolioPolicy())
    assert can_correct(MixProposer([PortfolioPolicy(), LMProposer(TurnPolicy(), get_format("goedel-v2"))]))

    @dataclass
    class Plain:
        asked: list[int] = field(default_factory=list)

        async def propose_proofs(self, problem, n, **kwargs):
            self.asked.append(n)
            return [Proposal(BAD, None, 1)] * n

    plain = Plain()
    result = await sample_search(PROBLEM, proposer=plain, lean=lean, budget=Budget(1, 4),
                                 rng=random.Random(0), self_correct=2)
    assert plain.asked == [4] and result.generations == 4  # R ignored: nothing to ask
    with pytest.raises(ValueError, match="0 or more"):
        await sample_search(PROBLEM, proposer=plain, lean=lean, budget=Budget(1, 1),
                            rng=random.Random(0), self_correct=-1)


async def test_a_mix_sends_the_correction_to_the_member_that_made_it():
    @dataclass
    class Fixed:  # a member without corrections (like the portfolio)
        async def propose_proofs(self, problem, n, **kwargs):
            return [Proposal("  norm_num\n", None, 1)]

    policy = TurnPolicy()
    mix = MixProposer([Fixed(), LMProposer(policy, get_format("goedel-v2"))])
    theirs, mine = await mix.propose_proofs(PROBLEM, 2)
    assert (theirs.text, mine.text) == ("  norm_num\n", BAD)
    check = CheckResult(Status.ERROR, (UNKNOWN,))
    assert await mix.propose_correction(PROBLEM, [theirs], check) == []
    [fixed] = await mix.propose_correction(PROBLEM, [mine], check)
    assert fixed.text == GOOD and len(policy.requests) == 2
    assert policy.requests[1].messages[2] == ChatMessage("user", GOLDEN_GOEDEL)
    # The corrected proposal is the model's again: a further turn goes to it too.
    [again] = await mix.propose_correction(PROBLEM, [mine, fixed], check)
    assert len(policy.requests[2].messages) == 5 and again.text == GOOD


async def test_kimina_turn_shows_the_goals_lean_reported_before_the_error(tmp_path):
    from lean_bridge.checker import LeanChecker
    from lean_bridge.pool import PoolConfig, ReplPool
    from lean_bridge.process import ReplSpec

    # The error spans the whole tactic; at Kimina's Lean (v4.15) allTactics goals are multi-line.
    script = tmp_path / "rules.json"
    script.write_text(json.dumps({"rules": [
        {"match": r"nlinarith \[h₀, bad\]",
         "messages": [{"severity": "error", "data": "linarith failed"}]}]}, ensure_ascii=False))
    lean = LeanChecker(ReplPool(ReplSpec(fake_repl_command("--script", str(script),
                                                           "--version", "v4.15.0")),
                                PoolConfig(max_processes=1)), timeout=30)
    policy = TurnPolicy()
    try:
        result = await sample_search(PROBLEM, proposer=LMProposer(policy, get_format("kimina-2025")),
                                     lean=lean, budget=Budget(1, 2), rng=random.Random(0),
                                     self_correct=1)
    finally:
        await lean.pool.close()
    assert result.proved and result.round == 1
    system, user, answer, feedback = policy.requests[1].messages
    assert (system.role, user.role, answer, feedback.role) == \
        ("system", "user", ChatMessage("assistant", block(BAD)), "user")
    assert feedback.content == (
        "# Error 1:\n"
        "Goals state before error position: \nx : ℝ\nh₀ : 2 * x = 4\n⊢ x = 2\n\n"
        "Error message: \nlinarith failed\n\n"
        "Lean 4 code snippet with error:\n```lean4\n"
        "005  | \n"
        "006  | theorem t (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := by\n"
        "007 >|   nlinarith [h₀, bad]\n"
        "008  | \n"
        "```\n")


async def test_a_completion_model_is_corrected_in_the_comment_form(lean):
    @dataclass
    class Completing:  # a raw completion model: continues the prompt, stops at the fence
        name: str = "completing"
        requests: list[GenerationRequest] = field(default_factory=list)

        async def generate(self, requests):
            self.requests.extend(requests)
            return [[Completion(GOOD if "-- The previous proof attempt" in r.prompt else BAD)
                     for _ in range(r.n)] for r in requests]

        async def close(self):
            return None

    policy = Completing()
    result = await sample_search(PROBLEM, proposer=LMProposer(policy, get_format("deepseek-v1.5")),
                                 lean=lean, budget=Budget(1, 2), rng=random.Random(0),
                                 self_correct=1)
    assert result.proved and result.round == 1 and result.proof == GOOD
    first, second = policy.requests
    assert first.messages is None and second.messages is None and second.stop == first.stop
    assert second.prompt == (first.prompt + BAD + "```\n\n" + GOLDEN_COMMENT + "\n\n```lean4\n"
                             + DEFAULT_HEADER + STATEMENT)
