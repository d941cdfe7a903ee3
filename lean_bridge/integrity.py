"""Static integrity: may a candidate Lean file be called "proved" at all?

Contract: ``scan_integrity(text, reference=…, options=…)`` reads one whole candidate ``.lean``
file and returns ``Finding``s, sorted by position. A candidate may be called proved only when
Lean accepts it AND none of these findings is blocking AND ``reference.compare_to_reference``
finds nothing blocking AND the ``#print axioms`` audit (``axioms.audit_axioms``) passes. This
layer exists because Lean's "no error" is not enough: ``apply?`` in Lean 4.9 can close a goal
without a sorry, ``#exit`` stops checking, ``set_option debug.skipKernelTC`` turns the kernel
off, an ``instance`` before the theorem changes what its unchanged text means.

Pure: standard library only, no Lean, never raises on any ``str``. Everything is read through
``text.mask_non_code`` / ``find_identifier`` / ``find_name`` / ``parse_file``, so comments
(nested ones too), strings and docstrings never count, and a word counts only as a whole
identifier (``hsorry``, ``sorry_free``, ``Foo.sorry`` are not ``sorry``). Positions: ``line``
1-based, ``column`` 0-based in code points (``text.LineIndex``).

Codes (blocking unless noted; the vocabulary and its reasons are in ``_integrity_rules``):

* ``sorry``: ``sorry``, ``sorryAx``; ``admit``/``stop`` in a proof unless they can only be a
  name there (``intro stop``). Always, even in an item the reference has (a kept
  ``abbrev …_solution : T := sorry`` is unfinished work).
* ``search_tactic``: ``apply?``, ``exact?``, ``rw?``, ``hint``, ``library_search``,
  ``rw_search``, ``observe``, … ``simp?``, ``aesop?``, ``simp_all?``, ``says`` … run the real
  tactic and only print a suggestion: non-blocking findings.
* ``axiom``: an ``axiom`` declaration. ``exit``: ``#exit``. ``debug_option``:
  ``set_option debug.*`` anywhere. ``unsafe``: ``unsafe``, ``implemented_by``, ``extern``,
  ``@[csimp]``, ``unsafeCast`` …. ``import``: an ``import`` after the header (or, with a
  reference, a header import the reference lacks).
* ``native_decide``: ``native_decide``, ``decide +native``, ``bv_decide``,
  ``Lean.ofReduceBool`` …; non-blocking when ``IntegrityOptions.allow_native_decide``.
* ``metaprogramming``: ``#eval`` and other ``#`` commands, ``run_tac``, ``elab``, ``macro``,
  ``syntax``, ``notation``, ``infixl``, ``initialize``, ``simproc``, meta attributes ….
* ``environment_change``: ``instance`` (also ``@[instance]``, ``@[default_instance]``),
  ``attribute``, ``namespace``, ``export``, ``variable``, ``universe``, ``local``/``scoped``
  commands, a top-level ``open``, and ``open … in`` in front of a protected declaration.
  ``open … in`` inside a proof or in front of an auxiliary lemma is fine; ``section``, ``end``,
  ``noncomputable section`` are fine.
* ``set_option``: an option outside the allowlist (``_integrity_rules.ALLOWED_OPTIONS``:
  heartbeats, recursion depth, synthInstance limits, ``linter.*``, ``pp.*``, ``trace.*`` …).
* ``name_clash``: an auxiliary declaration whose name a protected statement uses.

The reference (header + benchmark statement + placeholder proof) is the benchmark's own
preamble, accepted as given: a candidate item equal to one of its items up to layout and
comments (``normalize_statement``), and the header commands it has, are exempt from the
``environment_change``/``set_option``/``metaprogramming`` rules and from ``name_clash``.
Protected declarations: with a reference, its theorems/lemmas, its ``:= sorry``
placeholders (the candidate must re-declare those, filling them in) and the ``target`` it
names, whatever its kind (ProofNet's ``def`` items); without one, the candidate's last theorem
or lemma, and then the header's ``import``/``open`` lines are fine. Auxiliary lemmas and defs
with their own proofs are allowed. A target declared as an ``instance`` by the reference may
keep that keyword (the reference asks for that instance); ``@[instance]`` and every other
instance stay findings.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

from . import _integrity_rules as rules
from ._scan import COMPONENT_RE, NAME_RE

# `parsed`/`masked`: the memoized split and lexing of a text, shared with `reference` and
# the checker (see `text`).
from .text import (
    Declaration,
    Item,
    LeanFile,
    LineIndex,
    find_identifier,
    find_name,
    find_sorry_proofs,
    masked,
    normalize_statement,
    parsed,
)

THEOREM_KINDS = ("theorem", "lemma")
# Declarations whose `:= sorry` value in a reference is a slot for the prover to fill.
PLACEHOLDER_KINDS = ("theorem", "lemma", "def", "abbrev", "instance", "opaque")
# Only these rules may be waived for text the reference itself has.
_TRUSTABLE = frozenset({"environment_change", "set_option", "metaprogramming"})

@dataclass(frozen=True)
class Finding:
    """One reason to distrust a candidate. ``code`` is a stable kind (see the module doc);
    ``blocking=False`` findings are reported but do not stop a "proved" verdict."""

    code: str
    message: str
    line: int  # 1-based; 0 when there is no source position (axiom audit)
    column: int  # 0-based, code points
    blocking: bool = True


@dataclass(frozen=True)
class IntegrityOptions:
    """What the caller's evaluation accepts beyond the kernel."""

    # Kimina-style evaluations accept `native_decide` (it trusts the compiler, not the kernel).
    allow_native_decide: bool = False




