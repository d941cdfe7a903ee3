"""Lemmas from a proof sketch, and the sketch's gaps filled back in.

DeepSeek-Prover-V2 (shared/reference/deepseek-prover.md §10.3) turns each ``have name : P
:= by sorry`` of a sketch into a standalone lemma in two forms: with the earlier steps as
hypotheses (``"with_context"``, the paper's form (b), used for recursive solving) and with
the original binders only (``"without_context"``, form (a)).

Two sources of a lemma:

* the sorry's goal as Lean prints it (``lean_bridge.goals.parse_goal_text`` then
  ``goal_lemma``): exact, since
  Lean has already elaborated the context; what decomposition uses;
* the source text (``have_steps`` then ``text_lemmas``): the theorem's binders plus the
  earlier ``have``s in scope, read from the text alone; approximate (variables a tactic
  introduced are not bound), for when no goal is at hand.

``sketch_gaps`` finds the sorries a decomposition may fill and ``fill_gaps`` inlines the
lemma proofs under their ``have``s. Pure functions over ``str``; nothing here runs Lean.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Collection, Sequence

from lean_bridge.goals import (
    CLOSERS,
    OPENERS,
    Goal,
    matching_bracket,
    parse_goal_text,
    signature_binders,
    theorem_name,
)
from lean_bridge.text import find_identifier, mask_non_code, normalize_statement

WITH_CONTEXT = "with_context"
WITHOUT_CONTEXT = "without_context"
VARIANTS = (WITH_CONTEXT, WITHOUT_CONTEXT)

_IDENT_RE = re.compile(r"(?![λΠΣ])[^\W\d](?:(?![λΠΣ])[\w'!?])*")
_TOKEN_RE = re.compile(r"[^\W\d][\w'!?✝]*")  # names as goals print them (`x✝¹` is one)
_HAVE_RE = re.compile(r"(?<![\w'!?.])have(?![\w'!?])")
_BY_END_RE = re.compile(r"(?<![\w'!?.])by\s*\Z")


# -- goals as Lean prints them ------------------------------------------------------------------

def _is_instance(name: str) -> bool:
    return "✝" in name and name.startswith("inst")


def inaccessible_renames(goal: Goal) -> dict[str, str]:
    """A fresh identifier for each inaccessible hypothesis (``x✝`` -> ``x_1``) except
    instances, which become anonymous ``[C]`` binders and need no name."""
    taken = set(_TOKEN_RE.findall(" ".join(
        [goal.target] + [h.type + " " + (h.value or "") for h in goal.hypotheses] + list(goal.names))))
    out: dict[str, str] = {}
    for name in goal.names:
        if "✝" in name and not _is_instance(name) and name not in out:
            base, k = name.split("✝")[0] or "x", 1
            while f"{base}_{k}" in taken:
                k += 1
            out[name] = f"{base}_{k}"
            taken.add(out[name])
    return out


def rename_tactic(goal: Goal) -> str | None:
    """``rename_i …`` giving the goal's inaccessible hypotheses the names their lemma uses,
    so a lemma proof that mentions them works when inlined; None when none needs a name.
    ``rename_i`` names the last n inaccessible hypotheses in order, so all are listed
    (``_`` leaves one, e.g. an instance, as it is)."""
    renames = inaccessible_renames(goal)
    if not renames:
        return None
    return "rename_i " + " ".join(renames.get(n, "_") for n in goal.names if "✝" in n)


def _literal(new: str) -> Callable[[re.Match[str]], str]:
    """A ``re.sub`` replacement that is ``new`` as it stands (no backslash escapes)."""
    return lambda _m: new


def _substitute(text: str, renames: dict[str, str]) -> str:
    for old in sorted(renames, key=len, reverse=True):  # `x✝¹` before `x✝`
        text = re.sub(r"(?<![\w'!?.✝])" + re.escape(old) + r"(?![\w'!?✝])",
                      _literal(renames[old]), text)
    return text


@dataclass(frozen=True)
class Lemma:
    name: str  # the lemma's Lean name
    have: str  # the step it proves: a `have`'s name, or the closing step's
    variant: str  # WITH_CONTEXT | WITHOUT_CONTEXT
    statement: str  # `theorem name binders : target := by\n`
    target: str


def render_theorem(name: str, binders: Sequence[str], target: str) -> str:
    """``theorem name binders : target := by\\n``. A target whose last line ends in a line
    comment gets the ``:=`` on a new line, where the comment cannot swallow it."""
    head = " ".join([f"theorem {name}", *[b for b in binders if b]])
    last_code = mask_non_code(target).rsplit("\n", 1)[-1]
    tail = "\n" if last_code != target.rsplit("\n", 1)[-1] else " "
    return f"{head} : {target}{tail}:= by\n"


def goal_lemma(goal: Goal | str, name: str, *, have: str = "", variant: str = WITH_CONTEXT,
               drop: Collection[str] = ()) -> Lemma:
    """The goal as a theorem: each hypothesis a binder (``(a b : ℝ)``; ``[C]`` for an
    instance), inaccessible names renamed (``inaccessible_renames``), ``let`` values
    dropped (the lemma is then more general, never wrong). Hypotheses named in ``drop``
    (the earlier steps, for ``without_context``) are left out."""
    g = parse_goal_text(goal) if isinstance(goal, str) else goal
    renames = inaccessible_renames(g)
    binders: list[str] = []
    for h in g.hypotheses:
        type_ = _substitute(h.type, renames)
        kept = [n for n in h.names if n not in drop]
        plain = [renames.get(n, n) for n in kept if not _is_instance(n)]
        if plain:
            binders.append(f"({' '.join(plain)} : {type_})")
        binders += [f"[{type_}]" for n in kept if _is_instance(n)]
    target = _substitute(g.target, renames)
    return Lemma(name, have or name, variant, render_theorem(name, binders, target), target)


# -- `have` steps in source text ----------------------------------------------------------------

@dataclass(frozen=True)
class HaveStep:
    """``have name binders : statement := …`` with an explicit type, as written."""

    name: str  # "this" for `have : P`
    binders: str  # the have's own binders, verbatim ("" when none)
    statement: str  # the type, verbatim, stripped
    start: int  # offset of `have`
    value_start: int  # just past its `:=`
    column: int  # column of `have`


def _skip_ws(mask: str, i: int) -> int:
    while i < len(mask) and mask[i] in " \t\r\n":
        i += 1
    return i


def _line_indent(mask: str, i: int) -> int:
    start = mask.rfind("\n", 0, i) + 1
    line = mask[start:]
    return len(line) - len(line.lstrip(" \t"))


def _assign_of(mask: str, i: int, column: int) -> int | None:
    """The `:=` ending a have's type that starts at ``i``: the first at bracket depth 0.
    None when a later line at or left of the have's column comes first (a ``have h : P``
    with no value opens a goal instead)."""
    depth = 0
    for j in range(i, len(mask)):
        c = mask[j]
        if c in OPENERS:
            depth += 1
        elif c in CLOSERS:
            depth = max(depth - 1, 0)
        elif depth == 0 and mask.startswith(":=", j):
            return j
        elif c == "\n":
            nxt = _skip_ws(mask, j)
            if nxt < len(mask) and _line_indent(mask, nxt) <= column:
                return None
    return None


def have_steps(text: str) -> list[HaveStep]:
    """Every ``have`` with a name (or none: ``this``), optional binders and an explicit
    type, in text order, at any depth. Pattern haves (``have ⟨x, hx⟩ : …``), untyped ones
    (``have h := t``) and ``haveI`` are not steps."""
    mask = mask_non_code(text)
    out = []
    for m in _HAVE_RE.finditer(mask):
        i = _skip_ws(mask, m.end())
        name = "this"
        nm = _IDENT_RE.match(mask, i)
        if nm is not None:
            if mask.startswith(".", nm.end()):
                continue
            name, i = nm.group(), _skip_ws(mask, nm.end())
        binders_start = binders_end = i
        while i < len(mask) and mask[i] in "({[⦃":
            end = matching_bracket(mask, i)
            if end is None:
                break
            binders_end, i = end, _skip_ws(mask, end)
        if not mask.startswith(":", i) or mask.startswith(":=", i):
            continue
        column = m.start() - (mask.rfind("\n", 0, m.start()) + 1)
        assign = _assign_of(mask, i + 1, column)
        if assign is None or not mask[i + 1:assign].strip():
            continue
        out.append(HaveStep(name, text[binders_start:binders_end].strip(),
                            text[i + 1:assign].strip(), m.start(), assign + 2, column))
    return out


def _code_lines(mask: str) -> list[tuple[int, int]]:
    """(line start, indent) of every line holding code."""
    out, pos = [], 0
    for line in mask.split("\n"):
        if line.strip():
            out.append((pos, len(line) - len(line.lstrip(" \t"))))
        pos += len(line) + 1
    return out


def _in_scope(earlier: HaveStep, later: HaveStep, lines: list[tuple[int, int]]) -> bool:
    """Whether ``earlier`` is a hypothesis where ``later`` starts, judged by layout: its
    own value has ended (the first later code line at or left of its column), and its
    block has not (no code line since then left of its column)."""
    after = [(s, ind) for s, ind in lines if earlier.start < s <= later.start]
    ended = next((k for k, (_s, ind) in enumerate(after) if ind <= earlier.column), None)
    if ended is None:
        return False  # `later` is inside `earlier`'s own proof (or on its line)
    return all(ind >= earlier.column for _s, ind in after[ended:])


def _as_hypothesis(step: HaveStep) -> str:
    stmt = normalize_statement(step.statement)
    if step.binders:
        stmt = f"∀ {normalize_statement(step.binders)}, {stmt}"
    return f"({step.name} : {stmt})"


def unique_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base_2``, ``base_3`` … whichever is not in ``taken`` (then taken)."""
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    return name


