"""Subgoal decomposition through the fake REPL: sketches checked by the full verdict, each
sorry's goal turned into a lemma, lemmas proved by sampling, proofs inlined and the whole
proof verified again. Plus the sketchers (structural split, chat model) on their own.

The scripted world: the fake REPL accepts exactly the lemma proofs and recomposed proofs
listed (as Lean would accept them), answers each listed sketch with its sorries' goals as
Lean prints them, and fails every other theorem text; so nothing the world does not list
is ever proved."""
from __future__ import annotations

import json
import random
import re
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator

import pytest
from conftest import fake_repl_command
from synthetic_world import END

from lean_bridge.checker import LeanChecker
from lean_bridge.pool import PoolConfig, ReplPool
from lean_bridge.process import ReplSpec
from prover.policies.goal_info import parse_statement
from prover.policies.policy import Completion, GenerationRequest
from prover.policies.sketch import (
    DECOMPOSE_INSTRUCTION,
    LMSketcher,
    StructuralSketcher,
    extract_sketch,
    structural_sketch,
)
from search import Budget, search
from search.decompose import decompose_search, lemma_problem
from search.lemmas import Lemma
from search.problem import Problem
from search.protocols import Proposal
from search.verify import verify

HEADER = "import Mathlib\n"
FAILS = "scripted world: this proof fails"


@dataclass
class ScriptProposer:
    """Proof texts by problem name (``default`` for any other); records who asked."""

    texts: dict[str, list[str]]
    default: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)

    async def propose_proofs(self, problem: Problem, n: int, *, prefix: str = "",
                             tactic_state: str | None = None, seed: int | None = None,
                             temperature: float = 1.0, state_comment: str | None = None
                             ) -> list[Proposal]:
        self.asked.append(problem.name)
        return [Proposal(t, None, 1) for t in self.texts.get(problem.name, self.default)[:n]]


def accept(statement: str, proof: str) -> dict:
    return {"on": "cmd", "match": r"\A" + re.escape(statement + proof) + END}


def sketch_rule(statement: str, sketch: str, goals: list[str]) -> dict:
    return {"on": "cmd", "match": r"\A" + re.escape(statement + sketch) + END,
            "sorries": [{"goal": g} for g in goals]}


FAIL_ALL = {"on": "cmd", "match": r"\Atheorem ",
            "messages": [{"severity": "error", "line": 2, "column": 2, "data": FAILS}]}


@asynccontextmanager
async def world(tmp_path: Path, rules: list[dict], processes: int = 2) -> AsyncIterator[LeanChecker]:
    script = tmp_path / "rules.json"
    script.write_text(json.dumps({"rules": rules}, ensure_ascii=False), encoding="utf-8")
    pool = ReplPool(ReplSpec(fake_repl_command("--script", str(script))),
                    PoolConfig(max_processes=processes))
    try:
        yield LeanChecker(pool, timeout=30)
    finally:
        await pool.close()


# -- a theorem sketched in three steps ----------------------------------------------------------

STATEMENT = "theorem demo (a b : ℝ) (h₀ : 0 < a) (h₁ : 0 < b) : 0 < a * b + (a + b) := by\n"
PROBLEM = Problem("demo", HEADER, STATEMENT)
SKETCH = ("  have hab : 0 < a * b := by sorry\n"
          "  have hsum : 0 < a + b := by\n"
          "    sorry\n"
          "  have htot : 0 < a * b + (a + b) := by sorry\n"
          "  exact htot\n")
HYPS = "a b : ℝ\nh₀ : 0 < a\nh₁ : 0 < b\n"
GOALS = [HYPS + "⊢ 0 < a * b",
         HYPS + "hab : 0 < a * b\n⊢ 0 < a + b",
         HYPS + "hab : 0 < a * b\nhsum : 0 < a + b\n⊢ 0 < a * b + (a + b)"]
BINDERS = "(a b : ℝ) (h₀ : 0 < a) (h₁ : 0 < b)"
L_HAB = f"theorem demo_hab {BINDERS} : 0 < a * b := by\n"
L_HSUM = f"theorem demo_hsum {BINDERS} (hab : 0 < a * b) : 0 < a + b := by\n"
L_HSUM_BARE = f"theorem demo_hsum {BINDERS} : 0 < a + b := by\n"
L_HTOT = f"theorem demo_htot {BINDERS} (hab : 0 < a * b) (hsum : 0 < a + b) : 0 < a * b + (a + b) := by\n"
LEMMA_PROOFS = {"demo_hab": ["  linarith\n", "  positivity\n"],
                "demo_hsum": ["  nlinarith\n", "  linarith\n"],
                "demo_htot": ["  positivity\n", "  linarith\n"]}
