"""Best-first tactic search in a scripted tactic world served by the fake REPL, and the Dojo
adapter against a stand-in shaped like ``lean_dojo``'s classes."""
from __future__ import annotations

import json
import random
import sys
import threading
import types
from dataclasses import dataclass, field
from typing import List, Optional

import pytest
from conftest import fake_repl_command

from lean_bridge.checker import LeanChecker
from lean_bridge.outcome import Status
from lean_bridge.pool import PoolConfig, ReplPool
from lean_bridge.process import ReplSpec
from search.bestfirst import (
    PROVED,
    UNVERIFIED,
    SearchGraph,
    SessionLost,
    TacticSession,
    bestfirst_search,
    proof_from_tactics,
)
from search.budget import Budget
from search.dojo import (
    DOJO_ONLY,
    DojoSession,
    LeanDojoMissing,
    dojo_bestfirst_search,
    dojo_session,
    import_lean_dojo,
)
from search.problem import Problem
from search.protocols import Proposal, TacticProposer
from search.verify import verify

HEADER = "import Mathlib\n"
STATEMENT = "theorem w (p q : Prop) (hp : p) (hq : q) : p ∧ q := by\n"
PROBLEM = Problem("w", HEADER, STATEMENT)
HYPS = "p q : Prop\nhp : p\nhq : q\n"
ROOT = HYPS + "⊢ p ∧ q"  # what the fake REPL prints for the statement's root goal
GP, GQ = HYPS + "⊢ p", HYPS + "⊢ q"
BOTH = GP + "\n\n" + GQ  # goal lists are joined by a blank line, as Lean prints them
UNKNOWN = "Lean error:\n<input>:1:1: unknown tactic"
INCOMPLETE = "Incomplete: open goals remain"


def world_rules(*extra: dict) -> list[dict]:
    """Each tactic of the world and what it leaves; anything else is an unknown tactic."""
    return [
        *extra,
        {"on": "tactic", "match": r"^constructor$", "goals": [GP, GQ], "proofStatus": INCOMPLETE},
        {"on": "tactic", "match": r"^exact hp$", "goals": [GQ], "proofStatus": INCOMPLETE},
        {"on": "tactic", "match": r"^exact hq$", "goals": [], "proofStatus": "Completed"},
        {"on": "tactic", "match": r"^skip$", "goals": [ROOT], "proofStatus": INCOMPLETE},
        {"on": "tactic", "match": r"^fake_close$", "goals": [],
         "proofStatus": "Incomplete: contains metavariable(s)"},
        # Tactic mode believes `exact cheat`; command mode does not.
        {"on": "tactic", "match": r"^exact cheat$", "goals": [], "proofStatus": "Completed"},
        {"on": "cmd", "match": r"exact cheat|fake_close",
         "messages": [{"severity": "error", "data": "unknown identifier (scripted)"}]},
        *[{"on": "tactic", "match": rf"^{name}$", "goals": [f"⊢ {goal}"], "proofStatus": INCOMPLETE}
          for name, goal in [("left", "L"), ("left2", "L2"), ("left3", "L3"), ("right", "R"),
                             ("right2", "R2"), ("mid", "M"), ("mid2", "M2")]],
        {"on": "tactic", "match": r"^close$", "goals": [], "proofStatus": "Completed"},
        {"on": "tactic", "match": "", "message": UNKNOWN},
    ]


class ScriptedProposer:
    """Stands in for a model: per goal text, tactics with log-probabilities, best first."""

    def __init__(self, table: dict[str, list[tuple[str, float | None]]], later=None) -> None:
        self.table = table
        self.later = later or {}  # goal -> answers from the second call on
        self.calls: list[tuple[str, int, int | None]] = []
        self.contexts: list = []  # the StepContext of each call

    async def propose_tactics(self, goal: str, n: int, *, seed: int | None = None,
                              context=None) -> list[Proposal]:
        self.contexts.append(context)
        seen_before = any(g == goal for g, _, _ in self.calls)
        self.calls.append((goal, n, seed))
        answers = (self.later if seen_before and goal in self.later else self.table).get(goal, [])
        return [Proposal(t, lp, len(t.split())) for t, lp in answers[:n]]


