"""``--ray``: attempts, searches and checks on Ray actors give what the local mode gives, and a
lost Lean worker loses no result line.

Ray runs for real: a local cluster of 2 CPUs (``ray.init(num_cpus=2)``, one for the module),
with the fake REPL (a real process on real pipes) standing in for Lean inside the actors. The
CLI runs as a subprocess, as in ``test_eval.py``; the failure tests drive ``ray_attempts``
directly, so that they can kill an actor in the middle of a run.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import fake_repl_command

from benchmarks import runner
from benchmarks.resultlog import read_lines
from prover.drivers.ray import (
    Fleet,
    LeanWorker,
    Member,
    build_proposer,
    hosted_parts,
    plan_servers,
    ray_attempts,
    worker_count,
)
from search import Budget

PROVER = shutil.which("prover") or "prover"
# Some candidates fail in this fake Lean, so attempts differ in status, proof and cost.
VARIED = ("--error-on", "ring_nf|norm_num|linarith")
COMPARED = ("problem", "attempt", "status", "proof", "cost", "generations", "distinct")


def minif2f(shared: Path) -> Path:
    return shared / "benchmarks" / "minif2f.jsonl"


def run(command: list[str], env: dict | None = None, timeout: float = 180):
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def eval_cmd(shared: Path, out: Path, *args: str, fake: tuple[str, ...] = VARIED) -> list[str]:
    return [PROVER, "eval", "minif2f", "--data", str(minif2f(shared)), "--split", "valid",
            "--limit", "6", "--search", "sample", "--budget", "2x4",
            "--repl", shlex.join(fake_repl_command(*fake)), "--out", str(out), *args]


def outcomes(directory: Path) -> list[tuple]:
    records = [r for path in sorted(directory.glob("results*.jsonl")) for r in read_lines(path)]
    return sorted(tuple(r[k] for k in COMPARED) for r in records)


def fewer_calls_when_shared(local: Path, remote: Path) -> None:
    """Local attempts of a problem share their verdicts, Ray-hosted ones do not
    (``benchmarks.runner``): no local line has more Lean calls than its remote twin, and
    some later attempt has fewer (it took an earlier attempt's verdicts)."""
    def calls(directory: Path) -> dict[tuple, int]:
        return {(r["problem"], r["attempt"]): r["lean_calls"]
                for path in sorted(directory.glob("results*.jsonl")) for r in read_lines(path)}

    here, there = calls(local), calls(remote)
    assert here.keys() == there.keys()
    assert all(here[k] <= there[k] for k in here), (here, there)
    assert sum(here.values()) < sum(there.values())


# -- the CLI, local against --ray local (first: it starts a Ray cluster of its own) ------------

def test_eval_ray_local_gives_the_same_result_lines_as_local(shared, tmp_path):
    local, remote = tmp_path / "local", tmp_path / "ray"
    first = run(eval_cmd(shared, local))
    assert first.returncode == 0, first.stderr
    second = run(eval_cmd(shared, remote, "--ray", "local"))
    assert second.returncode == 0, second.stderr
    assert "Lean worker(s)" in second.stderr
    expected = outcomes(local)
    assert len(expected) == 12 and {o[2] for o in expected} == {"proved", "unproved"}
    assert outcomes(remote) == expected
    fewer_calls_when_shared(local, remote)
    manifest = json.loads((remote / "manifest.json").read_text())
    assert manifest["lean"]["version"] == "4.9.0-rc1"  # asked from a REPL inside an actor


def test_without_ray_installed_ray_is_a_clear_usage_error(shared, tmp_path):
    stub = tmp_path / "stub" / "ray"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('no ray in this environment')\n")
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(stub.parent),
                                                        os.environ.get("PYTHONPATH")]))}
    result = run(eval_cmd(shared, tmp_path / "run", "--ray", "local"), env=env)
    assert result.returncode == 2, result.stderr
    assert "pip install 'lean-prover[ray]'" in result.stderr
    assert not (tmp_path / "run").exists()  # refused before anything was written
    lean = tmp_path / "a.lean"
    lean.write_text("import Mathlib\n\ntheorem t (x : ℕ) : x = x := by\n  sorry\n")
    proved = run([PROVER, "prove", str(lean), "--repl", shlex.join(fake_repl_command()),
                  "--ray", "local"], env=env)
    assert proved.returncode == 2 and "lean-prover[ray]" in proved.stderr
    assert "sorry" in lean.read_text()  # untouched
    # ...and without --ray, Ray is not needed at all.
    local = run(eval_cmd(shared, tmp_path / "local"), env=env)
    assert local.returncode == 0, local.stderr


