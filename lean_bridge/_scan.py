"""Lexical layer under `lean_bridge.text`: where comments, strings and identifiers are.

Private module. It knows only enough of Lean 4's lexer to tell code from non-code and to
cut identifiers out of code; it does not parse. Everything works on Python ``str``
offsets (Unicode code points), the unit Lean's REPL uses for columns.

Rules, mirroring Lean's tokenizer where it matters:

* ``--`` starts a line comment anywhere in code (Lean has no exception, so ``a--b`` too).
* ``/-`` starts a block comment; block comments NEST, and inside one only ``/-`` and ``-/``
  mean anything (Lean's ``finishCommentBlock`` ignores quotes there). ``/--`` is a doc
  comment, ``/-!`` a module doc.
* ``"…"`` is a string with backslash escapes and may span lines; ``r"…"`` / ``r#"…"#`` are
  raw strings. An unterminated string or comment runs to the end of the text, as in Lean.
* ``'`` is a char literal only when the character before it cannot end an identifier (so
  ``h'``, ``x''``, ``f ⁻¹' s`` are code) and the literal closes on the spot (``'a'``,
  ``'\\n'``, ``'\\x41'``, ``'\\u{1F600}'``); otherwise it is code (``f '' s``, ``∑' n``).
* ``«…»`` is one identifier; its contents are code, never a comment or string start.
* Brackets: the one set of Lean's bracket pairs (``OPENERS``/``CLOSERS``), matched on a mask
  by ``matching_bracket``; ``lean_bridge.goals`` is their public home.
"""
from __future__ import annotations

import re
from typing import NamedTuple

# Characters that may continue an identifier. Lean's `isIdRest` is letters, digits, `_`,
# `'`, `!`, `?` and subscripts; Python's isalnum() covers Lean's "letter-like" ranges
# (Greek, ℕ/ℝ, 𝓤, …) and subscripts ₀-₉/ₐ/ᵢ. λ, Π, Σ are binders in Lean, never names.
_NOT_IDENT = frozenset("λΠΣ")
# Lean's bracket pairs, position for position: ( [ { ⟨ ⦃ ⟦ ⌊ ⌈ ⁅ and their closers.
OPENERS, CLOSERS = "([{⟨⦃⟦⌊⌈⁅", ")]}⟩⦄⟧⌋⌉⁆"


def is_ident_char(c: str) -> bool:
    return (c.isalnum() or c in "_'!?") and c not in _NOT_IDENT


_ID_START = r"(?![λΠΣ])[^\W\d]"  # \w minus digits: letters (incl. Unicode) and `_`
_ID_REST = r"(?:(?![λΠΣ])[\w'!?])*"
_COMPONENT = rf"(?:«[^»\n]*»|{_ID_START}{_ID_REST})"
# A possibly dotted name: `Nat.succ_le`, `h.1.le`, `Lean.«sorryAx»`. `.` joins components
# only when a component (or a projection index) follows immediately, as in Lean.
NAME_RE = re.compile(rf"{_COMPONENT}(?:\.(?:{_COMPONENT}|\d+))*")
COMPONENT_RE = re.compile(rf"{_COMPONENT}|\d+")

# Each pattern opens with a lookahead on the first characters its alternatives can start
# with: it changes no match, and lets the regex engine skip ahead to a candidate instead of
# trying every alternative at every position (2.5x faster on proofs).
_START_RE = re.compile(r"""(?=[-/"'«r])(?:--|/-|"|'|«|(?<![\w'!?])r#*")""")
_BLOCK_TOKEN_RE = re.compile(r"(?=[-/])(?:/-|-/)")
_STRING_BODY_RE = re.compile(r'(?:[^"\\]|\\.)*"', re.S)
_CHAR_LIT_RE = re.compile(
    r"""'(?:[^'\\\n]|\\(?:[\\'"ntr0]|x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]{1,6}\}))'""")


class Span(NamedTuple):
    """One non-code region: kind is line_comment, block_comment, doc_comment,
    module_doc, string or char; text[start:end] is the whole literal or comment."""

    kind: str
    start: int
    end: int