WORLD = {
    ROOT: [("exact cheat", -0.05), ("constructor", -0.2), ("skip", -0.3), ("intro_junk", -0.4),
           ("fake_close", -0.5)],
    BOTH: [("exact hp", -0.1), ("skip", -0.6)],
    GQ: [("exact hq", -0.1)],
}


@pytest.fixture
def make_checker(tmp_path):
    made: list[LeanChecker] = []

    def make(*rules: dict, version: str | None = None, timeout: float = 10) -> LeanChecker:
        script = tmp_path / f"rules{len(made)}.json"
        script.write_text(json.dumps({"rules": world_rules(*rules)}, ensure_ascii=False))
        args = ["--script", str(script)] + (["--version", version] if version else [])
        checker = LeanChecker(ReplPool(ReplSpec(fake_repl_command(*args)),
                                       PoolConfig(max_processes=1)), timeout=timeout)
        made.append(checker)
        return checker

    yield make
    # Pools are closed by each test (inside its event loop).


async def search(checker, proposer, budget="1x64", seed=0, **kw):
    graphs: list[SearchGraph] = []
    try:
        result = await bestfirst_search(PROBLEM, proposer=proposer, lean=checker,
                                        budget=Budget.parse(budget), rng=random.Random(seed),
                                        graphs=graphs, **kw)
        again = await verify(checker, PROBLEM, result.proof) if result.proof else None
    finally:
        await checker.pool.close()
    return result, graphs, again


def tactic_events(result, status=None):
    return [e for e in result.trace if e["event"] == "tactic" and (status is None or e["status"] == status)]


@pytest.mark.parametrize("version", ["v4.19.0", None])  # None: the old default, no proofStatus
async def test_finds_the_proof_and_it_rechecks(make_checker, version):
    proposer = ScriptedProposer(WORLD)
    assert isinstance(proposer, TacticProposer)
    result, graphs, again = await search(make_checker(version=version), proposer)
    assert result.proved and result.method == "bestfirst"
    assert result.proof == "  constructor\n  exact hp\n  exact hq\n"
    assert again is not None and again.status is Status.PROVED  # the proof text re-checks
    # 3 expansions of width 8; the proof is the 1st proposal of the 3rd.
    assert result.generations == 24 and result.cost == 17
    graph = graphs[0]
    proved = graph.nodes[graph.proof_node]
    assert proved.status == PROVED and len(graph.proof_path()) == 4
    assert [graph.nodes[i].tactic for i in graph.proof_path()[1:]] == ["constructor", "exact hp", "exact hq"]
    # `exact cheat` closed the goal in tactic mode, the command-mode re-check refused it.
    cheat = tactic_events(result, "completed")[0]
    assert cheat["tactic"] == "exact cheat" and cheat["recheck"] == "error"
    assert graph.nodes[cheat["child"]].status == UNVERIFIED
    assert [e["tactic"] for e in tactic_events(result, "error")] == ["intro_junk"]
    fake = next(e for e in tactic_events(result) if e["tactic"] == "fake_close")
    if version:  # proofStatus says a metavariable is left: not completed, and no goals to work on
        assert fake["status"] == "stuck"
        extra_recheck = 0
    else:  # without proofStatus, no goals looks completed; the re-check catches it
        assert fake["status"] == "completed" and fake["recheck"] == "error"
        extra_recheck = 1
    # open + 5 + 2 + 1 tactic runs + rechecks (cheat, the proof, maybe fake_close)
    assert result.lean_calls == 1 + 8 + 2 + extra_recheck
    assert result.tree_stats["expansions"] == 3 and result.tree_stats["duplicates"] == 2
    assert result.tree_stats["nodes"] == 5 + extra_recheck


async def test_a_tactic_looping_back_to_a_seen_state_adds_no_node(make_checker):
    proposer = ScriptedProposer({ROOT: [("skip", -0.1), ("constructor", -0.2)],
                                 BOTH: [("skip", -0.1)]})
    result, graphs, _ = await search(make_checker(version="v4.19.0"), proposer)
    assert not result.proved
    graph = graphs[0]
    assert [n.goal_text for n in graph.nodes] == [ROOT, BOTH]  # no second root, no third node
    dups = tactic_events(result, "duplicate")
    assert [(e["node"], e["tactic"], e["of"]) for e in dups] == [(0, "skip", 0), (1, "skip", 0)]
    assert graph.duplicates == 2 and result.tree_stats["expansions"] == 2


