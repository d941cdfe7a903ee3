"""What each model family sends, through the openai backend, to a local HTTP server that
records the bodies: the family is chosen from the model id alone (``openai:URL#MODEL``), and
the body (endpoint, messages or prompt, temperature, top_p, max_tokens, stop, presence
penalty) is the published one.

Every expected body is written here from shared/reference/prompts.md (the section is named at
each), not from the implementation. Where a source gives no value (DeepSeek-Prover-V2's
temperature and top_p), the project's defaults (1.0, 0.95) are what is sent. The server also
answers ``GET /v1/models``, with a ``max_model_len`` for the model called ``short-context``.
"""
from __future__ import annotations

import asyncio
import os

import pytest
from openai_stub import choices, openai_server

if not os.environ.get("CI"):
    pytest.importorskip("httpx")  # in CI a missing httpx is an install bug: fail, don't skip

from prover.policies.proposer import LMProposer, Sampling, make_proposer
from search.problem import Problem
from search.protocols import StepContext

HEAD = ("import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\n"
        "open BigOperators Real Nat Topology Rat\n\n")  # LEAN4_DEFAULT_HEADER, §1 and §5
DOC = "/-- Show that one plus one is two. -/\n"
STATEMENT = "theorem one_add_one : (1 : ℕ) + 1 = 2 := by\n"
PROBLEM = Problem("one_add_one", HEAD, STATEMENT, DOC)
GOAL = "⊢ 1 + 1 = 2"

V15_NON_COT = "Complete the following Lean 4 code:\n\n```lean4\n"  # §1 non_cot_prompt
V15_COT = ("Complete the following Lean 4 code with explanatory comments preceding each line "
           "of code:\n\n```lean4\n")  # §1 cot_prompt, §5
PLAN = ("\n\nBefore producing the Lean 4 code to formally prove the given theorem, provide a "
        "detailed proof plan outlining the main proof steps and strategies.\nThe plan should "
        "highlight key ideas, intermediate lemmas, and proof structures that will guide the "
        "construction of the final formal proof.")  # §2 README, §6
# §2: formal_statement = (header + docstring + theorem + "  sorry").strip(), then
# "```lean4\n{}\n```" (a newline before the closing fence).
V2_USER = ("Complete the following Lean 4 code:\n\n```lean4\n"
           + (HEAD + DOC + STATEMENT + "  sorry").strip() + "\n```")
# §6: lean4_code.split(":= by")[0] + ":= by sorry", then "```lean4\n{formal_statement}```".
GOEDEL_V2_USER = ("Complete the following Lean 4 code:\n\n```lean4\n"
                  + (HEAD + DOC + STATEMENT).split(":= by")[0] + ":= by sorry```" + PLAN)
# §3: prompt += f"\n# Problem:{problem}"; f"\n# Formal statement:\n```lean4\n{formal_statement}\n```\n"
KIMINA_USER = ("Think about and solve the following problem step by step in Lean 4."
               "\n# Problem:Show that one plus one is two."
               "\n# Formal statement:\n```lean4\n" + HEAD + DOC + STATEMENT + "\n```\n")
# §4: "Think about and solve the following problems step by step in Lean 4." + "\n\n" + the file.
KIMINA_2025_USER = ("Think about and solve the following problems step by step in Lean 4.\n\n"
                    + HEAD + DOC + "theorem one_add_one : (1 : ℕ) + 1 = 2 := by sorry")


def _im(user: str) -> str:
    """§7 chat_template_to_prompt for one user message."""
    return "<|im_start|>user\n" + user + "<|im_end|>\n<|im_start|>assistant\n"