RECOMPOSED = ("  have hab : 0 < a * b := by\n"
              "    positivity\n"
              "  have hsum : 0 < a + b := by\n"
              "    linarith\n"
              "  have htot : 0 < a * b + (a + b) := by\n"
              "    linarith\n"
              "  exact htot\n")


def demo_rules(*, htot_provable: bool) -> list[dict]:
    rules = [sketch_rule(STATEMENT, SKETCH, GOALS),
             accept(L_HAB, "  positivity\n"),
             # hsum is provable only in the form without the earlier step (a scripted fact).
             accept(L_HSUM_BARE, "  linarith\n"),
             accept(STATEMENT, RECOMPOSED)]
    if htot_provable:
        rules.append(accept(L_HTOT, "  linarith\n"))
    return rules + [FAIL_ALL]


async def test_two_lemmas_solved_one_not_leaves_the_theorem_unproved(tmp_path):
    proposer = ScriptProposer(LEMMA_PROOFS)
    async with world(tmp_path, demo_rules(htot_provable=False)) as lean:
        result = await decompose_search(PROBLEM, proposer=proposer, lean=lean, budget=Budget(1, 2),
                                        rng=random.Random(0), sketcher=ScriptProposer({"demo": [SKETCH]}),
                                        depth=1)
    assert not result.proved and result.method == "decompose" and result.cost is None
    stats = result.tree_stats
    assert stats["sketch"] == SKETCH and stats["sketches"] == 1 and stats["rejected"] == 0
    lemmas = {e["have"]: e for e in stats["lemmas"]}
    assert lemmas["hab"]["solved"] and lemmas["hab"]["variant"] == "with_context"
    assert lemmas["hab"]["statement"] == L_HAB and lemmas["hab"]["proof"] == "  positivity\n"
    assert lemmas["hsum"]["solved"] and lemmas["hsum"]["variant"] == "without_context"
    assert lemmas["hsum"]["statement"] == L_HSUM_BARE and lemmas["hsum"]["proof"] == "  linarith\n"
    assert [t["solved"] for t in lemmas["hsum"]["tried"]] == [False, True]
    assert not lemmas["htot"]["solved"] and lemmas["htot"]["proof"] is None
    assert stats["unsolved"] == [{"name": "demo_htot", "have": "htot", "statement": L_HTOT}]
    # Sketches ask 2; each lemma variant searched asks 2 (hab, hsum x2, htot x2).
    assert result.generations == 2 + 2 * 5
    # The sketch check, then every candidate sampling sent to Lean (2 per search).
    assert result.lean_calls == 1 + 2 * 5
    assert json.dumps(result.to_json(), ensure_ascii=False)  # the report is plain JSON


async def test_a_fully_solved_sketch_recomposes_into_a_verified_proof(tmp_path):
    bad_lean = SKETCH.replace("exact htot", "exact hfoo")  # Lean fails it (the catch-all)
    bad_gap = "  nlinarith [sorry, h₀, h₁]\n"  # a sorry no lemma can fill
    wrong_count = SKETCH.replace("  exact htot\n", "  exact htot\n  done\n")
    rules = [sketch_rule(STATEMENT, bad_gap, [HYPS + "⊢ 0 < a * b"]),
             sketch_rule(STATEMENT, wrong_count, GOALS[:2]),  # Lean reports two sorries of three
             *demo_rules(htot_provable=True)]
    sketcher = ScriptProposer({"demo": [bad_lean, bad_gap, wrong_count, SKETCH]})
    async with world(tmp_path, rules) as lean:
        result = await decompose_search(PROBLEM, proposer=ScriptProposer(LEMMA_PROOFS), lean=lean,
                                        budget=Budget(1, 8), rng=random.Random(1), sketcher=sketcher)
        assert result.proved and result.proof == RECOMPOSED and "sorry" not in result.proof
        assert (await verify(lean, PROBLEM, result.proof)).proved  # the trust layer's own verdict
    stats = result.tree_stats
    assert stats["sketches"] == 4 and stats["rejected"] == 3 and stats["sketch"] == SKETCH
    assert stats["unsolved"] == [] and all(e["solved"] for e in stats["lemmas"])
    rejected = [e for e in result.trace if e.get("event") == "sketch" and "rejected" in e]
    assert [e["status"] for e in rejected] == ["error", "incomplete", "incomplete"]
    assert result.trace[-1] == {"event": "recompose", "attempt": 0, "status": "proved"}
    assert result.cost == result.generations