async def test_width_limit(make_checker):
    many = [("intro_junk", -0.1), ("skip", -0.2), ("constructor", -0.3), ("exact hq", -0.4)]
    proposer = ScriptedProposer({ROOT: many})
    result, graphs, _ = await search(make_checker(version="v4.19.0"), proposer, budget="1x5",
                                     width=2)
    # Only 2 tactics asked and run per expansion: `constructor` and `exact hq` never run.
    assert [n for _, n, _ in proposer.calls] == [2]
    assert [e["tactic"] for e in tactic_events(result)] == ["intro_junk", "skip"]
    assert not result.proved and result.generations == 2
    # Budget: 5 generations in 2+2+1.
    proposer = ScriptedProposer({ROOT: [("constructor", -0.1), ("left", -0.2)],
                                 BOTH: [("right", -0.1), ("mid", -0.2)],
                                 "⊢ L": [("left2", -0.1)], "⊢ R": [("right2", -0.1)]})
    result, _, _ = await search(make_checker(version="v4.19.0"), proposer, budget="1x5", width=2)
    assert [n for _, n, _ in proposer.calls] == [2, 2, 1] and result.generations == 5


async def test_depth_limit(make_checker):
    proposer = ScriptedProposer(WORLD)
    result, graphs, _ = await search(make_checker(version="v4.19.0"), proposer, max_depth=2)
    assert not result.proved
    graph = graphs[0]
    assert max(n.depth for n in graph.nodes) == 2
    deepest = [n for n in graph.nodes if n.depth == 2]
    assert [n.goal_text for n in deepest] == [GQ] and deepest[0].status == "open"
    assert GQ not in [g for g, _, _ in proposer.calls]  # the node at max_depth is never expanded
    assert result.tree_stats["expansions"] == 2


async def test_max_expansions(make_checker):
    result, graphs, _ = await search(make_checker(version="v4.19.0"), ScriptedProposer(WORLD),
                                     max_expansions=1)
    assert not result.proved and graphs[0].expansions == 1 and result.generations == 8


async def test_best_first_order_follows_cumulative_logprob_then_insertion(make_checker):
    proposer = ScriptedProposer({
        ROOT: [("left", -0.1), ("right", -2.0), ("mid", -2.0)],
        "⊢ L": [("left2", -0.5)],     # L2: -0.6, still better than R and M
        "⊢ L2": [("left3", -3.0)],    # L3: -3.6, worse than everything else
        "⊢ R": [("right2", -0.1)],    # R2: -2.1, after M (-2.0)
        "⊢ M": [("mid2", -5.0)],
        "⊢ R2": [("close", -0.1)],
    })
    result, graphs, _ = await search(make_checker(version="v4.19.0"), proposer)
    order = [e["via"] for e in result.trace if e["event"] == "expand"]
    # R and M tie at -2.0: R was inserted first, so it is expanded first.
    assert order == [None, "left", "left2", "right", "mid", "right2"]
    assert result.proof == "  right\n  right2\n  close\n"
    assert sorted(n.order for n in graphs[0].nodes if n.order is not None) == list(range(6))


@dataclass
class PromptTablePolicy:
    """Stands in for a step-prover model behind ``LMProposer``: the answers for a prompt,
    each (text, cumulative logprob, tokens); it records every prompt it was sent."""

    table: dict[str, list[tuple[str, float, int]]]
    name: str = "scripted-step"
    prompts: list[str] = field(default_factory=list)

    async def generate(self, requests):
        from prover.policies.policy import Completion

        self.prompts.extend(r.prompt for r in requests)
        return [[Completion(t, tokens=k, logprob=lp) for t, lp, k in self.table.get(r.prompt, [])]
                for r in requests]

    async def close(self) -> None:
        return None


# Root: `left` scores -0.2, `right` -0.5; L -> `left2` (-0.8) makes L2's path -1.0 at depth 2.
# Summed, R (-0.5) beats L2 (-1.0); BFS-Prover's -1.0 / 2**2 = -0.25 beats R (-0.5 / 1).
DEPTH_WORLD = {
    ROOT: [("left", -0.2, 1), ("right", -0.5, 1)],
    "⊢ L": [("left2", -0.8, 1)],
    "⊢ L2": [("close", -0.1, 1)],
    "⊢ R": [("close", -0.1, 1)],
}


