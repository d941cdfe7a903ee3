"""Verdicts shared across the attempts of an eval run (``search.verdicts.SharedVerdicts``,
``runner.ProblemVerdicts``): a candidate an earlier attempt of the problem judged takes its
verdict without a Lean call, counted in the fake REPL's own request log; each result line's
``lean_calls`` counts only its own attempt's checks and ``distinct`` the distinct candidates it
judged; the per-problem store is freed once the problem's attempts are done."""
from __future__ import annotations

import random
from types import SimpleNamespace

from test_verdicts import BAD, GOOD, PROBLEM, REFUSED, Fixed, candidate_checks, checker

from benchmarks import runner
from lean_bridge.outcome import CheckResult, Status
from search import Budget
from search.problem import Problem
from search.rmaxts import rmaxts_search
from search.sampling import sample_search
from search.verdicts import OnceEach, Seen, SharedVerdicts, VerdictCache

OTHER = Problem("dup2", PROBLEM.header, PROBLEM.statement.replace("theorem dup ", "theorem dup2 "))


def item(problem: Problem = PROBLEM) -> SimpleNamespace:
    return SimpleNamespace(name=problem.name, split="test", category="x", problem=problem)


async def eval_lines(tmp_path, method: str, items, options=None) -> tuple[list[dict], list[str],
                                                                         runner.LocalAttempts]:
    plan = runner.EvalPlan("b", "test", method, Budget(2, 8), "portfolio",
                           options=options or {}, concurrency=1)
    async with checker(tmp_path, REFUSED, latency=0.0, processes=2) as (lean, log):
        attempts = runner.LocalAttempts(plan, proposer=Fixed(BAD), lean=lean)
        (tmp_path / "run").mkdir()
        with runner.open_log(tmp_path / "run", None) as results:
            await runner.run_eval(plan, items, results, attempts)
            lines = sorted(results.records, key=lambda r: (r["problem"], r["attempt"]))
    return lines, candidate_checks(log), attempts


def counts(lines: list[dict]) -> list[tuple[str, int, int, int, int]]:
    return [(r["problem"], r["attempt"], r["generations"], r["lean_calls"], r["distinct"])
            for r in lines]


async def test_an_eval_runs_one_check_for_a_candidate_all_its_attempts_propose(tmp_path):
    lines, checks, attempts = await eval_lines(tmp_path, "sample", [item()], {"batch": 8})
    assert [r["status"] for r in lines] == ["unproved", "unproved"]
    # Attempt 1 proposed the same candidate 8 times: attempt 0's verdict, no call of its own.
    assert counts(lines) == [("dup", 0, 8, 1, 1), ("dup", 1, 8, 0, 1)]
    assert len(checks) == 1
    assert len(attempts.verdicts) == 0  # freed once the problem's attempts were done


async def test_an_rmaxts_eval_shares_rollout_outcomes_and_the_root_check(tmp_path):
    lines, checks, attempts = await eval_lines(tmp_path, "rmaxts", [item()], {"concurrency": 4})
    # Attempt 0: the root's `sorry` and the one candidate; attempt 1 takes both verdicts.
    assert counts(lines) == [("dup", 0, 8, 2, 1), ("dup", 1, 8, 0, 1)]
    assert len(checks) == 2
    assert len(attempts.verdicts) == 0


async def test_problems_do_not_share_verdicts(tmp_path):
    lines, checks, _ = await eval_lines(tmp_path, "sample", [item(), item(OTHER)], {"batch": 8})
    assert counts(lines) == [("dup", 0, 8, 1, 1), ("dup", 1, 8, 0, 1),
                             ("dup2", 0, 8, 1, 1), ("dup2", 1, 8, 0, 1)]
    assert len(checks) == 2  # the same proof, once for each theorem


def test_problem_verdicts_are_freed_at_the_last_attempt_or_when_done():
    held = runner.ProblemVerdicts(3)
    first = held.of("a")
    held.after("a", 1)
    assert held.of("a") is first and len(held) == 1
    held.after("a", 2)
    assert len(held) == 0 and held.of("a") is not first
    held.done("a")
    assert len(held) == 0


async def test_searches_sharing_a_store_keep_their_own_tallies(tmp_path):
    shared = SharedVerdicts.empty()
    async with checker(tmp_path, REFUSED) as (lean, log):
        first = await sample_search(PROBLEM, proposer=Fixed(BAD), lean=lean, budget=Budget(1, 4),
                                    rng=random.Random(0), batch=4, shared=shared)
        second = await sample_search(PROBLEM, proposer=Fixed(BAD, GOOD), lean=lean,
                                     budget=Budget(1, 4), rng=random.Random(1), batch=4,
                                     shared=shared)
    assert (first.lean_calls, first.distinct) == (1, 1)
    # The second saw BAD (the first's verdict, no call) and GOOD (its own check).
    assert second.proved and (second.lean_calls, second.distinct) == (1, 2)
    assert len(candidate_checks(log)) == 2


async def test_a_verdict_cache_view_hears_only_its_own_checks():
    class Lean:
        calls = 0

        async def check(self, header, body, *, reference=None, all_tactics=False):
            Lean.calls += 1
            return CheckResult(Status.ERROR)

    store: OnceEach = OnceEach()
    heard: dict[str, list] = {"a": [], "b": []}
    a = VerdictCache(Lean(), heard["a"].append, shared=store)  # type: ignore[arg-type]
    b = VerdictCache(Lean(), heard["b"].append, shared=store)  # type: ignore[arg-type]
    await a.verify(PROBLEM, BAD, all_tactics=True)
    await b.verify(PROBLEM, BAD)  # the all-tactics verdict answers it
    await b.verify(PROBLEM, GOOD)
    assert Lean.calls == 2
    assert (a.calls, a.distinct, a.hits, len(heard["a"])) == (1, 1, 0, 1)
    assert (b.calls, b.distinct, b.hits, len(heard["b"])) == (1, 2, 1, 1)


def test_a_restored_view_puts_its_values_back_beside_the_others():
    store: OnceEach[str, int] = OnceEach()
    other = Seen(store)
    store.merge({"x": 1})
    mine: Seen[str, int] = Seen(store)
    mine.restore({"y": 2}, distinct=3)  # one unsettled key asked before the stop
    assert (store.known("x"), store.known("y")) == (1, 2)
    assert mine.distinct == 3 and other.distinct == 0
    assert mine.kept() == {"y": 2}  # its checkpoint keeps its own, not "x"


async def test_rmaxts_with_a_shared_store_matches_its_own_first_run(tmp_path):
    # The first search fills the store; a second with the same seed reaches the same result
    # (a function of its state) with no candidate check, and its root from the store.
    shared = SharedVerdicts.empty()
    async with checker(tmp_path, REFUSED, latency=0.0, processes=2) as (lean, log):
        runs = [await rmaxts_search(PROBLEM, proposer=Fixed(BAD), lean=lean, budget=Budget(1, 8),
                                    rng=random.Random(0), concurrency=1, shared=shared)
                for _ in range(2)]
    assert [(r.lean_calls, r.distinct) for r in runs] == [(2, 1), (0, 1)]
    assert runs[0].trace == runs[1].trace and runs[0].tree_stats["nodes"] == runs[1].tree_stats["nodes"]
    assert len(candidate_checks(log)) == 2
