"""Attempts per second of an evaluation slice, locally and on Ray actors (``--ray local``).

Lean is the fake REPL with a fixed latency per request, the policy the portfolio, so the
figure is the scheduling and transport overhead of each mode at equal parallelism: ``W``
REPL processes and ``W`` problems in flight locally, ``W`` Lean worker actors of one REPL
each on a local Ray cluster of ``W`` CPUs. Start-up (the cluster, the actors, the header
imports) is reported apart from the steady-state rate.

    python -m benchmarks.ray_throughput [--data minif2f.jsonl] [--limit 24] [--workers 4]
        [--latency 0.2] [--budget 1x4] [--fail REGEX]

prints one JSON object.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import lean_fake
from benchmarks import app, runner


def _settings(workers: int) -> dict[str, Any]:
    load_settings = app.part("load_settings")
    flags = {"policy": "portfolio", "workers": workers, "timeout": 60.0}
    return dict(load_settings(flags, environ={}, files=[]).values)


async def _local(plan, items, spec, settings, directory: Path) -> dict[str, float]:
    search_stack = app.part("search_stack")
    started = time.monotonic()
    async with search_stack(spec, settings, prompt_format=None,
                            header=items[0].problem.header) as stack:
        ready = time.monotonic()
        attempts = runner.LocalAttempts(plan, proposer=stack.proposer, lean=stack.lean)
        with runner.open_log(directory, None) as log:
            await runner.run_eval(plan, items, log, attempts)
        done = time.monotonic()
    return {"startup_s": ready - started, "run_s": done - ready}


async def _ray(plan, items, spec, settings, directory: Path, workers: int) -> dict[str, float]:
    import dataclasses

    ray_driver = app.part("ray")
    connect, ray_attempts = ray_driver.connect, ray_driver.ray_attempts
    started = time.monotonic()
    connect("local", num_cpus=workers)
    connected = time.monotonic()
    async with ray_attempts(plan, address="local", spec=spec, settings=settings,
                            prompt_format=None, header=items[0].problem.header,
                            workers=workers) as attempts:
        ready = time.monotonic()
        plan = dataclasses.replace(plan, concurrency=attempts.capacity)
        with runner.open_log(directory, None) as log:
            await runner.run_eval(plan, items, log, attempts)
        done = time.monotonic()
    import ray

    ray.shutdown()
    return {"cluster_s": connected - started, "startup_s": ready - connected,
            "run_s": done - ready}


def _outcomes(directory: Path) -> list[tuple]:
    from benchmarks.resultlog import read_lines

    return sorted((r["problem"], r["attempt"], r["status"], r["proof"], r["cost"])
                  for r in read_lines(directory / "results.jsonl"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get(
        "PROVER_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "benchmarks" /
        "minif2f.jsonl")
    parser.add_argument("--limit", type=int, default=24)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--budget", default="1x4")
    parser.add_argument("--fail", metavar="REGEX",
                        help="candidates matching this fail in the fake Lean (longer attempts)")
    args = parser.parse_args(argv)

    from benchmarks.datasets import load_benchmark
    from lean_bridge.process import ReplSpec
    from search import Budget

    items = load_benchmark("minif2f", data=args.data, split="valid")[:args.limit]
    fake = [*lean_fake.command("--latency", str(args.latency))]
    if args.fail:
        fake += ["--error-on", args.fail]
    spec = ReplSpec(tuple(fake))
    settings = _settings(args.workers)
    plan = runner.EvalPlan("minif2f", "valid", "sample", Budget.parse(args.budget), "portfolio",
                           concurrency=args.workers)
    count = len(items) * plan.budget.attempts
    with tempfile.TemporaryDirectory() as tmp:
        local_dir, ray_dir = Path(tmp, "local"), Path(tmp, "ray")
        local_dir.mkdir()
        ray_dir.mkdir()
        local = asyncio.run(_local(plan, items, spec, settings, local_dir))
        remote = asyncio.run(_ray(plan, items, spec, settings, ray_dir, args.workers))
        same = _outcomes(local_dir) == _outcomes(ray_dir)
    print(json.dumps({
        "attempts": count, "workers": args.workers, "latency_s": args.latency,
        "budget": args.budget, "fail": args.fail, "cpus": os.cpu_count(),
        "local": {**{k: round(v, 2) for k, v in local.items()},
                  "attempts_per_s": round(count / local["run_s"], 2)},
        "ray": {**{k: round(v, 2) for k, v in remote.items()},
                "attempts_per_s": round(count / remote["run_s"], 2)},
        "same_results": same,
    }, indent=1))


if __name__ == "__main__":
    main()
