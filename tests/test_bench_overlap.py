"""bench-system's overlap figures (``benchmarks.system_overlap``): the simulation's parts do
what its docstring says; the figures have their keys. No figure is judged here: the benchmark
reports them against its targets."""
from __future__ import annotations

import asyncio

from benchmarks import system
from benchmarks.system_overlap import (
    TARGETS,
    Engine,
    Setup,
    proof_lengths,
    run_overlap,
    run_virtual,
)
from search.problem import Problem

PROBLEM = Problem("p", "", "theorem p : True := by\n")


def test_virtual_time_jumps_to_the_next_timer():
    async def main():
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.gather(asyncio.sleep(1000), asyncio.sleep(30))
        return loop.time() - start

    assert 1000 <= run_virtual(main()) < 1000.01


def test_the_engine_runs_one_batch_at_a_time_to_its_longest_sequence():
    engine = Engine(per_token_s=0.5, lengths=[10, 40])

    async def main():
        loop = asyncio.get_running_loop()
        first = asyncio.ensure_future(engine.propose_proofs(PROBLEM, 6, seed=1))
        await asyncio.sleep(1)  # arrives while the first batch runs: joins the next one
        second = asyncio.ensure_future(engine.propose_proofs(PROBLEM, 1, seed=2))
        third = asyncio.ensure_future(engine.propose_proofs(PROBLEM, 1, seed=3))
        made = await first
        after_first = loop.time()
        await asyncio.gather(second, third)
        return made, after_first, loop.time()

    made, after_first, end = run_virtual(main())
    assert after_first == max(p.tokens for p in made) * 0.5
    assert engine.batches == 2 and end == engine.busy_s
    assert {p.tokens for p in made} <= {10, 40}


def test_a_cancelled_check_keeps_its_lean_worker_to_the_end():
    from benchmarks.system_overlap import Lean
    from search.verify import reference_of

    lean = Lean(workers=1, lean_s=10.0, chances={"p": 0.0})

    async def main():
        loop = asyncio.get_running_loop()
        first = asyncio.ensure_future(lean.check("", "x", reference=reference_of(PROBLEM)))
        queued = asyncio.ensure_future(lean.check("", "y", reference=reference_of(PROBLEM)))
        await asyncio.sleep(1)
        first.cancel()  # running: the worker finishes it
        queued.cancel()  # waiting: it just leaves the queue
        await asyncio.gather(first, queued, return_exceptions=True)
        await lean.check("", "z", reference=reference_of(PROBLEM))
        return loop.time()

    assert run_virtual(main()) == 20.0 and lean.checks == 2


def test_lengths_come_from_the_real_proofs(shared):
    lengths, source = proof_lengths(shared)
    assert lengths is not None and len(lengths) == 197 and "197 proofs" in source
    missing, fallback = proof_lengths(shared / "nowhere")
    assert missing is None and fallback.startswith("fallback: log-normal")


def test_the_report_has_both_schedules_side_by_side(tmp_path):
    report = run_overlap(shared=tmp_path, problems=6, budget="1x8", batch=4,
                         setups={"": Setup(1, 2, 5.0), "_eval": Setup(2, 2, 5.0)})
    for suffix in ("", "_eval"):
        for schedule in ("barrier", "pipeline_only", "overlap"):
            assert 0 < report[f"generator_busy_{schedule}{suffix}"] <= 1
            assert 0 < report[f"lean_busy_{schedule}{suffix}"] <= 1
        assert report[f"overlap_speedup{suffix}"] > 0
        assert report[f"overlap_extra_generations{suffix}"] >= 0
        assert report[f"overlap_extra_checks{suffix}"] >= 0
    assert report["overlap_same_results"] is True
    assert report["overlap_lengths_source"].startswith("fallback")  # no real proofs there
    assert set(TARGETS) <= set(system.TARGETS)
