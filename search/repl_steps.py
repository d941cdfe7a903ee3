"""The REPL's answer in proof offsets: ``allTactics`` entries and positioned sorries as
``Step``s, REPL positions (lines 1-based, columns in code points) as offsets into the proof
text, and which goal texts the REPL printed flattened. Pure functions; no Lean.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from typing import Sequence

from lean_bridge.protocol import Pos, Sorry, Tactic
from lean_bridge.text import LineIndex


@dataclass(frozen=True)
class Step:
    """One ``allTactics`` entry (or a positioned ``sorry``) in proof offsets.

    ``goals`` is the state BEFORE it; ``[start, end)`` its text in the proof.
    """

    start: int
    end: int
    goals: str
    proof_state: int | None
    tactic: str
    is_sorry: bool = False


def flattened(goals: str) -> bool:
    """Whether ``goals`` is a state Lean's ``Format`` flattened onto one line.

    Up to v4.13 the REPL's ``allTactics`` goals are printed with group flattening, so a short
    state reads ``"t : Nat ⊢ Nat"`` (reference transcripts v4.9, ``all_tactics``), while
    sorry goals and proof-step goals keep one hypothesis per line and ``⊢`` opening its own
    line. A model trained on the multi-line form must never see the flat one, and line
    breaks cannot be guessed back (a hypothesis type may itself contain spaces and colons),
    so a flattened state is re-read in tactic mode instead. The test: a turnstile that does
    not open its line (it cannot occur inside a term).
    """
    if goals.count("⊢") == goals.count("\n⊢") + goals.startswith("⊢"):
        return False  # every ⊢ opens its line (the multi-line form): no search needed
    return _FLAT_RE.search(goals) is not None


# A line (split on "\n" only) whose first non-blank character is not ⊢ and that holds a ⊢.
_FLAT_RE = re.compile(r"^[^\S\n]*[^\s⊢][^\n]*⊢", re.M)



# -- positions --------------------------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def line_index(text: str) -> LineIndex:
    """``LineIndex(text)``, shared: a verdict's truncation and its segmentation index the
    same proof (read-only; nothing changes an index once made)."""
    return LineIndex(text)


def proof_origin(prefix: str) -> tuple[int, int]:
    """(base_line, base_column) of a proof that follows ``prefix`` in the text Lean saw."""
    return prefix.count("\n"), len(prefix) - (prefix.rfind("\n") + 1)


def pos_to_offset(pos: Pos | None, index: LineIndex, *, base_line: int = 0,
                  base_column: int = 0) -> int | None:
    """Offset in ``index.text`` (the proof) of a REPL position; None outside the proof.

    Outside means before it (the statement, ``Pos(0, 0)`` of tactic mode) or after its
    last line (a later declaration in the same command). A column past its line's end
    maps to that line's end (Lean reports end-of-input errors there).
    """
    if pos is None or pos.line <= 0:
        return None
    line = pos.line - base_line
    column = pos.column - (base_column if line == 1 else 0)
    starts = index.line_starts
    count = len(starts)
    if line < 1 or column < 0 or line > count:
        return None
    start = starts[line - 1]
    stop = starts[line] - 1 if line < count else len(index.text)
    return start + column if start + column < stop else stop


def steps_from_repl(proof: str, tactics: Sequence[Tactic], sorries: Sequence[Sorry] = (), *,
                    base_line: int = 0, base_column: int = 0) -> list[Step]:
    """``allTactics`` entries and positioned sorries as ``Step``s in proof offsets.

    Entries starting outside the proof are dropped. A sorry that starts where a tactic
    starts is dropped (the ``sorry`` tactic's own entry carries all goals; a sorry's
    ``goal`` is only the goal it closes), but lends that entry its multi-line text when the
    REPL flattened the same single goal. Sorted by (start, -end), stable.
    """
    index = line_index(proof)
    kw = {"base_line": base_line, "base_column": base_column}
    steps: list[Step] = []
    for t in tactics:
        start = pos_to_offset(t.pos, index, base_line=base_line, base_column=base_column)
        if start is not None:
            end = pos_to_offset(t.end_pos, index, base_line=base_line, base_column=base_column)
            if end is None:
                end = len(proof)
            steps.append(Step(start, end if end > start else start, t.goals, t.proof_state,
                              t.tactic))
    at = {s.start: i for i, s in enumerate(steps)}
    for s in sorries:
        start = pos_to_offset(s.pos, index, **kw)
        if start is not None and start in at:
            # Before v4.14 the `sorry` tactic's entry reads its state flattened and the
            # sorry's goal reads it multi-line: when they are the same state (a single goal),
            # the multi-line text is the one to keep.
            tactic = steps[at[start]]
            if flattened(tactic.goals) and " ".join(tactic.goals.split()) == " ".join(s.goal.split()):
                steps[at[start]] = replace(tactic, goals=s.goal)
            continue
        if start is None:
            continue
        end = pos_to_offset(s.end_pos, index, **kw)
        steps.append(Step(start, max(start, end if end is not None else start + 5), s.goal,
                          s.proof_state, "sorry", is_sorry=True))
    steps.sort(key=lambda s: (s.start, -s.end))
    return steps


__all__ = ["Step", "flattened", "line_index", "pos_to_offset", "proof_origin", "steps_from_repl"]
