"""Statements and goals as text: brackets, top-level splitting, goals as Lean prints them, a
theorem's binders and target, fenced ``lean4`` blocks.

Contract: pure functions over ``str``, no Lean needed, nothing here elaborates. This is the
one reader of goals and statements the rest of the project uses (the portfolio's goal
reading, lemma extraction, the structural sketcher, prompt parsing), built on the lexer and
file splitter of ``lean_bridge.text``.

* Brackets: ONE set of Lean's bracket pairs, ``OPENERS``/``CLOSERS`` (``( [ { ⟨ ⦃ ⟦ ⌊ ⌈ ⁅``
  and their closers); ``matching_bracket`` finds the closer of an opener.
* Top level: ``top_level`` marks the characters outside every bracket and before any binder
  (``∀ ∃ λ fun``, whose body runs to the end of its scope), so ``a ∧ ∀ x, P → Q`` has no
  top-level ``→``; ``split_top`` cuts at an operator there. ``find_top`` finds a token
  outside brackets (binders do not count: ``:=`` after a ``∀`` is still found).
* Goals: ``Goal`` is a goal as Lean prints it, hypotheses ``names : type`` (a ``let`` one
  ``names : type := value``) and ``⊢ target``. ``parse_goal_text`` reads exactly one goal
  and refuses anything else (ValueError); ``first_goal`` reads the first goal of a whole
  tactic state leniently (skips what is not a hypothesis; ``no goals`` has an empty
  target).
* Statements: ``statement_goal`` is the goal a theorem statement poses: its ``(…)``/``{…}``/
  ``⦃…⦄`` binders as hypotheses (instance binders skipped), its conclusion as the target,
  types and target whitespace-normalised. ``signature_binders``/``theorem_name`` read the
  last theorem's binder text and name; ``find_declaration``/``extract_statement`` find a
  declaration by name.
* Blocks: ``lean4_blocks``/``extract_last_lean4_block`` read fenced ```` ```lean4 ````
  (or ```` ```lean ````) blocks out of model output.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from lean_bridge._scan import CLOSERS, OPENERS, matching_bracket
from lean_bridge.reference import placeholder_for
from lean_bridge.text import (
    Declaration,
    mask_non_code,
    normalize_statement,
    parse_file,
    parsed,
)

THEOREM_KINDS = ("theorem", "lemma", "example")
FENCE = "```"

_FUN_RE = re.compile(r"(?<![\w'.])fun(?![\w'!?])")
_HYP_RE = re.compile(r"([^\s:]+(?: [^\s:]+)*) :(?:\s+(.*))?\Z", re.DOTALL)
# An opening fence: ```lean4 or ```lean, then only spaces up to the end of the line.
_OPEN_FENCE_RE = re.compile(r"```lean4?[ \t]*\r?\n")


# -- brackets and the top level ---------------------------------------------------------------

def closing_bracket(text: str, i: int) -> int:
    """Index of the bracket closing the one at ``i`` (``len(text)`` when unclosed)."""
    end = matching_bracket(text, i)
    return len(text) if end is None else end - 1


def top_level(text: str) -> list[bool]:
    """For each character, whether it is outside every bracket. A binder keyword (∀, ∃,
    fun, λ) at depth 0 takes the rest of its scope, so everything after it counts as
    nested: ``a ∧ ∀ x, P → Q`` has no top-level ``→``."""
    out: list[bool] = []
    depth, binder = 0, False
    for i, c in enumerate(text):
        if c in OPENERS:
            out.append(False)
            depth += 1
            continue
        if c in CLOSERS:
            depth = max(depth - 1, 0)
            out.append(False)
            continue
        if depth == 0 and not binder and (c in "∀∃λ" or _FUN_RE.match(text, i)):
            binder = True
        out.append(depth == 0 and not binder)
    return out


def split_top(text: str, op: str) -> list[str]:
    """``text`` split at the top-level occurrences of ``op``, parts stripped."""
    top = top_level(text)
    parts, start = [], 0
    for m in re.finditer(re.escape(op), text):
        if top[m.start()]:
            parts.append(text[start:m.start()].strip())
            start = m.end()
    parts.append(text[start:].strip())
    return parts


def find_top(mask: str, token: str, start: int = 0) -> int | None:
    """The first ``token`` at bracket depth 0 from ``start`` (unbalanced closers tolerated),
    None when there is none. ``mask`` should have comments and strings blanked."""
    depth = 0
    for i in range(start, len(mask)):
        c = mask[i]
        if c in OPENERS:
            depth += 1
        elif c in CLOSERS:
            depth = max(depth - 1, 0)
        elif depth == 0 and mask.startswith(token, i):
            return i
    return None


def strip_parens(text: str) -> str:
    """``text`` stripped, without the parentheses that enclose all of it (``((a ∧ b))``)."""
    text = text.strip()
    while text.startswith("(") and text.endswith(")") and closing_bracket(text, 0) == len(text) - 1:
        text = text[1:-1].strip()
    return text


# -- goals as Lean prints them ----------------------------------------------------------------

@dataclass(frozen=True)
class Hypothesis:
    names: tuple[str, ...]  # as printed: `a b : ℝ` has two; `x✝`, `inst✝¹` are inaccessible
    type: str  # on one line
    value: str | None = None  # a `let` hypothesis' value (`x : ℕ := 5`)


@dataclass(frozen=True)
class Goal:
    hypotheses: tuple[Hypothesis, ...]
    target: str  # on one line
    case: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for h in self.hypotheses for n in h.names)

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        """``(name, type)`` for each name of each hypothesis, in order."""
        return tuple((n, h.type) for h in self.hypotheses for n in h.names)


def parse_goal_text(goal: str) -> Goal:
    """One goal as Lean prints it: an optional ``case tag`` line, hypothesis lines
    ``names : type``, then ``⊢ target``. A line that starts with whitespace continues the
    entry above it (the pretty printer wraps long types, and may put the type, or the
    target after a lone ``⊢``, on the next lines). ValueError for anything else, including
    several goals (separated by a blank line)."""
    case = None
    entries: list[list[str]] = []
    target: list[str] | None = None
    for line in goal.strip("\n").split("\n"):
        line = line.rstrip()
        if not line.strip():
            raise ValueError("a blank line in a goal: several goals, expected one")
        if line[0] in " \t":
            if target is None and not entries:
                raise ValueError(f"a continuation line with nothing to continue: {line!r}")
            (target if target is not None else entries[-1]).append(line.strip())
        elif target is not None:
            raise ValueError(f"text after the target: {line!r}")
        elif line.startswith("⊢"):
            target = [line[1:].strip()]
        elif line.startswith("case ") and case is None and not entries:
            case = line[5:].strip()
        else:
            entries.append([line.strip()])
    if target is None or not " ".join(target).strip():
        raise ValueError("no `⊢ target` in the goal")
    return Goal(tuple(_hypothesis(e) for e in entries), " ".join(p for p in target if p), case)


def first_goal(state: str) -> Goal:
    """The FIRST goal of a pretty-printed state (``x y : ℝ``/``h₀ : 0 < x``/``⊢ t``).

    ``case tag`` lines are skipped; indented lines continue the previous entry (Lean's
    pretty printer wraps long types); an entry that is not ``names : type`` is skipped;
    ``no goals`` gives an empty target."""
    case = None
    target: list[str] = []
    entries: list[list[str]] = []
    for line in state.split("\n"):
        if target:
            if not line.strip():  # blank line: the next goal starts
                break
            target.append(line.strip())
        elif line.startswith("⊢"):
            target.append(line[1:].strip())
        elif not line.strip():
            continue
        elif line.startswith("case "):
            case = line[5:].strip() if case is None else case
        elif line[0].isspace() and entries:
            entries[-1].append(line.strip())
        else:
            entries.append([line.strip()])
    hypotheses = []
    for entry in entries:
        try:
            hypotheses.append(_hypothesis(entry))
        except ValueError:
            continue
    return Goal(tuple(hypotheses), " ".join(p for p in target if p), case)


def _hypothesis(entry: list[str]) -> Hypothesis:
    text = " ".join(p for p in entry if p)
    m = _HYP_RE.match(text)
    if m is None or not (m.group(2) or "").strip():
        raise ValueError(f"not a hypothesis line: {text!r}")
    type_, value = m.group(2).strip(), None
    cut = find_top(mask_non_code(type_), ":=")
    if cut is not None:  # a `let`: the type, then its value
        type_, value = type_[:cut].strip(), type_[cut + 2:].strip()
    return Hypothesis(tuple(m.group(1).split()), type_, value)


# -- statements -------------------------------------------------------------------------------

def binder_pairs(group: str, mask: str | None = None) -> list[tuple[str, str]]:
    """``x y : ℝ`` -> [(x, ℝ), (y, ℝ)]; a default value (``:= …``) is dropped. ``mask``
    (the group with comments blanked) locates the colon and the names."""
    mask = group if mask is None else mask
    top = top_level(mask)
    colon = next((i for i, c in enumerate(mask) if c == ":" and top[i]
                  and not mask.startswith(":=", i)), None)
    if colon is None:
        return [(n, "") for n in mask.split()]
    type_ = split_top(group[colon + 1:], ":=")[0]
    return [(n, normalize_statement(type_)) for n in mask[:colon].split()]


def statement_goal(statement: str) -> Goal:
    """Binders and conclusion of the last theorem/lemma/example in ``statement``, as a goal:
    one hypothesis per binder group, types and target whitespace-normalised.

    Instance binders (``[Fintype α]``) are skipped. Text with no declaration is taken as a
    bare target."""
    lean_file = parse_file(statement)
    decls = [d for d in lean_file.declarations if d.kind in THEOREM_KINDS] or \
        list(lean_file.declarations)
    if not decls:
        return Goal((), normalize_statement(statement))
    d = decls[-1]
    start = d.name_start + len(d.name) if d.name and d.name_start is not None \
        else d.keyword_start + len(d.kind)
    stop = d.body_start - 2 if d.body_kind == ":=" else d.body_start
    sig = mask_non_code(statement[start:stop])
    raw = statement[start:stop]
    hypotheses: list[Hypothesis] = []
    i = 0
    while True:
        while i < len(sig) and sig[i].isspace():
            i += 1
        if i >= len(sig) or sig[i] not in "({[⦃":
            break
        j = closing_bracket(sig, i)
        if sig[i] != "[" and (pairs := binder_pairs(raw[i + 1:j], sig[i + 1:j])):
            hypotheses.append(Hypothesis(tuple(n for n, _ in pairs), pairs[0][1]))
        i = j + 1
    target = raw[i + 1:] if i < len(sig) and sig[i] == ":" else raw[i:]
    return Goal(tuple(hypotheses), normalize_statement(target))


def _declaration(statement: str) -> tuple[str, Declaration]:
    text = statement + placeholder_for(statement)
    decls = [d for d in parse_file(text).declarations if d.kind in THEOREM_KINDS]
    if not decls:
        raise ValueError("no theorem in the statement")
    return text, decls[-1]


def signature_binders(statement: str) -> str:
    """The binders of the last theorem in ``statement`` (everything between its name and
    the colon before its type), comments dropped, whitespace collapsed."""
    text, d = _declaration(statement)
    start = d.name_start + len(d.name) if d.name and d.name_start is not None \
        else d.keyword_start + len(d.kind)
    mask = mask_non_code(text)
    colon: int | None = start
    while colon is not None:
        colon = find_top(mask[:d.body_start], ":", colon)
        if colon is None or not mask.startswith(":=", colon):
            break
        colon += 2
    if colon is None:
        raise ValueError("no type in the statement")
    return normalize_statement(text[start:colon])


def theorem_name(statement: str) -> str:
    """The name of the last theorem in ``statement`` ("example" when anonymous)."""
    return _declaration(statement)[1].name or "example"


def find_declaration(text: str, name: str) -> Declaration | None:
    """The first declaration named exactly ``name``; failing that, the only one whose name
    and ``name`` agree up to a namespace prefix (``bar`` vs ``Foo.bar``, either way round).
    None when absent or ambiguous."""
    decls = [d for d in parsed(text).declarations if d.name is not None]
    for d in decls:
        if d.name == name:
            return d
    close = [d for d in decls if d.name is not None
             and (d.name.endswith("." + name) or name.endswith("." + d.name))]
    return close[0] if len(close) == 1 else None


def extract_statement(text: str, name: str) -> str:
    """``find_declaration(text, name).statement(text)``; ValueError when there is none."""
    decl = find_declaration(text, name)
    if decl is None:
        raise ValueError(f"no declaration named {name!r}")
    return decl.statement(text)


# -- fenced blocks ----------------------------------------------------------------------------

def lean4_blocks(text: str) -> list[str]:
    """Every fenced ``lean4``/``lean`` block, in order; an unclosed last one runs to the end.

    Blocks are read left to right, each opening matched with the next fence, so a closing
    fence is never taken for an opening one."""
    blocks, pos = [], 0
    while (m := _OPEN_FENCE_RE.search(text, pos)) is not None:
        close = text.find(FENCE, m.end())
        blocks.append(text[m.end():] if close < 0 else text[m.end():close])
        if close < 0:
            break
        pos = close + len(FENCE)
    return blocks


def extract_last_lean4_block(text: str) -> str | None:
    """The content of the LAST ```lean4 (or ```lean) fenced block, None when there is none.

    REF §10.2 (shared/reference/deepseek-prover.md): V2's CoT output holds a ``sorry``
    sketch block before the final proof, so the last block is the answer. A final block
    that is never closed (generation cut by ``max_tokens`` or a stop string) counts, up to
    the end of the text: Lean, not this function, decides whether it is complete."""
    blocks = lean4_blocks(text)
    return blocks[-1] if blocks else None


__all__ = [
    "CLOSERS", "FENCE", "OPENERS", "THEOREM_KINDS", "Goal", "Hypothesis", "binder_pairs",
    "closing_bracket", "extract_last_lean4_block", "extract_statement", "find_declaration",
    "find_top", "first_goal", "lean4_blocks", "matching_bracket", "parse_goal_text",
    "signature_binders", "split_top", "statement_goal", "strip_parens", "theorem_name",
    "top_level",
]
