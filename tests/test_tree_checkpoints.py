"""Resumable RMaxTS trees in ``prover eval``/``synth`` (``benchmarks.checkpoints``), in process.

The runner drives real ``rmaxts_search`` attempts over fake-REPL subprocesses serving a
synthetic proof world (``tests/synthetic_world.py``); only the proposer is scripted. An
attempt is interrupted the way Ctrl-C interrupts ``asyncio.run``: its task is cancelled while
the proposer is blocked inside a generation, after some rollouts were checkpointed. With
``concurrency=1`` and a checkpoint after every rollout, the resumed attempt must write the
line an uninterrupted run writes, asking the proposer only for the generations not yet done.
"""
from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from synthetic_world import ScriptedProposer, World, branching_world, chain_world
from test_rmaxts import StopAfter, world_checker

from benchmarks import runner
from benchmarks.checkpoints import CHECKPOINT_DIR, TreeCheckpoints, safe_stem
from prover.drivers.synth import SynthAttempts
from search import Budget
from search.rmaxts import load_checkpoint

P_CORRECT = 0.35
PROVING_SEED = 3  # with it the attempt finds a proof late in its budget (27 of 30)
NAME = "synthetic/branching world ∀ x"  # an id with '/', spaces and unicode


@dataclasses.dataclass
class WorldItem:
    """A benchmark item over a synthetic world (what the runner reads of one)."""
    name: str
    problem: object
    split: str = "test"
    category: str = "synthetic"


def plan_for(seed: int = 0, per_attempt: int = 30) -> runner.EvalPlan:
    return runner.EvalPlan("synthetic", None, "rmaxts", Budget(1, per_attempt), "scripted",
                           seed=seed, options={"concurrency": 1})


def checkpoints_of(out: Path, plan: runner.EvalPlan, notes: list[str]) -> TreeCheckpoints:
    found = runner.eval_checkpoints(out, plan, say=notes.append)
    assert found is not None
    return dataclasses.replace(found, every=1)


async def run_once(out: Path, plan: runner.EvalPlan, item: WorldItem, proposer, lean,
                   notes: list[str], kind=runner.LocalAttempts) -> list[dict]:
    out.mkdir(exist_ok=True)
    checkpoints = checkpoints_of(out, plan, notes)
    log = runner.open_log(out, None)
    try:
        attempts = kind(plan, proposer=proposer, lean=lean, checkpoints=checkpoints)
        await runner.run_eval(plan, [item], log, attempts, checkpoints=checkpoints)
    finally:
        log.close()
    return list(runner.open_log(out, None).records)


async def interrupt(out: Path, plan: runner.EvalPlan, item: WorldItem, world: World, lean,
                    k: int, kind=runner.LocalAttempts) -> Path:
    """Run until the proposer's (k+1)-th call, then cancel; the checkpoint left behind."""
    out.mkdir(exist_ok=True)
    checkpoints = checkpoints_of(out, plan, [])
    log = runner.open_log(out, None)
    stopper = StopAfter(ScriptedProposer(world, p_correct=P_CORRECT), k=k)
    attempts = kind(plan, proposer=stopper, lean=lean, checkpoints=checkpoints)
    task = asyncio.create_task(runner.run_eval(plan, [item], log, attempts,
                                               checkpoints=checkpoints))
    await stopper.blocked.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    log.close()
    assert log.records == []  # the attempt has no line: a rerun must do it
    files = sorted((out / CHECKPOINT_DIR).iterdir())
    assert len(files) == 1, files
    return files[0]


def world_run(tmp_path: Path):
    """The branching world, its one item, the default plan and a run directory."""
    world = branching_world()
    return world, WorldItem(NAME, world.problem()), plan_for(), tmp_path / "run"


SAME = ("status", "proof", "cost", "generations", "lean_calls", "timeouts", "crashed")


@pytest.mark.parametrize("kind", [runner.LocalAttempts, SynthAttempts], ids=["eval", "synth"])
async def test_an_interrupted_attempt_resumes_its_tree_and_writes_the_same_line(tmp_path, kind):
    world = branching_world()
    item = WorldItem(NAME, world.problem())
    plan = plan_for(seed=PROVING_SEED)
    k = 5
    async with world_checker(world, tmp_path) as lean:
        whole_notes: list[str] = []
        [whole] = await run_once(tmp_path / "whole", plan, item,
                                 ScriptedProposer(world, p_correct=P_CORRECT), lean, whole_notes,
                                 kind)
        # The interruption falls inside the attempt, and the lines compared hold a proof.
        assert whole["proved"] and whole["generations"] > k + 1
        assert whole_notes == []  # nothing to resume in a fresh run
        assert list((tmp_path / "whole" / CHECKPOINT_DIR).iterdir()) == []  # line written

        out = tmp_path / "parts"
        saved_path = await interrupt(out, plan, item, world, lean, k, kind)
        assert saved_path.name.startswith(safe_stem(NAME) + ".0.")
        saved = load_checkpoint(saved_path)
        assert (saved["generations"], saved["finished"]) == (k, False)

        counting = ScriptedProposer(world, p_correct=P_CORRECT)
        notes: list[str] = []
        [resumed] = await run_once(out, plan, item, counting, lean, notes, kind)
    # The counter went on from the checkpoint: only the missing generations were asked.
    assert counting.calls == whole["generations"] - k
    assert {key: resumed[key] for key in SAME} == {key: whole[key] for key in SAME}
    assert any("resuming its tree" in n and f"({k} generation(s) done)" in n for n in notes), notes
    assert list((out / CHECKPOINT_DIR).iterdir()) == []  # removed once the line was written
    if kind is SynthAttempts:
        assert resumed["annotated_proof"] == whole["annotated_proof"] is not None


