"""Tests for `prover.policies.proposer`: request building, post-processing and dropping in
`LMProposer` (over a scripted fake model), and order and dedup in `MixProposer`."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from scripted_policy import ScriptedPolicy

from prover.policies.portfolio import PortfolioPolicy, portfolio_proofs
from prover.policies.prompts import (
    PROMPT_FORMATS,
    chat_prompt,
    deepseek_v15_prompt,
    next_tactic_prompt,
)
from prover.policies.proposer import LMProposer
from search.mix import MixProposer
from search.problem import DEFAULT_HEADER, Problem
from search.protocols import ProofProposer, Proposal, TacticProposer

STATEMENT = "theorem t (x : ℝ) (h₀ : 0 < x) : 0 < x ^ 2 := by\n"
PROBLEM = Problem("t", DEFAULT_HEADER, STATEMENT, "/-- x squared is positive -/\n")
GOAL = "x : ℝ\nh₀ : 0 < x\n⊢ 0 < x ^ 2"


@dataclass
class ListProposer:
    """A proposer that hands out a fixed list and records what it was asked for."""

    texts: list[str]
    asked: list[int] = field(default_factory=list)

    async def propose_proofs(self, problem, n, *, prefix="", tactic_state=None, seed=None,
                             temperature=1.0, state_comment=None):
        self.asked.append(n)
        return [Proposal(t, None, 1) for t in self.texts[:n]]

    async def propose_tactics(self, goal, n, *, seed=None, context=None):
        self.asked.append(n)
        return [Proposal(t, None, 1) for t in self.texts[:n]]


# -- LMProposer ------------------------------------------------------------------------------

async def test_v15_request_building_and_postprocessing():
    policy = ScriptedPolicy(["  nlinarith [h₀]\n```\nexplanation", "  positivity\n", "```\n",
                             "   \n"])
    proposer = LMProposer(policy, PROMPT_FORMATS["deepseek-v1.5"], max_tokens=512, top_p=0.9)
    got = await proposer.propose_proofs(PROBLEM, 4, seed=11, temperature=0.7)
    [req] = policy.requests
    assert req.prompt == deepseek_v15_prompt(PROBLEM) and req.messages is None
    assert (req.n, req.seed, req.temperature, req.top_p, req.max_tokens) == (4, 11, 0.7, 0.9, 512)
    assert req.stop == ("```",)
    # cut at the fence; empty and blank outputs dropped and counted
    assert [p.text for p in got] == ["  nlinarith [h₀]\n", "  positivity\n"]
    assert [p.logprob for p in got] == [0.0, -0.5]
    assert got[0].tokens == len("  nlinarith [h₀]\n```\nexplanation")
    assert proposer.dropped == 2


async def test_v15_prefix_and_tactic_state_reach_the_prompt():
    policy = ScriptedPolicy(["  nlinarith [h₀, h₁]\n"])
    proposer = LMProposer(policy, PROMPT_FORMATS["deepseek-v1.5-cot"])
    prefix = "  have h₁ : 0 < x * x := by positivity\n"
    got = await proposer.propose_proofs(PROBLEM, 1, prefix=prefix, tactic_state=GOAL)
    assert policy.requests[0].prompt == deepseek_v15_prompt(
        PROBLEM, cot=True, prefix=prefix, tactic_state=GOAL)
    assert [p.text for p in got] == ["  nlinarith [h₀, h₁]\n"]  # continues the prefix


async def test_chat_format_extracts_last_block_and_grafts_the_proof():
    whole = DEFAULT_HEADER + STATEMENT
    answers = [
        f"### Plan\n```lean4\n{whole}  sorry\n```\n### Complete Lean 4 Proof\n"
        f"```lean4\n{whole}  positivity\n```\n",
        "I could not do it.",                                               # no block
        "```lean4\ntheorem other : True := trivial\n```",                   # wrong theorem
    ]
    policy = ScriptedPolicy(answers)
    proposer = LMProposer(policy, PROMPT_FORMATS["deepseek-v2-cot"])
    got = await proposer.propose_proofs(PROBLEM, 3, seed=5)
    [req] = policy.requests
    assert req.messages == chat_prompt(PROBLEM, cot=True) and req.stop == ()
    assert [p.text for p in got] == ["  positivity\n"]
    assert PROBLEM.file_with(got[0].text) == whole + "  positivity\n"
    assert proposer.dropped == 2


async def test_next_tactic_format():
    policy = ScriptedPolicy(["positivity\nextra line", "", "  nlinarith [sq_nonneg x]  "])
    proposer = LMProposer(policy, PROMPT_FORMATS["next-tactic"], tactic_temperature=0.3)
    got = await proposer.propose_tactics(GOAL, 3, seed=2)
    [req] = policy.requests
    assert req.prompt == next_tactic_prompt(GOAL)
    assert (req.n, req.seed, req.temperature) == (3, 2, 0.3)
    assert [p.text for p in got] == ["positivity", "nlinarith [sq_nonneg x]"]
    assert proposer.dropped == 1


async def test_wrong_kind_of_format_is_refused():
    policy = ScriptedPolicy(["x"])
    with pytest.raises(ValueError):
        await LMProposer(policy, PROMPT_FORMATS["deepseek-v1.5"]).propose_tactics(GOAL, 1)
    with pytest.raises(ValueError):
        await LMProposer(policy, PROMPT_FORMATS["next-tactic"]).propose_proofs(PROBLEM, 1)
    assert policy.requests == []


def test_protocols_are_satisfied():
    lm = LMProposer(ScriptedPolicy([]), PROMPT_FORMATS["deepseek-v1.5"])
    for obj in (lm, PortfolioPolicy(), MixProposer([])):
        assert isinstance(obj, ProofProposer) and isinstance(obj, TacticProposer)


async def test_lm_proposer_over_the_portfolio_policy_round_trips():
    # The portfolio answers every prompt format the way a model of that format would.
    expected = portfolio_proofs(PROBLEM)[:3]
    for name in ("deepseek-v1.5", "deepseek-v2", "kimina", "goedel"):
        proposer = LMProposer(PortfolioPolicy(), PROMPT_FORMATS[name])
        got = await proposer.propose_proofs(PROBLEM, 3)
        assert [p.text for p in got] == expected, name
        assert proposer.dropped == 0


# -- MixProposer -----------------------------------------------------------------------------

async def test_mix_asks_in_order_for_what_is_missing_and_dedups():
    first = ListProposer(["  norm_num\n", "  positivity\n"])
    second = ListProposer(["  positivity\n", "  nlinarith [h₀]\n", "  simp\n", "  ring\n"])
    third = ListProposer(["  never\n"])
    mix = MixProposer([first, second, third])
    got = await mix.propose_proofs(PROBLEM, 4)
    # `second` is asked for the 2 missing; its duplicate leaves one gap for `third`.
    assert [p.text for p in got] == ["  norm_num\n", "  positivity\n", "  nlinarith [h₀]\n",
                                     "  never\n"]
    assert first.asked == [4] and second.asked == [2] and third.asked == [1]


async def test_mix_stops_once_n_are_collected_and_serves_tactics():
    first = ListProposer(["omega", "simp"])
    second = ListProposer(["linarith"])
    got = await MixProposer([first, second]).propose_tactics(GOAL, 2)
    assert [p.text for p in got] == ["omega", "simp"] and second.asked == []


async def test_mix_with_portfolio_first_then_a_model():
    model = LMProposer(ScriptedPolicy([portfolio_proofs(PROBLEM)[0], "  exact pow_pos h₀ 2\n"]),
                       PROMPT_FORMATS["deepseek-v1.5"])
    got = await MixProposer([PortfolioPolicy(), model]).propose_proofs(PROBLEM, 1)
    assert [p.text for p in got] == portfolio_proofs(PROBLEM)[:1]
    # One pass: the model, asked for the one missing, repeats the portfolio's proof, so
    # the result is short rather than the model being asked again.
    mix = MixProposer([ListProposer([portfolio_proofs(PROBLEM)[0]]), model])
    got = await mix.propose_proofs(PROBLEM, 2)
    assert [p.text for p in got] == portfolio_proofs(PROBLEM)[:1]


def test_make_proposer_wires_specs():
    from prover.policies.portfolio import PortfolioPolicy
    from prover.policies.proposer import LMProposer, make_proposer
    from search.mix import MixProposer

    assert isinstance(make_proposer("portfolio"), PortfolioPolicy)
    mixed = make_proposer("mix:portfolio,openai:http://127.0.0.1:9/v1#m", prompt_format="deepseek-v2")
    assert isinstance(mixed, MixProposer)
    lm = mixed.proposers[1]
    assert isinstance(lm, LMProposer) and lm.format.name == "deepseek-v2"
    with pytest.raises(ValueError):
        make_proposer("gpt:nothing")