def _bfs_prompts(world):
    return {goal + ":::": answers for goal, answers in world.items()}


@pytest.mark.parametrize("priority, order, proof", [
    ("cumulative", [None, "left", "right"], "  right\n  close\n"),
    ("bfs-prover", [None, "left", "left2"], "  left\n  left2\n  close\n"),
])
async def test_bfs_prover_format_searches_by_its_length_normalised_priority(
        make_checker, priority, order, proof):
    from prover.policies.prompts import get_format
    from prover.policies.proposer import LMProposer

    fmt = get_format("bfs-prover")
    assert fmt.priority == "bfs-prover"
    policy = PromptTablePolicy(_bfs_prompts(DEPTH_WORLD))
    result, graphs, again = await search(make_checker(version="v4.19.0"),
                                         LMProposer(policy, fmt), priority=priority)
    assert [e["via"] for e in result.trace if e["event"] == "expand"] == order
    assert result.proof == proof and again is not None and again.status is Status.PROVED
    assert policy.prompts[0] == ROOT + ":::"  # the raw `{state}:::` prompt, no template


async def test_bfs_prover_normalises_each_tactic_by_its_tokens(make_checker):
    from prover.policies.prompts import get_format
    from prover.policies.proposer import LMProposer

    # `left` has the better summed log-prob (-1.0 against -1.2), but over its 5 tokens
    # `right` scores -0.24 a token against `left`'s -1.0: BFS-Prover runs it first.
    world = {ROOT: [("left", -1.0, 1), ("right", -1.2, 5)], "⊢ L": [("close", -0.1, 1)],
             "⊢ R": [("close", -0.1, 1)]}
    fmt = get_format("bfs-prover")
    for priority, first in (("cumulative", "left"), ("bfs-prover", "right")):
        result, graphs, _ = await search(make_checker(version="v4.19.0"),
                                         LMProposer(PromptTablePolicy(_bfs_prompts(world)), fmt),
                                         priority=priority)
        runs = [e for e in tactic_events(result) if e["node"] == 0]
        assert runs[0]["tactic"] == first, priority
        assert result.proof == f"  {first}\n  close\n"
    # the recorded score is the per-token one under bfs-prover
    assert runs[0]["logprob"] == pytest.approx(-1.2 / 5)


async def test_bfs_prover_candidates_with_sorry_admit_or_native_decide_never_run(make_checker):
    from prover.policies.prompts import get_format
    from prover.policies.proposer import LMProposer

    world = {ROOT: [("sorry", -0.01, 1), ("admit", -0.02, 1), ("native_decide", -0.03, 1),
                    ("rcases h with ⟨x, ?_⟩", -0.04, 3), ("constructor", -0.5, 1)],
             BOTH: [("exact hp", -0.1, 1)], GQ: [("exact hq", -0.1, 1)]}
    proposer = LMProposer(PromptTablePolicy(_bfs_prompts(world)), get_format("bfs-prover"))
    result, _, _ = await search(make_checker(version="v4.19.0"), proposer, priority="bfs-prover")
    assert result.proof == "  constructor\n  exact hp\n  exact hq\n"
    ran = {e["tactic"] for e in tactic_events(result)}
    assert ran == {"constructor", "exact hp", "exact hq"}
    assert proposer.dropped == 4


async def test_internlm25_step_prompts_show_the_name_and_the_proof_so_far(make_checker):
    from prover.policies.prompts import get_format
    from prover.policies.proposer import LMProposer

    def prompt(goal, before):
        return ("<|im_start|>user\n---\nNAME: w\n\n---\nPROOF_BEFORE: " + before
                + "\n\n---\nSTATE_BEFORE: " + goal + "\n\n---\nTACTIC: "
                + "<|im_end|>\n<|im_start|>assistant\n")

    table = {prompt(ROOT, ""): [("constructor", -0.3, 3)],
             prompt(BOTH, "constructor"): [("exact hp", -0.2, 2)],
             prompt(GQ, "constructor\nexact hp"): [("exact hq", -0.2, 2)]}
    policy = PromptTablePolicy(table)
    fmt = get_format("internlm2.5-step")
    assert fmt.priority == "token-mean" and fmt.stop == ("<|im_end|>",)
    result, _, _ = await search(make_checker(version="v4.19.0"), LMProposer(policy, fmt),
                                priority=fmt.priority)
    assert result.proof == "  constructor\n  exact hp\n  exact hq\n"
    assert policy.prompts == list(table)


