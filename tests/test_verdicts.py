"""No candidate checked twice (``search.verdicts``): identical candidates of one problem, up to
trailing whitespace, cost one Lean check, counted in the fake REPL's own request log; within a
batch gathered at once (one check in flight, shared), across batches and attempts, in RMaxTS,
and through ``prover prove``'s result line. Crashes are not kept as verdicts."""
from __future__ import annotations

import asyncio
import json
import os
import random
import shlex
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import pytest

if not os.environ.get("CI"):
    pytest.importorskip("httpx")  # in CI a missing httpx is an install bug: fail, don't skip

from conftest import fake_repl_command
from test_backend_openai import server  # noqa: F401  (the fixture)

from lean_bridge.checker import LeanChecker
from lean_bridge.pool import PoolConfig, ReplPool
from lean_bridge.process import ReplSpec
from search import Budget
from search.problem import Problem
from search.protocols import Proposal
from search.rmaxts import rmaxts_search
from search.sampling import sample_search
from search.verdicts import OnceEach, VerdictCache, normalise

HEADER = "import Mathlib\n\n"
PROBLEM = Problem("dup", HEADER, "theorem dup (x : ℝ) (h₀ : x + 1 = 2) : x = 1 := by\n")
GOOD = "  linarith\n"
BAD = "  nlinarith [h₀]\n"  # refused by the rule below
REFUSED = {"rules": [{"match": r"nlinarith \[h₀\]", "on": "cmd",
                      "messages": [{"severity": "error", "data": "linarith failed"}]}]}


class Fixed:
    """A proposer answering every request with the same list of texts (cycled to ``n``)."""

    def __init__(self, *texts: str) -> None:
        self.texts, self.asked = texts, 0

    async def propose_proofs(self, problem, n, **_kwargs) -> list[Proposal]:
        self.asked += n
        return [Proposal(self.texts[i % len(self.texts)], None, 1) for i in range(n)]


@asynccontextmanager
async def checker(tmp_path: Path, rules: dict, *, latency: float = 0.05,
                  processes: int = 8) -> AsyncIterator[tuple[LeanChecker, Path]]:
    """A pool of fake REPLs that each take ``latency`` per request, so that identical
    candidates gathered together really are in flight at the same time; and its log."""
    script, log = tmp_path / "rules.json", tmp_path / "requests.jsonl"
    script.write_text(json.dumps(rules))
    pool = ReplPool(ReplSpec(fake_repl_command("--script", str(script), "--log", str(log),
                                               "--latency", str(latency))),
                    PoolConfig(max_processes=processes))
    try:
        yield LeanChecker(pool, timeout=30), log
    finally:
        await pool.close()


def candidate_checks(log: Path) -> list[str]:
    """The commands that hold the theorem (the header import and probes do not)."""
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    return [r["cmd"] for r in rows if "theorem dup" in r.get("cmd", "")]


def test_normalise_drops_trailing_whitespace_only():
    assert normalise("  simp  \n  ring\t\n\n  \n") == normalise("  simp\n  ring") == "  simp\n  ring"
    assert normalise("  simp\n ring") != normalise("  simp\n  ring")  # indentation is read


async def test_eight_identical_candidates_cost_one_check(tmp_path):
    async with checker(tmp_path, REFUSED) as (lean, log):
        result = await sample_search(PROBLEM, proposer=Fixed(BAD), lean=lean,
                                     budget=Budget(1, 8), rng=random.Random(0), batch=8)
    assert not result.proved
    assert (result.generations, result.lean_calls, result.distinct) == (8, 1, 1)
    assert len(candidate_checks(log)) == 1
    assert [t["status"] for t in result.trace] == ["error"] * 8  # each took the verdict


async def test_trailing_whitespace_variants_share_the_verdict(tmp_path):
    variants = (BAD, BAD.rstrip("\n"), "  nlinarith [h₀]   \n", BAD + "\n\n", BAD + "  \n \n")
    async with checker(tmp_path, REFUSED) as (lean, log):
        result = await sample_search(PROBLEM, proposer=Fixed(*variants), lean=lean,
                                     budget=Budget(1, 8), rng=random.Random(0), batch=8)
    assert (result.generations, result.lean_calls, result.distinct) == (8, 1, 1)
    assert len(candidate_checks(log)) == 1


async def test_a_proof_found_again_in_a_later_attempt_is_not_checked_again(tmp_path):
    # Two attempts of 4, each a batch of one refused and one other candidate: the second
    # attempt's copies take the first attempt's verdicts.
    other = "  simp\n" + BAD  # refused too
    async with checker(tmp_path, REFUSED) as (lean, log):
        result = await sample_search(PROBLEM, proposer=Fixed(BAD, other), lean=lean,
                                     budget=Budget(2, 4), rng=random.Random(0), batch=2)
    assert (result.generations, result.lean_calls, result.distinct) == (8, 2, 2)
    assert len(candidate_checks(log)) == 2
    # A proof among copies: found by the first check, whatever copy comes first.
    (tmp_path / "proved").mkdir()
    async with checker(tmp_path / "proved", REFUSED) as (lean, log):
        proved = await sample_search(PROBLEM, proposer=Fixed(GOOD, GOOD + "  \n"), lean=lean,
                                     budget=Budget(2, 4), rng=random.Random(0), batch=4)
    assert proved.proved and (proved.lean_calls, proved.distinct, proved.cost) == (1, 1, 1)


