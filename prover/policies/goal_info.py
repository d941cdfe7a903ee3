"""A goal as the automation portfolio sees it: hypotheses vs variables, the target's shape
and number domain, and the goal after an opening move (``intro``, ``obtain``).

Goals and statements are read by ``lean_bridge.goals`` (``first_goal``, ``statement_goal``);
here their hypotheses are classified and their targets sized up, for the tactic table of
``prover.policies.closers``:

* hypotheses and variables are read from binders (``(x y : ℝ) (h₀ : 0 < x)``) or goal
  lines (``x y : ℝ``, ``h₀ : 0 < x``, ``⊢ …``); a binder is a hypothesis when its type is
  a proposition (a relation, a connective, a known predicate, or an ``h…`` name whose type
  is not a known sort);
* the target's shape (∀/→/¬, ∧, ↔, ∃, ∨, relation) and number domain (ℕ/ℤ, ℝ/ℚ, ℂ,
  other) are what the table orders its tactics by.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from lean_bridge.goals import (
    binder_pairs,
    closing_bracket,
    find_top,
    first_goal,
    split_top,
    statement_goal,
    strip_parens,
    top_level,
)
from lean_bridge.text import normalize_statement


@dataclass(frozen=True)
class GoalInfo:
    """A goal as names and types: ``(name, type)`` pairs, types whitespace-normalised."""

    hypotheses: tuple[tuple[str, str], ...]
    variables: tuple[tuple[str, str], ...]
    target: str


# Relation tokens, longest first; `:=`, `=>`, `<-`, `->` are not relations.
_RELATION_RE = re.compile(r"≤|≥|<=|>=|≠|!=|∣|≡|(?<![:=<>!])=(?![=>])|(?<![<-])<(?![-=])|(?<![-=>])>(?!=)")


def _relation(text: str) -> str | None:
    top = top_level(text)
    for m in _RELATION_RE.finditer(text):
        if top[m.start()]:
            return {"<=": "≤", ">=": "≥", "!=": "≠"}.get(m.group(), m.group())
    return None


def goal_shape(target: str) -> str:
    """forall | imp | not | iff | or | and | exists | dvd | mod | ineq | ne | eq | other."""
    t = strip_parens(target)
    if t.startswith("∀"):
        return "forall"
    if t.startswith("∃"):
        return "exists"
    # Lean precedence, loosest first: ↔ (20), → (25), ∨ (30), ∧ (35); ¬ binds tightest.
    for op, shape in (("↔", "iff"), ("→", "imp"), ("∨", "or"), ("∧", "and")):
        if len(split_top(t, op)) > 1:
            return shape
    if t.startswith("¬"):
        return "not"
    rel = _relation(t)
    if rel == "∣":
        return "dvd"
    if rel == "≡" or (rel == "=" and "%" in t):
        return "mod"
    if rel in ("<", "≤", ">", "≥"):
        return "ineq"
    if rel == "≠":
        return "ne"
    if rel == "=":
        return "eq"
    return "other"


# -- hypotheses vs variables ------------------------------------------------------------------

_PROP_MARK_RE = re.compile(r"[=≠<>≤≥∣∧∨¬↔∀∃∈∉⊆⊂≡]|\bTrue\b|\bFalse\b")
_PREDICATE_RE = re.compile(
    r"^(?:Nat\.Prime|Prime|Even|Odd|IsLeast|IsGreatest|IsLUB|IsGLB|Irrational|Squarefree"
    r"|Nat\.Coprime|IsCoprime|Continuous\w*|Differentiable\w*|StrictMono\w*|StrictAnti\w*"
    r"|Monotone\w*|Antitone\w*|Function\.\w+|Set\.\w+On|Finite|Set\.Finite|Infinite"
    r"|Tendsto|Filter\.Tendsto|HasDerivAt|Summable|IsUnit)\b")
_SORT_RE = re.compile(
    r"^(?:ℝ|ℕ|ℤ|ℚ|ℂ|Real|Nat|Int|Rat|Complex|Prop|Type|Sort|Set|Finset|List|Multiset|Fin"
    r"|Polynomial|Matrix|ZMod|Option|Bool|EReal|ENNReal|NNReal)\b")
_NUMERIC = {"ℝ": "real", "Real": "real", "ℚ": "rat", "Rat": "rat", "ℤ": "int", "Int": "int",
            "ℕ": "nat", "Nat": "nat", "ℂ": "complex", "Complex": "complex"}


def _is_prop(name: str, type_: str) -> bool:
    if _PROP_MARK_RE.search(type_) or _PREDICATE_RE.match(type_):
        return True
    # `h₁ : IsFoo x` with an unknown predicate: trust the naming convention, unless the
    # type is plainly a sort or a function between sorts (`f : ℝ → ℝ`).
    return name.startswith("h") and not _SORT_RE.match(type_)


def _classify(pairs: list[tuple[str, str]]) -> GoalInfo:
    hyps = tuple(p for p in pairs if _is_prop(*p))
    return GoalInfo(hyps, tuple(p for p in pairs if not _is_prop(*p)), "")


def parse_statement(statement: str) -> GoalInfo:
    """Binders and conclusion of the last theorem/lemma/example in ``statement``
    (``lean_bridge.goals.statement_goal``), binders classified.

    Instance binders (``[Fintype α]``) are skipped. Text with no declaration is taken as a
    bare target."""
    goal = statement_goal(statement)
    return replace(_classify(list(goal.pairs)), target=goal.target)


def parse_goal(goal: str) -> GoalInfo:
    """The FIRST goal of a pretty-printed state (``x y : ℝ``/``h₀ : 0 < x``/``⊢ t``), read by
    ``lean_bridge.goals.first_goal``, hypotheses classified and types normalised.

    ``case tag`` lines are skipped; indented lines continue the previous entry (Lean's
    pretty printer wraps long types); ``no goals`` gives an empty target."""
    first = first_goal(goal)
    pairs = [(n, normalize_statement(type_)) for n, type_ in first.pairs]
    return replace(_classify(pairs), target=normalize_statement(first.target))


# -- hints: what a goal offers ----------------------------------------------------------------

def usable(name: str) -> bool:
    return "✝" not in name and name != "_"


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w.']){re.escape(name)}(?![\w'])", text) is not None


def goal_domain(info: GoalInfo) -> str:
    """nat | int | real | complex | other: the numbers the TARGET is about. Its own
    variables and notation decide (``n = 312`` is about ℕ even when a hypothesis mentions
    ℝ); only a target that says nothing (``False``) falls back to the whole context."""
    mentioned = [t for n, t in info.variables if t and _mentions(info.target, n)]
    text = info.target
    if not mentioned and not re.search(r"\d|ℕ|ℤ|ℚ|ℝ|ℂ", text):
        mentioned = [t for _, t in info.variables if t]
        text += " " + " ".join(t for _, t in info.hypotheses)
    kinds = {_NUMERIC.get(t.split()[0]) for t in mentioned}
    if "complex" in kinds or re.search(r"ℂ|Complex", text):
        return "complex"
    if kinds & {"real", "rat"} or re.search(r"ℝ|ℚ|Real|√|π|\bexp\b|\blog", text):
        return "real"
    if "int" in kinds or re.search(r"ℤ|\bInt\b", text):
        return "int"
    if "nat" in kinds or re.search(r"\d|ℕ|\bNat\b", text):
        return "nat"
    return "other"


def _comparison(type_: str) -> bool:
    t = strip_parens(type_)
    return goal_shape(t) in ("ineq", "eq", "ne", "mod") and not t.startswith("¬")


def comparison_terms(info: GoalInfo) -> list[tuple[str, str]]:
    """(proof term, its type) for every comparison among the hypotheses, conjunctions
    split into ``h.1``, ``h.2.1``, … (linarith does not look inside ∧)."""
    terms = []
    for name, type_ in info.hypotheses:
        if not usable(name):
            continue
        parts = split_top(strip_parens(type_), "∧")
        if len(parts) == 1:
            if _comparison(type_):
                terms.append((name, type_))
            continue
        for k, part in enumerate(parts):
            if _comparison(part):
                terms.append((name + ".2" * k + (".1" if k < len(parts) - 1 else ""), part))
    return terms


def numeric_vars(info: GoalInfo) -> list[str]:
    return [n for n, t in info.variables
            if usable(n) and t in ("ℝ", "ℚ", "ℤ", "ℕ", "Real", "Rat", "Int", "Nat")]


# -- opening moves ----------------------------------------------------------------------------

def _fresh_hyp(taken: set[str]) -> str:
    """The first of h₀, h₁, … not in ``taken`` (which it then joins)."""
    sub = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
    k = 0
    while (name := "h" + str(k).translate(sub)) in taken:
        k += 1
    taken.add(name)
    return name


def _open_binder(t: str, taken: set[str]
                 ) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]], str]:
    """For ``∀ …, body`` or ``∃ …, body``: the names ``intro``/``obtain`` should bind, in
    order, the new hypotheses and variables, and the body. A binder predicate
    (``∀ x > 0, …``) binds the variable and then a fresh hypothesis."""
    comma = find_top(t, ",", 1)  # the first comma outside brackets ends the binders
    comma = len(t) if comma is None else comma
    head, body = t[1:comma].strip(), strip_parens(t[comma + 1:])
    names: list[str] = []
    hyps: list[tuple[str, str]] = []
    vars_: list[tuple[str, str]] = []
    if (m := re.match(r"^(\S+)\s*([<>≤≥≠∈∉⊆])\s*(.+)$", head)) and not head.startswith("("):
        h = _fresh_hyp(taken)
        return [m.group(1), h], [(h, f"{m.group(1)} {m.group(2)} {m.group(3)}")], \
            [(m.group(1), "")], body
    pairs: list[tuple[str, str]] = []
    if head.startswith(("(", "{", "⦃")):
        i = 0
        while i < len(head) and head[i] in "({⦃":
            j = closing_bracket(head, i)
            pairs += binder_pairs(head[i + 1:j])
            i = j + 1
            while i < len(head) and head[i] == " ":
                i += 1
    else:
        pairs = binder_pairs(head)
    for n, ty in pairs:
        names.append(n)
        (hyps if ty and _is_prop(n, ty) else vars_).append((n, ty))
    return names, hyps, vars_, body


def intro_goal(info: GoalInfo) -> tuple[list[str], GoalInfo] | None:
    """Names ``intro`` should take for a ∀/→/¬ target, and the goal after it."""
    taken = {n for n, _ in info.hypotheses + info.variables}
    names: list[str] = []
    hyps, vars_ = list(info.hypotheses), list(info.variables)
    t = strip_parens(info.target)
    for _ in range(8):
        shape = goal_shape(t)
        if shape == "forall":
            new_names, new_hyps, new_vars, t = _open_binder(t, taken)
            names += new_names
            hyps += new_hyps
            vars_ += new_vars
        elif shape == "imp":
            first, *rest = split_top(t, "→")
            h = _fresh_hyp(taken)
            names.append(h)
            hyps.append((h, first))
            t = strip_parens(" → ".join(rest))
        elif shape == "not":
            h = _fresh_hyp(taken)
            names.append(h)
            hyps.append((h, strip_parens(t[1:])))
            t = "False"
        else:
            break
    if not names:
        return None
    return names, GoalInfo(tuple(hyps), tuple(vars_), t)


def obtain_goal(info: GoalInfo) -> tuple[str, GoalInfo] | None:
    """``obtain ⟨x, h⟩ := hᵢ`` for the first ∃ hypothesis (``∃!`` excepted), and the goal
    after it: nlinarith and friends cannot look inside an ∃."""
    taken = {n for n, _ in info.hypotheses + info.variables}
    for name, type_ in info.hypotheses:
        t = strip_parens(type_)
        if not usable(name) or not t.startswith("∃") or t.startswith("∃!"):
            continue
        names, hyps, vars_, body = _open_binder(t, taken)
        h = _fresh_hyp(taken)
        rest = tuple(p for p in info.hypotheses if p[0] != name)
        inner = GoalInfo(rest + tuple(hyps) + ((h, body),), info.variables + tuple(vars_),
                         info.target)
        return f"obtain ⟨{', '.join(names + [h])}⟩ := {name}", inner
    return None


def defines_var(type_: str, info: GoalInfo) -> bool:
    """``x = e`` or ``e = x`` with x a variable: ``subst`` can eliminate it."""
    sides = split_top(strip_parens(type_), "=")
    names = {n for n, _ in info.variables}
    return len(sides) == 2 and (sides[0] in names or sides[1] in names)


def bounded_vars(info: GoalInfo) -> list[str]:
    """Variables bounded above by a hypothesis, and below by one or by being in ℕ:
    ``interval_cases`` can split them into finitely many cases."""
    parts = [p for _, t in info.hypotheses for p in split_top(strip_parens(t), "∧")]
    types = dict(info.variables)
    found = []
    for v in numeric_vars(info):
        x = re.escape(v)
        upper = any(re.fullmatch(rf"{x} [<≤] \S+|\S+ [>≥] {x}", p) for p in parts)
        lower = types[v] in ("ℕ", "Nat") or any(
            re.fullmatch(rf"\S+ [<≤] {x}|{x} [>≥] \S+", p) for p in parts)
        if upper and lower:
            found.append(v)
    return found[:2]


__all__ = [
    "GoalInfo", "bounded_vars", "comparison_terms", "defines_var", "goal_domain", "goal_shape",
    "intro_goal", "numeric_vars", "obtain_goal", "parse_goal", "parse_statement", "usable",
]