# model id -> (endpoint, prompt or messages, sampling the body carries)
EXPECTED: dict[str, tuple[str, object, dict]] = {
    "deepseek-ai/DeepSeek-Prover-V1.5-RL": (  # §1
        "/v1/completions", V15_NON_COT + HEAD + DOC + STATEMENT,
        {"temperature": 1.0, "top_p": 0.95, "max_tokens": 2048, "stop": ["```"]}),
    "deepseek-ai/DeepSeek-Prover-V1.5-Base": (  # §1 (zero-shot CoT stand-in for the 3 shots)
        "/v1/completions", V15_COT + HEAD + DOC + STATEMENT,
        {"temperature": 1.0, "top_p": 0.95, "max_tokens": 2048, "stop": ["```"]}),
    "deepseek-ai/DeepSeek-Prover-V2-7B": (  # §2 README: CoT, max_new_tokens=8192
        "/v1/chat/completions", [{"role": "user", "content": V2_USER + PLAN}],
        {"temperature": 1.0, "top_p": 0.95, "max_tokens": 8192}),
    "Goedel-LM/Goedel-Prover-SFT": (  # §5
        "/v1/completions", V15_COT + HEAD + DOC + STATEMENT,
        {"temperature": 1.0, "top_p": 0.95, "max_tokens": 2048}),
    "Goedel-LM/Goedel-Prover-V2-32B": (  # §6
        "/v1/chat/completions", [{"role": "user", "content": GOEDEL_V2_USER}],
        {"temperature": 1.0, "top_p": 0.95, "max_tokens": 32768}),
    "AI-MO/Kimina-Prover-Preview-Distill-7B": (  # §3
        "/v1/chat/completions",
        [{"role": "system", "content": "You are an expert in mathematics and Lean 4."},
         {"role": "user", "content": KIMINA_USER}],
        {"temperature": 0.6, "top_p": 0.95, "max_tokens": 8096}),
    "AI-MO/Kimina-Prover-Distill-8B": (  # §4 (error_fix.py first turn)
        "/v1/chat/completions",
        [{"role": "system", "content": "You are an expert programmer and mathematician who "
                                       "helps formalizing mathematical problems in Lean 4."},
         {"role": "user", "content": KIMINA_2025_USER}],
        {"temperature": 0.8, "top_p": 1.0, "max_tokens": 16000, "presence_penalty": 0.2}),
}
# step provers: model id -> (prompt, sampling)
EXPECTED_STEPS: dict[str, tuple[str, dict]] = {
    "internlm/internlm2-step-prover": (  # §7
        _im(f"DECL one_add_one\nGOAL {GOAL}\n"),
        {"temperature": 0.7, "top_p": 1.0, "max_tokens": 256, "stop": ["<|im_end|>"]}),
    "internlm/internlm2_5-step-prover": (  # §7, PROOF_BEFORE = the tactics so far
        _im(f"---\nNAME: one_add_one\n\n---\nPROOF_BEFORE: norm_num\n\n---\nSTATE_BEFORE: {GOAL}"
            "\n\n---\nTACTIC: "),
        {"temperature": 0.7, "top_p": 1.0, "max_tokens": 256, "stop": ["<|im_end|>"]}),
    "ByteDance-Seed/BFS-Prover-V2-7B": (  # §8 run_local_search.sh
        GOAL + ":::", {"temperature": 1.3, "top_p": 1.0, "max_tokens": 2048}),
}


# what GET /v1/models lists: a model that says its context, and one that does not
MODELS = [{"id": "short-context", "object": "model", "max_model_len": 4096},
          {"id": "Goedel-LM/Goedel-Prover-V2-32B", "object": "model"}]


def _answer(path: str, body: dict) -> dict:
    # a completion is closed like a completion model does (Goedel-SFT's extraction needs it)
    return choices(path, body, chat="```lean4\n" + HEAD + STATEMENT + "  norm_num\n```",
                   text="  norm_num\n```", tokens=body.get("n", 1))


@pytest.fixture
def server():
    with openai_server(_answer, MODELS) as (url, rec):
        yield url, rec


