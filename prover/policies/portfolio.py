"""The no-model policy: a deterministic, goal-aware portfolio of Lean automation.

Contract: from a theorem statement or a pretty-printed goal, propose whole proofs and
single tactics, best first, without a model, a GPU or Lean. Everything is a pure function
of the text (plus an optional seed); the same input gives the same list on any machine.
Nothing here knows whether a proposal works: Lean decides. The orderings are heuristics
(our choices, not measurements), written down in ``_closers`` so they can be tuned.

Goal-awareness, in short:

* hypotheses and variables are read from binders (``(x y : ℝ) (h₀ : 0 < x)``) or goal
  lines (``x y : ℝ``, ``h₀ : 0 < x``, ``⊢ …``); a binder is a hypothesis when its type is
  a proposition (a relation, a connective, a known predicate, or an ``h…`` name whose type
  is not a known sort);
* the target's shape (∀/→/¬, ∧, ↔, ∃, ∨, relation) and number domain (ℕ/ℤ, ℝ/ℚ, ℂ,
  other) pick the order: ℕ/ℤ first try ``omega``/``norm_num``/``decide``/``simp``; real
  inequalities ``nlinarith``/``positivity``; equalities ``ring_nf``/``field_simp``/
  ``linarith``; divisibility and ``%`` on numerals ``norm_num``/``decide``;
* hints NAME the statement's own hypotheses and variables: ``nlinarith [sq_nonneg (a -
  b), sq_nonneg (a + b), mul_pos ha hb, h₀, h₁]``; conjunctions are split (``h₀.1``).

``PortfolioPolicy`` serves the same proposals through the ``Policy`` interface (it reads
the statement or goal back out of any prompt ``prover.policies.prompts`` builds) and through the
``ProofProposer`` / ``TacticProposer`` protocols of ``prover.policies.proposer``.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace
from typing import Sequence

from lean_bridge.goals import (
    THEOREM_KINDS,
    binder_pairs,
    closing_bracket,
    extract_last_lean4_block,
    find_top,
    first_goal,
    split_top,
    statement_goal,
    strip_parens,
    top_level,
)
from lean_bridge.text import mask_non_code, normalize_statement, parse_file
from prover.policies.policy import Completion, GenerationRequest, apply_stop
from prover.policies.prompts import tactic_indent
from search.problem import Problem
from search.protocols import Proposal

MAX_TACTICS = 40
FIXED_HEAD = 3  # with a seed, the first few stay in place; the rest are permuted
MAX_HINTS = 10  # nlinarith multiplies hint pairs: more hints cost quadratically



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


def _shape(target: str) -> str:
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


# -- hints ------------------------------------------------------------------------------------

def _usable(name: str) -> bool:
    return "✝" not in name and name != "_"


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w.']){re.escape(name)}(?![\w'])", text) is not None


def _domain(info: GoalInfo) -> str:
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
    return _shape(t) in ("ineq", "eq", "ne", "mod") and not t.startswith("¬")


def _hyp_terms(info: GoalInfo) -> list[tuple[str, str]]:
    """(proof term, its type) for every comparison among the hypotheses, conjunctions
    split into ``h.1``, ``h.2.1``, … (linarith does not look inside ∧)."""
    terms = []
    for name, type_ in info.hypotheses:
        if not _usable(name):
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


_POS_RE = re.compile(r"^(?:0 < (\S+)|(\S+) > 0)$")


def _numeric_vars(info: GoalInfo) -> list[str]:
    return [n for n, t in info.variables
            if _usable(n) and t in ("ℝ", "ℚ", "ℤ", "ℕ", "Real", "Rat", "Int", "Nat")]


def _square_hints(info: GoalInfo) -> list[str]:
    vs = _numeric_vars(info)[:3]
    if len(vs) == 1:
        return [f"sq_nonneg ({vs[0]} - 1)", f"sq_nonneg ({vs[0]} + 1)"]
    hints = []
    for i, a in enumerate(vs):
        for b in vs[i + 1:]:
            hints += [f"sq_nonneg ({a} - {b})", f"sq_nonneg ({a} + {b})"]
    return hints


def _nlinarith_hints(info: GoalInfo) -> list[str]:
    terms = _hyp_terms(info)
    positive = [(m.group(1) or m.group(2), term) for term, type_ in terms
                if (m := _POS_RE.match(strip_parens(type_)))]
    products = [f"mul_pos {ha} {hb}" for i, (_, ha) in enumerate(positive[:3])
                for _, hb in positive[i + 1:3]]
    hints = _square_hints(info)[:4] + products[:3]
    hints += dict.fromkeys(t for t, _ in terms)  # a shadowed name appears twice
    return hints[:MAX_HINTS]


def _hint_list(hints: Sequence[str]) -> str:
    return f" [{', '.join(hints)}]" if hints else ""


# -- the portfolio ----------------------------------------------------------------------------

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


def _intro(info: GoalInfo) -> tuple[list[str], GoalInfo] | None:
    """Names ``intro`` should take for a ∀/→/¬ target, and the goal after it."""
    taken = {n for n, _ in info.hypotheses + info.variables}
    names: list[str] = []
    hyps, vars_ = list(info.hypotheses), list(info.variables)
    t = strip_parens(info.target)
    for _ in range(8):
        shape = _shape(t)
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


def _obtain(info: GoalInfo) -> tuple[str, GoalInfo] | None:
    """``obtain ⟨x, h⟩ := hᵢ`` for the first ∃ hypothesis (``∃!`` excepted), and the goal
    after it: nlinarith and friends cannot look inside an ∃."""
    taken = {n for n, _ in info.hypotheses + info.variables}
    for name, type_ in info.hypotheses:
        t = strip_parens(type_)
        if not _usable(name) or not t.startswith("∃") or t.startswith("∃!"):
            continue
        names, hyps, vars_, body = _open_binder(t, taken)
        h = _fresh_hyp(taken)
        rest = tuple(p for p in info.hypotheses if p[0] != name)
        inner = GoalInfo(rest + tuple(hyps) + ((h, body),), info.variables + tuple(vars_),
                         info.target)
        return f"obtain ⟨{', '.join(names + [h])}⟩ := {name}", inner
    return None


def _closers(info: GoalInfo, depth: int = 0) -> list[tuple[str, bool]]:
    """(tactic, whether it is meant to close the goal), best first, before dedup."""
    shape, domain = _shape(info.target), _domain(info)
    terms = _hyp_terms(info)
    named = [n for n, _ in info.hypotheses if _usable(n)]
    nl = "nlinarith" + _hint_list(_nlinarith_hints(info))
    hyp_terms = list(dict.fromkeys(t for t, _ in terms))
    nl_hyps = "nlinarith" + _hint_list(hyp_terms)
    li = "linarith" + _hint_list([t for t in hyp_terms if "." in t])  # split conjunctions
    simp_hyps = _hint_list(list(dict.fromkeys(named)))
    out: list[tuple[str, bool]] = []

    def add(*tactics: str, closing: bool = True) -> None:
        out.extend((t, closing) for t in tactics)

    intro_moves: list[tuple[str, bool]] = []
    if shape in ("forall", "imp", "not") and depth < 2 and (intro := _intro(info)):
        names, inner = intro
        head = "intro " + " ".join(names)
        intro_moves = [(head, False)] + [(f"{head} <;> {t}", True) for t, closing
                                         in _closers(inner, depth + 1)[:12] if closing]
    if shape != "not":  # `¬ 3 ∣ 7` is for norm_num/decide before it is for intro
        out.extend(intro_moves)
    if depth < 2 and (obtain := _obtain(info)):
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
        for var in _bounded_vars(info):
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
                  if _usable(n) and _defines_var(ty, info) for t in ("ring_nf", "field_simp",
                                                                    "norm_num")))
            add(nl, f"norm_num{simp_hyps} <;> linarith", f"field_simp <;> {nl}")
        add("norm_num", "linarith", "nlinarith", f"norm_num{simp_hyps}", "simp_all", nl)
    elif domain == "complex":
        add("ring_nf", "ring", "simp", "norm_num", "field_simp", "field_simp <;> ring_nf",
            "simp [Complex.ext_iff]", f"norm_num{simp_hyps}",
            *(f"subst {n} <;> ring_nf" for n, ty in info.hypotheses
              if _usable(n) and _defines_var(ty, info)))
    if shape == "not":
        out.extend(intro_moves)
    # The generic tail, for every goal: cheap decision procedures, then the heavy ones.
    add("norm_num", "simp", "linarith", "nlinarith", "positivity", "omega", "decide",
        "field_simp", "ring_nf", f"norm_num{simp_hyps}", f"simp{simp_hyps}", "simp_all",
        "tauto", "aesop", f"norm_num{simp_hyps} <;> linarith", f"field_simp <;> {nl}")
    return out


def _defines_var(type_: str, info: GoalInfo) -> bool:
    """``x = e`` or ``e = x`` with x a variable: ``subst`` can eliminate it."""
    sides = split_top(strip_parens(type_), "=")
    names = {n for n, _ in info.variables}
    return len(sides) == 2 and (sides[0] in names or sides[1] in names)


def _bounded_vars(info: GoalInfo) -> list[str]:
    """Variables bounded above by a hypothesis, and below by one or by being in ℕ:
    ``interval_cases`` can split them into finitely many cases."""
    parts = [p for _, t in info.hypotheses for p in split_top(strip_parens(t), "∧")]
    types = dict(info.variables)
    found = []
    for v in _numeric_vars(info):
        x = re.escape(v)
        upper = any(re.fullmatch(rf"{x} [<≤] \S+|\S+ [>≥] {x}", p) for p in parts)
        lower = types[v] in ("ℕ", "Nat") or any(
            re.fullmatch(rf"\S+ [<≤] {x}|{x} [>≥] \S+", p) for p in parts)
        if upper and lower:
            found.append(v)
    return found[:2]


def _ranked(info: GoalInfo, closing_only: bool) -> list[str]:
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
    return _ranked(info, closing_only=False)


def _proof_block(statement: str, tactic: str, indent: int = 2) -> str:
    """``tactic`` as a proof that continues ``statement`` (``:= by\\n`` or ``:=``)."""
    code = mask_non_code(statement).rstrip()
    line = " " * indent + tactic + "\n"
    if code.endswith(":="):
        return " by\n" + line
    return line if statement.endswith("\n") else "\n" + line


def portfolio_proofs(problem: Problem) -> list[str]:
    """Whole proofs continuing ``problem.statement``: ``"  tac\\n"`` after ``:= by\\n``,
    ``" by\\n  tac\\n"`` after ``:=``. Only tactics meant to close the goal."""
    info = parse_statement(problem.statement)
    return [_proof_block(problem.statement, t) for t in _ranked(info, closing_only=True)]


def _continuations(statement: str, prefix: str, info: GoalInfo, indent: int | None) -> list[str]:
    """Closing tactics rendered to continue ``statement + prefix``. With no prefix they are
    whole proofs; after a prefix they are lines at ``indent`` (from the tactic-state
    comment, else ``tactic_indent(prefix)``), on a fresh line."""
    tactics = _ranked(info, closing_only=True)
    body = prefix if prefix.strip() not in ("", "by") else ""
    if not body:
        return [_proof_block(statement + prefix, t, 2 if indent is None else indent)
                for t in tactics]
    lead = "" if prefix.endswith("\n") else "\n"
    pad = " " * (tactic_indent(prefix) if indent is None else indent)
    return [f"{lead}{pad}{t}\n" for t in tactics]


def _pick(items: Sequence[str], n: int, seed: int | None) -> list[tuple[str, int]]:
    """``n`` items cycling through ``items`` (with their best-first rank). A seed permutes
    everything after the first ``FIXED_HEAD`` deterministically (``random.Random(seed)``)."""
    ranked = list(enumerate(items))
    if seed is not None:
        tail = ranked[FIXED_HEAD:]
        random.Random(seed).shuffle(tail)
        ranked = ranked[:FIXED_HEAD] + tail
    if not ranked:
        return []
    return [(ranked[i % len(ranked)][1], ranked[i % len(ranked)][0]) for i in range(n)]


def _proof_texts(problem: Problem, prefix: str, tactic_state: str | None) -> list[str]:
    info = parse_goal(tactic_state) if tactic_state is not None \
        else parse_statement(problem.statement)
    return _continuations(problem.statement, prefix, info, None)


def propose_proofs(problem: Problem, n: int, *, prefix: str = "",
                   tactic_state: str | None = None, seed: int | None = None) -> list[str]:
    """``n`` proof texts continuing ``problem.statement + prefix`` (see ``_continuations``);
    the goal is ``tactic_state`` when given, else the statement's."""
    return [t for t, _ in _pick(_proof_texts(problem, prefix, tactic_state), n, seed)]