async def test_a_checkpoint_of_other_settings_is_not_reused(tmp_path):
    world = branching_world()
    item = WorldItem(NAME, world.problem())
    out = tmp_path / "run"
    async with world_checker(world, tmp_path) as lean:
        stale = await interrupt(out, plan_for(seed=0), item, world, lean, k=4)
        other = plan_for(seed=1)  # another seed: another tree
        [reference] = await run_once(tmp_path / "reference", other, item,
                                     ScriptedProposer(world, p_correct=P_CORRECT), lean, [])
        counting = ScriptedProposer(world, p_correct=P_CORRECT)
        notes: list[str] = []
        [line] = await run_once(out, other, item, counting, lean, notes)
    assert not stale.exists()
    assert any(stale.name in n and "ignoring" in n for n in notes), notes
    assert not any("resuming" in n for n in notes), notes
    assert counting.calls == line["generations"] == reference["generations"]  # from scratch
    assert {key: line[key] for key in SAME} == {key: reference[key] for key in SAME}


async def test_a_foreign_checkpoint_under_the_expected_name_is_refused(tmp_path):
    world, elsewhere = branching_world(), chain_world(4)
    item = WorldItem(NAME, world.problem())
    plan = plan_for()
    out = tmp_path / "run"
    async with world_checker(elsewhere, tmp_path) as lean:
        other_item = WorldItem("another problem", elsewhere.problem())
        foreign = await interrupt(tmp_path / "other", plan, other_item, elsewhere, lean, k=3)
    checkpoints = checkpoints_of(out, plan, [])
    target = checkpoints.path(NAME, 0, item.problem)
    target.parent.mkdir(parents=True)
    target.write_bytes(foreign.read_bytes())  # right name, wrong tree
    async with world_checker(world, tmp_path) as lean:
        counting = ScriptedProposer(world, p_correct=P_CORRECT)
        notes: list[str] = []
        [line] = await run_once(out, plan, item, counting, lean, notes)
    assert any("ignoring checkpoint" in n and "is for problem" in n for n in notes), notes
    assert counting.calls == line["generations"] > 0
    assert not target.exists()


async def test_a_finished_tree_whose_line_was_not_written_is_answered_from_it(tmp_path):
    world, item, plan, out = world_run(tmp_path)
    async with world_checker(world, tmp_path) as lean:
        [whole] = await run_once(tmp_path / "whole", plan, item,
                                 ScriptedProposer(world, p_correct=P_CORRECT), lean, [])
        # The attempt ran to its end, then the process died before the line was written.
        out.mkdir()
        checkpoints = checkpoints_of(out, plan, [])
        line = await runner.run_attempt(
            plan, item, 0, proposer=ScriptedProposer(world, p_correct=P_CORRECT), lean=lean,
            timeout=None, **runner.attempt_checkpoint(plan, checkpoints, item, 0))
        assert load_checkpoint(checkpoints.path(NAME, 0, item.problem))["finished"] is True
        idle = ScriptedProposer(world)
        notes: list[str] = []
        [answered] = await run_once(out, plan, item, idle, lean, notes)
    assert idle.calls == 0
    assert {key: answered[key] for key in SAME} == {key: whole[key] for key in SAME} == \
        {key: line[key] for key in SAME}
    assert any("finished, answered from it" in n for n in notes), notes


async def test_a_checkpoint_left_by_an_attempt_with_a_line_is_removed_at_the_start(tmp_path):
    world, item, plan, out = world_run(tmp_path)
    async with world_checker(world, tmp_path) as lean:
        [line] = await run_once(out, plan, item, ScriptedProposer(world, p_correct=P_CORRECT),
                                lean, [])
        # Stopped between the line's fsync and the removal: the tree is still there.
        left = checkpoints_of(out, plan, []).path(NAME, 0, item.problem)
        left.write_text("{}")
        idle = ScriptedProposer(world)
        assert await run_once(out, plan, item, idle, lean, []) == [line]
    assert idle.calls == 0 and not left.exists()


def test_file_names_are_safe_and_distinct():
    names = ["a/b", "a b", "a_b", "∀ x, p x", "../../etc/passwd", "", "A/B", "a" * 300]
    stems = [safe_stem(n) for n in names]
    assert len(set(stems)) == len(names)
    for stem in stems:
        assert stem.isascii() and "/" not in stem and " " not in stem
        assert not stem.startswith((".", "-")) and len(stem) < 80
    assert safe_stem("a/b") == safe_stem("a/b")  # stable across runs


def test_other_methods_get_no_checkpoint(tmp_path):
    sample = dataclasses.replace(plan_for(), method="sample")
    assert runner.eval_checkpoints(tmp_path, sample) is None
    checkpoints = checkpoints_of(tmp_path, plan_for(), [])
    item = WorldItem(NAME, branching_world().problem())
    assert runner.attempt_checkpoint(sample, checkpoints, item, 0) == {}
    options = runner.attempt_checkpoint(plan_for(), checkpoints, item, 0)
    assert options["resume"].path == checkpoints.path(NAME, 0, item.problem)
    assert options["resume"].every == 1
