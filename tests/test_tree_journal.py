"""RMaxTS checkpoints as a journal (``search.tree_journal``): a save appends what changed and
never rewrites the tree; a replay is exactly the tree at the last mark, with rollouts in
flight at any concurrency; a cut last line and lines after the last mark are ignored; the
older single-document checkpoint still resumes. Runs go through the real bridge and the fake
REPL serving a synthetic world, as in ``test_rmaxts``."""
from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest
from synthetic_world import ScriptedProposer, branching_world
from test_rmaxts import StopAfter, world_checker

from search import rmaxts, tree_journal
from search.budget import Budget
from search.rmaxts import load_checkpoint, rmaxts_search
from search.tree import Tree
from search.tree_journal import JOURNAL_FORMAT, LEGACY_FORMAT, replay


def lines_of(path: Path) -> list:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def kind(line) -> str | None:
    """A journal line's kind: rollouts are JSON arrays, the others objects with ``k``."""
    return "rollout" if isinstance(line, list) else line.get("k")


@pytest.fixture
def live_trees(monkeypatch) -> list[tuple[Tree, dict]]:
    """What each mark should replay to: the live tree without virtual loss, and the
    counters, copied at every save."""
    seen: list[tuple[Tree, dict]] = []
    save = rmaxts._Search._save

    def spy(self, *, in_flight=None):
        save(self, in_flight=in_flight)
        copy = Tree.from_dict(self.tree.to_dict())
        copy.clear_running()
        for node in in_flight or []:
            assert copy.nodes[node].expanded
        seen.append((copy, {"completed": self.completed, "finished": self.finished}))

    monkeypatch.setattr(rmaxts._Search, "_save", spy)
    return seen


async def test_saves_append_a_bounded_batch_and_replay_to_the_live_tree(tmp_path, monkeypatch,
                                                                       live_trees):
    world = branching_world()
    writes: list[tuple[bool, int]] = []  # (restart, lines) of every write
    restart, append = tree_journal.JournalWriter.restart, tree_journal.JournalWriter.append

    def counted_restart(self, lines, **kw):
        writes.append((True, len(lines)))
        return restart(self, lines, **kw)

    def counted_append(self, lines):
        writes.append((False, len(lines)))
        return append(self, lines)

    monkeypatch.setattr(tree_journal.JournalWriter, "restart", counted_restart)
    monkeypatch.setattr(tree_journal.JournalWriter, "append", counted_append)
    path = tmp_path / "tree.json"
    async with world_checker(world, tmp_path, processes=4) as lean:
        stopper = StopAfter(ScriptedProposer(world, p_correct=0.3), k=26)
        task = asyncio.create_task(rmaxts_search(
            world.problem(), proposer=stopper, lean=lean, budget=Budget(1, 40),
            rng=random.Random(5), concurrency=4, checkpoint=path, checkpoint_every=3))
        await stopper.blocked.wait()
        await asyncio.sleep(0.2)  # the three other rollouts in flight come back
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    # One restart (the file's start), then appends of the rollouts since the last mark
    # plus that mark: a save's size does not grow with the tree. (Up to every - 1 + K
    # rollouts: the loop saves after handling all the rollouts that came back together.)
    assert [restart for restart, _ in writes] == [True] + [False] * (len(writes) - 1)
    assert len(writes) >= 6 and all(n <= 3 - 1 + 4 + 1 for _, n in writes[1:])
    kinds = [kind(line) for line in lines_of(path)]
    assert kinds[0] is None and lines_of(path)[0]["format"] == JOURNAL_FORMAT
    assert kinds.count("mark") == len(writes) == len(live_trees)
    # At every mark, with rollouts in flight (concurrency 4), the journal up to that mark
    # replays to the live tree as it was then.
    raw = path.read_text(encoding="utf-8").splitlines(keepends=True)
    ends = [i + 1 for i, k in enumerate(kinds) if k == "mark"]
    for end, (tree, counters) in zip(ends, live_trees, strict=True):
        prefix = tmp_path / "prefix.json"
        prefix.write_text("".join(raw[:end]), encoding="utf-8")
        replayed = replay(prefix)
        assert replayed.tree == tree
        assert replayed.state["completed"] == counters["completed"]
        assert len(replayed.trace) == counters["completed"]
    assert len(live_trees[-1][0]) > 1 and not live_trees[-1][1]["finished"]


async def test_a_finished_run_replays_to_its_final_tree_and_answers_from_it(tmp_path,
                                                                           live_trees):
    world = branching_world()
    path = tmp_path / "tree.json"
    kw = dict(budget=Budget(2, 12), rng=random.Random(3), concurrency=3, checkpoint=path,
              checkpoint_every=4)
    async with world_checker(world, tmp_path, processes=3) as lean:
        full = await rmaxts_search(world.problem(), lean=lean,
                                   proposer=ScriptedProposer(world, p_correct=0.25), **kw)
        tree, counters = live_trees[-1]
        assert counters["finished"]
        assert replay(path).tree == tree
        assert load_checkpoint(path)["tree"] == tree.to_dict()
        again = await rmaxts_search(world.problem(), lean=lean,
                                    proposer=ScriptedProposer(world), **kw)
    assert (again.proof, again.generations, again.trace) == \
        (full.proof, full.generations, full.trace)