def propose_tactics(goal: str, n: int, *, seed: int | None = None) -> list[tuple[str, float]]:
    """``n`` (tactic, score) pairs for a pretty-printed goal; score = -rank (a stand-in for
    a log-probability: higher is better, nothing more)."""
    return [(t, float(-rank)) for t, rank in _pick(portfolio_tactics(parse_goal(goal)), n, seed)]


# -- the policy -------------------------------------------------------------------------------

_NEXT_TACTIC_RE = re.compile(r"\[GOAL\]\n(.*?)\n\[PROOFSTEP\]", re.S)
_STATE_RE = re.compile(r"([ \t]*)/- tactic state:\n(.*?)\n[ \t]*-/[ \t]*\n?\s*$", re.S)


def _dedent_state(body: str, indent: int) -> str:
    cut = indent + 2
    return "\n".join(line[cut:] if line[:cut].isspace() else line.lstrip()
                     for line in body.split("\n"))


def _answers(request: GenerationRequest) -> list[str]:
    """Best-first answers to a request, read back from the formats of ``prover.policies.prompts``;
    none when the prompt holds neither a goal nor a theorem."""
    text = request.messages[-1].content if request.messages else request.prompt
    if (m := _NEXT_TACTIC_RE.search(text)) is not None:
        return portfolio_tactics(parse_goal(m.group(1)))
    code = extract_last_lean4_block(text)
    if code is None:
        return []
    if request.messages:
        return _file_answers(code)
    state, indent = None, None
    if (s := _STATE_RE.search(code)) is not None:
        indent = len(s.group(1))
        state = _dedent_state(s.group(2), indent)
        code = code[:s.start()]
    decls = [d for d in parse_file(code).declarations if d.kind in THEOREM_KINDS]
    if not decls:
        return []
    d = decls[-1]
    statement, prefix = code[:d.body_start], code[d.body_start:]
    info = parse_goal(state) if state is not None else parse_statement(code)
    return _continuations(statement, prefix, info, indent)


