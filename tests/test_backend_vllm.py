"""The vLLM backend without vLLM: a clear error when it is missing, and the request/reply
translation checked against stand-ins shaped like vLLM's ``RequestOutput``/``CompletionOutput``."""
from __future__ import annotations

import importlib.util
import math
import sys
import types
from dataclasses import dataclass, field

import pytest

from prover.policies.backends.errors import BackendUnavailable
from prover.policies.backends.factory import make_policy
from prover.policies.backends.vllm import (
    VLLMPolicy,
    from_vllm_output,
    to_vllm_sampling_kwargs,
)
from prover.policies.policy import ChatMessage, Completion, GenerationRequest


@dataclass
class FakeCompletionOutput:  # the fields of vllm.outputs.CompletionOutput that we read
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    finish_reason: str | None


@dataclass
class FakeRequestOutput:  # vllm.outputs.RequestOutput
    request_id: str
    outputs: list[FakeCompletionOutput] = field(default_factory=list)


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
    output = FakeRequestOutput(
        "0",
        [
            FakeCompletionOutput(1, "  simp", [5, 6], -1.5, "length"),
            FakeCompletionOutput(0, "  linarith", [1, 2, 3], -0.25, "stop"),
        ],
    )
    assert from_vllm_output(output) == [
        Completion(text="  linarith", tokens=3, logprob=-0.25, finish_reason="stop"),
        Completion(text="  simp", tokens=2, logprob=-1.5, finish_reason="length"),
    ]


def test_from_output_missing_logprob_unknown_reason_and_late_stop():
    output = FakeRequestOutput(
        "1",
        [
            FakeCompletionOutput(0, "abc", [1], None, "abort"),
            FakeCompletionOutput(1, "norm_num\n\nexact h", [1, 2, 3, 4], -2.0, "length"),
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


class _FakeLLM:
    def __init__(self, **kwargs):
        self.engine_kwargs = kwargs
        self.calls = []

    def get_tokenizer(self):
        return _FakeTokenizer()

    def generate(self, prompts, params, use_tqdm=True):
        self.calls.append((prompts, params))
        return [
            FakeRequestOutput(str(i), [FakeCompletionOutput(j, f"out{i}.{j}", [1] * (j + 1), -1.0 * (j + 1), "stop") for j in range(p["n"])])
            for i, p in enumerate(params)
        ]


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM = _FakeLLM
    module.SamplingParams = lambda **kwargs: kwargs
    monkeypatch.setitem(sys.modules, "vllm", module)
    return module


async def test_policy_glue_with_a_stand_in_engine(fake_vllm):
    policy = make_policy("vllm:org/model?tensor_parallel_size=2&max_model_len=4096&seed=5")
    assert isinstance(policy, VLLMPolicy) and policy.name == "vllm:org/model"
    llm = policy._llm
    assert llm.engine_kwargs["model"] == "org/model"
    assert llm.engine_kwargs["tensor_parallel_size"] == 2 and llm.engine_kwargs["max_model_len"] == 4096
    assert llm.engine_kwargs["seed"] == 5 and llm.engine_kwargs["trust_remote_code"] is False
    chat = GenerationRequest(messages=(ChatMessage("user", "prove it"),), n=1, seed=1)
    plain = GenerationRequest(prompt="theorem t : 1 = 1 := by", n=2, stop=("\n",))
    results = await policy.generate([plain, chat])
    assert [[c.text for c in cs] for cs in results] == [["out0.0", "out0.1"], ["out1.0"]]
    assert results[0][1].tokens == 2 and results[0][1].logprob == -2.0
    (prompts, params), = llm.calls
    assert prompts[0] == "theorem t : 1 = 1 := by"
    assert prompts[1] == {"prompt_token_ids": [ord(c) for c in "<user>prove it<assistant>"]}
    assert params[0]["stop"] == ["\n"] and params[1]["seed"] == 1
    await policy.close()
    with pytest.raises(RuntimeError, match="after close"):
        await policy.generate([plain])


def test_presence_penalty_is_passed_only_when_set():
    assert "presence_penalty" not in to_vllm_sampling_kwargs(GenerationRequest(prompt="p"))
    kwargs = to_vllm_sampling_kwargs(GenerationRequest(prompt="p", presence_penalty=0.2))
    assert kwargs["presence_penalty"] == 0.2


async def test_context_length_is_the_engines_max_model_len(fake_vllm):
    policy = make_policy("vllm:org/model")
    assert await policy.context_length() is None  # the stand-in engine has no model config
    policy._llm.llm_engine = types.SimpleNamespace(
        model_config=types.SimpleNamespace(max_model_len=4096))
    assert await policy.context_length() == 4096


async def test_a_correction_turn_reaches_the_engine_as_a_multi_turn_chat(fake_vllm):
    # Self-correction sends (user, assistant, user): every turn, in order, through the template.
    policy = make_policy("vllm:org/model")
    turns = (ChatMessage("user", "prove it"), ChatMessage("assistant", "nlinarith [bad]"),
             ChatMessage("user", "The proof (Round 0) is not correct."))
    await policy.generate([GenerationRequest(messages=turns, n=1, seed=1)])
    (prompts, _params), = policy._llm.calls
    assert prompts[0] == {"prompt_token_ids": [ord(c) for c in (
        "<user>prove it<assistant>nlinarith [bad]<user>The proof (Round 0) is not correct."
        "<assistant>")]}
    await policy.close()
