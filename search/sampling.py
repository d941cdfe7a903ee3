"""Whole-proof sampling: pass@k with an N×T budget, optionally with self-correction.

Each attempt asks the proposer for T whole proofs (in batches, so a GPU backend sees them
together) and checks them concurrently; the first verified proof ends the search.

Self-correction (``self_correct=R``, default 0): a candidate Lean judged and refused (an
error, a sorry, a rejected cheat; not a timeout or a crash, which carry no feedback) gets up
to R more turns, each one the proposer's answer to Lean's verdict on the previous turn
(``CorrectingProposer``). Every turn is one generation of the budget, counted like a first
answer. So that each first answer can have its turns, a batch of first answers is at most
``ceil(remaining / (R + 1))``; the corrections of a batch then run round by round, the
candidates still failing corrected together (one batch for the backend), while the budget
lasts. A proof's ``round`` is the turn that gave it (0 = a first answer) and every trace entry
says its round. With R = 0, or a proposer that cannot correct, the search, its random draws
and its results are what they were before self-correction existed (``round`` 0 when proved).

Overlap (``pipeline``, default 1): with R = 0 the next batch is asked while the previous one
is checked (``search.sample_pipeline``; ``pipeline=0`` is the barrier schedule: ask, check,
read, ask). With R > 0 the batches keep the barrier, by design: the size of batch k+1 is
``ceil(remaining / (R + 1))`` of what batch k's corrections left, and its seed is drawn after
theirs, both known only once batch k's verdicts are in; asking it earlier would change which
generations the budget buys and the random stream, so an R > 0 run would no longer be the
run it was. (The corrections of one round are already asked together, as one batch.)

No candidate is checked twice (``search.verdicts.VerdictCache``, one per search, or one store
shared by the searches of a problem: ``shared``): a copy of a candidate already judged, in any
attempt, takes its verdict; ``lean_calls`` counts the real checks this search caused and
``distinct`` the distinct candidates it judged.
"""
from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any

from lean_bridge.outcome import CheckResult
from search.problem import Problem
from search.protocols import LeanChecker, ProofProposer, Proposal, can_correct

from .budget import Budget
from .result import CRASHED, TIMEOUT, LeanTally, SearchResult
from .sample_pipeline import pipelined_sample
from .verdicts import SharedVerdicts, VerdictCache


@dataclass
class _Chain:
    """One candidate's turns so far, and Lean's verdict on the last."""

    history: list[Proposal]
    check: CheckResult

    @property
    def round(self) -> int:
        return len(self.history) - 1


def correctable(check: CheckResult) -> bool:
    """Whether Lean's verdict carries feedback worth a correction turn: a verdict that is not
    a proof, a timeout or a crash (Goedel-Prover-V2 corrects only compile results with errors
    in them, never its system errors)."""
    return not check.proved and check.status not in (TIMEOUT, CRASHED)


async def sample_search(problem: Problem, *, proposer: ProofProposer, lean: LeanChecker,
                        budget: Budget, rng: random.Random, batch: int = 8,
                        temperature: float = 1.0, self_correct: int = 0,
                        pipeline: int = 1, shared: SharedVerdicts | None = None) -> SearchResult:
    """``shared``: the verdicts other searches of this problem share (``search.verdicts``;
    None: this search's own); ``lean_calls``, ``distinct`` and the tally stay this search's."""
    if self_correct < 0:
        raise ValueError(f"self_correct must be 0 or more, got {self_correct}")
    rounds = self_correct if self_correct and can_correct(proposer) else 0
    if not rounds:
        return await pipelined_sample(problem, proposer=proposer, lean=lean, budget=budget,
                                      rng=rng, batch=batch, temperature=temperature,
                                      pipeline=pipeline, shared=shared)
    # Kimina's feedback shows the goals before each error: ask Lean for the tactics then.
    all_tactics = bool(rounds)
    started = time.monotonic()
    generations = 0
    trace: list[dict[str, Any]] = []
    tally = LeanTally()
    # Every attempt's candidates, first answers and corrections alike, go through one cache:
    # a copy of a candidate already judged takes its verdict (``search.verdicts``), and the
    # tally and ``lean_calls`` count only the checks Lean really made.
    verdicts = VerdictCache(lean, on_check=tally.check,
                            shared=shared.checks if shared is not None else None)

    def found(attempt: int, proposal: Proposal, spent: int, turn: int) -> SearchResult:
        return SearchResult(problem.name, proposal.text, generations, verdicts.calls,
                            time.monotonic() - started, budget.cost(attempt, spent), "sample",
                            {}, tuple(trace), **tally.fields(), round=turn,
                            distinct=verdicts.distinct)

    for attempt in range(budget.attempts):
        done = 0
        while done < budget.per_attempt:
            remaining = budget.per_attempt - done
            k = min(batch, -(-remaining // (rounds + 1)))
            proposals = await proposer.propose_proofs(problem, k, seed=rng.randrange(2**31),
                                                      temperature=temperature)
            generations += k
            results = await asyncio.gather(*(verdicts.verify(problem, p.text,
                                                             all_tactics=all_tactics)
                                             for p in proposals))
            chains: list[_Chain] = []
            for i, (proposal, result) in enumerate(zip(proposals, results, strict=True)):
                trace.append({"attempt": attempt, "status": result.status.value, "round": 0})
                if result.proved:
                    return found(attempt, proposal, done + i + 1, 0)
                if rounds and correctable(result):
                    chains.append(_Chain([proposal], result))
            done += k
            for turn in range(1, rounds + 1):
                chains = chains[:budget.per_attempt - done]  # each turn is one generation
                if not chains:
                    break
                asked = await asyncio.gather(*(
                    proposer.propose_correction(problem, tuple(c.history), c.check,  # type: ignore[attr-defined]
                                                seed=rng.randrange(2**31),
                                                temperature=temperature)
                    for c in chains))
                generations += len(chains)
                pairs = [(c, p[0]) for c, p in zip(chains, asked, strict=True) if p]
                checks = await asyncio.gather(*(verdicts.verify(problem, p.text,
                                                                all_tactics=all_tactics)
                                                for _c, p in pairs))
                index = {id(c): j for j, c in enumerate(chains)}
                survivors: list[_Chain] = []
                proof: tuple[Proposal, int] | None = None
                for (chain, proposal), result in zip(pairs, checks, strict=True):
                    trace.append({"attempt": attempt, "status": result.status.value,
                                  "round": turn})
                    if result.proved and proof is None:
                        proof = (proposal, done + index[id(chain)] + 1)
                    elif correctable(result):
                        survivors.append(_Chain([*chain.history, proposal], result))
                if proof is not None:
                    return found(attempt, proof[0], proof[1], turn)
                done += len(chains)
                chains = survivors
    return SearchResult(problem.name, None, generations, verdicts.calls,
                        time.monotonic() - started, None, "sample", {}, tuple(trace),
                        **tally.fields(), distinct=verdicts.distinct)
