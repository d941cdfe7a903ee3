"""The vLLM backend without vLLM: a clear error when it is missing, and the request/reply
translation checked against stand-ins shaped like vLLM's ``RequestOutput``/``CompletionOutput``."""
from __future__ import annotations

import asyncio
import importlib.util
import math
import os
import sys
import types

import pytest

from benchmarks.sim_engine import SimCompletionOutput, SimEngine, SimRequestOutput
from prover.policies.backends.errors import BackendUnavailable
from prover.policies.backends.factory import make_policy
from prover.policies.backends.vllm import (
    VLLMPolicy,
    from_vllm_output,
    to_vllm_sampling_kwargs,
)
from prover.policies.policy import ChatMessage, Completion, GenerationRequest


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_missing_vllm_says_how_to_install():
    with pytest.raises(BackendUnavailable) as info:
        make_policy("vllm:x")
    assert 'pip install "lean-prover[vllm]"' in str(info.value)
    assert "CUDA" in str(info.value)
    assert isinstance(info.value, RuntimeError)


def test_sampling_kwargs():
    request = GenerationRequest(prompt="p", n=8, temperature=0.7, top_p=0.9, max_tokens=256, stop=("\n\n", ":="), seed=3)
    assert to_vllm_sampling_kwargs(request) == {
        "n": 8,
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 256,
        "stop": ["\n\n", ":="],
        "seed": 3,
        "logprobs": 0,
    }


def test_sampling_kwargs_greedy_and_unseeded():
    kwargs = to_vllm_sampling_kwargs(GenerationRequest(prompt="p", temperature=0.0, top_p=0.5))
    assert kwargs["temperature"] == 0.0 and kwargs["top_p"] == 1.0
    assert kwargs["seed"] is None and kwargs["stop"] == [] and kwargs["n"] == 1


def test_from_output_reads_every_sample_in_index_order():
    output = SimRequestOutput(
        "0",
        [
            SimCompletionOutput(1, "  simp", [5, 6], -1.5, "length"),
            SimCompletionOutput(0, "  linarith", [1, 2, 3], -0.25, "stop"),
        ],
    )
    assert from_vllm_output(output) == [
        Completion(text="  linarith", tokens=3, logprob=-0.25, finish_reason="stop"),
        Completion(text="  simp", tokens=2, logprob=-1.5, finish_reason="length"),
    ]


def test_from_output_missing_logprob_unknown_reason_and_late_stop():
    output = SimRequestOutput(
        "1",
        [
            SimCompletionOutput(0, "abc", [1], None, "abort"),
            SimCompletionOutput(1, "norm_num\n\nexact h", [1, 2, 3, 4], -2.0, "length"),
        ],
    )
    first, second = from_vllm_output(output, stop=("\n\n",))
    assert first == Completion(text="abc", tokens=1, logprob=None, finish_reason=None)
    assert second.text == "norm_num" and second.finish_reason == "stop"
    assert math.isclose(second.logprob, -2.0)


class _FakeTokenizer:
    chat_template = "{{ messages }}"

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        assert tokenize is False and add_generation_prompt is True
        return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"

    def encode(self, text, add_special_tokens):
        assert add_special_tokens is False  # the template writes the special tokens
        return [ord(c) for c in text]


class _FakeAsyncLLM:
    """``vllm.AsyncLLMEngine`` as the backend builds it: ``from_engine_args`` gives the
    simulated engine (benchmarks/sim_engine.py), with the engine arguments recorded."""

    built: list[SimEngine] = []

    @classmethod
    def from_engine_args(cls, args):
        engine = SimEngine(tokenizer=_FakeTokenizer(), max_model_len=args.get("max_model_len"),
                           length_of=lambda _text, params, i: i + 1)
        engine.engine_kwargs = args
        engine.sampling = []
        cls.built.append(engine)
        return engine


class _OutputKind:  # vllm.sampling_params.RequestOutputKind
    FINAL_ONLY = "final-only"


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.AsyncLLMEngine = _FakeAsyncLLM
    module.AsyncEngineArgs = lambda **kwargs: kwargs
    module.SamplingParams = lambda **kwargs: kwargs
    module.sampling_params = types.SimpleNamespace(RequestOutputKind=_OutputKind)
    monkeypatch.setitem(sys.modules, "vllm", module)
    return module


