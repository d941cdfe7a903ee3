"""The tactics of a `by` block, read off its text: what ``allTactics`` lists and what the goal of
a `sorry` inside a `calc` step is. No elaboration: one goal, threaded through `have`s whose
type is written out (``lean_fake.goals.have_hypothesis``), and `calc` steps read as
``TERM := PROOF``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from lean_fake.reader import ASCII_WS, _squash, _top_level

# Relations a calc step may chain with `_ R rhs`; the first top-level one splits a step's term.
_RELATIONS = (" = ", " ≤ ", " < ", " ≥ ", " > ", " ≠ ", " ↔ ", " ∣ ", " ⊆ ", " ≡ ")
_CALC = re.compile(r"calc(?![\w'!?])")


@dataclass(frozen=True)
class CalcStep:
    start: int       # first character of the step's term
    end: int         # end of the step (last non-blank character + 1)
    term: str        # as written, whitespace collapsed
    proof_start: int  # first character after the step's `:=`


@dataclass(frozen=True)
class Calc:
    end: int
    kw_end: int
    steps: tuple[CalcStep, ...]


def pieces(masked: str, start: int, end: int) -> list[tuple[int, int]]:
    """Each non-blank line of [start, end), split at top-level `;` (not `<;>`), bullets and
    surrounding blanks dropped: the (start, end) spans of the tactics."""
    spans = []
    for line_start, line_end in _lines(masked, start, end):
        piece_start = line_start
        cuts = [i for i, ch in _top_level(masked, line_start, line_end)
                if ch == ";" and masked[i - 1:i] != "<"]
        for cut in cuts + [line_end]:
            a, b = piece_start, cut
            while a < b and masked[a] in ASCII_WS + "·.":
                if masked[a] in "·." and masked[a + 1:a + 2] not in (" ", "\t"):
                    break
                a += 1
            while b > a and masked[b - 1] in ASCII_WS:
                b -= 1
            if b > a:
                spans.append((a, b))
            piece_start = cut + 1
    return spans


def _indent_of_line(masked: str, index: int) -> int:
    line_start = masked.rfind("\n", 0, index) + 1
    line = masked[line_start:index]
    return len(line) - len(line.lstrip(" \t"))


def read_calc(text: str, masked: str, at: int, end: int) -> Calc | None:
    """The `calc` tactic starting at `at`: it runs over the rest of its line and every later
    line indented more than the line it starts on."""
    if not _CALC.match(masked, at):
        return None
    indent = _indent_of_line(masked, at)
    calc_end = masked.find("\n", at, end)
    calc_end = end if calc_end < 0 else calc_end
    while calc_end < end:
        nxt = masked.find("\n", calc_end + 1, end)
        nxt = end if nxt < 0 else nxt
        line = masked[calc_end + 1:nxt]
        if line.strip(ASCII_WS) and len(line) - len(line.lstrip(" \t")) <= indent:
            break
        calc_end = nxt
    while calc_end > at and masked[calc_end - 1] in ASCII_WS:
        calc_end -= 1
    kw_end = at + len("calc")
    steps: list[CalcStep] = []
    starts = []  # a step starts at each line (or the rest of the calc line) with a `:=`
    for a, b in _lines(masked, kw_end, calc_end):
        if any(ch == ":" and masked[i + 1:i + 2] == "=" for i, ch in _top_level(masked, a, b)):
            starts.append(a)
    for k, a in enumerate(starts):
        b = starts[k + 1] if k + 1 < len(starts) else calc_end
        while b > a and masked[b - 1] in ASCII_WS:
            b -= 1
        assign = next(i for i, ch in _top_level(masked, a, b)
                      if ch == ":" and masked[i + 1:i + 2] == "=")
        steps.append(CalcStep(a, b, _squash(text[a:assign]), assign + 2))
    if not steps:
        return None
    return Calc(calc_end, kw_end, tuple(steps))


def _lines(masked: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    a = start
    while a < end:
        b = masked.find("\n", a, end)
        b = end if b < 0 else b
        s = a
        while s < b and masked[s] in ASCII_WS:
            s += 1
        if s < b:
            spans.append((s, b))
        a = b + 1
    return spans


def step_terms(calc: Calc) -> list[str]:
    """Each step's relation, with a leading `_` replaced by the previous step's right side (what
    Lean shows as the step's goal)."""
    terms: list[str] = []
    for step in calc.steps:
        term = step.term
        if terms and (term == "_" or term.startswith("_ ")):
            term = _right_side(terms[-1]) + term[1:]
        terms.append(term)
    return terms


def _right_side(term: str) -> str:
    cuts = [(term.find(r), r) for r in _RELATIONS if r in term]
    if not cuts:
        return "_"
    at, rel = min(cuts)
    return term[at + len(rel):]