async def test_an_unknown_priority_is_refused(make_checker):
    checker = make_checker(version="v4.19.0")
    with pytest.raises(ValueError, match="unknown best-first priority"):
        await search(checker, ScriptedProposer(WORLD), priority="fastest")


async def test_every_expansion_carries_the_step_context(make_checker):
    from search.protocols import StepContext

    proposer = ScriptedProposer(WORLD)
    result, _, _ = await search(make_checker(version="v4.19.0"), proposer)
    assert result.proved
    assert proposer.contexts == [StepContext(PROBLEM, ()), StepContext(PROBLEM, ("constructor",)),
                                 StepContext(PROBLEM, ("constructor", "exact hp"))]


async def test_attempts_use_fresh_searches_and_cost_counts_earlier_attempts(make_checker):
    # First attempt: only junk at the root; from the second call on, a closing tactic.
    proposer = ScriptedProposer({ROOT: [("intro_junk", -0.1), ("nonsense", -0.2)]},
                                later={ROOT: [("intro_junk", -0.1), ("exact hq", -0.2)]})
    result, graphs, _ = await search(make_checker(version="v4.19.0"), proposer, budget="3x2",
                                     width=2)
    assert result.proof == "  exact hq\n"
    assert len(graphs) == 2 and [g.attempt for g in graphs] == [0, 1]
    assert result.cost == 2 + 2 and result.generations == 4
    assert result.tree_stats["attempts"] == 2
    seeds = [s for _, _, s in proposer.calls]
    assert len(set(seeds)) == 2  # each attempt draws from its own stream
    # Same rng seed, same search.
    again = ScriptedProposer(proposer.table, later=proposer.later)
    await search(make_checker(version="v4.19.0"), again, budget="3x2", width=2)
    assert [s for _, _, s in again.calls] == seeds


@pytest.mark.parametrize("restarts", [2, 0])
async def test_a_crashed_repl_is_reopened_and_the_path_replayed(make_checker, restarts):
    proposer = ScriptedProposer({ROOT: [("constructor", -0.1)],
                                 BOTH: [("explode", -0.1), ("exact hp", -0.2)],
                                 GQ: [("exact hq", -0.1)]})
    checker = make_checker({"on": "tactic", "match": r"^explode$", "crash": True},
                           version="v4.19.0")
    result, graphs, _ = await search(checker, proposer, restarts=restarts)
    events = [e["event"] for e in result.trace]
    assert "session_lost" in events
    lost = next(e for e in tactic_events(result) if e["tactic"] == "explode")
    assert lost["status"] == "lost"
    if restarts:
        assert result.proof == "  constructor\n  exact hp\n  exact hq\n"
        assert result.tree_stats["restarts"] == 1 and result.tree_stats["replays"] == 1
    else:
        assert not result.proved and result.tree_stats["restarts"] == 0


async def test_a_statement_that_gives_no_proof_state_is_data_not_an_exception(make_checker):
    checker = make_checker({"on": "cmd", "match": "sorry",
                            "messages": [{"severity": "error", "data": "type expected"}]},
                           version="v4.19.0")
    result, graphs, _ = await search(checker, ScriptedProposer(WORLD), budget="2x8")
    assert not result.proved and result.generations == 0 and graphs[0].nodes == []
    assert [e["event"] for e in result.trace] == ["session_open_failed"] * 2


def test_proof_text_for_both_statement_endings():
    assert proof_from_tactics("theorem t : P := by\n", ["intro h", "exact h"]) == "  intro h\n  exact h\n"
    assert proof_from_tactics("theorem t : P := by", ["simp"]) == "\n  simp\n"
    assert proof_from_tactics("theorem t : P :=", ["constructor\n· simp\n· simp"]) == \
        " by\n  constructor\n  · simp\n  · simp\n"


def test_search_graph_round_trips_through_dict():
    from search.bestfirst import GraphNode
    g = SearchGraph("w", 1, [GraphNode(0, None, None, (ROOT,), 0.0, 0.0, 0, "expanded", 0),
                             GraphNode(1, 0, "exact hq", (), -0.5, -0.5, 1, PROVED)], 1, 1, 0)
    back = SearchGraph.from_dict(json.loads(json.dumps(g.to_dict())))
    assert back == g and back.proof_path() == [0, 1]


