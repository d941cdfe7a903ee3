"""A resumed ``rmaxts`` eval attempt whose problem's earlier attempt filled the shared outcome
store (``search.verdicts.SharedVerdicts``): its checkpoint keeps the outcomes it started with
(``inherited``), so the resumed attempt writes the line an uninterrupted run writes, Lean calls
and distinct candidates included, although the earlier attempt is not run again."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from synthetic_world import ScriptedProposer, chain_world
from test_rmaxts import StopAfter, world_checker
from test_tree_checkpoints import NAME, SAME, WorldItem, checkpoints_of, run_once

from benchmarks import runner
from benchmarks.checkpoints import CHECKPOINT_DIR
from search import Budget
from search.verdicts import SharedVerdicts

PER_ATTEMPT = 12
# With these, attempt 1 of the chain world takes outcomes of attempt 0 at its rollouts 6, 10
# and 11: the resumed part must find them in the store again, and one claimed before the cut
# (8) must count once in its distinct candidates.
P_CORRECT = 0.1
SEED = 0


class Unshared(runner.LocalAttempts):
    """Attempts as before sharing: each its own store (the comparison that shows sharing)."""

    async def __call__(self, item, attempt, timeout):
        self.verdicts.of = lambda name: SharedVerdicts.empty()  # type: ignore[method-assign]
        return await super().__call__(item, attempt, timeout)


def plan_for(seed: int) -> runner.EvalPlan:
    return runner.EvalPlan("synthetic", None, "rmaxts", Budget(2, PER_ATTEMPT), "scripted",
                           seed=seed, options={"concurrency": 1})


async def interrupt_second(out: Path, plan, item, world, lean, k: int) -> None:
    """Run until the proposer's (k+1)-th call (inside attempt 1), then cancel."""
    out.mkdir(exist_ok=True)
    checkpoints = checkpoints_of(out, plan, [])
    stopper = StopAfter(ScriptedProposer(world, p_correct=P_CORRECT), k=k)
    attempts = runner.LocalAttempts(plan, proposer=stopper, lean=lean, checkpoints=checkpoints)
    with runner.open_log(out, None) as log:
        task = asyncio.create_task(runner.run_eval(plan, [item], log, attempts,
                                                   checkpoints=checkpoints))
        await stopper.blocked.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert [r["attempt"] for r in log.records] == [0]  # attempt 1 has no line yet
    assert len(list((out / CHECKPOINT_DIR).iterdir())) == 1


@pytest.mark.parametrize("cut", [2, 5, 8])
async def test_a_resumed_second_attempt_writes_the_uninterrupted_line(tmp_path, cut):
    world = chain_world(3)
    item = WorldItem(NAME, world.problem())
    plan = plan_for(seed=SEED)
    async with world_checker(world, tmp_path) as lean:
        whole = await run_once(tmp_path / "whole", plan, item,
                               ScriptedProposer(world, p_correct=P_CORRECT), lean, [])
        whole.sort(key=lambda r: r["attempt"])
        assert [r["generations"] for r in whole] == [PER_ATTEMPT, PER_ATTEMPT]
        assert not any(r["proved"] for r in whole)  # both attempts ran their whole budget
        alone = await run_once(tmp_path / "alone", plan, item,
                               ScriptedProposer(world, p_correct=P_CORRECT), lean, [],
                               Unshared)
        alone.sort(key=lambda r: r["attempt"])
        # Attempt 1 took some of attempt 0's outcomes (and its root check): fewer calls
        # than on its own, fewer than the distinct candidates it judged.
        assert whole[1]["lean_calls"] < alone[1]["lean_calls"]
        assert whole[1]["distinct"] == alone[1]["distinct"] > whole[1]["lean_calls"]

        out = tmp_path / "parts"
        await interrupt_second(out, plan, item, world, lean, k=PER_ATTEMPT + cut)
        counting = ScriptedProposer(world, p_correct=P_CORRECT)
        notes: list[str] = []
        resumed = await run_once(out, plan, item, counting, lean, notes)
    resumed.sort(key=lambda r: r["attempt"])
    assert any("resuming its tree" in n for n in notes), notes
    assert counting.calls == PER_ATTEMPT - cut
    keys = (*SAME, "distinct")
    assert [{k: r[k] for k in keys} for r in resumed] == [{k: r[k] for k in keys} for r in whole]

