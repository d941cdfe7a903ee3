"""Whole-proof sampling overlaps generation and Lean (``search.sample_pipeline``): batch k+1 is
asked while batch k is checked, and nothing else about the search changes.

The proposer and the checker here are in-process stand-ins whose every step the test controls
with asyncio events, so "batch 1 was asked before batch 0's checks ended" is an observed order
of events, not a timing."""
from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import pytest

from lean_bridge.outcome import CheckResult, Status
from search.budget import Budget
from search.problem import Problem
from search.protocols import Proposal
from search.sample_pipeline import batch_plan
from search.sampling import sample_search

PROBLEM = Problem("t", "import Mathlib\n\n", "theorem t : True := by\n")


class Log(list):
    """The events of proposer and checker in the order they happened (one event loop), with
    a way to wait for one to happen."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    def append(self, item: str) -> None:
        super().append(item)
        self.changed.set()

    async def reached(self, item: str) -> None:
        while item not in self:
            self.changed.clear()
            await self.changed.wait()


@dataclass
class Proposer:
    """Candidate ``c<i>`` is the i-th proposal asked for in the run (0-based). An ask whose
    index is in ``hold`` never ends by itself (``release[index]`` ends it)."""

    hold: set[int] = field(default_factory=set)
    events: Log = field(default_factory=Log)
    seeds: list[int] = field(default_factory=list)
    asked: int = 0
    release: dict[int, asyncio.Event] = field(default_factory=dict)

    async def propose_proofs(self, problem, n, *, seed=None, temperature=1.0, **kwargs):
        index = len(self.seeds)
        self.seeds.append(seed)
        self.events.append(f"ask {index}")
        first = self.asked
        self.asked += n
        try:
            if index in self.hold:
                await self.release.setdefault(index, asyncio.Event()).wait()
        except asyncio.CancelledError:
            self.events.append(f"ask {index} cancelled")
            raise
        self.events.append(f"asked {index}")
        return [Proposal(f"  c{first + i}\n", None, 1) for i in range(n)]


@dataclass
class Checker:
    """Proves the candidates in ``proofs``; the check of a candidate in ``hold`` never ends
    by itself (``release`` ends it)."""

    proofs: set[int] = field(default_factory=set)
    hold: set[int] = field(default_factory=set)
    events: Log = field(default_factory=Log)
    gates: dict[int, asyncio.Event] = field(default_factory=dict)
    checked: list[int] = field(default_factory=list)

    def release(self, *indexes: int) -> None:
        for index in indexes or tuple(self.hold):
            self.gates.setdefault(index, asyncio.Event()).set()

    async def check(self, header, body, *, reference=None, all_tactics=False):
        index = int(body.rsplit("c", 1)[1])
        self.events.append(f"check {index}")
        try:
            if index in self.hold:
                await self.gates.setdefault(index, asyncio.Event()).wait()
        except asyncio.CancelledError:
            self.events.append(f"check {index} cancelled")
            raise
        self.checked.append(index)
        self.events.append(f"checked {index}")
        return CheckResult(Status.PROVED if index in self.proofs else Status.ERROR)


async def run(proposer, checker, *, budget, batch, pipeline, **kwargs):
    return await sample_search(PROBLEM, proposer=proposer, lean=checker, budget=budget,
                               rng=random.Random(7), batch=batch, pipeline=pipeline, **kwargs)


def launch(*, budget, pipeline, batch=2, **world):
    """A proposer and checker (``pair(**world)``) and a search on them, running."""
    proposer, checker = pair(**world)
    search = asyncio.ensure_future(run(proposer, checker, budget=budget, batch=batch,
                                       pipeline=pipeline))
    return proposer, checker, search


async def test_batch_k_plus_1_is_asked_while_batch_k_is_checked():
    # Batch 0 (candidates 0, 1) stays in Lean until released.
    proposer, checker, search = launch(budget=Budget(1, 6), pipeline=1, checks_held={0, 1})
    log = checker.events
    # Batch 1 is asked, and checked, although no check of batch 0 has ended ...
    await asyncio.wait_for(log.reached("checked 3"), 5)
    assert {"check 0", "check 1", "ask 1", "asked 1"} <= set(log)
    assert "checked 0" not in log and "checked 1" not in log
    # ... and no further: batch 2 waits until batch 0's verdicts are read (depth 1).
    assert len(proposer.seeds) == 2
    checker.release()
    result = await asyncio.wait_for(search, 5)
    assert log.index("ask 2") > log.index("checked 1")
    assert not result.proved and result.generations == 6 and result.lean_calls == 6
    assert [e["status"] for e in result.trace] == ["error"] * 6


async def test_with_pipeline_0_the_next_batch_waits_for_the_verdicts():
    proposer, checker, search = launch(budget=Budget(1, 4), pipeline=0, checks_held={0, 1})
    log = checker.events
    await asyncio.wait_for(log.reached("check 1"), 5)
    for _ in range(20):  # the search has every chance to ask: it does not
        await asyncio.sleep(0)
    assert len(proposer.seeds) == 1
    checker.release()
    await asyncio.wait_for(search, 5)
    assert log == ["ask 0", "asked 0", "check 0", "check 1", "checked 0", "checked 1",
                   "ask 1", "asked 1", "check 2", "checked 2", "check 3", "checked 3"]


@pytest.mark.parametrize("budget,batch", [(Budget(1, 7), 2), (Budget(3, 5), 2), (Budget(2, 8), 3)])
async def test_instant_proposer_and_lean_give_the_barrier_results(budget, batch):
    """Proof, cost, trace, round and the seeds (in order) are those of the barrier schedule,
    wherever the proof is (or with none); the overlapped run may ask more, never less."""
    for target in [None, *range(budget.total)]:
        results = {}
        for pipeline in (0, 1, 2):
            proposer = Proposer()
            checker = Checker(proofs=set() if target is None else {target})
            result = await run(proposer, checker, budget=budget, batch=batch, pipeline=pipeline)
            results[pipeline] = (result, proposer.seeds)
        barrier, seeds = results[0]
        for pipeline in (1, 2):
            result, theirs = results[pipeline]
            assert (result.proof, result.cost, result.trace, result.round) == \
                (barrier.proof, barrier.cost, barrier.trace, barrier.round), (target, pipeline)
            assert theirs[:len(seeds)] == seeds
            assert len(theirs) <= len(seeds) + pipeline
            assert barrier.generations <= result.generations \
                <= barrier.generations + pipeline * batch
        if target is not None:
            attempt, index = divmod(target, budget.per_attempt)
            assert barrier.cost == budget.cost(attempt, index + 1)


def test_the_batches_are_the_barrier_split():
    assert [(p.attempt, p.start, p.size) for p in batch_plan(Budget(2, 5), 2)] == [
        (0, 0, 2), (0, 2, 2), (0, 4, 1), (1, 0, 2), (1, 2, 2), (1, 4, 1)]


async def test_the_first_proof_in_candidate_order_wins_over_an_earlier_verdict():
    # Candidate 3 (batch 1) is proved first in time, candidate 1 (batch 0) later: 1 wins.
    proposer, checker, search = launch(budget=Budget(1, 6), pipeline=1, proofs={1, 3},
                                       checks_held={0, 1})
    await asyncio.wait_for(checker.events.reached("checked 3"), 5)
    checker.release()
    result = await asyncio.wait_for(search, 5)
    assert result.proof == "  c1\n" and result.cost == 2
    assert [e["status"] for e in result.trace] == ["error", "proved"]
    assert result.lean_calls == 4  # batch 1's checks were answered: counted as Lean work


async def test_a_proof_cancels_the_batch_being_generated():
    proposer, checker = pair(proofs={0}, asks_held={1})  # batch 1's generation never ends
    result = await asyncio.wait_for(run(proposer, checker, budget=Budget(1, 4), batch=2,
                                        pipeline=1), 5)
    assert result.cost == 1 and result.generations == 4  # batch 1 was asked: counted
    assert "ask 1 cancelled" in proposer.events and len(proposer.seeds) == 2


async def test_a_proof_cancels_the_checks_of_a_batch_asked_ahead():
    # Batch 0's checks wait until batch 1's are in Lean; batch 1's never end by themselves.
    proposer, checker, search = launch(budget=Budget(1, 4), pipeline=1, proofs={1},
                                       checks_held={0, 1, 2, 3})
    await asyncio.wait_for(checker.events.reached("check 3"), 5)
    checker.release(0, 1)
    result = await asyncio.wait_for(search, 5)
    assert result.cost == 2 and result.lean_calls == 2
    assert {"check 2 cancelled", "check 3 cancelled"} <= set(checker.events)
    assert checker.checked == [0, 1]


async def test_cancelling_the_search_cancels_what_is_in_flight():
    proposer, checker, search = launch(budget=Budget(1, 4), pipeline=1, checks_held={0, 1},
                                       asks_held={1})
    await asyncio.wait_for(checker.events.reached("ask 1"), 5)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(search, 0.05)
    assert "ask 1 cancelled" in proposer.events
    assert {"check 0 cancelled", "check 1 cancelled"} <= set(checker.events)


@pytest.mark.parametrize("pipeline", [0, 1])
async def test_a_failed_ask_ends_the_search_after_the_batches_before_it(pipeline):
    class Failing(Proposer):
        async def propose_proofs(self, problem, n, **kwargs):
            if self.seeds:  # every ask after the first
                self.seeds.append(kwargs.get("seed"))
                raise RuntimeError("the backend went away")
            return await super().propose_proofs(problem, n, **kwargs)

    # Batch 0 holds a proof: found, as the barrier schedule finds it before asking batch 1.
    result = await run(Failing(), Checker(proofs={1}), budget=Budget(1, 4), batch=2,
                       pipeline=pipeline)
    assert result.cost == 2
    # No proof in batch 0: the failure is raised, once batch 0 is read.
    checker = Checker()
    with pytest.raises(RuntimeError, match="went away"):
        await run(Failing(), checker, budget=Budget(1, 4), batch=2, pipeline=pipeline)
    assert checker.checked == [0, 1]


async def test_a_negative_pipeline_is_refused():
    with pytest.raises(ValueError, match="pipeline must be 0 or more"):
        await run(Proposer(), Checker(), budget=Budget(1, 1), batch=1, pipeline=-1)


def pair(*, proofs=(), checks_held=(), asks_held=()) -> tuple[Proposer, Checker]:
    """A proposer and a checker writing to one log."""
    log = Log()
    return (Proposer(hold=set(asks_held), events=log),
            Checker(proofs=set(proofs), hold=set(checks_held), events=log))


async def test_checks_cancelled_by_a_proof_cost_no_lean_process(tmp_path):
    """Through the real checker and pool on fake REPL processes: the checks of the batch asked
    ahead are cancelled mid-request when batch 0 holds the proof; the workers are kept (their
    abandoned answers are read), so no process is started again and no header imported again,
    and the next search runs on the same workers."""
    import json

    from conftest import fake_repl_command

    from lean_bridge.checker import LeanChecker
    from lean_bridge.pool import PoolConfig, ReplPool
    from lean_bridge.process import ReplSpec

    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": [
        {"on": "cmd", "match": "slow_bad", "sleep": 1.5,
         "messages": [{"severity": "error", "data": "unsolved goals"}]},
        {"on": "cmd", "match": "trivial", "sleep": 0.5},
        {"on": "cmd", "match": "bad", "messages": [{"severity": "error", "data": "nope"}]},
    ]}))
    pool = ReplPool(ReplSpec(fake_repl_command("--script", str(rules))),
                    PoolConfig(max_processes=2))
    lean = LeanChecker(pool, timeout=30)
    problem = Problem("t", "import Mathlib\n\n", "theorem t : True := by\n")

    class Scripted:
        def __init__(self) -> None:
            self.asks = 0

        async def propose_proofs(self, problem, n, **kwargs):
            self.asks += 1
            # Two different slow candidates: identical ones would share one check.
            texts = ["  exact bad\n", "  trivial\n"] if self.asks % 3 == 1 else \
                ["  exact slow_bad\n", "  exact (slow_bad)\n"]
            return [Proposal(t, None, 1) for t in texts[:n]]

    try:
        result = await sample_search(problem, proposer=Scripted(), lean=lean,
                                     budget=Budget(1, 6), rng=random.Random(0), batch=2,
                                     pipeline=1)
        assert result.proof == "  trivial\n" and result.cost == 2
        again = await sample_search(problem, proposer=Scripted(), lean=lean,
                                    budget=Budget(1, 2), rng=random.Random(1), batch=2)
        assert again.proved
        # The bad answer's worker took a check of batch 1 while "trivial" ran: cancelled
        # mid-request by the proof, that worker was kept, resynchronised, and lent again.
        assert pool.stats.resynced >= 1
        assert pool.stats.started == pool.stats.header_imports <= 2
        assert pool.stats.destroyed == 0
    finally:
        await pool.close()