def text_lemmas(statement: str, proof: str, *, variant: str = WITH_CONTEXT) -> list[Lemma]:
    """A lemma for each ``have`` step of ``proof`` (which continues ``statement``), from
    text alone: named ``<theorem>_<have>``; binders = the theorem's, then (``with_context``)
    the earlier steps in scope as hypotheses, then the have's own; target = the have's
    statement verbatim."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown lemma variant {variant!r}")
    thm, binders = theorem_name(statement), signature_binders(statement)
    steps = have_steps(proof)
    lines = _code_lines(mask_non_code(proof))
    taken: set[str] = {thm}
    out = []
    for k, step in enumerate(steps):
        context = [_as_hypothesis(e) for e in steps[:k]
                   if variant == WITH_CONTEXT and _in_scope(e, step, lines)]
        own = normalize_statement(step.binders) if step.binders else ""
        name = unique_name(f"{thm}_{step.name}", taken)
        out.append(Lemma(name, step.name, variant,
                         render_theorem(name, [binders, *context, own], step.statement), step.statement))
    return out


# -- the gaps of a sketch, and filling them -----------------------------------------------------

@dataclass(frozen=True)
class Gap:
    """A ``sorry`` decomposition may fill: a have's whole proof, or the closing step."""

    name: str  # the have's name; "close" for the closing step
    sorry: int  # offset of the `sorry` token in the sketch
    step: HaveStep | None  # None for the closing step
    earlier: tuple[str, ...]  # names of the haves written before it