def _propose(url: str, model: str, *, steps: bool = False, **kw) -> tuple[LMProposer, list]:
    warned: list[str] = []
    proposer = make_proposer(f"openai:{url}#{model}?logprobs=false", warn=warned.append, **kw)

    async def go():
        try:
            if steps:
                context = StepContext(PROBLEM, ("norm_num",))
                return await proposer.propose_tactics(GOAL, 2, seed=7, context=context)
            return await proposer.propose_proofs(PROBLEM, 2, seed=7)
        finally:
            await proposer.policy.close()

    return proposer, [asyncio.run(go()), warned]


@pytest.mark.parametrize("model", list(EXPECTED))
def test_whole_proof_body_is_the_published_one(server, model):
    url, rec = server
    _, (proposals, warned) = _propose(url, model)
    assert not warned, warned  # the family was found from the id alone
    assert len(rec.posts) == 1
    path, body = rec.posts[0]
    endpoint, text, sampling = EXPECTED[model]
    expected = {"model": model, "n": 2, "seed": 7, **sampling}
    expected["messages" if endpoint.endswith("chat/completions") else "prompt"] = text
    assert (path, body) == (endpoint, expected)
    assert proposals and all(p.text.strip() == "norm_num" for p in proposals)


@pytest.mark.parametrize("model", list(EXPECTED_STEPS))
def test_step_prover_body_is_the_published_one(server, model):
    url, rec = server
    _, (proposals, warned) = _propose(url, model, steps=True)
    assert not warned, warned
    prompt, sampling = EXPECTED_STEPS[model]
    assert rec.posts == [("/v1/completions",
                          {"model": model, "n": 2, "seed": 7, "prompt": prompt, **sampling})]
    assert proposals


def test_a_named_mode_gets_that_modes_prompt_and_the_familys_sampling(server):
    url, rec = server
    _propose(url, "deepseek-ai/DeepSeek-Prover-V2-7B", prompt_format="deepseek-v2")
    path, body = rec.posts[0]  # §2 non-CoT: the CoT message without the plan sentences
    assert path == "/v1/chat/completions"
    assert body["messages"] == [{"role": "user", "content": V2_USER}]
    assert body["max_tokens"] == 8192


def test_flags_win_over_the_family(server):
    url, rec = server
    _propose(url, "Goedel-LM/Goedel-Prover-V2-32B",
             sampling=Sampling(temperature=0.5, top_p=0.8, max_tokens=1000))
    body = rec.posts[0][1]
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.5, 0.8, 1000)
    assert body["messages"][0]["content"] == GOEDEL_V2_USER


def test_an_unknown_model_warns_once_and_gets_the_v15_default(server):
    url, rec = server
    _, (_, warned) = _propose(url, "my-own-prover")
    assert len(warned) == 1 and "--prompt-format" in warned[0] and "goedel-v2" in warned[0]
    path, body = rec.posts[0]
    assert path == "/v1/completions" and body["prompt"] == V15_NON_COT + HEAD + DOC + STATEMENT
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (1.0, 0.95, 2048)


def test_max_tokens_is_clamped_to_the_served_context_with_a_warning(server):
    url, rec = server
    # a Goedel-V2 family name under a server that says its context is 4096 tokens
    _, (_, warned) = _propose(url, "short-context", prompt_format="goedel-v2",
                              sampling=Sampling(max_tokens=32768))
    assert rec.gets == ["/v1/models"]
    # no local tokenizer for this name: the prompt's UTF-8 bytes bound its tokens, plus the
    # chat template's allowance, so the request always fits
    assert rec.posts[0][1]["max_tokens"] == 4096 - len(GOEDEL_V2_USER.encode("utf-8")) - 32
    assert any("context of 4096 tokens" in w for w in warned), warned


def test_no_clamp_when_the_server_gives_no_context(server):
    url, rec = server
    _, (_, warned) = _propose(url, "Goedel-LM/Goedel-Prover-V2-32B")
    assert rec.gets == ["/v1/models"]  # asked once; it gives no max_model_len
    assert rec.posts[0][1]["max_tokens"] == 32768 and not warned