@lru_cache(maxsize=32)
def placeholder_names(reference: str) -> frozenset[str]:
    """Names of the reference's ``:= sorry`` slots (solution abbrevs, ProofNet defs, …)."""
    return frozenset(d.name for d in find_sorry_proofs(reference, PLACEHOLDER_KINDS) if d.name)


_NEXT_CHAR_RE = re.compile(r"[ \t]*(.?)", re.S)
_NOT_A_TACTIC_AFTER = frozenset(":,)⟩]}")


class _Spans:
    """``(start, end)`` spans, sorted and merged once; ``holds`` is one bisection."""

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        merged: list[tuple[int, int]] = []
        for s, e in sorted(spans):
            if merged and s < merged[-1][1]:  # nested or overlapping: one span
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        self.spans = merged
        self.starts = [s for s, _ in merged]

    def holds(self, offset: int) -> bool:
        k = bisect.bisect_right(self.starts, offset) - 1
        return k >= 0 and offset < self.spans[k][1]


def components(name: str) -> tuple[str, ...]:
    """``Lean.«sorryAx»`` -> ``("Lean", "sorryAx")``: a name's components, unescaped."""
    return tuple(c[1:-1] if c.startswith("«") else c for c in
                 (m.group() for m in COMPONENT_RE.finditer(name)))


@dataclass(frozen=True)
class _Context:
    """What the candidate is held to: text accepted as given, declarations it must (re)state,
    and the names their statements use."""

    trusted: frozenset[str]  # normalized texts of reference items, header commands, prefixes
    protected: frozenset[str]
    used_names: frozenset[tuple[str, ...]]
    # (name, kind) of the reference's target: its own keyword is the reference's, not a change.
    target: tuple[str, str] | None = None


def _used_names(mask: str, decls: list[Declaration]) -> frozenset[tuple[str, ...]]:
    names = set()
    for d in decls:
        for m in NAME_RE.finditer(mask, d.keyword_start, d.body_start):
            if not (m.start() and mask[m.start() - 1] == "."):  # `x.foo` is a field, not a name
                names.add(components(m.group()))
    return frozenset(names)