async def test_a_wrong_recomposition_is_not_a_proof(tmp_path):
    """Every lemma proved, but Lean rejects the assembled proof: no proof is reported."""
    rules = [r for r in demo_rules(htot_provable=True) if r != accept(STATEMENT, RECOMPOSED)]
    async with world(tmp_path, rules) as lean:
        result = await decompose_search(PROBLEM, proposer=ScriptProposer(LEMMA_PROOFS), lean=lean,
                                        budget=Budget(1, 2), rng=random.Random(0),
                                        sketcher=ScriptProposer({"demo": [SKETCH]}), depth=1)
    assert not result.proved
    assert result.tree_stats["recomposed"]["status"] == "error"
    assert result.trace[-1]["event"] == "recompose"


# -- the closing step and inaccessible names ----------------------------------------------------

CLOSE_STATEMENT = "theorem closing (x : ℕ) (h₀ : x + 1 = 3) : ∀ n : ℕ, n = n → x * x = 4 := by\n"
CLOSE_SKETCH = "  intro _ _\n  have hx : x = 2 := by sorry\n  sorry\n"
CLOSE_HYPS = "x : ℕ\nh₀ : x + 1 = 3\nn✝ : ℕ\na✝ : n✝ = n✝\n"
CLOSE_GOALS = [CLOSE_HYPS + "⊢ x = 2", CLOSE_HYPS + "hx : x = 2\n⊢ x * x = 4"]
L_HX = "theorem closing_hx (x : ℕ) (h₀ : x + 1 = 3) (n_1 : ℕ) (a_1 : n_1 = n_1) : x = 2 := by\n"
L_CLOSE = ("theorem closing_close (x : ℕ) (h₀ : x + 1 = 3) (n_1 : ℕ) (a_1 : n_1 = n_1) (hx : x = 2) : "
           "x * x = 4 := by\n")
CLOSE_RECOMPOSED = ("  intro _ _\n"
                    "  have hx : x = 2 := by\n"
                    "    rename_i n_1 a_1\n"
                    "    clear a_1 n_1\n"
                    "    omega\n"
                    "  rename_i n_1 a_1\n"
                    "  subst hx\n"
                    "  norm_num\n")


async def test_the_closing_sorry_is_a_lemma_and_inaccessible_names_are_renamed(tmp_path):
    problem = Problem("closing", HEADER, CLOSE_STATEMENT)
    rules = [sketch_rule(CLOSE_STATEMENT, CLOSE_SKETCH, CLOSE_GOALS),
             accept(L_HX, "  clear a_1 n_1\n  omega\n"),
             accept(L_CLOSE, "  subst hx\n  norm_num\n"),
             accept(CLOSE_STATEMENT, CLOSE_RECOMPOSED), FAIL_ALL]
    proposer = ScriptProposer({"closing_hx": ["  clear a_1 n_1\n  omega\n"],
                               "closing_close": ["  subst hx\n  norm_num\n"]})
    async with world(tmp_path, rules) as lean:
        result = await decompose_search(problem, proposer=proposer, lean=lean, budget=Budget(1, 1),
                                        rng=random.Random(0), sketcher=ScriptProposer({"closing": [CLOSE_SKETCH]}))
    assert result.proved and result.proof == CLOSE_RECOMPOSED
    lemmas = {e["have"]: e for e in result.tree_stats["lemmas"]}
    assert lemmas["hx"]["statement"] == L_HX
    assert lemmas["close"]["statement"] == L_CLOSE and lemmas["close"]["name"] == "closing_close"
    # The closing goal has one form only: without the steps it would be the theorem again.
    assert [t["variant"] for t in lemmas["close"]["tried"]] == ["with_context"]


# -- recursion and the public entry point --------------------------------------------------------

