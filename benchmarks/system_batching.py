"""Continuous against barrier batching, through the real ``vllm:`` backend code
(``prover bench-system``, keys ``batching_*``).

One request stream — lengths log-uniform over ``min_tokens``..``max_tokens`` (64× apart by
default: proof lengths vary by 10× and more), arrivals a Poisson process — goes through the
application's vLLM policy (``VLLMPolicy.on_engine``, passed in by the caller: benchmarks do not
import ``prover``) onto two simulated engines (``benchmarks.sim_engine``) that differ only in
scheduling:

* barrier: a batch starts only when the previous one has wholly finished — the old backend,
  offline ``LLM.generate`` under a lock;
* continuous: sequences join and leave the running batch at every step — vLLM's async engine.

Both have the same step cost and the same cap on running sequences. Reported for each: tokens
per simulated second (all tokens ÷ the time the last request finished) and the mean time from
a request's arrival to its answer. Simulated time makes the figures exact and repeatable; they
say what the scheduling is worth, not how fast a GPU is.
"""
from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass
from typing import Any, Callable

from benchmarks.sim_engine import SimEngine


@dataclass(frozen=True)
class StreamRequest:
    prompt: str
    arrival: float  # simulated seconds
    tokens: int


def request_stream(requests: int = 200, *, seed: int = 0, min_tokens: int = 16,
                   max_tokens: int = 1024, mean_gap_s: float = 0.3) -> list[StreamRequest]:
    """The stream both engines serve: log-uniform lengths, exponential gaps between arrivals."""
    rng = random.Random(seed)
    now, out = 0.0, []
    for i in range(requests):
        tokens = round(math.exp(rng.uniform(math.log(min_tokens), math.log(max_tokens))))
        out.append(StreamRequest(f"request {i}", now, tokens))
        now += rng.expovariate(1.0 / mean_gap_s)
    return out


async def serve(stream: list[StreamRequest], *, continuous: bool,
                on_engine: Callable[[Any], Any], generation_request: Callable[..., Any],
                max_batch: int = 16, step_s: float = 0.02) -> dict[str, float]:
    """Serve ``stream`` through the policy on one simulated engine; its figures."""
    by_prompt = {r.prompt: r for r in stream}
    engine = SimEngine(continuous=continuous, max_batch=max_batch, step_s=step_s,
                       arrival_of=lambda text: by_prompt[text].arrival, paused=True)
    policy = on_engine(engine)
    # Every request is its own generate call, as concurrent searches make them; the engine
    # holds each until its arrival time, so submitting them all now replays the stream exactly.
    calls = [asyncio.ensure_future(policy.generate([generation_request(
        prompt=r.prompt, max_tokens=r.tokens, temperature=1.0, seed=i)]))
        for i, r in enumerate(stream)]
    while len(engine.requests) < len(stream):
        await asyncio.sleep(0)
    engine.resume()
    answers = await asyncio.gather(*calls)
    await policy.close()
    got = [completions[0].tokens for (completions,) in answers]
    if got != [r.tokens for r in stream]:
        raise AssertionError("an answer came back to the wrong request or cut short")
    latency = [engine.requests[rid].finished - engine.requests[rid].arrival  # type: ignore[operator]
               for rid in engine.requests]
    return {"tokens_per_s": engine.tokens / engine.now, "mean_latency_s": sum(latency) / len(latency),
            "steps": engine.steps}


def batching(*, on_engine: Callable[[Any], Any], generation_request: Callable[..., Any],
             requests: int = 200, seed: int = 0, max_batch: int = 16) -> dict[str, Any]:
    """The ``batching_*`` figures of ``bench-system``."""
    stream = request_stream(requests, seed=seed)
    figures = {name: asyncio.run(serve(stream, continuous=continuous, on_engine=on_engine,
                                       generation_request=generation_request,
                                       max_batch=max_batch))
               for name, continuous in (("barrier", False), ("continuous", True))}
    lengths = [r.tokens for r in stream]
    return {
        "batching_tokens_per_s_barrier": figures["barrier"]["tokens_per_s"],
        "batching_tokens_per_s_continuous": figures["continuous"]["tokens_per_s"],
        "batching_speedup": (figures["continuous"]["tokens_per_s"]
                             / figures["barrier"]["tokens_per_s"]),
        "batching_latency_s_barrier": figures["barrier"]["mean_latency_s"],
        "batching_latency_s_continuous": figures["continuous"]["mean_latency_s"],
        "batching_requests": requests,
        "batching_max_batch": max_batch,
        "batching_length_ratio": max(lengths) / min(lengths),
    }


__all__ = ["StreamRequest", "batching", "request_stream", "serve"]
