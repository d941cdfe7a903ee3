"""The public search API: each algorithm finds the proof of a scripted world served by the fake
REPL subprocess, through `search.search`."""
from __future__ import annotations

import random

import pytest

from search import Budget, search
from search.api import METHODS


def test_budget_notation():
    assert Budget.parse("4x32") == Budget(4, 32)
    # A bare number is ambiguous (4 attempts? 4 generations?): refused, with the two readings.
    with pytest.raises(ValueError, match=r"ambiguous.*1x16.*16x1"):
        Budget.parse("16")
    assert Budget.parse("2×8").total == 16 and Budget(2, 8).cost(1, 3) == 11
    with pytest.raises(ValueError):
        Budget.parse("0x4")
    with pytest.raises(ValueError):
        Budget.parse("lots")


async def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown search method"):
        await search(None, method="magic", proposer=None, lean=None, budget=Budget(1, 1),
                     rng=random.Random(0))


def test_all_four_methods_are_registered():
    assert set(METHODS) == {"sample", "rmaxts", "bestfirst", "decompose"}


async def test_sampling_and_rmaxts_through_the_public_api(tmp_path):
    from synthetic_world import ScriptedProposer, branching_world
    from test_rmaxts import world_checker

    from search.verify import verify

    world = branching_world()
    for method, p_correct in (("sample", 0.9), ("rmaxts", 0.4)):
        (tmp_path / method).mkdir()
        async with world_checker(world, tmp_path / method) as lean:
            result = await search(world.problem(), method=method, proposer=ScriptedProposer(world, p_correct=p_correct),
                                  lean=lean, budget=Budget(2, 32), rng=random.Random(7))
            assert result.proved and result.method == method, (method, result.trace[-3:])
            assert (await verify(lean, world.problem(), result.proof)).proved
            assert 1 <= result.cost <= 64 and result.generations >= result.cost


async def test_bestfirst_through_the_public_api(tmp_path):
    import json

    from conftest import fake_repl_command
    from test_bestfirst import PROBLEM, WORLD, ScriptedProposer, world_rules

    from lean_bridge.checker import LeanChecker
    from lean_bridge.pool import PoolConfig, ReplPool
    from lean_bridge.process import ReplSpec

    script = tmp_path / "rules.json"
    script.write_text(json.dumps({"rules": world_rules()}, ensure_ascii=False))
    lean = LeanChecker(ReplPool(ReplSpec(fake_repl_command("--script", str(script), "--version", "v4.19.0")),
                                PoolConfig(max_processes=1)), timeout=10)
    try:
        result = await search(PROBLEM, method="bestfirst", proposer=ScriptedProposer(WORLD), lean=lean,
                              budget=Budget(1, 64), rng=random.Random(0))
    finally:
        await lean.pool.close()
    assert result.proved and result.method == "bestfirst"