# -- the Dojo adapter, against a stand-in shaped like lean_dojo 4.20 --------------------------------

def make_lean_dojo(world: dict, init_pp: str = ROOT) -> types.ModuleType:
    """A stand-in ``lean_dojo`` module: the result classes and exceptions exactly as shaped
    upstream (``interaction/dojo.py``), and a ``Dojo`` context manager serving ``world``
    (tactic -> pp text | "finished" | "given_up" | "crash" | "timeout" | ("error", text))."""
    mod = types.ModuleType("lean_dojo")

    @dataclass(frozen=True)
    class TacticState:
        pp: str
        id: int = field(compare=False)
        message: Optional[str] = field(default=None, compare=False)

        @property
        def num_goals(self) -> int:
            return self.pp.count("⊢")

    @dataclass(frozen=True)
    class ProofFinished:
        tactic_state_id: int
        message: Optional[str] = field(default=None, compare=False)

    @dataclass(frozen=True)
    class ProofGivenUp:
        pass

    @dataclass(frozen=True)
    class LeanError:
        error: str

    class DojoCrashError(Exception):
        @property
        def is_out_of_memory(self) -> bool:
            return str(self) == "OOM"

    class DojoTacticTimeoutError(Exception):
        pass

    class DojoInitError(Exception):
        pass

    class Dojo:
        entered: List["Dojo"] = []
        threads: set = set()

        def __init__(self, entry, timeout: int = 600, additional_imports: List[str] = [],
                     build_deps: bool = True):
            self.entry, self.timeout = entry, timeout
            self.next_id, self.dead, self.exited = 1, False, False

        def __enter__(self):
            Dojo.threads.add(threading.current_thread().name)
            if self.entry == "missing":
                raise DojoInitError("Failed to locate the theorem")
            Dojo.entered.append(self)
            return self, TacticState(init_pp, 0)

        def __exit__(self, *exc):
            self.exited = True

        def run_tac(self, state, tactic: str):
            Dojo.threads.add(threading.current_thread().name)
            if not isinstance(state, TacticState):
                raise RuntimeError(f"Attempting to run a tactic on an invalid state {state}.")
            if self.dead:
                raise DojoCrashError("Unexpected exit code: 137")
            what = world.get(tactic, ("error", f"<stdin>:1:0: unknown tactic {tactic}"))
            self.next_id += 1
            if what == "finished":
                return ProofFinished(self.next_id, "")
            if what == "given_up":
                return ProofGivenUp()
            if what == "crash":
                self.dead = True
                raise DojoCrashError("OOM")
            if what == "timeout":
                self.dead = True
                raise DojoTacticTimeoutError()
            if isinstance(what, tuple):
                return LeanError(what[1])
            return TacticState(what, self.next_id)

    for cls in (TacticState, ProofFinished, ProofGivenUp, LeanError, DojoCrashError,
                DojoTacticTimeoutError, DojoInitError, Dojo):
        setattr(mod, cls.__name__, cls)
    return mod


DOJO_WORLD = {"constructor": BOTH, "exact hp": GQ, "exact hq": "finished", "sorry": "given_up",
              "boom": "crash", "spin": "timeout", "native_decide": "finished"}


async def test_dojo_adapter_maps_every_answer():
    api = make_lean_dojo(DOJO_WORLD)
    async with dojo_session("thm", problem=PROBLEM, api=api) as s:
        assert isinstance(s, TacticSession) and isinstance(s, DojoSession)
        assert s.root.status == "open" and s.root.goals == (ROOT,)
        opened = await s.run_tactic(s.root.proof_state, "constructor")
        assert opened.status == "open" and opened.goals == (GP, GQ)
        assert isinstance(opened.proof_state, api.TacticState)
        not_yet = await s.recheck("  constructor\n")  # no ProofFinished just now
        finished = await s.run_tactic(opened.proof_state, "exact hq")
        assert finished.status == "completed" and finished.goals == ()
        verdict = await s.recheck("  constructor\n  exact hq\n")
        given_up = await s.run_tactic(s.root.proof_state, "sorry")
        error = await s.run_tactic(s.root.proof_state, "nonsense")
        # Dojo finished, but the static layer still refuses a banned tactic.
        await s.run_tactic(s.root.proof_state, "native_decide")
        banned = await s.recheck("  native_decide\n")
        with pytest.raises(SessionLost, match="out of memory"):
            await s.run_tactic(s.root.proof_state, "boom")
    assert not_yet.status is Status.ERROR
    assert verdict.status is Status.PROVED and verdict.reasons == (DOJO_ONLY,)
    assert given_up.status == "error" and "sorry" in given_up.error
    assert error.status == "error" and "unknown tactic nonsense" in error.error
    assert banned.status is Status.REJECTED and "native_decide" in banned.reasons[0]
    assert api.Dojo.entered[0].exited
    # Dojo is blocking: it ran on the session's own thread, not the event loop's.
    assert api.Dojo.threads and all(t.startswith("dojo") for t in api.Dojo.threads)


