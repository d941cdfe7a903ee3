"""The eval runner keeps the generator fed across problems (``benchmarks.feeding``): while
the problems in flight wait for Lean, the next problem starts generating.

Real ``run_eval``, ``LocalAttempts`` and sampling search, with an in-process proposer and
checker whose steps the test holds and releases with asyncio events: what is asserted is an
observed order of events."""
from __future__ import annotations

import asyncio
import dataclasses

import pytest

from benchmarks import runner
from benchmarks.feeding import Admission, GeneratorGauge
from lean_bridge.outcome import CheckResult, Status
from search import Budget
from search.problem import Problem
from search.protocols import Proposal


class Item:
    def __init__(self, name: str) -> None:
        self.name, self.split, self.category = name, "test", "x"
        self.problem = Problem(name, "", f"theorem {name} : True := by\n")


class World:
    """One log for proposer and checker. Asks of the problems in ``asks_held`` and checks of
    those in ``checks_held`` never end by themselves (``release(name)`` ends them)."""

    def __init__(self, *, asks_held=(), checks_held=(), proved=()) -> None:
        self.log: list[str] = []
        self.changed = asyncio.Event()
        self.asks_held, self.checks_held = set(asks_held), set(checks_held)
        self.proved = set(proved)
        self.gates: dict[str, asyncio.Event] = {}

    def note(self, event: str) -> None:
        self.log.append(event)
        self.changed.set()

    async def reached(self, event: str) -> None:
        while event not in self.log:
            self.changed.clear()
            await self.changed.wait()

    def release(self, name: str) -> None:
        self.gates.setdefault(name, asyncio.Event()).set()

    async def _hold(self, name: str, held: set[str]) -> None:
        if name in held:
            await self.gates.setdefault(name, asyncio.Event()).wait()

    async def propose_proofs(self, problem, n, *, seed=None, **kwargs):
        self.note(f"ask {problem.name}")
        await self._hold(problem.name, self.asks_held)
        self.note(f"asked {problem.name}")
        return [Proposal(f"  {problem.name}_{seed}_{i}\n", None, 1) for i in range(n)]

    async def check(self, header, body, *, reference=None, all_tactics=False):
        name = reference.name
        self.note(f"check {name}")
        await self._hold(name, self.checks_held)
        self.note(f"checked {name}")
        return CheckResult(Status.PROVED if name in self.proved else Status.ERROR)


def plan(**changes) -> runner.EvalPlan:
    base = runner.EvalPlan("b", "test", "sample", Budget(1, 2), "portfolio",
                           options={"batch": 2}, concurrency=1)
    return dataclasses.replace(base, **changes)


async def start(world: World, the_plan: runner.EvalPlan, names, log) -> asyncio.Future:
    gauge = GeneratorGauge()
    attempts = runner.LocalAttempts(the_plan, proposer=gauge.watch(world), lean=world)
    return asyncio.ensure_future(runner.run_eval(the_plan, [Item(n) for n in names], log,
                                                 attempts, gauge=gauge))


async def test_the_next_problem_generates_while_the_first_is_in_lean(tmp_path):
    world = World(checks_held={"a"})
    with runner.open_log(tmp_path, None) as log:
        run = await start(world, plan(prefetch=1), ["a", "b"], log)
        await asyncio.wait_for(world.reached("asked b"), 5)  # b generated ...
        assert "checked a" not in world.log  # ... while a was still in Lean
        world.release("a")
        tally = await asyncio.wait_for(run, 5)
    assert tally.finished == 2


async def test_without_prefetch_the_next_problem_waits(tmp_path):
    world = World(checks_held={"a"})
    with runner.open_log(tmp_path, None) as log:
        run = await start(world, plan(prefetch=0), ["a", "b"], log)
        await asyncio.wait_for(world.reached("check a"), 5)
        for _ in range(20):  # every chance to start b: it does not
            await asyncio.sleep(0)
        assert "ask b" not in world.log
        world.release("a")
        await asyncio.wait_for(run, 5)
    assert world.log.index("ask b") > world.log.index("checked a")


async def test_no_extra_problem_while_the_generator_is_busy(tmp_path):
    world = World(asks_held={"a"}, checks_held={"a"})
    with runner.open_log(tmp_path, None) as log:
        run = await start(world, plan(prefetch=1), ["a", "b", "c"], log)
        await asyncio.wait_for(world.reached("ask a"), 5)
        for _ in range(20):
            await asyncio.sleep(0)
        assert "ask b" not in world.log  # a is generating: b would only crowd it
        world.release("a")  # a's generation ends (its checks stay held): b starts
        await asyncio.wait_for(world.reached("check b"), 5)
        # a in Lean, b in Lean: c waits, the bound is concurrency + prefetch = 2 problems.
        assert "ask c" not in world.log
        await asyncio.wait_for(run, 5)
    assert world.log.count("ask c") == 1


async def test_results_do_not_depend_on_the_schedule(tmp_path):
    names = [f"p{i}" for i in range(6)]
    lines = {}
    for prefetch in (0, 1, 2):
        world = World(proved={"p1", "p4"})
        (tmp_path / str(prefetch)).mkdir()
        with runner.open_log(tmp_path / str(prefetch), None) as log:
            await asyncio.wait_for(await start(world, plan(prefetch=prefetch, concurrency=2,
                                                           budget=Budget(2, 4)), names, log), 5)
            lines[prefetch] = sorted(
                (r["problem"], r["attempt"], r["status"], r["proof"], r["cost"])
                for r in log.records)
    assert lines[0] == lines[1] == lines[2] and len(lines[0]) == 12


async def test_admission_bounds_and_order():
    gauge = GeneratorGauge()
    gate = Admission(2, 1, gauge)
    world = World()
    proposer = gauge.watch(world)
    order: list[int] = []
    release = asyncio.Event()

    async def problem(i: int) -> None:
        async with gate:
            order.append(i)
            await proposer.propose_proofs(Item(f"p{i}").problem, 1)
            await release.wait()  # in Lean

    tasks = [asyncio.ensure_future(problem(i)) for i in range(5)]
    for _ in range(10):
        await asyncio.sleep(0)
    # 2, and 1 more once they have generated and the generator is idle; no 4th.
    assert order == [0, 1, 2] and gate.running == 3 and gauge.idle
    release.set()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4] and gate.peak == 3
    assert Admission(2, 5, None).extra == 0  # no gauge: no prefetch
    with pytest.raises(ValueError, match="prefetch"):
        Admission(1, -1, gauge)


async def test_the_gauge_hears_every_request_end_failed_or_cancelled():
    gauge = GeneratorGauge()
    idle: list[int] = []
    gauge.listeners.append(lambda: idle.append(gauge.busy))

    class Broken:
        def propose_proofs(self, problem, n, **kwargs):  # fails before returning a coroutine
            raise RuntimeError("no backend")

    with pytest.raises(RuntimeError):
        await gauge.watch(Broken()).propose_proofs(Item("a").problem, 1)
    world = World(asks_held={"b"})
    held = asyncio.ensure_future(gauge.watch(world).propose_proofs(Item("b").problem, 1))
    await asyncio.wait_for(world.reached("ask b"), 5)
    assert gauge.busy == 1 and not gauge.idle
    held.cancel()
    await asyncio.gather(held, return_exceptions=True)
    assert gauge.idle and gauge.asked == 2 and idle == [0, 0]
