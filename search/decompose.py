"""Subgoal decomposition (DeepSeek-Prover-V2, shared/reference/deepseek-prover.md §10.3).

One decomposition of a problem:

1. A sketcher (any ``ProofProposer``: the rule of ``search.structural``, the model sketchers
   of ``prover.policies.sketch``) proposes proofs made of ``have name : P := by sorry``
   steps and a closing step (which may be a ``sorry`` too).
2. Lean checks each sketch with the full verdict, the problem as reference (so a sketch
   that edits the statement is rejected like any candidate). It must be incomplete with
   exactly the sorries of its gaps (``lemmas.sketch_gaps``), no error; a sketch that is
   already a proof is returned as it is.
3. Each gap's goal, as Lean printed it for its sorry, becomes a lemma
   (``lemmas.goal_lemma``) in the variants asked for: ``with_context`` (the earlier steps
   as hypotheses, V2's form (b)), ``without_context`` (form (a)).
4. Each lemma is searched with ``prover_method`` through the leaf searches of ``search.methods``, variant
   by variant until one is proved; if none is and ``depth`` allows, the first variant is
   decomposed in turn (with ``depth - 1``). Lemma statements carry the problem's preamble.
5. When every gap is proved, the lemma proofs are INLINED under their ``have``s
   (``lemmas.fill_gaps``; a ``rename_i`` first when the goal had inaccessible names). Not
   stated as auxiliary theorems: a proof continues ``problem.statement``, which the trust
   layer keeps fixed with its preamble, and a declaration after the theorem is no use to
   it. The whole proof is then verified again (``verify``); only that verdict makes it
   the result's proof.

Budget: each of ``budget.attempts`` attempts asks for up to ``sketches`` sketches
(default and cap ``budget.per_attempt``), ``sketch_batch`` at a time; each lemma search
gets ``lemma_budget`` (default ``1 x budget.per_attempt``). Generations and Lean calls of
the lemma searches are counted in the result.
"""
from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from lean_bridge.goals import parse_goal_text, theorem_name
from lean_bridge.outcome import CheckResult, Status
from lean_bridge.reference import placeholder_for
from lean_bridge.text import LineIndex, parse_file
from search.mix import MixProposer
from search.problem import Problem
from search.protocols import LeanChecker, ProofProposer
from search.structural import StructuralSketcher

from .budget import Budget
from .lemmas import (
    VARIANTS,
    WITHOUT_CONTEXT,
    Gap,
    Lemma,
    fill_gaps,
    goal_lemma,
    rename_tactic,
    sketch_gaps,
    unique_name,
)
from .methods import LEAF_SEARCHES, SearchMethod, unknown_method
from .result import LeanTally, SearchResult
from .verify import verify

METHOD = SearchMethod.DECOMPOSE.value


@dataclass(frozen=True)
class GapOutcome:
    """What became of one gap: the lemmas tried, and the proof of the one proved."""

    gap: Gap
    name: str  # the lemma's name (every variant has it)
    lemmas: tuple[Lemma, ...]
    solved: Lemma | None = None
    proof: str | None = None  # continues solved.statement
    prelude: str | None = None  # `rename_i …` for inlining
    via: str | None = None  # the method that proved it
    tried: tuple[dict[str, Any], ...] = ()
    error: str | None = None  # why no lemma could be stated

    def to_json(self) -> dict[str, Any]:
        lemma = self.solved or (self.lemmas[0] if self.lemmas else None)
        return {"name": self.name, "have": self.gap.name,
                "variant": lemma.variant if lemma else None,
                "statement": lemma.statement if lemma else None,
                "solved": self.solved is not None, "proof": self.proof, "via": self.via,
                "tried": list(self.tried), **({"error": self.error} if self.error else {})}


def default_sketcher(proposer: ProofProposer) -> ProofProposer:
    """The structural split first (no model needed), then the proposer's own proofs."""
    return MixProposer([StructuralSketcher(), proposer])


def lemma_problem(problem: Problem, lemma: Lemma) -> Problem:
    """``lemma`` as a problem: the problem's header and preamble (the items before its
    theorem, which the lemma may mention), then the lemma's statement."""
    return sibling_problem(problem, lemma.name, lemma.statement)


def sibling_problem(problem: Problem, name: str, statement: str) -> Problem:
    """The theorem ``statement`` (named ``name``) in ``problem``'s place: same header and
    preamble. How a lemma found for ``problem`` is checked, and recorded for training."""
    text = problem.header + problem.statement + placeholder_for(problem.statement)
    decls = [d for d in parse_file(text).declarations if d.kind in ("theorem", "lemma", "example")]
    start = decls[-1].start if decls else len(problem.header) + len(problem.statement)
    prefixes = "".join(text[a:b] + " " for a, b in decls[-1].prefix_commands) if decls else ""
    return Problem(name, problem.header, text[len(problem.header):start] + prefixes + statement)


