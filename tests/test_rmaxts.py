"""RMaxTS end to end: the public ``rmaxts_search`` over a ``LeanChecker`` whose REPLs are
fake-REPL subprocesses serving a synthetic proof world (``tests/synthetic_world.py``).

Every candidate goes through the real bridge (pool, wire protocol, integrity layer, axiom
audit); only the proposer is scripted. With ``concurrency=1`` a run is a function of its
seed, which the golden-tree and resume tests rely on.

Regenerate the golden tree (after an intended change of selection, backup or insertion,
and after reading the diff) with ``UPDATE_GOLDEN=1 python -m pytest tests/test_rmaxts.py``.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import pytest
from conftest import fake_repl_command
from synthetic_world import (
    ScriptedPolicy,
    ScriptedProposer,
    World,
    branching_world,
    chain_world,
)

from lean_bridge.checker import LeanChecker
from lean_bridge.integrity import IntegrityOptions
from lean_bridge.pool import PoolConfig, ReplPool
from lean_bridge.process import ReplSpec
from prover.policies.prompts import get_format
from prover.policies.proposer import LMProposer
from search.budget import Budget
from search.protocols import Proposal
from search.rmaxts import load_checkpoint, rmaxts_search
from search.sampling import sample_search
from search.segments import flattened, state_comment
from search.states import rejected_prefix
from search.tree import Tree
from search.verify import verify

GOLDEN = Path(__file__).parent / "data" / "golden_rmaxts_tree.json"


@asynccontextmanager
async def world_checker(world: World, tmp_path: Path, *args: str,
                        processes: int = 2) -> AsyncIterator[LeanChecker]:
    rules = world.write_rules(tmp_path)
    # The world prints states as v4.33 does (allTactics multi-line), which the golden tree and
    # the reference lockstep assume; a test passing its own --version overrides it.
    version = () if "--version" in args else ("--version", "v4.33.0-rc2")
    pool = ReplPool(ReplSpec(fake_repl_command("--script", str(rules), *version, *args)),
                    PoolConfig(max_processes=processes))
    try:
        yield LeanChecker(pool, timeout=30)
    finally:
        await pool.close()


def tree_of(checkpoint: Path) -> Tree:
    return Tree.from_dict(load_checkpoint(checkpoint)["tree"])


def assert_tree_matches_world(tree: Tree, world: World) -> None:
    """Every node's goal is the world's state after each of its code prefixes, and a
    node's goal differs from its parent's (edges keyed by goal text)."""
    tree.check()
    assert tree.root_goal == world.root_goal
    for i, node in enumerate(tree.nodes[1:], start=1):
        assert node.goal != tree.nodes[node.parent].goal
        for code in node.prefixes:
            tactics = [line.strip() for line in code.splitlines() if line.strip()]
            state = world.run(tactics)
            assert state is not None, f"node {i}: prefix {code!r} is not valid in the world"
            assert world.state_text(state) == node.goal, f"node {i}: wrong goal for {code!r}"


# -- the world itself -------------------------------------------------------------------------

async def test_world_served_by_the_fake_repl_answers_like_lean(tmp_path):
    world = branching_world()
    problem = world.problem()
    proof = world.proofs()[0]
    async with world_checker(world, tmp_path) as lean:
        complete = await verify(lean, problem, World.proof_text(proof), all_tactics=True)
        open_ = await verify(lean, problem, World.proof_text(proof[:2]), all_tactics=True)
        wrong = await verify(lean, problem, World.proof_text([proof[0], "simp", "omega"]),
                             all_tactics=True)
        foreign = await verify(lean, problem, "  exact trivial_lemma\n  done\n")
    assert complete.proved
    # goals BEFORE each tactic, at its position in header + statement + proof
    first = len((problem.header + problem.statement).splitlines()) + 1
    assert [(t.pos.line, t.pos.column, t.goals) for t in complete.tactics[:2]] == [
        (first, 2, world.root_goal), (first + 1, 2, world.state_text(world.run(proof[:1])))]
    assert not open_.proved and open_.messages[0].data.startswith("unsolved goals")
    assert open_.messages[0].pos.line == first - 1  # at the statement's `by`
    bad = [m for m in wrong.messages if m.is_error]
    assert [(m.pos.line, m.pos.column) for m in bad] == [(first + 1, 2)]
    assert wrong.tactics[-1].goals == world.state_text(world.run(proof[:1]))
    assert not foreign.proved and foreign.status.value == "error"


# -- (a) the search finds a proof ---------------------------------------------------------------

@pytest.mark.parametrize("version", ["v4.33.0-rc2", "v4.9.0-rc1"])
async def test_rmaxts_finds_the_proof_of_a_branching_world(tmp_path, version):
    # At v4.9.0-rc1 (the default pin) allTactics flattens every state onto one line; the
    # prompts and the tree must still carry the multi-line states (re-read in tactic mode).
    world = branching_world()
    proposer = ScriptedProposer(world, p_correct=0.4)
    checkpoint = tmp_path / "run.json"
    async with world_checker(world, tmp_path, "--version", version) as lean:
        result = await rmaxts_search(world.problem(), proposer=proposer, lean=lean,
                                     budget=Budget(1, 64), rng=random.Random(3), concurrency=1,
                                     checkpoint=checkpoint)
        assert result.proved
        again = await verify(lean, world.problem(), result.proof)
    assert again.proved
    tactics = tuple(line.strip() for line in result.proof.splitlines() if line.strip())
    assert world.run(tactics) == ()  # a complete proof in the world, nothing left over
    assert result.method == "rmaxts" and 1 <= result.cost <= 64
    assert result.generations == result.cost == len(result.trace)
    assert result.trace[-1]["status"] == "proved"
    assert result.lean_calls >= result.generations + 1  # + the root's `sorry`
    assert proposer.mismatches == []  # every prompt carried the node's real tactic state
    tree = tree_of(checkpoint)
    assert_tree_matches_world(tree, world)
    # The proof ends the run, so its flattened states are not re-read (no Lean calls spent on
    # a finished tree): at v4.9 its path is not in the tree, at v4.33 it reaches a terminal.
    assert any(n.terminal for n in tree.nodes) == (version != "v4.9.0-rc1")
    assert tree.stats()["running"] == 0
    assert not any(flattened(n.goal) for n in tree.nodes if n.goal)
    stats = result.tree_stats
    assert stats["nodes"] == len(tree) and stats["max_depth"] >= len(tactics) - 1
    assert stats["expansions"] == result.cost and stats["bytes_per_node"] > 0
    assert stats["max_running"] == 1 and stats["trees"] == 1


async def test_unreported_states_are_probed_in_tactic_mode(tmp_path):
    # The proposer writes one line and stops: each candidate is an unfinished proof whose
    # last state the REPL never reports (no next tactic); only a tactic-mode probe knows it.
    world = branching_world()
    proposer = ScriptedProposer(world, p_correct=0.7, stop=1.0, trailing=0)
    runs = {}
    async with world_checker(world, tmp_path) as lean:
        for resolve in (True, False):
            checkpoint = tmp_path / f"probe-{resolve}.json"
            runs[resolve] = (await rmaxts_search(
                world.problem(), proposer=proposer, lean=lean, budget=Budget(1, 24),
                rng=random.Random(5), concurrency=1, checkpoint=checkpoint,
                resolve_probes=resolve), tree_of(checkpoint))
    (probed, probed_tree), (plain, plain_tree) = runs[True], runs[False]
    assert len(plain_tree) == 1  # nothing can be keyed without the states
    assert len(probed_tree) > 3
    assert_tree_matches_world(probed_tree, world)
    assert probed.lean_calls > plain.lean_calls
    assert proposer.mismatches == []


# -- (b) truncate-and-resume beats whole-proof sampling where proofs are sparse -----------------

async def test_rmaxts_beats_sampling_in_a_sparse_world(tmp_path):
    # Four specific steps; the proposer is right with p = 0.2 per step, so a whole-proof
    # sample succeeds with p^4 = 1/625, about 14% in T = 96 tries. RMaxTS keeps every
    # correct prefix and resumes from it (measured over 100 other seeds: ~95% vs ~9%).
    world = chain_world(4)
    proposer = ScriptedProposer(world, p_correct=0.2)
    budget = Budget(1, 96)
    seeds = range(10)
    async with world_checker(world, tmp_path, processes=3) as lean:
        problem = world.problem()
        tree_runs = await asyncio.gather(*(
            rmaxts_search(problem, proposer=proposer, lean=lean, budget=budget,
                          rng=random.Random(s), concurrency=1) for s in seeds))
        sample_runs = await asyncio.gather(*(
            sample_search(problem, proposer=proposer, lean=lean, budget=budget,
                          rng=random.Random(s)) for s in seeds))
    rmaxts_wins = sum(r.proved for r in tree_runs)
    sampling_wins = sum(r.proved for r in sample_runs)
    assert rmaxts_wins >= 8 and sampling_wins <= 2, (rmaxts_wins, sampling_wins)
    assert all(r.generations <= 96 for r in tree_runs + sample_runs)
    assert proposer.mismatches == []


# -- (c) golden tree ----------------------------------------------------------------------------

async def golden_run(tmp_path: Path) -> dict:
    world = branching_world()
    checkpoint = tmp_path / "golden.json"
    async with world_checker(world, tmp_path) as lean:
        await rmaxts_search(world.problem(), proposer=ScriptedProposer(world, p_correct=0.4),
                            lean=lean, budget=Budget(1, 24), rng=random.Random(2022),
                            concurrency=1, checkpoint=checkpoint)
    # through JSON, as the stored file is
    return json.loads(json.dumps(load_checkpoint(checkpoint)["tree"], ensure_ascii=False))


async def test_golden_tree(tmp_path):
    tree = await golden_run(tmp_path)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(tree, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    # sanity of the stored file itself: a real tree of this world, goals as edge keys
    stored = Tree.from_dict(golden)
    assert_tree_matches_world(stored, branching_world())
    assert len(stored) >= 8 and stored.stats()["max_depth"] >= 4
    assert tree == golden


# -- (d) checkpoint and resume ------------------------------------------------------------------

class StopAfter:
    """A proposer that answers ``k`` calls, then blocks on the next one (and says so)."""

    def __init__(self, inner: ScriptedProposer, k: int) -> None:
        self.inner, self.k, self.calls = inner, k, 0
        self.blocked = asyncio.Event()

    async def propose_proofs(self, problem, n, **kw):
        self.calls += 1
        if self.calls > self.k:
            self.blocked.set()
            await asyncio.Event().wait()  # until cancelled
        return await self.inner.propose_proofs(problem, n, **kw)


async def test_resume_from_a_checkpoint_grows_the_same_tree(tmp_path):
    world = branching_world()
    problem = world.problem()
    kw = dict(budget=Budget(1, 30), concurrency=1, checkpoint_every=1)
    whole, parts = tmp_path / "whole.json", tmp_path / "parts.json"
    async with world_checker(world, tmp_path) as lean:
        full = await rmaxts_search(problem, proposer=ScriptedProposer(world, p_correct=0.35),
                                   lean=lean, rng=random.Random(11), checkpoint=whole, **kw)
        assert full.generations > 12  # the interruption below falls inside the run

        stopper = StopAfter(ScriptedProposer(world, p_correct=0.35), k=9)
        task = asyncio.create_task(rmaxts_search(problem, proposer=stopper, lean=lean,
                                                 rng=random.Random(11), checkpoint=parts, **kw))
        await stopper.blocked.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        saved = load_checkpoint(parts)
        assert (saved["completed"], saved["finished"]) == (9, False)
        assert all(n["stats"]["here"]["running"] == n["stats"]["sub"]["running"] == 0
                   for n in saved["tree"]["nodes"])

        # Any rng: its state comes from the checkpoint.
        resumed = await rmaxts_search(problem, proposer=ScriptedProposer(world, p_correct=0.35),
                                      lean=lean, rng=random.Random(999), checkpoint=parts, **kw)
        assert load_checkpoint(parts)["tree"] == load_checkpoint(whole)["tree"]
        assert (resumed.proof, resumed.cost, resumed.generations, resumed.lean_calls) == \
            (full.proof, full.cost, full.generations, full.lean_calls)
        assert resumed.trace == full.trace

        # A finished run is answered from its checkpoint, with no new work.
        idle = ScriptedProposer(world)
        answered = await rmaxts_search(problem, proposer=idle, lean=lean,
                                       rng=random.Random(0), checkpoint=whole, **kw)
    assert idle.calls == 0
    assert (answered.proof, answered.cost, answered.generations) == \
        (full.proof, full.cost, full.generations)


async def test_budget_of_several_trees_counts_earlier_trees_in_full(tmp_path):
    world = chain_world(4)
    async with world_checker(world, tmp_path) as lean:
        result = await rmaxts_search(world.problem(),
                                     proposer=ScriptedProposer(world, p_correct=0.2),
                                     lean=lean, budget=Budget(4, 12), rng=random.Random(1),
                                     concurrency=1)
    trees = result.tree_stats["trees"]
    assert 1 <= trees <= 4 and len(result.tree_stats["per_tree"]) == trees
    assert [t["attempt"] for t in result.tree_stats["per_tree"]] == list(range(trees))
    if result.proved:
        assert 12 * (trees - 1) < result.cost <= 12 * trees
    else:
        assert trees == 4 and result.generations == 48
    assert {t["attempt"] for t in result.trace} == set(range(trees))


# -- (e) K expansions in flight at once ---------------------------------------------------------

async def test_concurrent_expansions_overlap(tmp_path):
    # Every REPL answer takes 0.1 s; with K = 4 and four REPLs, four rollouts are in flight
    # together and the pool needs all four processes at once.
    world = branching_world()
    proposer = ScriptedProposer(world, p_correct=0.4)
    checkpoint = tmp_path / "k4.json"
    async with world_checker(world, tmp_path, "--latency", "0.1", processes=4) as lean:
        result = await rmaxts_search(world.problem(), proposer=proposer, lean=lean,
                                     budget=Budget(1, 16), rng=random.Random(7),
                                     concurrency=4, checkpoint=checkpoint)
        started = lean.pool.stats.started
    assert result.tree_stats["max_running"] == 4
    assert started == 4
    tree = tree_of(checkpoint)
    assert_tree_matches_world(tree, world)
    assert tree.stats()["running"] == 0  # no virtual loss left behind
    assert proposer.mismatches == []
    assert result.generations <= 16


# -- (f) the prefix alone: empty continuations and rejected candidates --------------------------

async def test_an_empty_continuation_checks_the_prefix_alone_and_finds_the_proof(tmp_path):
    # Every walk closes the goal and then writes one redundant line ("no goals to be
    # proved"), so no candidate the model writes is a proof; the valid prefix is, and at its
    # "no goals" node the model's natural continuation is empty (it closes the fence at
    # once). Through the real LMProposer and deepseek-v1.5 format, that empty continuation
    # is checked (the prefix alone) and counted as a generation. A one-line proof (the
    # issue's demo: upstream proves it at cost 2) over 10 seeds, and a three-line one.
    for world, seeds in ((chain_world(1), range(10)), (chain_world(3), range(1))):
        proofs = set()
        async with world_checker(world, tmp_path) as lean:
            for s in seeds:
                scripted = ScriptedProposer(world, p_correct=1.0, redundant=1.0)
                proposer = LMProposer(ScriptedPolicy(scripted), get_format("deepseek-v1.5"))
                result = await rmaxts_search(world.problem(), proposer=proposer, lean=lean,
                                             budget=Budget(1, 16), rng=random.Random(s),
                                             concurrency=1)
                assert result.proved, (world.name, s)
                assert result.generations == result.cost == len(result.trace)
                last = result.trace[-1]
                assert last["status"] == "proved" and last["empty"] is True
                assert all(t["status"] == "error" for t in result.trace[:-1])
                assert scripted.mismatches == [] and proposer.dropped == 0
                proofs.add(result.proof)
        assert proofs == {World.proof_text(world.proofs()[0])}  # no redundant line in it


class BannedAfter:
    """Continues with the world's working tactics and writes a banned one (``exact?``, which
    the trust layer rejects before Lean sees the text) after ``k`` of them."""

    def __init__(self, world: World, k: int, banned: str = "exact?") -> None:
        self.world, self.k, self.banned = world, k, banned

    async def propose_proofs(self, problem, n, *, prefix="", **_):
        state = self.world.run([line.strip() for line in prefix.splitlines() if line.strip()])
        lines = []
        while state and len(lines) < self.k:
            tactic = sorted(self.world.moves_of(state[0]))[0]
            lines.append(tactic)
            state = self.world.apply(state, tactic)
        text = World.proof_text(lines + [self.banned, "simp"])
        return [Proposal(text, None, 1)]


async def test_a_rejected_candidates_honest_prefix_grows_the_tree(tmp_path):
    world = chain_world(4)
    checkpoint = tmp_path / "rejected.json"
    async with world_checker(world, tmp_path) as lean:
        result = await rmaxts_search(world.problem(), proposer=BannedAfter(world, 2), lean=lean,
                                     budget=Budget(1, 1), rng=random.Random(0), concurrency=1,
                                     checkpoint=checkpoint)
        unprobed = await rmaxts_search(world.problem(), proposer=BannedAfter(world, 2),
                                       lean=lean, budget=Budget(1, 1), rng=random.Random(0),
                                       concurrency=1, resolve_probes=False)
    assert not result.proved and not unprobed.proved
    (entry,) = result.trace
    assert entry["status"] == "rejected" and entry["honest_prefix"] is True
    # Both lines are nodes; the state after the second (the prefix ends there) is probed.
    assert entry["new_nodes"] == 2
    # The root's sorry, the candidate (rejected by the static layer), its prefix alone.
    assert unprobed.lean_calls == 3 and unprobed.trace[0]["new_nodes"] == 1
    tree = tree_of(checkpoint)
    assert_tree_matches_world(tree, world)
    two = World.proof_text(world.proofs()[0][:2])
    assert any(two in n.prefixes for n in tree.nodes)
    assert all("exact?" not in code for n in tree.nodes for code in n.prefixes)


async def test_a_rejected_candidate_is_never_the_proof_its_honest_prefix_may_be(tmp_path):
    world = chain_world(3)
    async with world_checker(world, tmp_path) as lean:
        result = await rmaxts_search(world.problem(), proposer=BannedAfter(world, 3), lean=lean,
                                     budget=Budget(1, 1), rng=random.Random(0), concurrency=1)
        assert result.proved
        assert result.proof == World.proof_text(world.proofs()[0])  # cut before `exact?`
        assert (await verify(lean, world.problem(), result.proof)).proved
    assert result.trace[-1]["honest_prefix"] is True


def test_rejected_prefix_cuts_at_the_line_of_the_first_banned_construct():
    problem = chain_world(3).problem()
    assert rejected_prefix(problem, "  intro x\n  simp; native_decide\n  rfl\n") == "  intro x\n"
    assert rejected_prefix(problem, "  exact?\n  simp\n") == ""
    assert rejected_prefix(problem, "  simp\n  apply foo\n  sorry\n  exact?\n") == \
        "  simp\n  apply foo\n"  # a sorry cuts too
    # Allowed by the evaluation's options: nothing to cut at.
    assert rejected_prefix(problem, "  simp\n  native_decide\n",
                           integrity=IntegrityOptions(allow_native_decide=True)) == ""


# -- (g) the prompt's state comment and the token cap -------------------------------------------

async def test_prompts_carry_the_counted_comment_and_the_switch_turns_it_off(tmp_path):
    # Through LMProposer and the deepseek-v1.5 format: the prompt's text after the statement
    # is exactly what the token cap counted for the node (prefix + state comment).
    world = branching_world()
    statement = world.statement
    runs = {}
    async with world_checker(world, tmp_path) as lean:
        for on in (True, False):
            counted: list[str] = []
            scripted = ScriptedProposer(world, p_correct=0.4)
            policy = ScriptedPolicy(scripted)
            await rmaxts_search(
                world.problem(), proposer=LMProposer(policy, get_format("deepseek-v1.5")),
                lean=lean, budget=Budget(1, 24), rng=random.Random(2022), concurrency=1,
                tactic_state_comment=on,
                count_tokens=lambda s, c=counted: c.append(s) or len(s))
            tails = [p[p.index(statement) + len(statement):] for p in policy.prompts]
            runs[on] = (tails, counted, scripted)
    tails, counted, scripted = runs[True]
    inner = [t for t in tails if t]
    assert inner and all("  /- tactic state:\n" in t for t in inner)
    assert all(t in counted for t in inner)  # sent text == counted text
    assert scripted.mismatches == []  # and the comment carries the node's state
    tails, counted, _ = runs[False]
    assert any(tails) and all("tactic state" not in t for t in tails + counted)
    assert all(t in counted for t in tails if t)


class CountingProposer(ScriptedProposer):
    """A scripted proposer with a tokenizer: one token per whitespace-separated word."""

    def token_counter(self):
        return lambda text: len(text.split())


async def test_the_cap_counts_with_the_proposers_tokenizer_when_it_has_one(tmp_path):
    world = branching_world()
    checkpoint = tmp_path / "tokens.json"
    async with world_checker(world, tmp_path) as lean:
        counted = await rmaxts_search(world.problem(), proposer=CountingProposer(world, 0.4),
                                      lean=lean, budget=Budget(1, 12), rng=random.Random(1),
                                      concurrency=1, checkpoint=checkpoint)
        tree = tree_of(checkpoint)
        plain = await rmaxts_search(world.problem(), proposer=ScriptedProposer(world, 0.4),
                                    lean=lean, budget=Budget(1, 12), rng=random.Random(1),
                                    concurrency=1)
    assert counted.tree_stats["token_unit"] == "tokens"
    assert plain.tree_stats["token_unit"] == "code points"
    assert len(tree) > 1
    for i, node in enumerate(tree.nodes[1:], start=1):
        words = min(len((code + state_comment(node.goal, indent)).split())
                    for code, indent in node.prefixes.items())
        assert node.tokens == words, i