async def test_a_crash_is_shared_in_flight_but_not_kept(tmp_path):
    rules = {"rules": [{"match": r"nlinarith \[h₀\]", "on": "cmd", "crash": True}]}
    async with checker(tmp_path, rules) as (lean, log):
        result = await sample_search(PROBLEM, proposer=Fixed(BAD), lean=lean,
                                     budget=Budget(1, 8), rng=random.Random(0), batch=4,
                                     pipeline=0)
        # Two batches of four copies, one after the other (the barrier schedule): each
        # batch's copies share one check in flight; the crash says nothing about the
        # candidate, so the second batch asks Lean again.
        assert (result.generations, result.lean_calls, result.distinct) == (8, 2, 1)
        assert len(candidate_checks(log)) == 2
        assert result.crashed == 2  # real checks with no verdict, not copies
        # Overlapped, the second batch is asked while the first's check runs: its copies
        # join that check in flight, and share its crash.
        overlapped = await sample_search(PROBLEM, proposer=Fixed(BAD), lean=lean,
                                         budget=Budget(1, 8), rng=random.Random(0), batch=4)
    assert (overlapped.generations, overlapped.lean_calls, overlapped.crashed) == (8, 1, 1)
    assert len(candidate_checks(log)) == 3


async def test_an_eval_result_line_counts_generations_lean_calls_and_distinct(tmp_path):
    from types import SimpleNamespace

    from benchmarks import runner

    plan = runner.EvalPlan("b", "test", "sample", Budget(1, 8), "portfolio")
    item = SimpleNamespace(name="dup", split="test", category="x", problem=PROBLEM)
    async with checker(tmp_path, REFUSED) as (lean, log):
        line = await runner.run_attempt(plan, item, 0, proposer=Fixed(BAD), lean=lean,
                                        timeout=60)
    assert line["status"] == "unproved"
    assert (line["generations"], line["lean_calls"], line["distinct"]) == (8, 1, 1)
    assert len(candidate_checks(log)) == 1


async def test_rmaxts_copies_take_the_rollouts_outcome_without_a_check(tmp_path):
    # Every continuation is the same refused line: nothing grows, every rollout starts at the
    # root and proposes the same candidate. One check for it, plus the root's `sorry`.
    async with checker(tmp_path, REFUSED, latency=0.0, processes=2) as (lean, log):
        result = await rmaxts_search(PROBLEM, proposer=Fixed(BAD), lean=lean,
                                     budget=Budget(2, 8), rng=random.Random(0), concurrency=4)
    assert (result.generations, result.lean_calls, result.distinct) == (16, 2, 1)
    assert len(candidate_checks(log)) == 2  # the root's `sorry` and the one candidate
    assert [t["status"] for t in result.trace] == ["error"] * 16


async def test_a_shared_computation_survives_one_waiter_and_stops_with_the_last():
    once: OnceEach[str, int] = OnceEach()
    started, release = asyncio.Event(), asyncio.Event()
    cancelled: list[bool] = []

    async def work() -> int:
        started.set()
        try:
            await release.wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return 7

    def final(_value: int) -> bool:
        return True

    first = asyncio.ensure_future(once.get("k", work, final))
    second = asyncio.ensure_future(once.get("k", work, final))
    await started.wait()
    first.cancel()
    await asyncio.sleep(0)
    release.set()
    assert await second == (7, False) and once.computed == 1 and not cancelled
    assert await once.get("k", work, final) == (7, False)  # kept: no new computation
    # Both waiters of another key cancelled: the computation is cancelled and forgotten.
    release.clear()
    started.clear()
    waiters = [asyncio.ensure_future(once.get("j", work, final)) for _ in range(2)]
    await started.wait()
    for w in waiters:
        w.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    assert cancelled == [True] and once.known("j") is None


async def test_a_verdict_with_the_tactics_answers_one_without(tmp_path):
    async with checker(tmp_path, REFUSED, latency=0.0, processes=1) as (lean, log):
        cache = VerdictCache(lean)
        with_tactics = await cache.verify(PROBLEM, BAD, all_tactics=True)
        assert await cache.verify(PROBLEM, BAD + " \n") is with_tactics
        # The other way round is a new check: a plain verdict has no tactics to give.
        plain = await cache.verify(PROBLEM, GOOD)
        await cache.verify(PROBLEM, GOOD, all_tactics=True)
    assert plain.proved and (cache.calls, cache.distinct, cache.hits) == (3, 3, 1)
    assert len(candidate_checks(log)) == 3


def test_prove_result_line_counts_generations_lean_calls_and_distinct(tmp_path, server):  # noqa: F811
    """``lean-steps`` answers every completion with the same proof (a ``have``, then
    ``sorry``): 8 generations, 1 Lean check of a candidate. The fake's log also holds the
    header import and the version probe, which are the pool's, not the search's."""
    from test_prove import prove, write
    from test_state_comment_cli import THEOREM

    url, _state = server
    log = tmp_path / "requests.jsonl"
    path = write(tmp_path, "t.lean", THEOREM)
    fake = fake_repl_command("--log", str(log))
    result = prove(path, "--search", "sample", "--budget", "1x8", "--policy",
                   f"openai:{url}#lean-steps?logprobs=false", "--json", repl=shlex.join(fake))
    assert result.returncode == 1, result.stderr  # a proof ending in sorry proves nothing
    [row] = json.loads(result.stdout)["theorems"]
    assert (row["generations"], row["lean_calls"], row["distinct"]) == (8, 1, 1)
    requests = [json.loads(line) for line in log.read_text().splitlines()]
    assert len([r for r in requests if "sorry" in r.get("cmd", "")]) == 1
    assert row["lean_calls"] == len(requests) - 2  # all but the header and the version probe
    assert "8 generations, 1 Lean calls (1 distinct candidates)" in result.stderr
