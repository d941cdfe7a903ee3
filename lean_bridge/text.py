"""Lean 4 source text without Lean: comments, identifiers, declarations, positions.

Contract: pure functions over ``str``, standard library only, no Lean needed. Every offset
is a Python ``str`` index (a Unicode code point), the unit the Lean REPL uses for columns;
lines are 1-based and split on ``\\n`` only. Nothing here elaborates or type-checks: it is a
careful lexer plus a line-oriented splitter, good for benchmark files and model output,
not a Lean parser. Non-goals: notation, macros, namespaces (a declaration's ``name`` is the
name as written, not the fully qualified one), ``mutual`` blocks as a unit.

Rules (each is also stated where it is implemented):

* Code vs non-code (``mask_non_code``): see ``lean_bridge._scan``. Comments are blanked
  whole; string and char literals keep their quotes, blank inside.
* Identifiers: a dotted name (``Nat.succ``, ``h.1``, ``Lean.«sorryAx»``) is ONE token.
  ``find_identifier`` matches whole tokens verbatim, so ``Foo.sorry``, ``sorry_lemma``,
  ``hsorry`` and ``«sorry»`` are not the ``sorry`` keyword (in Lean ``«sorry»`` is an
  identifier, not the keyword). ``find_name`` matches names: a token whose trailing
  dotted components equal the name, with ``«»`` unescaped (``Lean.«sorryAx»`` is
  ``sorryAx``).
* Top-level items start at a line start: column 0 with a command keyword, a declaration
  keyword or modifier, ``@[``, ``#cmd`` or a ``/--`` doc comment; or at any indentation
  with [attributes] [modifiers] then ``theorem``/``lemma``/``def``/… (such a keyword ends
  the previous command in Lean too, so an indented one cannot be inside a proof).
  ``open … in`` / ``set_option … in`` before a declaration belong to it.
* An item ends after its last code character before the next item: trailing whitespace
  AND trailing comments are left out (a ``-- answer`` line under an abbrev, a comment
  introducing the next theorem), so ``replace_proof`` never deletes them.
* Header: the leading ``import`` / ``open`` / ``set_option`` commands (not ``… in``), the
  comments and blank lines among them, and the whitespace after the last one. Comments
  after the last header command are NOT header: they usually describe what follows
  (PutnamBench puts the answer comment there). ``namespace``, ``variable``, ``def``,
  ``noncomputable section`` … end the header.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Iterator

from lean_bridge._scan import (
    CLOSERS,
    COMPONENT_RE,
    NAME_RE,
    OPENERS,
    Span,
    mask_spans,
    matching_bracket,
    scan,
    strip_comments,
)
from lean_bridge._scan import mask_non_code as mask_non_code
from lean_bridge.positions import LineIndex as LineIndex
from lean_bridge.positions import line_col_to_offset as line_col_to_offset
from lean_bridge.positions import offset_to_line_col as offset_to_line_col

DECLARATION_KEYWORDS = frozenset({
    "theorem", "lemma", "def", "abbrev", "example", "instance", "structure", "class",
    "inductive", "axiom", "opaque", "irreducible_def",
})
MODIFIERS = frozenset({
    "private", "protected", "noncomputable", "partial", "unsafe", "nonrec", "scoped", "local",
})
# Keywords that start a command at column 0. Deliberately absent: `deriving`, `where`,
# `termination_by`, `decreasing_by` (they continue the declaration above them).
COMMAND_KEYWORDS = frozenset({
    "import", "open", "set_option", "namespace", "section", "end", "variable", "universe",
    "attribute", "export", "mutual", "macro", "macro_rules", "syntax", "notation",
    "notation3", "infix", "infixl", "infixr", "prefix", "postfix", "elab", "elab_rules",
    "declare_syntax_cat", "initialize", "builtin_initialize", "omit", "include", "alias",
    "add_decl_doc", "library_note", "run_cmd", "assert_not_exists", "suppress_compilation",
    "compile_inductive", "register_option",
})
HEADER_KEYWORDS = frozenset({"import", "open", "set_option"})
SORRY_KINDS = ("theorem", "lemma", "example")

_WORD_RE = re.compile(r"#?[A-Za-z_][\w'!?]*")
# An indented declaration: [ \t]+, attributes, modifiers, then the keyword; the attributes and
# modifiers may run on over several lines (read by `_IndentedDeclarations`); an attribute's
# or modifier's match takes the whitespace after it too.
_INDENT_RE = re.compile(r"[ \t]+")
_ATTRIBUTE_RE = re.compile(r"@\[[^\]\n]*\]\s*")
_MODIFIER_RE = re.compile(r"(?:" + "|".join(sorted(MODIFIERS)) + r")(?=\s)\s*")
_DECL_KEYWORD_RE = re.compile(
    r"(?:" + "|".join(sorted(DECLARATION_KEYWORDS)) + r")(?![\w'!?])")
_SET_OPTION_IN_RE = re.compile(r"set_option\s+\S+\s+(?:\"[^\"]*\"|\S+)\s+in(?![\w'!?])")
_IN_RE = re.compile(r"(?<![\w'!?.])in(?![\w'!?])")
_PRIORITY_RE = re.compile(r"\(\s*priority\s*:=")
_BODY_TOKEN_RE = re.compile(
    r":=|[" + re.escape(OPENERS + CLOSERS) + r"]|\|"
    r"|(?<![\w'!?.])(?:where|let|have|letI|haveI)(?![\w'!?])")
# A proof that is only a gap, ignoring layout (comments are blank in the mask).
_SORRY_PROOF_RE = re.compile(r"\s*(?:by\s+)?sorry\s*")
_WS = " \t\r\n"


@dataclass(frozen=True)
class Declaration:
    """One top-level declaration; all fields are offsets into the parsed text.

    ``body_start`` depends on ``body_kind``: ``":="`` just past the ``:=`` that ends the
    signature; ``"where"`` / ``"|"`` at that token (structure-instance or pattern-matching
    values; ``proof`` then starts with it); ``"none"`` (axiom, opaque, structure without
    fields) equal to ``end``, so the proof is empty.
    """

    kind: str  # "theorem", "def", …, "class inductive"
    name: str | None  # as written; None for `example` and anonymous instances
    start: int  # first prefix command, doc comment, attribute or modifier
    keyword_start: int
    name_start: int | None
    body_start: int
    end: int  # just past the last code character (no trailing whitespace/comments)
    body_kind: str = ":="
    prefix_commands: tuple[tuple[int, int], ...] = ()  # (start, end) of `open … in` etc.
    modifiers: tuple[str, ...] = ()

    def statement(self, text: str) -> str:
        return text[self.start:self.body_start]

    def proof(self, text: str) -> str:
        return text[self.body_start:self.end]


@dataclass(frozen=True)
class Item:
    """A chunk of a file after its header. ``kind`` is "declaration", "command" (namespace,
    section, #eval, open, …) or "other" (whitespace, comments, unrecognised text)."""

    kind: str
    start: int
    end: int
    text: str
    keyword: str | None = None
    declaration: Declaration | None = None


@dataclass(frozen=True)
class LeanFile:
    """``header + "".join(i.text for i in items) == text``, byte for byte."""

    text: str
    header: str
    declarations: tuple[Declaration, ...]
    items: tuple[Item, ...]


# -- identifiers -----------------------------------------------------------------------------

def _name_tokens(mask: str) -> Iterator[tuple[re.Match[str], bool]]:
    # Tokens are read left to right, so a name never starts inside a longer one. A token
    # right after `.` is a field access (`x.1.foo`, `(f x).foo`), never a standalone name.
    for m in NAME_RE.finditer(mask):
        yield m, m.start() > 0 and mask[m.start() - 1] == "."


def find_identifier(text: str, word: str) -> list[int]:
    """Offsets where ``word`` is a whole identifier token in code (verbatim, dots included)."""
    return [m.start() for m, dotted in _name_tokens(masked(text))
            if not dotted and m.group() == word]


def _unescape(component: str) -> str:
    return component[1:-1] if component.startswith("«") else component


def find_name(text: str, name: str) -> list[int]:
    """Offsets of tokens whose last components spell ``name`` (``sorryAx`` matches
    ``sorryAx``, ``Lean.sorryAx``, ``@Lean.«sorryAx»``); each offset is where the matching
    components begin."""
    wanted = [_unescape(c.group()) for c in COMPONENT_RE.finditer(name)]
    hits = []
    for m, _ in _name_tokens(masked(text)):
        parts = list(COMPONENT_RE.finditer(m.group()))
        if len(parts) >= len(wanted) and \
                [_unescape(p.group()) for p in parts[-len(wanted):]] == wanted:
            hits.append(m.start() + parts[-len(wanted)].start())
    return hits


# -- splitting a file ------------------------------------------------------------------------

def _skip_ws(mask: str, i: int, stop: int) -> int:
    while i < stop and mask[i] in _WS:
        i += 1
    return i


def _matching_bracket(mask: str, i: int, stop: int) -> int:
    end = matching_bracket(mask, i, stop)
    return stop if end is None else end


class _IndentedDeclarations:
    """Does a declaration start at an offset: attributes (``@[…]``), then modifiers, then a
    declaration keyword, with any whitespace (line breaks too) between them?

    Each position's answer is remembered: a run of attribute or modifier lines is read once,
    not again from each of its lines (a regex tried at every line start re-read the rest of
    the run each time, quadratic in its length).
    """

    def __init__(self, mask: str) -> None:
        self.mask = mask
        self.memo: dict[tuple[int, bool], bool] = {}

    def starts_at(self, p: int) -> bool:
        path, attributes_allowed = [], True
        while (p, attributes_allowed) not in self.memo:
            path.append((p, attributes_allowed))
            if attributes_allowed and (m := _ATTRIBUTE_RE.match(self.mask, p)):
                p = m.end()
            elif m := _MODIFIER_RE.match(self.mask, p):
                p, attributes_allowed = m.end(), False
            else:
                self.memo[(p, attributes_allowed)] = bool(_DECL_KEYWORD_RE.match(self.mask, p))
                break
        answer = self.memo[(p, attributes_allowed)]
        for key in path:
            self.memo[key] = answer
        return answer


def _boundaries(text: str, mask: str, spans: list[Span]) -> list[int]:
    """Sorted offsets where a top-level item may start (the module docstring's rule)."""
    docs = {sp.start: sp for sp in spans if sp.kind == "doc_comment"}
    doc_ends = {sp.end: sp.start for sp in docs.values()}
    indented = _IndentedDeclarations(mask)
    found = set()
    for ls in [0] + [m.end() for m in re.finditer("\n", mask)]:
        start = None
        word = _WORD_RE.match(mask, ls)
        if ls in docs or mask.startswith("@[", ls):
            start = ls
        elif word and (word.group() in COMMAND_KEYWORDS or word.group() in MODIFIERS
                       or word.group() in DECLARATION_KEYWORDS or word.group()[0] == "#"):
            start = ls
        elif (indent := _INDENT_RE.match(mask, ls)) and indented.starts_at(indent.end()):
            start = indent.end()
        if start is None:
            continue
        # A doc comment directly above (only whitespace between) belongs to the item,
        # provided nothing but indentation precedes it on its own line.
        before = start
        while before and text[before - 1] in _WS:
            before -= 1
        doc = doc_ends.get(before)
        if doc is not None and not text[text.rfind("\n", 0, doc) + 1:doc].strip():
            start = doc
        found.add(start)
    return sorted(found)


def _next(bounds: list[int], i: int, default: int) -> int:
    """The first boundary after offset ``i``."""
    k = bisect.bisect_right(bounds, i)
    return bounds[k] if k < len(bounds) else default


def _code_end(mask: str, lo: int, hi: int) -> int:
    """Just past the last code character in ``mask[lo:hi]``; ``lo`` when there is none."""
    return max(lo, len(mask[lo:hi].rstrip(_WS)) + lo)


def _body(mask: str, kind: str, i: int, end: int) -> tuple[int, str]:
    """Where the value starts: the first depth-0 ``:=`` (one per depth-0 ``let``/``have``
    is skipped: those bind inside the statement), or a depth-0 ``where``, or a
    pattern-matching ``|``. A ``|`` counts only for inductive types, or at the start of a
    line that also holds ``=>`` (a match arm), because ``|x|`` is also absolute value."""
    depth = pending = 0
    line_start, seen = mask.rfind("\n", 0, i) + 1, i  # kept up to date token by token
    for m in _BODY_TOKEN_RE.finditer(mask, i, end):
        tok = m.group()
        if tok in OPENERS:
            depth += 1
        elif tok in CLOSERS:
            depth = max(depth - 1, 0)  # tolerate unbalanced model output
        elif depth:
            continue
        elif tok in ("let", "have", "letI", "haveI"):
            pending += 1
        elif tok == ":=":
            if not pending:
                return m.end(), ":="
            pending -= 1
        elif tok == "where":
            return m.start(), "where"
        elif tok == "|":
            # Only the text since the previous `|` is searched for a line break, and the rest
            # of the line only for a `|` first on its line: a long line of `|x|` stays linear.
            line_start = max(line_start, mask.rfind("\n", seen, m.start()) + 1)
            seen = m.start()
            if kind.endswith("inductive"):
                return m.start(), "|"
            j = m.start()
            while j > line_start and mask[j - 1].isspace():
                j -= 1
            if j == line_start:
                line_end = mask.find("\n", m.start(), end)
                if "=>" in mask[m.start():end if line_end < 0 else line_end]:
                    return m.start(), "|"
    return end, "none"


@dataclass(frozen=True)
class _Head:
    """What the start of an item says about it, before its end is known."""

    kind: str  # Item kind
    keyword: str | None
    after_keyword: int  # later boundaries up to here belong to this item (`@[simp]\ntheorem`)
    decl_kind: str | None = None
    name: str | None = None
    keyword_start: int = 0
    name_start: int | None = None
    signature_start: int = 0  # where the search for the body begins: past the name
    prefixes: tuple[tuple[int, int], ...] = ()
    modifiers: tuple[str, ...] = ()


def _parse_head(text: str, mask: str, b: int, bounds: list[int]) -> _Head:
    """Read prefix commands, attributes and modifiers from boundary ``b``, then the keyword
    and, for declarations, the name."""
    n = len(mask)
    i = _skip_ws(mask, b, n)
    prefixes: list[tuple[int, int]] = []
    modifiers: list[str] = []
    while i < n:
        word = _WORD_RE.match(mask, i)
        if mask.startswith("@[", i):
            i = _matching_bracket(mask, i + 1, n)
        elif word and word.group() in MODIFIERS:
            modifiers.append(word.group())
            i = word.end()
        elif word and word.group() == "set_option" and (m := _SET_OPTION_IN_RE.match(mask, i)):
            prefixes.append((i, m.end()))
            i = m.end()
        elif word and word.group() == "open" and (m := _IN_RE.search(mask, i, _next(bounds, i, n))):
            # `open` takes any number of names, so its `in` is the first one before the next
            # top-level line; none there means a plain `open` command.
            prefixes.append((i, m.end()))
            i = m.end()
        else:
            break
        i = _skip_ws(mask, i, n)
    word = _WORD_RE.match(mask, i)
    keyword = word.group() if word else None
    if keyword is None or keyword not in DECLARATION_KEYWORDS:
        known = keyword is not None and (keyword in COMMAND_KEYWORDS or keyword.startswith("#"))
        kind = "command" if known or prefixes or modifiers else "other"
        return _Head(kind, keyword, word.end() if word else i)
    assert word is not None  # keyword is its text
    decl_kind, after = keyword, word.end()
    if keyword == "class" and (nxt := _WORD_RE.match(mask, _skip_ws(mask, after, n))) \
            and nxt.group() == "inductive":
        decl_kind, after = "class inductive", nxt.end()
    j = _skip_ws(mask, after, n)
    if decl_kind == "instance" and _PRIORITY_RE.match(mask, j):
        j = _skip_ws(mask, _matching_bracket(mask, j, n), n)
    name = name_start = None
    if decl_kind != "example" and (nm := NAME_RE.match(mask, j)) \
            and nm.group() not in ("where", "extends"):
        name, name_start, after = nm.group(), nm.start(), nm.end()
    return _Head("declaration", keyword, word.end(), decl_kind, name, word.start(), name_start,
                 after, tuple(prefixes), tuple(modifiers))


def _item(text: str, mask: str, head: _Head, start: int, end: int) -> Item:
    decl = None
    if head.decl_kind is not None:
        body_start, body_kind = _body(mask, head.decl_kind, head.signature_start, end)
        decl = Declaration(head.decl_kind, head.name, start, head.keyword_start, head.name_start,
                           body_start, end, body_kind, head.prefixes, head.modifiers)
    return Item(head.kind, start, end, text[start:end], head.keyword, decl)


def parse_file(text: str) -> LeanFile:
    """Split ``text`` into header, declarations and the items between them."""
    spans = scan(text)
    mask = mask_spans(text, spans)
    bounds = _boundaries(text, mask, spans)
    parsed: list[Item] = []
    k = 0
    while k < len(bounds):
        b = bounds[k]
        head = _parse_head(text, mask, b, bounds)
        k = bisect.bisect_right(bounds, max(head.after_keyword - 1, b), k + 1)
        end = _code_end(mask, b, bounds[k] if k < len(bounds) else len(text))
        if end > b:  # a lone doc comment with no code after it is not an item
            parsed.append(_item(text, mask, head, b, end))
    # Header: leading header commands (and the comments among them) plus the whitespace
    # after the last one; it must not swallow code that precedes the first item.
    header_end = 0
    first_code = _code_end(mask, 0, parsed[0].start if parsed else len(text))
    if first_code == 0:
        for item in parsed:
            if item.kind != "command" or item.keyword not in HEADER_KEYWORDS:
                break
            header_end = item.end
        header_end = len(text) - len(text[header_end:].lstrip(_WS)) if header_end else 0
    body = [it for it in parsed if it.start >= header_end]
    items: list[Item] = []
    pos = header_end
    for it in body:
        if it.start > pos:
            items.append(Item("other", pos, it.start, text[pos:it.start]))
        items.append(it)
        pos = it.end
    if pos < len(text):
        items.append(Item("other", pos, len(text), text[pos:]))
    decls = tuple(it.declaration for it in items if it.declaration is not None)
    return LeanFile(text, text[:header_end], decls, tuple(items))


# Memoized lexing and splitting: a check lexes and splits one text in several places (the
# static layer, each word it looks for, the reference comparison, `prove`'s target choice),
# and one reference serves many candidates. Both results are immutable.
parsed = lru_cache(maxsize=32)(parse_file)
masked = lru_cache(maxsize=32)(mask_non_code)


def split_header(text: str) -> tuple[str, str]:
    header = parsed(text).header
    return header, text[len(header):]


# -- declarations ----------------------------------------------------------------------------

def find_sorry_proofs(text: str, kinds: tuple[str, ...] = SORRY_KINDS) -> list[Declaration]:
    """Declarations of ``kinds`` whose value, ignoring whitespace and comments, is exactly
    ``sorry`` or ``by sorry``. Pass ``kinds=(…, "def", "abbrev")`` for data-valued tasks
    (ProofNet's ``def`` items, PutnamBench's ``…_solution`` abbrevs)."""
    mask = masked(text)
    return [d for d in parsed(text).declarations
            if d.kind in kinds and d.body_kind == ":="
            and _SORRY_PROOF_RE.fullmatch(mask, d.body_start, d.end)]


@dataclass(frozen=True)
class RepeatedName:
    """A name declared more than once (Lean refuses every declaration after the first), with
    the line of each declaration."""

    name: str
    lines: tuple[int, ...]

    def describe(self) -> str:
        shown = ", ".join(map(str, self.lines[:10])) + (", …" if len(self.lines) > 10 else "")
        return (f"`{self.name}` is declared {len(self.lines)} times (lines {shown}): Lean checks "
                f"only the first (line {self.lines[0]}) and refuses the others as already declared")


def repeated_names(declared: Iterable[tuple[str, int]]) -> list[RepeatedName]:
    """The names that occur more than once among ``(name, line)`` pairs, in order of first
    occurrence; one pass."""
    lines: dict[str, list[int]] = {}
    for name, line in declared:
        lines.setdefault(name, []).append(line)
    return [RepeatedName(name, tuple(ls)) for name, ls in lines.items() if len(ls) > 1]


def check_fits(text: str, decl: Declaration) -> None:
    """ValueError unless ``decl`` can be a declaration of ``text`` (its keyword is where it
    says, its proof inside the text)."""
    keyword = decl.kind.split()[0]
    if not (0 <= decl.body_start <= decl.end <= len(text)) \
            or not text.startswith(keyword, decl.keyword_start):
        raise ValueError("declaration does not belong to this text")


def replace_proof(text: str, decl: Declaration, new_proof: str) -> str:
    """``text`` with ``decl``'s proof (``text[body_start:end]``) replaced by ``new_proof``;
    every other character is unchanged. ValueError if ``decl`` does not fit ``text``."""
    check_fits(text, decl)
    return text[:decl.body_start] + new_proof + text[decl.end:]


def normalize_statement(s: str) -> str:
    """``s`` without comments and with each whitespace run outside literals turned into
    one space, stripped: equal results mean "the same statement up to layout"."""
    stripped = strip_comments(s)
    out, pos = [], 0
    for sp in scan(stripped):  # only literals are left: keep them verbatim
        out.append(re.sub(r"\s+", " ", stripped[pos:sp.start]))
        out.append(stripped[sp.start:sp.end])
        pos = sp.end
    out.append(re.sub(r"\s+", " ", stripped[pos:]))
    return "".join(out).strip()


__all__ = [
    "Declaration", "Item", "LeanFile", "LineIndex", "RepeatedName", "check_fits", "find_identifier",
    "find_name", "find_sorry_proofs", "line_col_to_offset", "mask_non_code", "masked",
    "normalize_statement", "offset_to_line_col", "parse_file", "parsed", "repeated_names",
    "replace_proof", "scan", "split_header", "strip_comments",
]
