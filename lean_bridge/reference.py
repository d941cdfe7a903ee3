"""Statement integrity: does the candidate prove the benchmark's theorem, in its context?

Contract: a ``Reference`` is one theorem to prove (or one ``def`` to give: ProofNet has 14
``def exercise_… : CommGroup G :=`` items, whose signature is held exactly like a theorem's
statement), as a parseable Lean file ``text ==
header + statement + placeholder`` (the placeholder is ``"  sorry"`` after ``:= by\\n``, or
``" by\\n  sorry"`` after ``:=``). ``header`` is the leading ``import``/``open``/``set_option``
commands as ``text.parse_file`` splits them, so for the 20 ProofNet records whose JSONL
``header`` also carries ``def``s, those ``def``s are part of ``statement`` here; ``statement``
is everything between the header and the placeholder: the benchmark's preamble (solution
``abbrev``s, helper ``def``s, ``noncomputable section`` …) and the theorem's own statement,
docstring included. ``name`` is the Lean declaration's name (ProofNet's ``theorem_name``).

``compare_to_reference(candidate, ref)`` returns blocking ``Finding``s (``integrity.Finding``):

* ``header_changed``: the headers differ beyond layout and comments (``normalize_statement``
  of both: Lean reads the same tokens, so blank lines and comments cannot matter; an added
  ``import``, even ``Mathlib.Tactic`` for ``Mathlib``, or ``open``, or option does).
* ``missing_theorem``: no declaration named ``ref.name`` (renamed or dropped).
* ``statement_changed``: its statement (keyword to ``:=``, plus any ``open … in`` prefix)
  differs beyond layout and comments. ``lemma`` and ``theorem`` are the same, any other
  keyword must stay (a ``def`` target may not become an ``abbrev`` or an ``instance``);
  ``noncomputable``, attributes, docstrings and harmless ``set_option … in`` prefixes
  (``maxHeartbeats`` …) do not count.
* ``preamble_changed``: a reference item other than the theorem (a ``def``, an ``abbrev``, a
  command) is missing or altered. A ``:= sorry`` placeholder (PutnamBench's
  ``abbrev …_solution : T := sorry``) may be filled in, but its name, binders and type must
  stay; ``def`` for ``abbrev`` is fine. The filled value is checked by Lean, and a kept
  ``sorry`` by ``integrity.scan_integrity``.

``load_references(path)`` reads benchmark JSONL (``name``, ``header``, ``formal_statement``,
optional ``theorem_name``; keyed by ``name``, the record's unique id, since ProofNet repeats
theorem names) or a ``.lean`` file (keyed by theorem name; each theorem's statement carries
the file's non-theorem items before it, other theorems are left out). In a ``.lean`` file a
``:= sorry`` ``def``/``abbrev``/… that no later text mentions is a target of its own, like a
theorem (a ProofNet ``def`` item); one that a later theorem uses is that theorem's preamble
(PutnamBench's ``…_solution``). Anything it cannot use raises ``BadReference`` naming the file
and line. ``references_for_file`` picks the records of a benchmark that a candidate answers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Mapping

from . import _integrity_rules as rules
from ._scan import NAME_RE
from .integrity import (
    THEOREM_KINDS,
    Finding,
    components,
    masked,
    parsed,
    placeholder_names,
)
from .jsonl import jsonl_objects
from .text import (
    Declaration,
    LeanFile,
    LineIndex,
    mask_non_code,
    normalize_statement,
    parse_file,
)

_SORRY_BY = "  sorry"  # after a statement ending `:= by\n`
_SORRY_TERM = " by\n  sorry"  # after a statement ending `:=`


class BadReference(ValueError):
    """A reference file that cannot be read or used."""


@dataclass(frozen=True)
class Reference:
    """One theorem (or ``def``) to prove; ``text == header + statement + placeholder``."""

    name: str  # the Lean declaration's name: the target, whatever its kind
    header: str  # leading import/open/set_option commands, as parse_file splits them
    statement: str  # preamble items + the theorem up to and including `:=` (`:= by\n`)
    text: str  # a parseable file with a `sorry` proof


@lru_cache(maxsize=1024)  # pure; every check of a search asks it for the same statement
def placeholder_for(statement: str) -> str:
    """The proof to append to ``statement`` (``…:= by\\n``, ``…:= by``, ``…:=`` or a bare
    signature) to make a parseable file with a ``sorry`` proof."""
    code = mask_non_code(statement).rstrip()
    if re.search(r":=\s*by$", code):
        return _SORRY_BY if statement.endswith("\n") else "\n" + _SORRY_BY
    return _SORRY_TERM if code.endswith(":=") else " :=" + _SORRY_TERM


def _make(name: str, statement_text: str, where: str) -> Reference:
    text = statement_text + placeholder_for(statement_text)
    lf = parsed(text)  # primes the cache the scan and the comparison use
    if not any(d.name == name for d in lf.declarations):
        raise BadReference(f"{where}: no declaration named {name!r} in the statement")
    return Reference(name, lf.header, statement_text[len(lf.header):], text)


def load_references(path: Path | str) -> dict[str, Reference]:
    """References from a benchmark ``.jsonl``/``.json`` (one record a line) or a ``.lean`` file."""
    path = Path(path)
    try:
        content = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise BadReference(f"cannot read references from {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise BadReference(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from exc
    if path.suffix in (".jsonl", ".json"):
        refs = _from_jsonl(content, path)
    elif path.suffix == ".lean":
        refs = _from_lean(content, path)
    else:
        raise BadReference(
            f"{path}: expected a .jsonl or .lean file, not {path.suffix or 'no suffix'!r}")
    if not refs:
        raise BadReference(f"{path}: no theorems in it")
    return refs


def _from_jsonl(content: str, path: Path) -> dict[str, Reference]:
    refs: dict[str, Reference] = {}
    for where, record in jsonl_objects(content, str(path), error=BadReference, invalid="bad JSON",
                                       chain=True):
        missing = [k for k in ("name", "header", "formal_statement")
                   if not isinstance(record.get(k), str)]
        if missing:
            raise BadReference(f"{where}: missing or non-string key(s) {', '.join(missing)}")
        key = record["name"]
        lean_name = record.get("theorem_name", key)
        if not isinstance(lean_name, str) or not lean_name:
            raise BadReference(f"{where}: `theorem_name` must be a non-empty string")
        if key in refs:
            raise BadReference(f"{where}: duplicate name {key!r}")
        refs[key] = _make(lean_name, record["header"] + record["formal_statement"], where)
    return refs


def references_from_lean(content: str, source: str = "<text>") -> dict[str, Reference]:
    """``load_references`` for ``.lean`` text already in memory; ``source`` names it in errors."""
    refs = _from_lean(content, source)
    if not refs:
        raise BadReference(f"{source}: no theorems in it")
    return refs


def _last_mentions(mask: str, names: Iterable[str]) -> dict[tuple[str, ...], int]:
    """For each of ``names``, where the last name token holding its components starts
    (``name``, ``name.1``, ``Foo.name``); absent when no token does. One pass over the tokens,
    so asking about every placeholder of a file costs the file once."""
    wanted = {components(n) for n in names}
    lengths = {len(w) for w in wanted}
    last: dict[tuple[str, ...], int] = {}
    for m in NAME_RE.finditer(mask):
        c = components(m.group())
        for n in lengths:
            for i in range(len(c) - n + 1):
                if c[i:i + n] in wanted:
                    last[c[i:i + n]] = m.start()
    return last


def _standalone(d: Declaration, placeholders: frozenset[str],
                last_mention: dict[tuple[str, ...], int]) -> bool:
    """Is ``d`` a target of its own: a theorem, or a ``:= sorry`` placeholder that nothing
    after it mentions (so no later theorem is stated in terms of it)? A doubt (a mention
    anywhere after it) keeps today's reading: preamble."""
    if d.kind in THEOREM_KINDS:
        return True
    return d.name in placeholders and last_mention.get(components(d.name or ""), -1) < d.end


