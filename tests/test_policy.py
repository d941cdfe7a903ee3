"""The Policy interface: request validation, stop strings, and batching of concurrent callers."""
from __future__ import annotations

import asyncio

import pytest

from prover.policies.policy import (
    BatchingPolicy,
    Completion,
    GenerationRequest,
    apply_stop,
    batched,
)


class CountingPolicy:
    """Stands in for a model: answers each prompt with its own text, counting backend calls."""

    name = "counting"

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.fail = fail

    async def generate(self, requests):
        self.batches.append([r.prompt for r in requests])
        await asyncio.sleep(0)
        if self.fail:
            raise RuntimeError("backend down")
        return [[Completion(f"{r.prompt}#{i}") for i in range(r.n)] for r in requests]

    async def close(self):
        pass


def test_bad_sampling_parameters_are_refused():
    with pytest.raises(ValueError):
        GenerationRequest("x", n=0)
    with pytest.raises(ValueError):
        GenerationRequest("x", top_p=0)


def test_apply_stop_cuts_at_the_earliest_stop():
    assert apply_stop("abc```def--x", ["--", "```"]) == ("abc", True)
    assert apply_stop("abc", ["```"]) == ("abc", False)


async def test_concurrent_requests_become_one_backend_call_in_order():
    inner = CountingPolicy()
    policy = BatchingPolicy(inner, window=0.01)
    results = await asyncio.gather(*(policy.generate([GenerationRequest(f"p{i}", n=2)]) for i in range(10)))
    assert policy.calls == 1 and len(inner.batches) == 1 and len(inner.batches[0]) == 10
    assert [r[0][0].text for r in results] == [f"p{i}#0" for i in range(10)]
    assert all(len(r[0]) == 2 for r in results)


async def test_max_batch_splits_large_bursts():
    inner = CountingPolicy()
    policy = BatchingPolicy(inner, window=0.01, max_batch=4)
    await asyncio.gather(*(policy.generate([GenerationRequest(f"p{i}")]) for i in range(10)))
    assert sorted(len(b) for b in inner.batches) == [2, 4, 4]


async def test_a_backend_failure_reaches_every_waiter():
    policy = BatchingPolicy(CountingPolicy(fail=True), window=0.01)
    results = await asyncio.gather(*(policy.generate([GenerationRequest(f"p{i}")]) for i in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)


def test_only_backends_that_batch_themselves_skip_the_coalescing_layer():
    from prover.policies.backends.openai import OpenAIPolicy
    from prover.policies.backends.vllm import VLLMPolicy

    assert isinstance(batched(CountingPolicy(), window=0.01), BatchingPolicy)  # hf-like
    openai = OpenAIPolicy("http://127.0.0.1:9/v1", "m")
    assert batched(openai) is openai  # the server batches continuously
    assert VLLMPolicy.continuous_batching is True  # the async engine does (test_backend_vllm)
