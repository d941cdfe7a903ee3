"""bench-system's batching figures: one stream, through the vLLM backend, onto a barrier-batched
and a continuous simulated engine. Simulated time, so the figures are exact: what is asserted is
the scheduling, not a machine's speed."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from benchmarks.sim_engine import SimEngine
from benchmarks.system_batching import batching, request_stream, serve
from prover.policies.backends.vllm import on_simulated_engine
from prover.policies.policy import GenerationRequest


def test_the_stream_varies_tenfold_and_arrives_over_time():
    stream = request_stream(200, seed=0)
    lengths = [r.tokens for r in stream]
    assert max(lengths) >= 10 * min(lengths)
    assert stream == request_stream(200, seed=0)  # the same stream for both engines
    arrivals = [r.arrival for r in stream]
    assert arrivals == sorted(arrivals) and arrivals[-1] > 10 * arrivals[1]


def test_continuous_batching_serves_more_tokens_per_second_than_the_barrier():
    figures = batching(on_engine=on_simulated_engine, generation_request=GenerationRequest,
                       requests=60)
    assert figures["batching_tokens_per_s_continuous"] > figures["batching_tokens_per_s_barrier"]
    assert figures["batching_latency_s_continuous"] < figures["batching_latency_s_barrier"]
    assert figures["batching_requests"] == 60 and figures["batching_length_ratio"] >= 10


def test_one_request_alone_costs_the_same_on_both_engines():
    # No contention, no difference: the gap above comes from the scheduling alone.
    stream = request_stream(1, seed=3)
    runs = [asyncio.run(serve(stream, continuous=c, on_engine=on_simulated_engine,
                              generation_request=GenerationRequest)) for c in (False, True)]
    assert runs[0] == runs[1] and runs[0]["steps"] == stream[0].tokens


async def test_the_barrier_holds_finished_sequences_until_the_batch_s_longest_is_done():
    engine = SimEngine(continuous=False, max_batch=4)
    policy = on_simulated_engine(engine)
    a, b = await asyncio.gather(policy.generate([GenerationRequest(prompt="a", max_tokens=3)]),
                                policy.generate([GenerationRequest(prompt="b", max_tokens=30)]))
    finish = {rid: t for t, kind, rid in engine.events if kind == "finish"}
    assert finish["prover-0"] == finish["prover-1"] and engine.steps == 30
    assert a[0][0].tokens == 3 and b[0][0].tokens == 30


def test_bench_system_reports_the_batching_keys():
    done = subprocess.run([sys.executable, "-m", "prover.cli", "bench-system", "--json",
                           "--nodes", "50", "--workers", "1", "--latency", "0.01",
                           "--checks", "2"], capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    for key in ("batching_tokens_per_s_barrier", "batching_tokens_per_s_continuous",
                "batching_speedup"):
        assert report[key] > 0
    assert "batching_speedup" in report["targets_met"]