async def test_policy_glue_with_a_stand_in_engine(fake_vllm):
    policy = make_policy("vllm:org/model?tensor_parallel_size=2&max_model_len=4096&seed=5")
    assert isinstance(policy, VLLMPolicy) and policy.name == "vllm:org/model"
    engine = policy._engine
    assert engine.engine_kwargs["model"] == "org/model"
    assert engine.engine_kwargs["tensor_parallel_size"] == 2
    assert engine.engine_kwargs["max_model_len"] == 4096
    assert engine.engine_kwargs["seed"] == 5 and engine.engine_kwargs["trust_remote_code"] is False
    chat = GenerationRequest(messages=(ChatMessage("user", "prove it"),), n=1, seed=1)
    plain = GenerationRequest(prompt="theorem t : 1 = 1 := by", n=2, stop=("\n",))
    results = await policy.generate([plain, chat])
    # Each result is its own request's: the stand-in's text names the prompt it answers.
    ids = " ".join(str(ord(c)) for c in "<user>prove it<assistant>")
    assert [[c.text for c in cs] for cs in results] == [
        ["<theorem t : 1 = 1 := by>#0", "<theorem t : 1 = 1 := by>#1"], [f"<{ids}>#0"]]
    assert results[0][1].tokens == 2 and results[0][1].logprob == -1.0
    assert results[0][1].finish_reason == "length"
    first, second = engine.requests.values()
    assert first.sent == {"prompt": "theorem t : 1 = 1 := by"} and first.lengths == [1, 2]
    assert first.params["stop"] == ["\n"] and second.params["seed"] == 1
    # chat: sent as the template's token ids, so the engine adds no second BOS
    assert second.sent == {"prompt_token_ids": [ord(c) for c in "<user>prove it<assistant>"]}
    assert await policy.context_length() == 4096
    await policy.close()
    assert engine.closed
    with pytest.raises(RuntimeError, match="after close"):
        await policy.generate([plain])


async def test_sampling_params_ask_for_the_final_output_only(fake_vllm, monkeypatch):
    seen = []
    fake_vllm.SamplingParams = lambda **kwargs: seen.append(kwargs) or kwargs
    policy = make_policy("vllm:org/model")
    await policy.generate([GenerationRequest(prompt="p", n=1, stop=("\n",), seed=3)])
    (params,) = seen
    assert params == {**to_vllm_sampling_kwargs(GenerationRequest(prompt="p", stop=("\n",),
                                                                  seed=3)),
                      "output_kind": "final-only"}


def test_logging_goes_to_stderr_unless_the_user_chose(fake_vllm, monkeypatch):
    monkeypatch.delenv("VLLM_LOGGING_STREAM", raising=False)
    make_policy("vllm:org/model")
    assert os.environ["VLLM_LOGGING_STREAM"] == "ext://sys.stderr"
    monkeypatch.setenv("VLLM_LOGGING_STREAM", "ext://sys.stdout")
    make_policy("vllm:org/model")
    assert os.environ["VLLM_LOGGING_STREAM"] == "ext://sys.stdout"


def _on(engine: SimEngine) -> VLLMPolicy:
    return VLLMPolicy.on_engine(engine, dict, name="vllm:sim")


async def test_a_request_submitted_mid_batch_starts_before_the_running_one_finishes():
    engine = SimEngine(max_batch=8)
    policy = _on(engine)
    long = asyncio.ensure_future(policy.generate([GenerationRequest(prompt="long",
                                                                    max_tokens=200)]))
    await engine.wait_steps(10)
    short = await policy.generate([GenerationRequest(prompt="short", max_tokens=5)])
    assert not long.done()  # the short one came back while the long one still runs
    (completions,) = await long
    assert completions[0].text == "<long>#0" and completions[0].tokens == 200
    assert short[0][0].text == "<short>#0" and short[0][0].tokens == 5
    times = {(kind, rid): t for t, kind, rid in engine.events}
    assert times[("start", "prover-1")] < times[("finish", "prover-0")]
    assert times[("finish", "prover-1")] < times[("finish", "prover-0")]


async def test_the_barrier_engine_makes_the_same_request_wait_for_the_batch():
    # The stand-in in barrier mode is the old backend's behaviour (LLM.generate under a lock):
    # the test above is not passed by every engine.
    engine = SimEngine(max_batch=8, continuous=False)
    policy = _on(engine)
    long = asyncio.ensure_future(policy.generate([GenerationRequest(prompt="long",
                                                                    max_tokens=200)]))
    await engine.wait_steps(10)
    await policy.generate([GenerationRequest(prompt="short", max_tokens=5)])
    assert long.done()
    times = {(kind, rid): t for t, kind, rid in engine.events}
    assert times[("start", "prover-1")] >= times[("finish", "prover-0")]