@dataclass
class TargetSketcher:
    """Sketches any problem as one step stating its own target, then `exact h`."""

    asked: list[str] = field(default_factory=list)

    async def propose_proofs(self, problem: Problem, n: int, **_: object) -> list[Proposal]:
        self.asked.append(problem.name)
        target = parse_statement(problem.statement).target
        return [Proposal(f"  have h : {target} := by sorry\n  exact h\n", None, 1)]


async def test_recursion_stops_at_the_depth_limit(tmp_path):
    problem = Problem("deep", HEADER, "theorem deep (n : ℕ) (h : 0 < n) : 1 ≤ n := by\n")
    # No sketch rules: the fake REPL reports each one-line `have … := by sorry` with its goal
    # (the theorem's hypotheses, ⊢ the have's type); every proof without a sorry fails.
    rules = [{"on": "cmd", "match": r"\A(?!.*(?<![\w.])sorry(?![\w']))theorem ",
              "messages": [{"severity": "error", "line": 2, "column": 2, "data": FAILS}]}]
    for depth in (1, 3):
        sketcher = TargetSketcher()
        proposer = ScriptProposer({}, default=["  omega\n"])
        (tmp_path / str(depth)).mkdir()
        async with world(tmp_path / str(depth), rules) as lean:
            result = await decompose_search(problem, proposer=proposer, lean=lean, budget=Budget(1, 1),
                                            rng=random.Random(0), sketcher=sketcher, depth=depth)
        assert not result.proved
        levels = ["deep" + "_h" * k for k in range(depth + 1)]
        assert sketcher.asked == levels[:-1]  # one sketch request per level, none beyond
        assert proposer.asked == levels[1:]  # each level's lemma sampled once
        assert result.tree_stats["unsolved"][0]["name"] == "deep_h"
        methods = [t["method"] for t in result.tree_stats["lemmas"][0]["tried"]]
        assert methods == (["sample", "decompose"] if depth > 1 else ["sample"])


async def test_search_api_dispatches_decompose_with_the_structural_sketch(tmp_path):
    statement = "theorem pair (x : ℕ) (h : x = 2) : x + x = 4 ∧ x * x = 4 := by\n"
    sketch = ("  have h_part1 : x + x = 4 := by sorry\n"
              "  have h_part2 : x * x = 4 := by sorry\n"
              "  exact ⟨h_part1, h_part2⟩\n")
    hyps = "x : ℕ\nh : x = 2\n"
    l1 = "theorem pair_h_part1 (x : ℕ) (h : x = 2) : x + x = 4 := by\n"
    l2 = "theorem pair_h_part2 (x : ℕ) (h : x = 2) (h_part1 : x + x = 4) : x * x = 4 := by\n"
    recomposed = ("  have h_part1 : x + x = 4 := by\n    omega\n"
                  "  have h_part2 : x * x = 4 := by\n    subst h\n    norm_num\n"
                  "  exact ⟨h_part1, h_part2⟩\n")
    rules = [sketch_rule(statement, sketch, [hyps + "⊢ x + x = 4", hyps + "h_part1 : x + x = 4\n⊢ x * x = 4"]),
             accept(l1, "  omega\n"), accept(l2, "  subst h\n  norm_num\n"),
             accept(statement, recomposed), FAIL_ALL]
    # One proposer for everything: no sketch of its own for `pair`, proofs for the lemmas.
    proposer = ScriptProposer({"pair_h_part1": ["  omega\n"], "pair_h_part2": ["  subst h\n  norm_num\n"]})
    problem = Problem("pair", HEADER, statement)
    assert structural_sketch(problem) == sketch
    async with world(tmp_path, rules) as lean:
        result = await search(problem, method="decompose", proposer=proposer, lean=lean,
                              budget=Budget(1, 2), rng=random.Random(0), depth=1)
        assert result.proved and result.method == "decompose" and result.proof == recomposed
        assert (await verify(lean, problem, result.proof)).proved


async def test_bad_arguments_are_refused():
    kwargs = dict(proposer=None, lean=None, budget=Budget(1, 1), rng=random.Random(0))
    for bad in ({"depth": 0}, {"prover_method": "decompose"}, {"variants": ("sideways",)}, {"variants": ()}):
        with pytest.raises(ValueError):
            await decompose_search(PROBLEM, **kwargs, **bad)


