"""The portfolio's tactic table: single tactics for a goal, best first, without a model.

The orderings are heuristics (our choices, not measurements), written down in ``_closers``
so they can be tuned. The target's shape and number domain (``prover.policies.goal_info``)
pick the order: ℕ/ℤ first try ``omega``/``norm_num``/``decide``/``simp``; real
inequalities ``nlinarith``/``positivity``; equalities ``ring_nf``/``field_simp``/
``linarith``; divisibility and ``%`` on numerals ``norm_num``/``decide``. Hints NAME the
goal's own hypotheses and variables: ``nlinarith [sq_nonneg (a - b), sq_nonneg (a + b),
mul_pos ha hb, h₀, h₁]``; conjunctions are split (``h₀.1``).
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Sequence

from lean_bridge.goals import split_top, strip_parens
from prover.policies.goal_info import (
    GoalInfo,
    bounded_vars,
    comparison_terms,
    defines_var,
    goal_domain,
    goal_shape,
    intro_goal,
    numeric_vars,
    obtain_goal,
    usable,
)

MAX_TACTICS = 40
MAX_HINTS = 10  # nlinarith multiplies hint pairs: more hints cost quadratically

_POS_RE = re.compile(r"^(?:0 < (\S+)|(\S+) > 0)$")


# -- hints ------------------------------------------------------------------------------------

def _square_hints(info: GoalInfo) -> list[str]:
    vs = numeric_vars(info)[:3]
    if len(vs) == 1:
        return [f"sq_nonneg ({vs[0]} - 1)", f"sq_nonneg ({vs[0]} + 1)"]
    hints = []
    for i, a in enumerate(vs):
        for b in vs[i + 1:]:
            hints += [f"sq_nonneg ({a} - {b})", f"sq_nonneg ({a} + {b})"]
    return hints


def _nlinarith_hints(info: GoalInfo) -> list[str]:
    terms = comparison_terms(info)
    positive = [(m.group(1) or m.group(2), term) for term, type_ in terms
                if (m := _POS_RE.match(strip_parens(type_)))]
    products = [f"mul_pos {ha} {hb}" for i, (_, ha) in enumerate(positive[:3])
                for _, hb in positive[i + 1:3]]
    hints = _square_hints(info)[:4] + products[:3]
    hints += dict.fromkeys(t for t, _ in terms)  # a shadowed name appears twice
    return hints[:MAX_HINTS]


def _hint_list(hints: Sequence[str]) -> str:
    return f" [{', '.join(hints)}]" if hints else ""


# -- the table --------------------------------------------------------------------------------

def _closers(info: GoalInfo, depth: int = 0) -> list[tuple[str, bool]]:
    """(tactic, whether it is meant to close the goal), best first, before dedup."""
    shape, domain = goal_shape(info.target), goal_domain(info)
    terms = comparison_terms(info)
    named = [n for n, _ in info.hypotheses if usable(n)]
    nl = "nlinarith" + _hint_list(_nlinarith_hints(info))
    hyp_terms = list(dict.fromkeys(t for t, _ in terms))
    nl_hyps = "nlinarith" + _hint_list(hyp_terms)
    li = "linarith" + _hint_list([t for t in hyp_terms if "." in t])  # split conjunctions
    simp_hyps = _hint_list(list(dict.fromkeys(named)))
    out: list[tuple[str, bool]] = []

    def add(*tactics: str, closing: bool = True) -> None:
        out.extend((t, closing) for t in tactics)

    intro_moves: list[tuple[str, bool]] = []
    if shape in ("forall", "imp", "not") and depth < 2 and (intro := intro_goal(info)):
        names, inner = intro
        head = "intro " + " ".join(names)
        intro_moves = [(head, False)] + [(f"{head} <;> {t}", True) for t, closing
                                         in _closers(inner, depth + 1)[:12] if closing]
    if shape != "not":  # `¬ 3 ∣ 7` is for norm_num/decide before it is for intro
        out.extend(intro_moves)
    if depth < 2 and (obtain := obtain_goal(info)):
        head, inner = obtain
        add(head, closing=False)
        add(*(f"{head} <;> {t}" for t, closing in _closers(inner, depth + 1)[:8] if closing))
    if shape in ("and", "iff") and depth < 2:
        parts = split_top(strip_parens(info.target), "∧" if shape == "and" else "↔")
        best = [[t for t, c in _closers(replace(info, target=p), depth + 1) if c
                 and " <;> " not in t] for p in parts]
        if shape == "and":
            add("constructor", closing=False)
            for k in range(2):
                if all(len(b) > k for b in best):
                    add("exact ⟨" + ", ".join(f"by {b[k]}" for b in best) + "⟩")
            add(*(f"constructor <;> {t}" for t in dict.fromkeys(b for bs in best for b in bs[:4])))
        else:
            add("constructor", closing=False)
            add(*(f"constructor <;> intro h <;> {t}" for t in
                  ("linarith", "nlinarith", "omega", "simp_all", "norm_num at *", "aesop")))
    if shape in ("dvd", "mod") and domain in ("nat", "int"):
        add("norm_num", "decide", "omega", "simp", "norm_num [Nat.dvd_iff_mod_eq_zero]",
            "simp [Nat.pow_mod, Nat.mul_mod, Nat.add_mod]", f"norm_num{simp_hyps} <;> omega")
    if domain in ("nat", "int"):
        add("omega", "norm_num", "decide", "simp", "rfl", f"norm_num{simp_hyps} <;> omega",
            "linarith", nl, "simp_all", "simp_all <;> omega")
        for var in bounded_vars(info):
            add(f"interval_cases {var} <;> omega", f"interval_cases {var} <;> simp_all")
        if shape == "ineq":
            add("positivity")
        if shape == "eq":
            add("ring_nf", "ring_nf <;> omega")
    elif domain == "real":
        if shape in ("ineq", "ne"):
            if re.match(r"^0 [<≤]|[>≥] 0$|≠ 0$", strip_parens(info.target)):
                add("positivity")
            add(nl, "positivity", li, nl_hyps, "nlinarith", "norm_num",
                f"norm_num{simp_hyps} <;> {nl}", f"field_simp <;> {nl}", "simp_all <;> nlinarith")
        elif shape == "eq":
            if terms or named:
                add(li, "linarith", nl_hyps)
            add("ring_nf", "field_simp", "field_simp <;> ring_nf", "norm_num", "ring")
            add(*(f"subst {n} <;> {t}" for n, ty in info.hypotheses
                  if usable(n) and defines_var(ty, info) for t in ("ring_nf", "field_simp",
                                                                    "norm_num")))
            add(nl, f"norm_num{simp_hyps} <;> linarith", f"field_simp <;> {nl}")
        add("norm_num", "linarith", "nlinarith", f"norm_num{simp_hyps}", "simp_all", nl)
    elif domain == "complex":
        add("ring_nf", "ring", "simp", "norm_num", "field_simp", "field_simp <;> ring_nf",
            "simp [Complex.ext_iff]", f"norm_num{simp_hyps}",
            *(f"subst {n} <;> ring_nf" for n, ty in info.hypotheses
              if usable(n) and defines_var(ty, info)))
    if shape == "not":
        out.extend(intro_moves)
    # The generic tail, for every goal: cheap decision procedures, then the heavy ones.
    add("norm_num", "simp", "linarith", "nlinarith", "positivity", "omega", "decide",
        "field_simp", "ring_nf", f"norm_num{simp_hyps}", f"simp{simp_hyps}", "simp_all",
        "tauto", "aesop", f"norm_num{simp_hyps} <;> linarith", f"field_simp <;> {nl}")
    return out


def ranked_tactics(info: GoalInfo, closing_only: bool) -> list[str]:
    if not info.target:
        return []  # `no goals`: nothing left to prove
    seen: dict[str, None] = {}
    for tactic, closing in _closers(info):
        if closing or not closing_only:
            seen.setdefault(tactic, None)
    return list(seen)[:MAX_TACTICS]


def portfolio_tactics(info: GoalInfo) -> list[str]:
    """Single tactics for ``info``, best first: deterministic, deduplicated, at most
    ``MAX_TACTICS``. Includes opening moves (``intro …``, ``constructor``)."""
    return ranked_tactics(info, closing_only=False)


__all__ = ["MAX_HINTS", "MAX_TACTICS", "portfolio_tactics", "ranked_tactics"]