# -- one Ray cluster for the rest of the module -----------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    import ray
    from ray import cloudpickle

    # The test's own worker classes travel by value: the actors cannot import this file.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def settings(**overrides):
    from prover.config import load_settings

    flags = {"policy": "portfolio", "timeout": 30.0, **overrides}
    return dict(load_settings(flags, environ={}, files=[]).values)


def items_of(shared: Path, n: int):
    from benchmarks.datasets import load_benchmark

    return load_benchmark("minif2f", data=minif2f(shared), split="valid")[:n]


def plan_for(attempts: int = 1, per_attempt: int = 4, **kw) -> runner.EvalPlan:
    return runner.EvalPlan("minif2f", "valid", "sample", Budget(attempts, per_attempt),
                           "portfolio", **kw)


def spec_for(*fake: str):
    from lean_bridge.process import ReplSpec

    return ReplSpec(fake_repl_command(*fake))


async def ray_eval(plan, items, directory: Path, *, fake=(), on_result=None, **options):
    """Run ``items`` on Ray actors into ``directory``; the attempts object, for inspection."""
    directory.mkdir(parents=True, exist_ok=True)
    async with ray_attempts(plan, address="local", spec=spec_for(*fake),
                            settings=settings(policy=plan.policy), prompt_format=None,
                            run="r", header=items[0].problem.header, **options) as attempts:
        plan = dataclasses.replace(plan, concurrency=attempts.capacity)
        with runner.open_log(directory, None) as log:
            await runner.run_eval(plan, items, log, attempts, run="r",
                                  on_result=(lambda r, t: on_result(r, attempts))
                                  if on_result else None)
        attempts.workers_at_end = attempts.fleet.size  # type: ignore[attr-defined]
    return attempts


def test_killing_a_lean_actor_mid_run_loses_nothing_and_retries_its_attempt(cluster, shared,
                                                                              tmp_path):
    import ray

    items = items_of(shared, 6)
    plan = plan_for(attempts=2)
    killed: list = []

    def kill_a_busy_worker(record, attempts) -> None:
        fleet = attempts.fleet
        busy = [m for m in fleet.members if m not in fleet.idle]
        if not killed and busy:
            killed.append(busy[0])
            ray.kill(busy[0].handle)

    attempts = asyncio.run(ray_eval(plan, items, tmp_path, fake=("--latency", "0.2"),
                                    on_result=kill_a_busy_worker))
    records = list(read_lines(tmp_path / "results.jsonl"))
    keys = [(r["problem"], r["attempt"]) for r in records]
    assert sorted(keys) == sorted((i.name, a) for i in items for a in range(2))  # once each
    assert killed and len(attempts.retried) == 1
    assert attempts.retried[0] in keys
    assert all(r["status"] == "proved" for r in records)  # the retry did the attempt
    assert attempts.fleet.replaced == 1 and attempts.workers_at_end == 2


def dying_worker(name: str, once: Path | None = None) -> type:
    """A Lean worker whose process dies when it is given problem ``name``: every time, or only
    while the file ``once`` does not exist (it creates it as it dies)."""

    class DyingWorker(LeanWorker):
        async def attempt(self, plan, item, attempt, timeout, run="", kind="eval"):
            if item.name == name and (once is None or not once.exists()):
                if once is not None:
                    once.touch()
                os._exit(1)
            return await LeanWorker.attempt(self, plan, item, attempt, timeout, run, kind)

    return DyingWorker