async def resumed_equals_whole(tmp_path: Path, damage) -> Path:
    """Interrupt a K=1 run, ``damage`` its journal, resume: the same run as uninterrupted."""
    world = branching_world()
    kw = dict(budget=Budget(1, 30), concurrency=1, checkpoint_every=1)
    whole, parts = tmp_path / "whole.json", tmp_path / "parts.json"
    async with world_checker(world, tmp_path) as lean:
        full = await rmaxts_search(world.problem(), lean=lean, rng=random.Random(11),
                                   proposer=ScriptedProposer(world, p_correct=0.35),
                                   checkpoint=whole, **kw)
        stopper = StopAfter(ScriptedProposer(world, p_correct=0.35), k=9)
        task = asyncio.create_task(rmaxts_search(world.problem(), proposer=stopper, lean=lean,
                                                 rng=random.Random(11), checkpoint=parts, **kw))
        await stopper.blocked.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        damage(parts)
        resumed = await rmaxts_search(world.problem(), lean=lean, rng=random.Random(0),
                                      proposer=ScriptedProposer(world, p_correct=0.35),
                                      checkpoint=parts, **kw)
    assert (resumed.proof, resumed.cost, resumed.generations, resumed.lean_calls) == \
        (full.proof, full.cost, full.generations, full.lean_calls)
    assert resumed.trace == full.trace
    assert load_checkpoint(parts)["tree"] == load_checkpoint(whole)["tree"]
    return parts


async def test_a_cut_last_line_and_rollouts_after_the_last_mark_are_ignored(tmp_path):
    cut: dict[str, int] = {}

    def damage(path: Path) -> None:
        text = path.read_text(encoding="utf-8")
        last_mark = text.rstrip("\n").rsplit("\n", 1)[1]
        assert json.loads(last_mark)["k"] == "mark"
        cut["before"] = replay(path).state["completed"]
        # The last mark cut in the middle (a crash mid-write): the one before it counts.
        path.write_text(text[: len(text) - len(last_mark) // 2 - 1], encoding="utf-8")
        cut["after"] = replay(path).state["completed"]

    await resumed_equals_whole(tmp_path, damage)
    assert (cut["before"], cut["after"]) == (9, 8)  # the 9th rollout's line is not counted


async def test_an_older_single_document_checkpoint_resumes(tmp_path):
    def to_legacy(path: Path) -> None:
        data = load_checkpoint(path)
        data["format"] = LEGACY_FORMAT
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")  # no newline
        assert replay(path).tree == Tree.from_dict(data["tree"])

    parts = await resumed_equals_whole(tmp_path, to_legacy)
    # Carried over into a journal when the run resumed: a snapshot line starts it.
    lines = lines_of(parts)
    assert lines[0]["format"] == JOURNAL_FORMAT and lines[1]["k"] == "tree"
    assert lines[1]["snapshot"]["format"] == "rmaxts-tree/1"


def test_a_file_that_is_no_checkpoint_is_refused_with_its_reason(tmp_path):
    empty, other, unmarked = tmp_path / "e.json", tmp_path / "o.json", tmp_path / "u.json"
    empty.write_text("")
    other.write_text('{"format": "something-else"}\n')
    unmarked.write_text(json.dumps({"format": JOURNAL_FORMAT, "problem": "p", "budget": "1x2"})
                        + "\n" + '{"k":"tree","attempt":0,"root_goal":"g","max_tokens":9}\n')
    for path, why in ((empty, "empty"), (other, "not a"), (unmarked, "no complete checkpoint")):
        with pytest.raises(ValueError, match=why):
            load_checkpoint(path)


def test_with_32_rollouts_in_flight_every_mark_replays_to_the_live_tree(tmp_path, live_trees):
    """The bench-system loop (32 in flight, a mark every 32): many marks catch a node whose
    first expansion is still in flight, and the run ends with 32 abandoned."""
    from benchmarks.system_checkpoints import grow

    path = tmp_path / "tree.json"
    search, expansions, _ = grow(600, path)
    raw = path.read_text(encoding="utf-8").splitlines(keepends=True)
    ends = [i + 1 for i, line in enumerate(raw) if kind(json.loads(line)) == "mark"]
    assert len(ends) == len(live_trees) == expansions // 32 + 1
    for end, (tree, counters) in zip(ends, live_trees, strict=True):
        prefix = tmp_path / "prefix.json"
        prefix.write_text("".join(raw[:end]), encoding="utf-8")
        assert replay(prefix).tree == tree
    final = Tree.from_dict(search.tree.to_dict())
    assert replay(path).tree == final and sum(n.expanded for n in final.nodes) > 32