def sketch_gaps(sketch: str) -> list[Gap]:
    """The gaps of a sketch, in text order. A sorry must be a have's whole value (``:=
    sorry``, ``:= by sorry``, ``sorry`` on the next line) or the last code of the sketch,
    alone on its line; any other (``nlinarith [sorry]``, ``sorry`` mid-proof) raises
    ValueError: filling it would need more than a lemma."""
    mask = mask_non_code(sketch)
    steps = have_steps(sketch)
    gaps = []
    for s in find_identifier(sketch, "sorry"):
        end = s + len("sorry")
        line_end = mask.find("\n", end)
        if mask[end:len(mask) if line_end < 0 else line_end].strip():
            raise ValueError(f"code after the sorry at offset {s}")
        owner = next((h for h in steps if h.value_start <= s
                      and mask[h.value_start:s].split() in ([], ["by"])), None)
        earlier = tuple(h.name for h in steps if h.start < (owner.start if owner else s))
        if owner is not None:
            gaps.append(Gap(owner.name, s, owner, earlier))
        elif not mask[end:].strip() and not mask[mask.rfind("\n", 0, s) + 1:s].strip():
            gaps.append(Gap("close", s, None, earlier))
        else:
            raise ValueError(f"the sorry at offset {s} is neither a have's proof nor the closing step")
    return gaps


def _reindent(proof: str, column: int, prelude: str | None) -> str:
    """``proof``'s lines shifted so that its first line starts at ``column`` (relative
    indentation kept), after ``prelude`` at that column; no trailing newline."""
    lines = proof.rstrip().split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    base = len(lines[0]) - len(lines[0].lstrip(" \t")) if lines else 0
    out = [" " * column + prelude] if prelude else []
    for line in lines:
        indent = len(line) - len(line.lstrip(" \t"))
        out.append(" " * max(indent - base + column, 0) + line.lstrip(" \t") if line.strip() else "")
    return "\n".join(out)


def fill_gaps(sketch: str, fills: Sequence[tuple[Gap, str, str | None]]) -> str:
    """The sketch with each ``(gap, proof, prelude)``'s sorry replaced by ``proof`` (a text
    that continues ``… := by\\n``, as a search returns it), inlined: a sorry alone on its
    line is replaced at its own column; ``:= by sorry`` / ``:= sorry`` become ``:= by`` and
    the proof on the next lines, two columns right of the ``have``. ``prelude`` (a
    ``rename_i``) goes first."""
    out = sketch
    for gap, proof, prelude in sorted(fills, key=lambda f: f[0].sorry, reverse=True):
        s, e = gap.sorry, gap.sorry + len("sorry")
        if out[s:e] != "sorry":
            raise ValueError(f"no sorry at offset {s}")
        line_start = out.rfind("\n", 0, s) + 1
        before = mask_non_code(out[:s])[line_start:]
        if not before.strip():
            out = out[:line_start] + _reindent(proof, s - line_start, prelude) + out[e:]
            continue
        if gap.step is None:
            raise ValueError("the closing sorry must be alone on its line")
        head = out[:s].rstrip(" \t") + ("" if _BY_END_RE.search(before) else " by")
        out = head + "\n" + _reindent(proof, gap.step.column + 2, prelude) + out[e:]
    return out


__all__ = [
    "Gap", "HaveStep", "Lemma", "VARIANTS", "WITHOUT_CONTEXT", "WITH_CONTEXT", "fill_gaps",
    "goal_lemma", "have_steps", "inaccessible_renames", "rename_tactic", "render_theorem",
    "sketch_gaps", "text_lemmas", "unique_name",
]