def test_lemma_problems_keep_the_preamble():
    statement = "def f (n : ℕ) : ℕ := n + 1\n\n/-- doc -/\ntheorem t (n : ℕ) : f n > n := by\n"
    lemma = Lemma("t_h", "h", "with_context", "theorem t_h (n : ℕ) : f n = n + 1 := by\n", "f n = n + 1")
    problem = lemma_problem(Problem("t", HEADER, statement), lemma)
    assert problem.statement == "def f (n : ℕ) : ℕ := n + 1\n\ntheorem t_h (n : ℕ) : f n = n + 1 := by\n"
    assert problem.name == "t_h" and problem.header == HEADER


# -- sketchers -----------------------------------------------------------------------------------

@pytest.mark.parametrize("statement, expected", [
    ("theorem t (a : ℕ) : a = 1 ↔ a + 1 = 2 := by\n",
     "  have h_mp : a = 1 → a + 1 = 2 := by sorry\n  have h_mpr : a + 1 = 2 → a = 1 := by sorry\n"
     "  exact ⟨h_mp, h_mpr⟩\n"),
    ("theorem t (h_part1 : 0 < 1) : (1 = 1 ∧ 2 = 2) ∧ 3 = 3 :=",
     " by\n  have h_part1' : 1 = 1 ∧ 2 = 2 := by sorry\n  have h_part2 : 3 = 3 := by sorry\n"
     "  exact ⟨h_part1', h_part2⟩\n"),
    ("theorem t : ∃ x : ℕ, x = 1 ∧ 0 < 1 := by\n", None),  # under a binder
    ("theorem t (p q : Prop) : p ∧ q → q := by\n", None),  # an implication
    ("theorem t (p q : Prop) : p ∨ q ∧ p := by\n", None),  # a disjunction
])
def test_structural_sketch(statement, expected):
    assert structural_sketch(Problem("t", HEADER, statement)) == expected


async def test_structural_sketcher_is_a_proposer():
    problem = Problem("pair", HEADER, "theorem pair : 1 = 1 ∧ 2 = 2 := by\n")
    got = await StructuralSketcher().propose_proofs(problem, 5, seed=3)
    assert len(got) == 1 and got[0].text == structural_sketch(problem)
    assert await StructuralSketcher().propose_proofs(Problem("u", HEADER, "theorem u : True := by\n"), 5) == []


@dataclass
class CannedPolicy:
    answers: list[str]
    requests: list[GenerationRequest] = field(default_factory=list)
    name: str = "canned"

    async def generate(self, requests):
        self.requests += list(requests)
        return [[Completion(a) for a in self.answers[:r.n]] for r in requests]

    async def close(self):
        return None


async def test_lm_sketcher_asks_for_a_sketch_and_keeps_the_sketch_block():
    problem = Problem("t", HEADER, "theorem t (x : ℝ) (h : x = 1) : x + x = 2 := by\n")
    answer = ("Plan: double it.\n```lean4\ntheorem t (x : ℝ) (h : x = 1) : x + x = 2 := by\n"
              "  have hx : x = 1 := by sorry\n  linarith\n```\nSo the proof is:\n"
              "```lean4\ntheorem t (x : ℝ) (h : x = 1) : x + x = 2 := by\n  linarith\n```")
    policy = CannedPolicy([answer, "no code at all"])
    got = await LMSketcher(policy).propose_proofs(problem, 2, seed=7, temperature=0.5)
    assert [p.text for p in got] == ["  have hx : x = 1 := by sorry\n  linarith\n"]
    request = policy.requests[0]
    content = request.messages[0].content
    assert content.startswith("Complete the following Lean 4 code:\n\n```lean4\n")
    assert "theorem t (x : ℝ) (h : x = 1) : x + x = 2 := by\n  sorry\n```" in content
    assert content.endswith(DECOMPOSE_INSTRUCTION)
    assert request.n == 2 and request.seed == 7 and request.temperature == 0.5
    # No block with a sorry: a complete proof is taken as it is.
    assert extract_sketch(problem, "```lean4\ntheorem t (x : ℝ) (h : x = 1) : x + x = 2 := by\n  linarith\n```") \
        == "  linarith\n"
    with pytest.raises(ValueError):
        LMSketcher(policy, style="freestyle")