def _file_answers(code: str) -> list[str]:
    """A chat prompt holds the whole file with a ``sorry`` proof; answer whole files, in a
    ``lean4`` block as chat models do."""
    decls = [d for d in parse_file(code).declarations if d.kind in THEOREM_KINDS]
    if not decls:
        return []
    head = code[:decls[-1].body_start]
    return [f"```lean4\n{head} by\n  {t}\n```"
            for t in _ranked(parse_statement(code), closing_only=True)]


class PortfolioPolicy:
    """The portfolio as a ``Policy`` and as a ``ProofProposer``/``TacticProposer``.

    ``generate`` reads each request's prompt (or last chat message): a next-tactic prompt
    gives tactics; a fenced ``lean4`` block gives proofs continuing it (at the indent of a
    trailing ``/- tactic state: … -/`` comment, whose goal is then used); a chat request
    gets whole files in a ``lean4`` block, as chat models answer. ``n`` completions per
    request cycle through the best-first list (seeded permutation after the first few).
    ``logprob`` is -rank, a stand-in; ``tokens`` counts whitespace-separated words. A
    prompt it cannot read gets ``n`` empty completions. Temperature is ignored.
    """

    name = "portfolio"

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        return [self._complete(r) for r in requests]

    def _complete(self, request: GenerationRequest) -> list[Completion]:
        picked = _pick(_answers(request), request.n, request.seed)
        if not picked:
            return [Completion("", 0, None, "stop") for _ in range(request.n)]
        out = []
        for text, rank in picked:
            text, _ = apply_stop(text, request.stop)
            out.append(Completion(text, len(text.split()), float(-rank), "stop"))
        return out

    async def close(self) -> None:
        return None

    async def propose_proofs(self, problem: Problem, n: int, *, prefix: str = "",
                             tactic_state: str | None = None, seed: int | None = None,
                             temperature: float = 1.0) -> list[Proposal]:
        del temperature  # deterministic: there is nothing to sample
        picked = _pick(_proof_texts(problem, prefix, tactic_state), n, seed)
        return [Proposal(t, float(-rank), len(t.split())) for t, rank in picked]

    async def propose_tactics(self, goal: str, n: int, *, seed: int | None = None
                              ) -> list[Proposal]:
        return [Proposal(t, score, len(t.split()))
                for t, score in propose_tactics(goal, n, seed=seed)]


__all__ = [
    "GoalInfo", "MAX_TACTICS", "PortfolioPolicy", "parse_goal", "parse_statement",
    "portfolio_proofs", "portfolio_tactics", "propose_proofs", "propose_tactics",
]
