"""What ``prover prove`` works on in a file: its targets, the problem of each, and the file with
the proofs put in.

* ``select_targets(text, names)``: the theorems and lemmas whose proof is exactly ``sorry`` /
  ``by sorry`` (``text.find_sorry_proofs``), in file order, or only the named ones. Input that
  gives nothing to do raises ``ProveInputError`` (the CLI's exit 2).
* ``problem_for(text, target, …)``: the ``Problem`` for one target (see its docstring and the
  module docstring of ``prover.drivers.prove``).
* ``assemble(text, targets, proofs)``: one pass, each proof span replaced, so every other byte
  stays as it was.
"""
from __future__ import annotations

import bisect
from typing import Iterable, Sequence

from lean_bridge.text import (
    Declaration,
    LineIndex,
    check_fits,
    find_identifier,
    find_sorry_proofs,
    parsed,
    repeated_names,
)
from search.problem import Problem

TARGET_KINDS = ("theorem", "lemma")
GAP_KINDS = ("theorem", "lemma", "example")
# What a target's statement ends with: every policy continues a tactic block.
STATEMENT_TAIL = " by\n"


class ProveInputError(ValueError):
    """The file or the options give nothing sensible to do (the CLI's exit 2)."""


class HeaderRejected(Exception):
    """Lean answered the file's import header with an error (a missing module, a broken
    ``open``): nothing in the file can be checked (the CLI's exit 3, with Lean's message)."""


def select_targets(text: str, names: Sequence[str] = ()) -> list[Declaration]:
    """The theorems/lemmas to prove, in file order: those whose proof is ``sorry``, or only the
    named ones (each must exist and have a ``sorry`` proof). A name declared twice is Lean's
    error (it refuses each declaration after the first): only the first one can be proved,
    so a later ``sorry`` of that name is no target (``duplicate_notes`` says so)."""
    decls = parsed(text).declarations
    declared = [d for d in decls if d.kind in TARGET_KINDS and d.name]
    if not declared:
        raise ProveInputError("it has no theorem or lemma (is it Lean 4 source?)")
    first: dict[str, int] = {}  # name -> start of its first declaration, of any kind
    for d in decls:
        if d.name:
            first.setdefault(d.name, d.start)
    gaps = [d for d in find_sorry_proofs(text, kinds=TARGET_KINDS) if d.name]
    open_ = [d for d in gaps if first[d.name or ""] == d.start]
    repeats = ", ".join(dict.fromkeys(f"`{d.name}`" for d in gaps if first[d.name or ""] != d.start))
    why_not = f" (a `sorry` of {repeats} is a redeclaration, which Lean refuses)" if repeats else ""
    if names:
        known = {d.name for d in declared}
        unknown = [n for n in dict.fromkeys(names) if n not in known]
        if unknown:
            raise ProveInputError(f"no theorem named {', '.join(unknown)} (it has: "
                                  f"{name_list(d.name or '' for d in declared)})")
        with_sorry = {d.name for d in open_}
        done = [n for n in dict.fromkeys(names) if n not in with_sorry]
        if done:
            raise ProveInputError(f"{', '.join(done)} has a proof already (only `sorry` proofs "
                                  f"are replaced){why_not}")
        wanted = set(names)
        open_ = [d for d in open_ if d.name in wanted]
    if not open_:
        raise ProveInputError(f"no theorem or lemma has a `sorry` proof{why_not}: there is "
                              "nothing to prove")
    return open_


def duplicate_notes(text: str) -> list[str]:
    """One line for each theorem/lemma name that ``text`` declares more than once: which one
    ``prove`` works on (the first, if its proof is ``sorry``) and why not the others."""
    decls = [d for d in parsed(text).declarations if d.name]
    theorems = {d.name for d in decls if d.kind in TARGET_KINDS}
    index = LineIndex(text)
    repeated = repeated_names((d.name or "", index.offset_to_line_col(d.keyword_start)[0])
                              for d in decls if d.name in theorems)
    return [r.describe() + "; only the first can be proved, give the others names of their own"
            for r in repeated]


def name_list(names: Iterable[str], shown: int = 20) -> str:
    """``names`` once each, the first ``shown`` of them: a message stays short for any file."""
    distinct = list(dict.fromkeys(names))
    more = f", … ({len(distinct) - shown} more)" if len(distinct) > shown else ""
    return ", ".join(distinct[:shown]) + more


def gaps_of(text: str) -> list[Declaration]:
    """Declarations (theorem, lemma, example) whose proof holds a ``sorry`` or ``admit``."""
    offsets = sorted(find_identifier(text, "sorry") + find_identifier(text, "admit"))
    out = []
    for d in parsed(text).declarations:
        # The first gap token at or after the proof's start, found by bisection.
        k = bisect.bisect_left(offsets, d.body_start)
        if d.kind in GAP_KINDS and k < len(offsets) and offsets[k] < d.end:
            out.append(d)
    return out


def _edit_spans(text: str, upto: int, gaps: Sequence[Declaration],
                proofs: dict[str, str]) -> str:
    """``text[:upto]`` with each gap before ``upto`` given its new proof or left out, in one
    pass over the text (the gaps are disjoint declarations)."""
    pieces, pos = [], 0
    for d in sorted((g for g in gaps if g.end <= upto), key=lambda g: g.start):
        if d.name is not None and d.name in proofs:
            pieces += [text[pos:d.body_start], proofs[d.name]]
        else:
            pieces.append(text[pos:d.start])
        pos = d.end
    pieces.append(text[pos:upto])
    return "".join(pieces)


def problem_for(text: str, target: Declaration, *, proofs: dict[str, str],
                gaps: Sequence[Declaration] | None = None, header: str | None = None) -> Problem:
    """The problem of proving ``target`` (module docstring); ``proofs`` maps the names of
    theorems already proved in this run to their new proof text (what follows ``:=``)."""
    header = parsed(text).header if header is None else header
    gaps = gaps_of(text) if gaps is None else gaps
    before = _edit_spans(text, target.body_start, [g for g in gaps if g.end <= target.start], proofs)
    return Problem(name=target.name or "", header=header,
                   statement=before[len(header):] + STATEMENT_TAIL)


def file_proof(search_proof: str) -> str:
    """What replaces ``sorry`` after the ``:=``, for a proof found for ``problem_for``'s
    statement (which ends in `` by\\n``)."""
    return (STATEMENT_TAIL + search_proof).rstrip()


def assemble(text: str, targets: Sequence[Declaration], proofs: dict[str, str]) -> str:
    """``text`` with the proof span of each proved target replaced, in one pass over it."""
    crlf = "\r\n" in text  # keep a Windows file's line endings
    pieces, pos = [], 0
    for d in sorted((t for t in targets if t.name in proofs), key=lambda t: t.start):
        proof = proofs[d.name]  # type: ignore[index]
        if crlf:
            proof = proof.replace("\r\n", "\n").replace("\n", "\r\n")
        if d.body_start < pos:
            raise ValueError("declarations overlap")
        check_fits(text, d)
        pieces += [text[pos:d.body_start], proof]
        pos = d.end
    pieces.append(text[pos:])
    return "".join(pieces)


__all__ = ["GAP_KINDS", "ProveInputError", "STATEMENT_TAIL", "TARGET_KINDS", "assemble",
           "duplicate_notes", "file_proof", "gaps_of", "name_list", "problem_for",
           "select_targets"]