async def test_dojo_timeout_is_a_lost_session_and_init_errors_propagate():
    api = make_lean_dojo(DOJO_WORLD)
    async with dojo_session("thm", problem=PROBLEM, api=api) as s:
        with pytest.raises(SessionLost, match="timeout"):
            await s.run_tactic(s.root.proof_state, "spin")
    with pytest.raises(api.DojoInitError):
        async with dojo_session("missing", problem=PROBLEM, api=api):
            pass


@pytest.mark.parametrize("crash", [False, True])
async def test_bestfirst_over_the_dojo_stand_in(crash):
    api = make_lean_dojo(DOJO_WORLD)
    table = {ROOT: [("constructor", -0.1), ("sorry", -0.2), ("nonsense", -0.3)],
             BOTH: [("boom", -0.05)] * crash + [("exact hp", -0.1)],
             GQ: [("exact hq", -0.1)]}
    graphs: list[SearchGraph] = []
    result = await dojo_bestfirst_search(PROBLEM, "thm", proposer=ScriptedProposer(table),
                                         budget=Budget(1, 32), rng=random.Random(1), api=api,
                                         graphs=graphs)
    assert result.proof == "  constructor\n  exact hp\n  exact hq\n"
    assert result.method == "bestfirst-dojo" and result.tree_stats["verified_by"] == "dojo+static"
    assert len(api.Dojo.entered) == 1 + crash and all(d.exited for d in api.Dojo.entered)
    assert result.tree_stats["restarts"] == crash and result.tree_stats["replays"] == crash
    assert graphs[0].nodes[graphs[0].proof_node].status == PROVED


async def test_dojo_proof_finished_is_rechecked_by_the_lean_checker_when_given(make_checker):
    # Dojo says finished for `exact hq`; command mode (the trust layer) refuses it.
    checker = make_checker({"on": "cmd", "match": "exact hq",
                            "messages": [{"severity": "error", "data": "kernel says no"}]},
                           version="v4.19.0")
    api = make_lean_dojo(DOJO_WORLD)
    table = {ROOT: [("exact hq", -0.1)]}
    try:
        refused = await dojo_bestfirst_search(PROBLEM, "thm", proposer=ScriptedProposer(table),
                                              budget=Budget(1, 8), rng=random.Random(0),
                                              api=api, lean=checker)
    finally:
        await checker.pool.close()
    assert not refused.proved and refused.tree_stats["verified_by"] == "lean_checker"
    assert tactic_events(refused, "completed")[0]["recheck"] == "error"
    # Without a checker the same Dojo answer is accepted (on Dojo's word + the static layer).
    trusted = await dojo_bestfirst_search(PROBLEM, "thm", proposer=ScriptedProposer(table),
                                          budget=Budget(1, 8), rng=random.Random(0), api=api)
    assert trusted.proof == "  exact hq\n"


async def test_lean_dojo_is_imported_lazily_with_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "lean_dojo", None)  # `import lean_dojo` now fails
    with pytest.raises(LeanDojoMissing, match=r"pip install 'lean-prover\[dojo\]'"):
        import_lean_dojo()
    with pytest.raises(ImportError, match="pip install"):
        async with dojo_session("thm", problem=PROBLEM):
            pass
    stand_in = make_lean_dojo(DOJO_WORLD)
    monkeypatch.setitem(sys.modules, "lean_dojo", stand_in)
    assert import_lean_dojo() is stand_in
    async with dojo_session("thm", problem=PROBLEM) as s:  # api taken from the import
        assert (await s.run_tactic(s.root.proof_state, "exact hq")).status == "completed"