def gap_goals(problem: Problem, sketch: str, gaps: Sequence[Gap], check: CheckResult) -> list[str]:
    """Each gap's goal from Lean's sorries, matched by position; ValueError unless Lean's
    sorries are exactly the gaps."""
    base = len(problem.header) + len(problem.statement)
    index = LineIndex(problem.header + problem.statement + sketch)
    goals: dict[int, str] = {}
    for s in check.sorries:
        if s.pos is None:
            raise ValueError("Lean reported a sorry without a position")
        goals[index.line_col_to_offset(s.pos.line, s.pos.column) - base] = s.goal
    if len(check.sorries) != len(gaps) or set(goals) != {g.sorry for g in gaps}:
        raise ValueError(f"Lean's {len(check.sorries)} sorries are not the sketch's {len(gaps)} gaps")
    return [goals[g.sorry] for g in gaps]


@dataclass
class _Decomposition:
    problem: Problem
    proposer: ProofProposer
    lean: LeanChecker
    sketcher: ProofProposer | None
    prover_method: str
    depth: int
    variants: tuple[str, ...]
    lemma_budget: Budget
    options: dict[str, Any]  # for decompose_search when recursing
    prover_options: dict[str, Any]  # for the lemma searches
    base_name: str  # lemmas are named `<base_name>_<step>`
    generations: int = 0
    lean_calls: int = 0
    distinct: int | None = 0  # own checks + the lemma searches'; None once one does not count
    trace: list[dict[str, Any]] = field(default_factory=list)
    tally: LeanTally = field(default_factory=LeanTally)  # its own checks and its lemma searches'
    sketches: int = 0
    rejected: int = 0
    report: dict[str, Any] | None = None
    score: float = -1.0
    cache: dict[str, str | None] = field(default_factory=dict)  # method + statement -> proof

    async def try_sketch(self, sketch: str, attempt: int, rng: random.Random) -> str | None:
        self.sketches += 1
        check = self.tally.check(await verify(self.lean, self.problem, sketch))
        self.lean_calls += 1
        self._judged(1)
        event: dict[str, Any] = {"event": "sketch", "attempt": attempt, "status": check.status.value}
        self.trace.append(event)
        if check.proved:
            self._keep({"sketch": sketch, "lemmas": [], "unsolved": []}, 2.0)
            return sketch
        try:
            if check.status is not Status.INCOMPLETE:
                raise ValueError("; ".join(check.reasons[:2]) or check.status.value)
            gaps = sketch_gaps(sketch)
            goals = gap_goals(self.problem, sketch, gaps, check)
        except ValueError as exc:
            self.rejected += 1
            event["rejected"] = str(exc)[:300]
            return None
        event["gaps"] = len(gaps)
        taken = {self.base_name}
        names = [unique_name(f"{self.base_name}_{g.name}", taken) for g in gaps]
        seeds = [rng.randrange(2**31) for _ in gaps]
        outcomes = await asyncio.gather(*(self.solve_gap(g, goal, name, random.Random(seed))
                                          for g, goal, name, seed
                                          in zip(gaps, goals, names, seeds, strict=True)))
        solved = [o for o in outcomes if o.solved is not None]
        report: dict[str, Any] = {"sketch": sketch, "lemmas": [o.to_json() for o in outcomes],
                  "unsolved": [{"name": e["name"], "have": e["have"], "statement": e["statement"]}
                               for e in (o.to_json() for o in outcomes if o.solved is None)]}
        if len(solved) < len(outcomes):
            self._keep(report, len(solved) / len(outcomes))
            return None
        text = fill_gaps(sketch, [(o.gap, o.proof, o.prelude) for o in outcomes])  # type: ignore[misc]
        final = self.tally.check(await verify(self.lean, self.problem, text))
        self.lean_calls += 1
        self._judged(1)
        self.trace.append({"event": "recompose", "attempt": attempt, "status": final.status.value})
        if not final.proved:
            report["recomposed"] = {"status": final.status.value, "reasons": list(final.reasons[:3])}
            self._keep(report, 1.0)
            return None
        self._keep(report, 2.0)
        return text

    def _judged(self, candidates: int | None) -> None:
        """Count distinct candidates judged: the sketches (told apart by ``seen``) and the
        recomposed proofs here, a lemma search's own count; unknown (None) stays unknown."""
        self.distinct = None if self.distinct is None or candidates is None \
            else self.distinct + candidates

    def _keep(self, report: dict[str, Any], score: float) -> None:
        """Report the sketch that came closest (ties: the latest)."""
        if score >= self.score:
            self.report, self.score = report, score

    async def solve_gap(self, gap: Gap, goal: str, name: str, rng: random.Random) -> GapOutcome:
        try:
            parsed = parse_goal_text(goal)
        except ValueError as exc:
            return GapOutcome(gap, name, (), error=f"unreadable goal: {exc}")
        lemmas: list[Lemma] = []
        for variant in self.variants:
            if variant == WITHOUT_CONTEXT and gap.step is None:
                continue  # the closing step without the steps is the theorem itself
            drop = gap.earlier if variant == WITHOUT_CONTEXT else ()
            lemma = goal_lemma(parsed, name, have=gap.name, variant=variant, drop=drop)
            if all(lemma.statement != other.statement for other in lemmas):
                lemmas.append(lemma)
        prelude = rename_tactic(parsed)
        plan = [(lemma, self.prover_method) for lemma in lemmas]
        if self.depth > 1 and lemmas:
            # Recursion takes the first variant: with_context by default, V2's form (b).
            plan.append((lemmas[0], METHOD))
        tried: list[dict[str, Any]] = []
        for lemma, method in plan:
            proof = await self.prove(lemma, method, rng)
            tried.append({"variant": lemma.variant, "method": method, "solved": proof is not None})
            if proof is not None:
                return GapOutcome(gap, name, tuple(lemmas), lemma, proof, prelude, method, tuple(tried))
        return GapOutcome(gap, name, tuple(lemmas), tried=tuple(tried))

    async def prove(self, lemma: Lemma, method: str, rng: random.Random) -> str | None:
        """A verified proof of ``lemma`` by ``method``; each statement is searched once per
        method (sketches often share steps)."""
        key = f"{method}\n{lemma.statement}"
        if key in self.cache:
            return self.cache[key]
        problem = lemma_problem(self.problem, lemma)
        if method == METHOD:
            result = await decompose_search(problem, proposer=self.proposer, lean=self.lean,
                                            budget=self.lemma_budget, rng=rng, sketcher=self.sketcher,
                                            prover_method=self.prover_method, depth=self.depth - 1,
                                            variants=self.variants, **self.options, **self.prover_options)
        else:
            result = await LEAF_SEARCHES[method](problem, proposer=self.proposer, lean=self.lean,
                                                 budget=self.lemma_budget, rng=rng, **self.prover_options)
        self.generations += result.generations
        self.lean_calls += result.lean_calls
        self._judged(result.distinct)
        self.tally.add(result)
        self.trace.append({"event": "lemma", "lemma": lemma.name, "variant": lemma.variant,
                           "method": method, "proved": result.proved})
        self.cache[key] = result.proof
        return result.proof