def test_a_lost_worker_is_replaced_and_its_call_retried_once(cluster, shared, tmp_path):
    items = items_of(shared, 3)
    dying = items[1].name
    # Died once: the retry, on a new worker, proves it.
    once = asyncio.run(ray_eval(plan_for(), items, tmp_path / "once",
                                worker_class=dying_worker(dying, tmp_path / "died")))
    records = {r["problem"]: r for r in read_lines(tmp_path / "once" / "results.jsonl")}
    assert once.retried == [(dying, 0)] and records[dying]["status"] == "proved"
    assert len(records) == 3 and once.fleet.replaced == 1
    # Dies every time: one retry, then an `error` line, which a rerun does again.
    twice = asyncio.run(ray_eval(plan_for(), items, tmp_path / "twice",
                                 worker_class=dying_worker(dying)))
    lines = list(read_lines(tmp_path / "twice" / "results.jsonl"))
    failed = [r for r in lines if r["status"] == "error"]
    assert [r["problem"] for r in failed] == [dying] and "lost twice" in failed[0]["error"]
    assert twice.retried == [(dying, 0), (dying, 0)] and twice.fleet.replaced == 2
    assert sum(r["status"] == "proved" for r in lines) == 2
    rerun = asyncio.run(ray_eval(plan_for(), items, tmp_path / "twice"))
    done = {(r["problem"], r["status"]) for r in read_lines(tmp_path / "twice" / "results.jsonl")}
    assert (dying, "proved") in done and rerun.retried == []


def test_generation_on_a_policy_server_gives_the_local_proposals(cluster, shared, tmp_path):
    """The proxy path (a worker's proposer asks a generation server actor), with the portfolio
    as the hosted policy: no GPU here, so the server holds none."""
    from prover.policies.policy import BatchingPolicy
    from prover.policies.portfolio import PortfolioPolicy
    from prover.policies.prompts import get_format
    from prover.policies.proposer import LMProposer

    items = items_of(shared, 4)
    plan = plan_for(attempts=2)
    remote_dir, local_dir = tmp_path / "ray", tmp_path / "local"
    remote_dir.mkdir()
    local_dir.mkdir()

    async def remote():
        async with ray_attempts(plan, address="local", spec=spec_for(*VARIED),
                                settings=settings(), prompt_format=None, run="r",
                                header=items[0].problem.header, hosted=("portfolio",),
                                gpus_per_server=0) as attempts:
            assert len(attempts.servers) == 1 and attempts.capacity == 1  # 2 CPUs: 1 + 1
            with runner.open_log(remote_dir, None) as log:
                await runner.run_eval(plan, items, log, attempts, run="r")
            return await attempts.servers[0].batches.remote()

    async def local():
        from lean_bridge.checker import LeanChecker
        from lean_bridge.pool import ReplPool

        proposer = LMProposer(BatchingPolicy(PortfolioPolicy()), get_format("deepseek-v1.5"))
        async with ReplPool(spec_for(*VARIED)) as pool:
            attempts = runner.LocalAttempts(plan, proposer=proposer, lean=LeanChecker(pool),
                                            run="r")
            with runner.open_log(local_dir, None) as log:
                await runner.run_eval(plan, items, log, attempts, run="r")

    batches = asyncio.run(remote())
    asyncio.run(local())
    assert batches >= len(items) * 2  # every attempt generated on the server
    assert outcomes(remote_dir) == outcomes(local_dir)
    fewer_calls_when_shared(local_dir, remote_dir)
    assert len(outcomes(local_dir)) == 8


def test_a_served_models_context_clamps_max_tokens_on_a_policy_server(cluster, shared):
    """A model hosted on a generation server gets the local path's clamp: the worker's
    proposer learns the served context from the server (here an openai server that says
    4096 tokens) and asks for no more than the prompt leaves of it."""
    from openai_stub import choices, openai_server

    items = items_of(shared, 1)
    answer = "```lean4\n" + items[0].problem.header + items[0].problem.statement + "  simp\n```"

    def reply(path: str, body: dict) -> dict:
        return choices(path, body, chat=answer, text="  simp\n```")

    with openai_server(reply, [{"id": "short-context", "max_model_len": 4096}]) as (url, rec):
        policy = f"openai:{url}#short-context?logprobs=false"
        plan = runner.EvalPlan("minif2f", "valid", "sample", Budget(1, 1), policy)

        async def remote():
            async with ray_attempts(plan, address="local", spec=spec_for(),
                                    settings=settings(policy=policy, max_tokens=32768),
                                    prompt_format="goedel-v2", run="r",
                                    header=items[0].problem.header, hosted=("openai",),
                                    gpus_per_server=0) as attempts:
                assert len(attempts.servers) == 1
                return [await attempts(item, 0, None) for item in items]

        asyncio.run(remote())
    (path, body), = rec.posts
    assert path == "/v1/chat/completions" and rec.gets == ["/v1/models"]
    # no local tokenizer for this name: the prompt's UTF-8 bytes bound its tokens, plus the
    # chat template's allowance, as in the local path (test_family_requests)
    prompt = body["messages"][0]["content"]
    assert body["max_tokens"] == 4096 - len(prompt.encode("utf-8")) - 32