def _block_comment_end(text: str, start: int) -> int:
    depth, i = 1, start + 2
    while depth:
        m = _BLOCK_TOKEN_RE.search(text, i)
        if m is None:
            return len(text)
        depth += 1 if m.group() == "/-" else -1
        i = m.end()
    return i


def scan(text: str) -> list[Span]:
    """All comment, string and char-literal spans of `text`, in order, non-overlapping."""
    spans: list[Span] = []
    i, n = 0, len(text)
    while (m := _START_RE.search(text, i)) is not None:
        s, tok = m.start(), m.group()
        if tok == "--":
            e = text.find("\n", s)
            spans.append(Span("line_comment", s, n if e < 0 else e))
        elif tok == "/-":
            kind = {"-": "doc_comment", "!": "module_doc"}.get(text[s + 2:s + 3], "block_comment")
            spans.append(Span(kind, s, _block_comment_end(text, s)))
        elif tok == '"':
            body = _STRING_BODY_RE.match(text, s + 1)
            spans.append(Span("string", s, body.end() if body else n))
        elif tok.startswith("r"):
            close = text.find('"' + "#" * (len(tok) - 2), m.end())
            spans.append(Span("string", s, n if close < 0 else close + len(tok) - 1))
        elif tok == "«":
            # An escaped identifier is code; skip it so that `«a -- b»` is not a comment.
            e = text.find("»", s)
            nl = text.find("\n", s)
            i = e + 1 if e >= 0 and (nl < 0 or e < nl) else s + 1
            continue
        else:  # "'"
            lit = None if s and is_ident_char(text[s - 1]) else _CHAR_LIT_RE.match(text, s)
            if lit is None:
                i = s + 1
                continue
            spans.append(Span("char", s, lit.end()))
        i = spans[-1].end
    return spans


_NOT_LINE_BREAK_RE = re.compile(r"[^\n\r]")


def _blank(segment: str) -> str:
    # Keep line breaks so that line/column arithmetic on the mask stays valid.
    return _NOT_LINE_BREAK_RE.sub(" ", segment)


def mask_spans(text: str, spans: list[Span]) -> str:
    """`text` with each span blanked. Comments vanish whole (they are whitespace to Lean);
    string and char literals keep their quote characters, because they are terms: a proof
    `:= "x"` must not look empty, and a declaration ending in a string ends at its quote."""
    out: list[str] = []
    pos = 0
    for sp in spans:
        out.append(text[pos:sp.start])
        body = text[sp.start:sp.end]
        if sp.kind == "char":
            out.append("'" + _blank(body[1:-1]) + "'")
        elif sp.kind == "string":
            q = body.index('"')  # 0 for "…", 1 + number of `#` for raw strings
            tail = '"' + "#" * max(q - 1, 0)
            closed = len(body) >= q + 1 + len(tail) and body.endswith(tail)
            inner_end = len(body) - len(tail) if closed else len(body)
            closing = '"' + " " * (len(tail) - 1) if closed else ""
            out.append(" " * q + '"' + _blank(body[q + 1:inner_end]) + closing)
        else:
            out.append(_blank(body))
        pos = sp.end
    out.append(text[pos:])
    return "".join(out)


def mask_non_code(text: str) -> str:
    return mask_spans(text, scan(text))


def strip_comments(text: str, replacement: str = " ") -> str:
    """`text` with every comment (doc comments included) replaced by `replacement`;
    string and char literals are kept verbatim."""
    out: list[str] = []
    pos = 0
    for sp in scan(text):
        if sp.kind in ("string", "char"):
            continue
        out.append(text[pos:sp.start])
        out.append(replacement)
        pos = sp.end
    out.append(text[pos:])
    return "".join(out)


def matching_bracket(mask: str, i: int, stop: int | None = None) -> int | None:
    """Offset just past the bracket closing the one at ``mask[i]`` (any of Lean's bracket
    pairs, nesting counted), or None when it is not closed before ``stop``. ``mask`` should
    have comments and strings blanked (``mask_non_code``) when they may hold brackets."""
    depth = 0
    for j in range(i, len(mask) if stop is None else stop):
        c = mask[j]
        if c in OPENERS:
            depth += 1
        elif c in CLOSERS:
            depth -= 1
            if depth == 0:
                return j + 1
    return None