async def decompose_search(problem: Problem, *, proposer: ProofProposer, lean: LeanChecker,
                           budget: Budget, rng: random.Random,
                           sketcher: ProofProposer | None = None, prover_method: str = "sample",
                           depth: int = 2, variants: Sequence[str] = VARIANTS,
                           sketches: int | None = None, sketch_batch: int = 4,
                           sketch_temperature: float = 1.0, lemma_budget: Budget | None = None,
                           **prover_options: Any) -> SearchResult:
    """Decompose ``problem`` into lemmas, prove them, recompose (module docstring).

    Args:
        proposer: proves the lemmas (through ``prover_method``); also sketches when
            ``sketcher`` is None (after the structural split, ``default_sketcher``).
        depth: levels of decomposition; 1 = lemmas are only searched, never decomposed.
        variants: lemma forms, tried in this order: ``with_context``, ``without_context``.
        prover_options: passed to every lemma search (e.g. ``batch`` for sampling).
    """
    if depth < 1:
        raise ValueError(f"decomposition depth must be at least 1, got {depth}")
    if prover_method == METHOD:
        raise ValueError("the lemma prover cannot be decompose itself: use depth for recursion")
    if prover_method not in LEAF_SEARCHES:
        raise unknown_method(prover_method)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise ValueError(f"lemma variants must be among {VARIANTS}, got {tuple(variants)}")
    started = time.monotonic()
    try:
        base_name = theorem_name(problem.statement)
    except ValueError:
        base_name = problem.name
    run = _Decomposition(
        problem, proposer, lean, sketcher, prover_method, depth, tuple(variants),
        lemma_budget or Budget(1, budget.per_attempt),
        {"sketches": sketches, "sketch_batch": sketch_batch, "sketch_temperature": sketch_temperature,
         "lemma_budget": lemma_budget},
        prover_options, base_name)
    asker = sketcher if sketcher is not None else default_sketcher(proposer)
    per_attempt = min(sketches or budget.per_attempt, budget.per_attempt)
    seen: set[str] = set()
    proof = None
    for attempt in range(budget.attempts):
        asked = 0
        while asked < per_attempt and proof is None:
            k = min(sketch_batch, per_attempt - asked)
            proposals = await asker.propose_proofs(problem, k, seed=rng.randrange(2**31),
                                                   temperature=sketch_temperature)
            run.generations += k
            asked += k
            for proposal in proposals:
                if proposal.text in seen:
                    continue  # the same sketch fares the same
                seen.add(proposal.text)
                proof = await run.try_sketch(proposal.text, attempt, rng)
                if proof is not None:
                    break
        if proof is not None:
            break
    stats = {"depth": depth, "attempts": budget.attempts, "sketches": run.sketches,
             "rejected": run.rejected, "sketch": None, "lemmas": [], "unsolved": [],
             **(run.report or {})}
    return SearchResult(problem.name, proof, run.generations, run.lean_calls,
                        time.monotonic() - started, run.generations if proof is not None else None,
                        METHOD, stats, tuple(run.trace), **run.tally.fields(),
                        distinct=run.distinct)


__all__ = ["GapOutcome", "METHOD", "decompose_search", "default_sketcher", "gap_goals", "lemma_problem", "sibling_problem"]
