"""The transformers backend on a tiny model built inside the test (no hub, no GPU).

A byte-level BPE tokenizer is trained on Lean lines from the shared real proofs and a 2-layer
GPT-2 with random weights is saved next to it; ``make_policy("hf:DIR")`` loads both back with
``from_pretrained``, as it would a real checkpoint. The model's text is noise, which is enough
to check the contract: counts, seeds, stop strings, token limits, log-probabilities, chat.
"""
from __future__ import annotations

import math
import os

import pytest

if not os.environ.get("CI"):  # in CI a missing library is an install bug: fail, don't skip
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")

from benchmarks.tiny_generation import build_tiny_model, lean_lines
from prover.policies.backends.factory import make_policy
from prover.policies.backends.hf import HFPolicy
from prover.policies.policy import ChatMessage, GenerationRequest, Policy


@pytest.fixture(scope="module")
def lines(shared):
    return lean_lines(shared, limit=400)


@pytest.fixture(scope="module")
def model_dir(lines, tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-gpt2"), lines)


@pytest.fixture(scope="module")
def policy(model_dir):
    policy = make_policy(f"hf:{model_dir}?device=cpu&dtype=float32")
    assert isinstance(policy, HFPolicy) and isinstance(policy, Policy)
    return policy


def texts(completions):
    return [c.text for c in completions]


async def test_batch_returns_n_completions_per_request(policy, lines):
    requests = [
        GenerationRequest(prompt=lines[0], n=4, max_tokens=12),
        GenerationRequest(prompt=lines[1] + lines[2], n=4, max_tokens=12),  # longer: left padding
        GenerationRequest(prompt=lines[3], n=4, max_tokens=12, seed=1),
    ]
    results = await policy.generate(requests)
    assert [len(cs) for cs in results] == [4, 4, 4]
    for cs in results:
        for c in cs:
            assert isinstance(c.text, str) and 1 <= c.tokens <= 12
            assert c.finish_reason in ("stop", "length")
    assert await policy.generate([]) == []


async def test_same_seed_same_completions_even_in_another_batch(policy, lines):
    request = GenerationRequest(prompt=lines[5], n=3, max_tokens=16, seed=42)
    alone = await policy.generate([request])
    batched = await policy.generate(
        [
            GenerationRequest(prompt=lines[6], n=2, max_tokens=16, seed=42),
            request,
            GenerationRequest(prompt=lines[7] * 2, n=5, max_tokens=8),
        ]
    )
    assert texts(alone[0]) == texts(batched[1])
    assert [c.logprob for c in alone[0]] == [c.logprob for c in batched[1]]
    other = await policy.generate([GenerationRequest(prompt=lines[5], n=3, max_tokens=16, seed=43)])
    assert texts(other[0]) != texts(alone[0])
    assert len(set(texts(alone[0]))) > 1  # the n samples of one request differ from each other


async def test_global_torch_rng_is_left_alone(policy, lines):
    import torch

    before = torch.random.get_rng_state()
    await policy.generate([GenerationRequest(prompt=lines[0], max_tokens=4, seed=9)])
    await policy.generate([GenerationRequest(prompt=lines[0], max_tokens=4)])
    assert torch.equal(before, torch.random.get_rng_state())


def _stop_string(text: str) -> str | None:
    """An ASCII substring of ``text`` that does not occur at its very start."""
    for k in range(3, len(text) - 3):
        sub = text[k : k + 3]
        if text.find(sub) > 0 and all(33 <= ord(ch) < 127 for ch in sub):
            return sub
    return None


async def test_stop_string_cuts_the_text(policy, lines):
    for seed in range(20):
        base = GenerationRequest(prompt=lines[10], max_tokens=40, seed=seed)
        [[full]] = await policy.generate([base])
        stop = _stop_string(full.text)
        if stop is not None:
            break
    else:
        pytest.fail("the model emitted no usable stop string in 20 tries")
    [[cut]] = await policy.generate([GenerationRequest(prompt=lines[10], max_tokens=40, seed=seed, stop=(stop, "never"))])
    assert cut.text == full.text[: full.text.find(stop)]
    assert stop not in cut.text
    assert cut.finish_reason == "stop"
    assert 1 <= cut.tokens <= full.tokens
    assert cut.logprob >= full.logprob  # fewer tokens: a sum of fewer negative terms


async def test_max_tokens_bounds_tokens_and_logprob_is_negative(policy, lines):
    [completions] = await policy.generate([GenerationRequest(prompt=lines[2], n=6, max_tokens=5, seed=3)])
    for c in completions:
        assert 1 <= c.tokens <= 5
        assert c.finish_reason == ("length" if c.tokens == 5 else "stop")
        assert isinstance(c.logprob, float) and math.isfinite(c.logprob) and c.logprob < 0
    assert any(c.finish_reason == "length" for c in completions)


async def test_logprob_is_the_models_own_not_the_tempered_one(policy, lines):
    # Redo the policy's sampling by hand (same seed, same rows), then score the sampled tokens
    # with one forward pass: the sum must match, although temperature and top-p reshaped the
    # distribution the tokens were drawn from.
    import torch

    request = GenerationRequest(prompt=lines[9], n=2, temperature=0.7, top_p=0.9, max_tokens=8, seed=17)
    [completions] = await policy.generate([request])
    ids = policy.tokenizer.encode(request.prompt)
    with torch.random.fork_rng(devices=[]), torch.inference_mode():
        torch.manual_seed(17)
        sequences = policy.model.generate(
            input_ids=torch.tensor([ids, ids]),
            attention_mask=torch.ones(2, len(ids), dtype=torch.long),
            do_sample=True, temperature=0.7, top_p=0.9, top_k=0, max_new_tokens=8,
            pad_token_id=policy.tokenizer.pad_token_id,
        )
        logits = policy.model(sequences).logits.float()
    logprobs = torch.log_softmax(logits[:, len(ids) - 1 : -1], dim=-1)
    chosen = logprobs.gather(2, sequences[:, len(ids) :].unsqueeze(2)).squeeze(2)
    for row, completion in zip(chosen, completions):
        assert completion.tokens == 8  # no EOS in 8 tokens here, so every token counts
        assert completion.logprob == pytest.approx(row.sum().item(), abs=1e-3)


async def test_greedy_is_deterministic_and_padding_does_not_change_it(policy, lines):
    greedy = GenerationRequest(prompt=lines[4], n=2, temperature=0.0, max_tokens=10)
    [alone] = await policy.generate([greedy])
    assert alone[0] == alone[1]
    # Unseeded requests are batched with left padding next to a much longer prompt.
    [long_one, batched] = await policy.generate(
        [GenerationRequest(prompt=" ".join(lines[:4]), temperature=0.0, max_tokens=10), greedy]
    )
    assert texts(batched) == texts(alone)
    assert [c.logprob for c in batched] == pytest.approx([c.logprob for c in alone], abs=1e-4)


async def test_unseeded_requests_are_reproducible_per_policy(model_dir, lines):
    async def run() -> list[str]:
        policy = HFPolicy(str(model_dir), device="cpu", seed=5)
        out = []
        for _ in range(2):
            [cs] = await policy.generate([GenerationRequest(prompt=lines[8], n=2, max_tokens=8)])
            out += texts(cs)
        await policy.close()
        return out

    first = await run()
    assert first == await run()
    assert first[:2] != first[2:]  # later calls draw new seeds


async def test_chat_request_uses_the_template(policy):
    request = GenerationRequest(
        messages=(ChatMessage("system", "You prove theorems."), ChatMessage("user", "theorem t : 1 + 1 = 2")),
        n=2,
        max_tokens=8,
        seed=0,
    )
    [completions] = await policy.generate([request])
    assert len(completions) == 2 and all(1 <= c.tokens <= 8 for c in completions)
    assert policy._prompt_ids(request) == policy.tokenizer.encode(
        "<|system|>\nYou prove theorems.\n<|user|>\ntheorem t : 1 + 1 = 2\n<|assistant|>\n", add_special_tokens=False
    )


async def test_a_correction_turn_renders_user_assistant_user(policy):
    # Self-correction sends the failed answer back as an assistant turn, then the feedback.
    turns = (ChatMessage("user", "theorem t : 1 + 1 = 2"), ChatMessage("assistant", "by simp"),
             ChatMessage("user", "The proof (Round 0) is not correct."))
    request = GenerationRequest(messages=turns, n=1, max_tokens=4, seed=0)
    [completions] = await policy.generate([request])
    assert len(completions) == 1
    assert policy._prompt_ids(request) == policy.tokenizer.encode(
        "<|user|>\ntheorem t : 1 + 1 = 2\n<|assistant|>\nby simp\n"
        "<|user|>\nThe proof (Round 0) is not correct.\n<|assistant|>\n", add_special_tokens=False)


async def test_chat_without_template_is_a_clear_error(policy):
    template, policy.tokenizer.chat_template = policy.tokenizer.chat_template, None
    try:
        with pytest.raises(ValueError, match="no chat template"):
            await policy.generate([GenerationRequest(messages=(ChatMessage("user", "hi"),), max_tokens=2)])
    finally:
        policy.tokenizer.chat_template = template


def test_bad_options_fail_before_loading(model_dir):
    with pytest.raises(ValueError, match="device"):
        HFPolicy(str(model_dir), device="tpu")
    with pytest.raises(ValueError, match="dtype"):
        HFPolicy(str(model_dir), dtype="int8")


async def test_max_tokens_beyond_the_context_is_clamped_not_a_crash(policy, lines):
    # The tiny model has 512 positions; asking for 2,048 new tokens must not run past them.
    from prover.policies.policy import GenerationRequest

    [[completion]] = await policy.generate([GenerationRequest(lines[0], max_tokens=2048, seed=3,
                                                              temperature=1.0)])
    assert 0 < completion.tokens <= 512


async def test_context_length_and_the_proposers_clamp(policy, lines):
    from prover.policies.policy import BatchingPolicy
    from prover.policies.prompts import get_format
    from prover.policies.proposer import LMProposer

    assert await policy.context_length() == 512  # the tiny model's n_positions
    warned: list[str] = []
    proposer = LMProposer(BatchingPolicy(policy), get_format("deepseek-v1.5"), max_tokens=4096,
                          warn=warned.append)
    request = GenerationRequest(prompt=lines[0], max_tokens=4096)
    fitted = await proposer._fit(request)
    # what the prompt leaves of the context, counted with the model's own tokenizer
    assert fitted.max_tokens == 512 - policy.token_counter()(lines[0])
    assert len(warned) == 1 and "context of 512 tokens" in warned[0]
    await proposer._fit(request)
    assert len(warned) == 1  # said once
    small = GenerationRequest(prompt=lines[0], max_tokens=8)
    assert await proposer._fit(small) is small