def test_synth_attempts_are_annotated_where_they_run(cluster, shared, tmp_path):
    items = items_of(shared, 2)

    async def scenario():
        async with ray_attempts(plan_for(), address="local", spec=spec_for(), settings=settings(),
                                prompt_format=None, run="r", kind="synth",
                                header=items[0].problem.header) as attempts:
            return [await attempts(item, 0, None) for item in items]

    lines = asyncio.run(scenario())
    assert [line["status"] for line in lines] == ["proved", "proved"]
    for line in lines:  # the annotation needs Lean: it came from the actor's REPL
        assert line["annotated_proof"] and line["lean_version"] == "4.9.0-rc1"
        assert line["lemmas"] == []


@pytest.mark.parametrize("where", ["local", "address"])
def test_prove_with_ray_fills_the_same_proofs_as_local(where, tmp_path, request):
    from test_prove import HARD, THREE

    # `local` starts a cluster of its own; `address` joins the module's (as `ray start` would).
    address = "local" if where == "local" else request.getfixturevalue("cluster")
    script = tmp_path / "rules.json"
    script.write_text(json.dumps(HARD))
    repl = shlex.join(fake_repl_command("--script", str(script)))
    files = {}
    for mode, extra in (("local", ()), ("ray", ("--ray", address))):
        path = tmp_path / f"{mode}.lean"
        path.write_text(THREE)
        result = run([PROVER, "prove", str(path), "--repl", repl, "--search", "sample",
                      "--budget", "1x4", "--json", *extra])
        assert result.returncode == 1, result.stderr  # hard_one stays unproved
        files[mode] = (path.read_text(), [(t["name"], t["status"], t["proof"])
                                          for t in json.loads(result.stdout)["theorems"]])
    assert files["ray"] == files["local"]
    assert [s for _, s, _ in files["ray"][1]] == ["proved", "unproved", "proved"]
    assert "hard_one (n : ℕ) (h : 0 < n) : helper n > 1 := by sorry" in files["ray"][0]
    assert files["ray"][0] != THREE


# -- scheduling rules, without Ray -------------------------------------------------------------

def test_a_worker_warm_on_the_header_is_preferred_and_loss_is_counted():
    async def scenario():
        fleet = Fleet(lambda: None)
        a, b = Member("a", {"import A"}, 1.0), Member("b", {"import B"}, 2.0)
        fleet.members, fleet.idle = [a, b], [a, b]
        assert (await fleet.acquire("import A")) is a
        assert (await fleet.acquire("import C")) is b  # none warm: the least recently used
        waiter = asyncio.create_task(fleet.acquire("import B"))
        await asyncio.sleep(0)
        assert not waiter.done()  # both busy: it waits
        await fleet.release(a, "import C")
        assert (await waiter) is a and a.headers == {"import A", "import C"}
        fleet.members = []  # every worker lost, none starting: no waiting forever
        with pytest.raises(RuntimeError, match="lost"):
            await fleet.acquire("import A")

    asyncio.run(scenario())


def test_servers_one_engine_per_gpu_and_workers_one_per_cpu():
    parts = hosted_parts("mix:portfolio,hf:/m,vllm:big?tensor_parallel_size=2")
    assert [p.kind for p in parts] == ["hf", "vllm"]
    plans = plan_servers(parts, cluster_gpus=8)
    assert [(p.count, p.gpus) for p in plans] == [(4, 1), (2, 2)]
    assert [(p.count, p.gpus) for p in plan_servers(parts, cluster_gpus=0)] == [(1, 0), (1, 0)]
    assert worker_count(16, 0, None) == 16 and worker_count(16, 2, None) == 14
    assert worker_count(16, 0, 4) == 4 and worker_count(2, 0, 8) == 2  # never unplaceable
    assert worker_count(8, 0, None, processes=4) == 2


def test_build_proposer_puts_hosted_parts_on_servers():
    from prover.drivers.ray import RemotePolicy
    from prover.policies.portfolio import PortfolioPolicy

    mixed = build_proposer("mix:portfolio,hf:/m", prompt_format=None,
                           servers={"hf:/m": ["server"]})
    first, second = mixed.proposers
    assert isinstance(first, PortfolioPolicy)
    assert isinstance(second.policy, RemotePolicy) and second.policy.servers == ["server"]
