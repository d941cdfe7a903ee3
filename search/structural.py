"""The structural sketcher: a model-free rule that rewrites a statement into ``have … := by
sorry`` steps, for subgoal decomposition (``search.decompose``).

It splits a conjunction target into one ``have`` per conjunct and an ``↔`` into its two
directions, closed by an anonymous constructor. Our own rule; useful with the automation
portfolio, which may close each part separately where it cannot close the whole. The model
sketchers (``LMSketcher``) live in ``prover.policies.sketch``.
"""
from __future__ import annotations

import re

from lean_bridge.goals import split_top, statement_goal, strip_parens
from lean_bridge.text import mask_non_code, normalize_statement
from search.problem import Problem
from search.protocols import Proposal


def structural_steps(target: str) -> tuple[list[tuple[str, str]], str] | None:
    """``([(name, statement), …], closing tactic)`` for a target that splits: ``A ↔ B``
    into its two directions, ``A ∧ B ∧ …`` into its conjuncts; None otherwise. Lean's
    precedence, loosest first: ``↔``, ``→``, ``∨``, ``∧``."""
    t = strip_parens(normalize_statement(target))
    iff = split_top(t, "↔")
    if len(iff) == 2 and all(iff):
        a, b = iff
        steps = [("h_mp", f"{a} → {b}"), ("h_mpr", f"{b} → {a}")]
    elif len(iff) > 2 or len(split_top(t, "→")) > 1 or len(split_top(t, "∨")) > 1:
        return None
    else:
        parts = split_top(t, "∧")
        if len(parts) < 2 or not all(parts):
            return None
        steps = [(f"h_part{k}", strip_parens(p)) for k, p in enumerate(parts, start=1)]
    return steps, "exact ⟨" + ", ".join(n for n, _ in steps) + "⟩"


def structural_sketch(problem: Problem) -> str | None:
    """The structural split of ``problem`` as a sketch continuing its statement, names
    made fresh against the statement's; None when the target does not split."""
    found = structural_steps(statement_goal(problem.statement).target)
    if found is None:
        return None
    steps, close = found
    words = set(re.findall(r"[\w'.]+", mask_non_code(problem.statement)))
    renames = {}
    for name, _ in steps:
        fresh = name
        while fresh in words:
            fresh += "'"
        renames[name] = fresh
    for old, new in renames.items():
        close = re.sub(rf"(?<![\w']){re.escape(old)}(?![\w'])", new, close)
    body = "".join(f"  have {renames[n]} : {s} := by sorry\n" for n, s in steps) + f"  {close}\n"
    code = mask_non_code(problem.statement).rstrip()
    if code.endswith(":="):
        return " by\n" + body
    return body if problem.statement.endswith("\n") else "\n" + body


class StructuralSketcher:
    """``structural_sketch`` as a ``ProofProposer``: at most one sketch, whatever ``n``."""

    async def propose_proofs(self, problem: Problem, n: int, *, prefix: str = "",
                             tactic_state: str | None = None, seed: int | None = None,
                             temperature: float = 1.0, state_comment: str | None = None
                             ) -> list[Proposal]:
        del seed, temperature, state_comment  # deterministic; whole proofs only
        if prefix or tactic_state is not None or n < 1:
            return []
        sketch = structural_sketch(problem)
        return [] if sketch is None else [Proposal(sketch, None, len(sketch.split()))]


__all__ = ["StructuralSketcher", "structural_sketch", "structural_steps"]