@lru_cache(maxsize=64)  # one reference is typically checked against many candidates
def _reference_context(reference: str, target: str | None = None) -> _Context:
    lf, mask = parsed(reference), masked(reference)
    trusted = {normalize_statement(reference[s:e])
               for s, e, _ in rules.header_commands(mask[:len(lf.header)])}
    placeholders = placeholder_names(reference)
    statements: list[Declaration] = []
    protected: set[str] = set()
    for it in lf.items:
        d = it.declaration
        if d is not None:
            trusted.update(normalize_statement(reference[s:e]) for s, e in d.prefix_commands)
        # The target is never preamble, whatever its kind or value: its text in the
        # reference must not become a pass for the candidate's.
        if d is not None and d.name and (d.kind in THEOREM_KINDS or d.name in placeholders
                                         or d.name == target):
            statements.append(d)
            protected.add(d.name)
        elif it.kind != "other":
            trusted.add(normalize_statement(it.text))
    kind = next((d.kind for d in statements if d.name == target), None)
    # A kind was found only if some declaration is named `target`, so `target` is a name then.
    return _Context(frozenset(trusted), frozenset(protected), _used_names(mask, statements),
                    (target, kind) if kind and target is not None else None)


def _own_context(lf: LeanFile, mask: str) -> _Context:
    theorems = [d for d in lf.declarations if d.kind in THEOREM_KINDS and d.name]
    last = theorems[-1:]
    return _Context(frozenset(), frozenset(d.name for d in last if d.name),
                    _used_names(mask, last))


def _clashes(name: str, used: frozenset[tuple[str, ...]]) -> bool:
    """Does declaring ``name`` touch a name the statement uses? ``f`` vs ``f`` or ``f.comp``
    (a prefix), ``Foo.f`` vs ``f`` (reachable through an ``open``), ``f`` vs ``Foo.f``."""
    n = components(name)
    return any(u[:len(n)] == n or u[-len(n):] == n or n[-len(u):] == u for u in used if u)


def scan_integrity(text: str, *, reference: str | None = None, target: str | None = None,
                   options: IntegrityOptions = IntegrityOptions()) -> list[Finding]:
    """All findings on candidate ``text``; see the module docstring for the rules.

    ``target``: with a ``reference``, the name of the declaration it asks for (its
    ``Reference.name``), protected whatever its kind; theorems and placeholders are anyway.
    """
    return _Scanner(text, reference, target, options).run()