def _from_lean(content: str, path: Path | str) -> dict[str, Reference]:
    lf = parse_file(content)
    mask, placeholders = mask_non_code(content), placeholder_names(content)
    last_mention = _last_mentions(mask, placeholders) if placeholders else {}
    refs: dict[str, Reference] = {}
    preamble: list[str] = []
    # Blank lines and comments go with the item after them: into the preamble before a
    # preamble item, into a theorem's own statement before it, so the text between two
    # other theorems is not carried by every later reference (that would be quadratic).
    gap = ""
    for it in lf.items:
        d = it.declaration
        if it.kind == "other" and not mask[it.start:it.end].strip():
            gap += it.text
            continue
        if d is None or not d.name or not _standalone(d, placeholders, last_mention):
            preamble.append(gap + it.text)
            gap = ""
            continue
        if d.name in refs:
            line, _ = LineIndex(content).offset_to_line_col(d.start)
            what = "theorem" if d.kind in THEOREM_KINDS else d.kind
            raise BadReference(f"{path}:{line}: {what} {d.name!r} is declared twice")
        statement = "".join(preamble) + gap + d.statement(content)
        gap = ""
        refs[d.name] = _make(d.name, lf.header + statement, f"{path}:{d.name}")
    return refs


def references_for_file(references: Mapping[str, Reference], text: str) -> list[Reference]:
    """The records of a benchmark (``load_references`` of a JSONL) that the Lean file ``text``
    answers: one for each declaration of ``text`` that some record names, theorem or ``def``
    alike, in file order. Records are keyed by id and matched by Lean name; ProofNet repeats
    Lean names across textbooks, so the record whose statement the file has is preferred."""
    by_name: dict[str, list[Reference]] = {}
    for ref in references.values():
        by_name.setdefault(ref.name, []).append(ref)
    chosen: list[Reference] = []
    answered: set[str] = set()
    for d in parsed(text).declarations:
        same = by_name.get(d.name or "")
        if not same or d.name in answered:
            continue
        answered.add(d.name or "")
        mine = normalize_statement(d.statement(text))
        exact = [r for r in same
                 if any(normalize_statement(rd.statement(r.text)) == mine
                        for rd in parsed(r.text).declarations if rd.name == d.name)]
        chosen.append((exact or same)[0])
    return chosen