async def test_cancelling_a_generate_aborts_its_requests_in_the_engine():
    engine = SimEngine(max_batch=8)
    policy = _on(engine)
    task = asyncio.ensure_future(policy.generate([
        GenerationRequest(prompt="a", max_tokens=1000), GenerationRequest(prompt="b", n=2,
                                                                          max_tokens=1000)]))
    await engine.wait_steps(3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(engine.aborted) == ["prover-0", "prover-1"]
    assert not engine._running and not engine._waiting  # nothing runs on for nobody
    # The engine goes on serving: a later request is answered.
    (after,) = await policy.generate([GenerationRequest(prompt="c", max_tokens=3)])
    assert after[0].text == "<c>#0" and engine.requests["prover-2"].finished is not None


async def test_a_failed_request_stops_its_siblings():
    class Failing(SimEngine):
        async def generate(self, prompt, sampling_params, request_id):
            if prompt["prompt"] == "bad":
                raise ValueError("prompt too long")
                yield  # an async generator, as the engine's is
            async for out in super().generate(prompt, sampling_params, request_id):
                yield out

    engine = Failing(max_batch=8)
    policy = _on(engine)
    with pytest.raises(ValueError, match="too long"):
        await policy.generate([GenerationRequest(prompt="ok", max_tokens=1000),
                               GenerationRequest(prompt="bad")])
    assert engine.aborted == ["prover-0"]


def test_presence_penalty_is_passed_only_when_set():
    assert "presence_penalty" not in to_vllm_sampling_kwargs(GenerationRequest(prompt="p"))
    kwargs = to_vllm_sampling_kwargs(GenerationRequest(prompt="p", presence_penalty=0.2))
    assert kwargs["presence_penalty"] == 0.2


async def test_context_length_is_the_engines_max_model_len(fake_vllm):
    policy = make_policy("vllm:org/model")
    assert await policy.context_length() is None  # no max_model_len given: the stand-in has none
    assert await _on(SimEngine(max_model_len=8192)).context_length() == 8192
    del policy._engine.model_config
    assert await policy.context_length() is None


async def test_a_correction_turn_reaches_the_engine_as_a_multi_turn_chat(fake_vllm):
    # Self-correction sends (user, assistant, user): every turn, in order, through the template.
    policy = make_policy("vllm:org/model")
    turns = (ChatMessage("user", "prove it"), ChatMessage("assistant", "nlinarith [bad]"),
             ChatMessage("user", "The proof (Round 0) is not correct."))
    await policy.generate([GenerationRequest(messages=turns, n=1, seed=1)])
    (request,) = policy._engine.requests.values()
    assert request.sent == {"prompt_token_ids": [ord(c) for c in (
        "<user>prove it<assistant>nlinarith [bad]<user>The proof (Round 0) is not correct."
        "<assistant>")]}
    assert request.params["seed"] == 1
    await policy.close()


async def test_the_application_s_proposer_talks_to_the_engine_directly(fake_vllm):
    # make_proposer puts no coalescing layer in front of the engine: a BatchingPolicy would
    # make each group wait for the one before (a barrier again) and keep a cancelled search's
    # requests running. Through the real proposer: a proof request made while another runs
    # comes back first, and the search's early stop aborts what it still has in flight.
    from prover.policies.proposer import make_proposer
    from search.problem import DEFAULT_HEADER, Problem

    proposer = make_proposer("vllm:org/model", prompt_format="deepseek-v1.5")
    assert isinstance(proposer.policy, VLLMPolicy)
    engine = proposer.policy._engine
    engine._length_of = lambda text, params, i: 300 if "long" in text else 5
    problem = Problem("t", DEFAULT_HEADER, "theorem long_one : 1 = 1 := by\n", "")
    quick = Problem("u", DEFAULT_HEADER, "theorem quick : 2 = 2 := by\n", "")
    slow = asyncio.ensure_future(proposer.propose_proofs(problem, 2, seed=1))
    await engine.wait_steps(5)
    await proposer.propose_proofs(quick, 1, seed=2)
    assert not slow.done()
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    assert sorted(engine.aborted) == ["prover-0"]
    assert not engine._running