class _Scanner:
    def __init__(self, text: str, reference: str | None, target: str | None,
                 options: IntegrityOptions) -> None:
        self.text, self.options = text, options
        self.mask = masked(text)
        self.file = parsed(text)
        self.index = LineIndex(text)
        self.has_reference = reference is not None
        self.ctx = (_reference_context(reference, target) if reference is not None
                    else _own_context(self.file, self.mask))
        self.trusted_spans: list[tuple[int, int]] = []
        # Proof spans are disjoint and in file order: a bisection finds the one holding an
        # offset, so each word costs O(log n), whatever the number of declarations.
        self.proofs = _Spans((d.body_start, d.end) for d in self.file.declarations)
        self.trusted = _Spans(())
        self.found: dict[tuple[str, int], Finding] = {}

    def run(self) -> list[Finding]:
        self._header()
        for it in self.file.items:
            self._item(it)
        self.trusted = _Spans(self.trusted_spans)
        self._words()
        self._options()
        self._hash_commands()
        self._attributes()
        return sorted(self.found.values(), key=lambda f: (f.line, f.column, f.code))

    # -- helpers ------------------------------------------------------------------------------

    def _add(self, code: str, offset: int, message: str, blocking: bool = True) -> None:
        line, column = self.index.offset_to_line_col(offset)
        self.found.setdefault((code, offset), Finding(code, message, line, column, blocking))

    def _hit(self, code: str, offset: int, message: str) -> None:
        """A word-level hit, after the waivers: the reference's own text, allowed native code."""
        if code in _TRUSTABLE and self._trusted(offset):
            return
        if code == "native_decide" and self.options.allow_native_decide:
            self._add(code, offset, message + " (allowed by the options)", blocking=False)
            return
        self._add(code, offset, message)

    def _trusted(self, offset: int) -> bool:
        return self.trusted.holds(offset)

    def _in_proof(self, offset: int) -> bool:
        return self.proofs.holds(offset)

    def _next_char(self, offset: int) -> str:
        """The first character after ``offset`` past spaces and tabs ('' at the end)."""
        m = _NEXT_CHAR_RE.match(self.mask, offset)
        return m.group(1) if m else ""

    def _lead(self, pattern: re.Pattern[str], offset: int) -> bool:
        """Does ``pattern`` (a lead: a few characters, then blanks, then the word) end right
        before ``offset``? Only a short window is searched: on a long line a search from the
        line start would cost the whole line for every word on it."""
        j = offset
        while j and self.mask[j - 1] in " \t":
            j -= 1
        lo = max(0, j - rules.LEAD_WINDOW)
        line_start = self.mask.rfind("\n", lo, j) + 1  # the lead is on the word's line
        return bool(pattern.search(self.mask, max(lo, line_start), j))

    def _tactic_position(self, offset: int, length: int) -> bool:
        """Is the word at ``offset`` the start of a tactic? Binders (``(hint : P)``), pattern
        names (``⟨h, hint⟩``) and arguments (``exact hint``) are not."""
        if not self._lead(rules.TACTIC_LEAD_RE, offset):
            return False
        return self._next_char(offset + length) not in _NOT_A_TACTIC_AFTER

    def _name_position(self, offset: int, length: int) -> bool:
        """Can the word at ``offset`` only be a name (``intro stop``, ``have admit : P``)?"""
        if self._next_char(offset + length) == ":":
            return True
        return self._lead(rules.NAME_LEAD_RE, offset)

    # -- structure: header and top-level items ------------------------------------------------

    def _header(self) -> None:
        # Without a reference the header's imports and opens are the candidate's to choose;
        # its `set_option`s still meet `_options`. No span is waived: text.parse_file lets a
        # header command run on over an unknown command after it (`simproc …`, `meta def …`),
        # which must not inherit the header's pass.
        if not self.has_reference:
            return
        for s, e, keyword in rules.header_commands(self.mask[:len(self.file.header)]):
            if normalize_statement(self.text[s:e]) in self.ctx.trusted:
                self.trusted_spans.append((s, e))
            elif keyword == "import":
                self._add("import", s, "an `import` that the reference header does not have")
            elif keyword == "open":
                self._add("environment_change", s,
                          "an `open` the reference header does not have changes name resolution")
            # A `set_option` is judged by `_options`, like any other.

    def _item(self, it: Item) -> None:
        if it.kind == "other":
            return
        if normalize_statement(it.text) in self.ctx.trusted:  # the benchmark's own preamble
            self.trusted_spans.append((it.start, it.end))
            return
        d = it.declaration
        if set(d.modifiers if d else ()) & {"local", "scoped"} \
                or re.match(r"\s*(?:local|scoped)(?![\w'!?])", self.mask[it.start:it.end]):
            self._add("environment_change", it.start,
                      "a `local`/`scoped` command changes the environment")
        if d is None:
            if it.keyword == "open":
                self._add("environment_change", it.start,
                          "a top-level `open` changes how names in the statement resolve")
            return
        protected = d.name in self.ctx.protected
        if (d.name, d.kind) == self.ctx.target and d.kind == "instance":
            # Only the keyword: the instance the reference itself asks for.
            self.trusted_spans.append((d.keyword_start, d.keyword_start + len("instance")))
        for s, e in d.prefix_commands:
            if protected and self.mask.startswith("open", s) \
                    and normalize_statement(self.text[s:e]) not in self.ctx.trusted:
                self._add("environment_change", s,
                          f"`open … in` in front of `{d.name}` changes how its statement reads")
        if d.name and d.name_start is not None and not protected \
                and _clashes(d.name, self.ctx.used_names):
            self._add("name_clash", d.name_start,
                      f"`{d.name}` is declared here but a protected statement uses that name")

    # -- words -------------------------------------------------------------------------------

    def _words(self) -> None:
        text, mask = self.text, self.mask
        for word, (code, message) in rules.ANYWHERE.items():
            if word in text:  # cheap pre-check: find_identifier lexes the whole file
                for p in find_identifier(text, word):
                    self._hit(code, p, message)
        for name, (code, message) in rules.NAMES.items():
            if name in text:
                for p in find_name(text, name):
                    self._hit(code, p, message)
        for m in rules.NATIVE_CONFIG_RE.finditer(mask):
            self._hit("native_decide", m.start(), "`decide +native` is `native_decide`")
        for m in rules.META_DECL_RE.finditer(mask):
            self._hit("metaprogramming", m.start(), "a `meta` declaration is compiled meta code")
        for word, (code, message) in rules.SORRY_TACTICS.items():
            if word in text:
                for p in find_identifier(text, word):
                    if self._in_proof(p) and not self._name_position(p, len(word)):
                        self._hit(code, p, message)
        for word, (code, message) in rules.SEARCH_TACTICS.items():
            if word in text:
                for p in find_identifier(text, word):
                    if self._in_proof(p) and self._tactic_position(p, len(word)):
                        self._hit(code, p, message)
        for word in sorted(rules.NON_BLOCKING_SEARCH):
            if word in text:
                for p in find_identifier(text, word):
                    self._add("search_tactic", p, f"`{word}` prints a suggestion but runs the "
                              "real tactic", blocking=False)
        header_end = len(self.file.header)
        if "import" in text[header_end:]:
            for p in find_identifier(text, "import"):
                if p >= header_end:
                    self._add("import", p, "an `import` after the header")

    def _options(self) -> None:
        if "set_option" not in self.text:
            return
        for p in find_identifier(self.text, "set_option"):
            name = rules.option_name(self.mask, p + len("set_option"))
            if name == "debug" or name.startswith("debug."):
                # Never waived: `debug.skipKernelTC` and friends switch checks off.
                self._add("debug_option", p, f"`set_option {name}` switches Lean's checking off")
            elif not rules.option_allowed(name):
                self._hit("set_option", p,
                          f"`set_option {name or '?'}` can change what the text means")

    def _hash_commands(self) -> None:
        if "#" not in self.text:
            return
        for m in rules.HASH_RE.finditer(self.mask):
            word, p = m.group(1), m.start()
            at_column_0 = p == 0 or self.mask[p - 1] == "\n"
            if word == "exit":
                self._add("exit", p, "`#exit` stops Lean: nothing after it is checked")
            elif word in rules.HASH_COMMANDS or at_column_0:
                self._hit("metaprogramming", p, f"`#{word}` runs a command inside the candidate")

    def _attributes(self) -> None:
        for m in rules.ATTRIBUTE_OPEN_RE.finditer(self.mask):
            depth, i = 0, m.end() - 1
            for i in range(m.end() - 1, len(self.mask)):  # to the matching `]`
                depth += {"[": 1, "]": -1}.get(self.mask[i], 0)
                if depth == 0:
                    break
            pos = m.end()
            for entry in self.mask[m.end():i].split(","):
                w = re.match(r"\s*(?:(?:local|scoped)\s+|-)?([\w.]+)", entry)
                if w and w.group(1) in rules.META_ATTRIBUTES:
                    self._hit("metaprogramming", pos + w.start(1),
                              f"`@[{w.group(1)}]` registers meta code")
                pos += len(entry) + 1


__all__ = ["Finding", "IntegrityOptions", "PLACEHOLDER_KINDS", "THEOREM_KINDS", "components",
           "masked", "parsed", "scan_integrity"]