# -- comparing -----------------------------------------------------------------------------

def _harmless_prefix(mask: str, start: int) -> bool:
    """``set_option maxHeartbeats … in`` and the like: they cannot change a statement."""
    return mask.startswith("set_option", start) and \
        rules.option_allowed(rules.option_name(mask, start + len("set_option")))


def _statement_key(text: str, mask: str, d: Declaration) -> str:
    """What must not change: ``open … in`` (and other non-harmless) prefixes, then keyword,
    name, binders and type, without the trailing ``:=``, up to layout and comments."""
    prefixes = [normalize_statement(text[s:e]) for s, e in d.prefix_commands
                if not _harmless_prefix(mask, s)]
    sig = re.sub(r"\s*:=$", "", normalize_statement(text[d.keyword_start:d.body_start]))
    sig = re.sub(r"^lemma(?![\w'!?])", "theorem", sig)
    return " ".join(prefixes + [sig])


def _type_key(text: str, d: Declaration) -> str:
    """A placeholder's name, binders and type (its keyword may go from abbrev to def)."""
    start = d.name_start if d.name_start is not None else d.keyword_start
    return re.sub(r"\s*:=$", "", normalize_statement(text[start:d.body_start]))


def _first_difference(a: str, b: str) -> str:
    i = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    lo = max(0, i - 25)
    return f"reference …{a[lo:i + 35]!r}… vs candidate …{b[lo:i + 35]!r}…"


def compare_to_reference(candidate: str, ref: Reference) -> list[Finding]:
    """Blocking findings where ``candidate`` does not state what ``ref`` states.

    Raises ``BadReference`` when ``ref.text`` itself has no declaration ``ref.name`` (a
    hand-made ``Reference``; ``load_references`` never returns one)."""
    cand, ref_file = parsed(candidate), parsed(ref.text)
    cmask, rmask = masked(candidate), masked(ref.text)
    index = LineIndex(candidate)
    findings: list[Finding] = []

    def add(code: str, offset: int, message: str) -> None:
        findings.append(Finding(code, message, *index.offset_to_line_col(offset)))

    ref_header, cand_header = normalize_statement(ref.header), normalize_statement(cand.header)
    if ref_header != cand_header:
        add("header_changed", 0, "the header differs from the reference's: "
            + _first_difference(ref_header, cand_header))

    decls, present = _candidate_view(candidate)
    target = decls.get(ref.name)
    ref_target = next((d for d in ref_file.declarations if d.name == ref.name), None)
    if ref_target is None:
        raise BadReference(f"the reference text has no declaration named {ref.name!r}")
    if target is None:
        add("missing_theorem", len(candidate), f"no declaration named `{ref.name}`")
    else:
        want = _statement_key(ref.text, rmask, ref_target)
        got = _statement_key(candidate, cmask, target)
        if want != got:
            add("statement_changed", target.start,
                f"the statement of `{ref.name}` differs from the reference: "
                + _first_difference(want, got))
    _compare_preamble(candidate, ref, ref_file, decls, present, add)
    return findings


@lru_cache(maxsize=8)  # a candidate checked against several references is read once
def _candidate_view(candidate: str) -> tuple[dict[str, Declaration], frozenset[str]]:
    """The first declaration of each name in ``candidate``, and its items up to layout."""
    cand = parsed(candidate)
    decls: dict[str, Declaration] = {}
    for d in cand.declarations:
        if d.name:
            decls.setdefault(d.name, d)
    return decls, frozenset(normalize_statement(it.text) for it in cand.items if it.kind != "other")


def _compare_preamble(candidate: str, ref: Reference, ref_file: LeanFile,
                      decls: dict[str, Declaration], present: frozenset[str],
                      add: Callable[[str, int, str], None]) -> None:
    placeholders = placeholder_names(ref.text)
    for it in ref_file.items:
        d = it.declaration
        if it.kind == "other" or (d is not None and d.name == ref.name):
            continue
        mine = decls.get(d.name) if d is not None and d.name else None
        if d is not None and d.name in placeholders:
            if mine is None:
                add("preamble_changed", len(candidate),
                    f"the placeholder `{d.name}` of the reference is missing")
            elif _type_key(candidate, mine) != _type_key(ref.text, d):
                add("preamble_changed", mine.start,
                    f"`{d.name}` may be filled in but its type must stay: "
                    + _first_difference(_type_key(ref.text, d), _type_key(candidate, mine)))
        elif normalize_statement(it.text) not in present:
            what = f"`{d.name}`" if d is not None and d.name else repr(it.text.split("\n")[0][:60])
            if mine is not None:
                add("preamble_changed", mine.start, f"the reference's {what} was altered")
            else:
                add("preamble_changed", len(candidate), f"the reference's {what} was removed")


__all__ = ["Reference", "BadReference", "compare_to_reference", "load_references",
           "placeholder_for", "references_for_file", "references_from_lean"]
