"""A small reader for Lean source: enough to find declarations, names, statements and `sorry`s.

The fake keeps its own reader (it imports no project package); it needs only what its
answers are built from.
"""
from __future__ import annotations

import re

# Lean's `Char.isWhitespace`, which `String.trim` uses: only these four count.
ASCII_WS = " \t\r\n"


def mask_code(text: str) -> str:
    """Blank out comments and string literals (same length, newlines kept), so that a `sorry`
    or `theorem` inside them is not taken for code."""
    out = list(text)
    i, n = 0, len(text)

    def blank(a: int, b: int) -> None:
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        if text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif text.startswith("/-", i):
            depth, j = 1, i + 2  # Lean block comments nest
            while j < n and depth:
                if text.startswith("/-", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("-/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            blank(i, j)
            i = j
        else:
            i += 1
    return "".join(out)


_ID_CHARS = r"[\w'!?]"
_IDENT = r"(?:«[^»]*»|[^\W\d]" + _ID_CHARS + r"*)(?:\.(?:«[^»]*»|" + _ID_CHARS + r"+))*"
IDENT_RE = re.compile(_IDENT)
IMPORT_RE = re.compile(r"[ \t]+(" + _IDENT + ")")
SORRY_RE = re.compile(r"(?<![\w.'!?])sorry(?![\w'!?])")
DECL_KWS = ("theorem", "lemma", "def", "example", "abbrev", "instance", "axiom", "opaque",
            "structure", "inductive", "class")
PROOF_KWS = ("theorem", "lemma", "def", "example", "abbrev", "instance", "opaque")
# Declarations and `#` commands may be indented; other commands are only recognised at column
# 0, so that e.g. `open Real in` inside a tactic block does not cut the declaration in two.
_MODIFIERS = r"private|protected|noncomputable|partial|unsafe|nonrec|scoped|local"
_AFTER_WORD = r"(?![\w'!?.])"
# Attributes and modifier words before a declaration keyword, from a line start; they may run
# over several lines (`@[simp]` on its own line).
MODS_RE = re.compile(r"[ \t]*(?:@\[[^\]\n]*\]\s*)*(?:(?:" + _MODIFIERS + r")\s+)*")
DECL_RE = re.compile(r"(?:" + "|".join(DECL_KWS) + r"|#print|#eval|#check|#reduce|#exit)"
                     + _AFTER_WORD)
OTHER_RE = re.compile(r"(?:import|namespace|section|end|open|variable|universe|set_option"
                      r"|attribute|mutual|noncomputable|macro|syntax|notation|infix|infixl"
                      r"|infixr|prefix|postfix|elab)" + _AFTER_WORD)
# Lines that can start a command: after the indentation, an attribute, a `#` command or a word.
CANDIDATE_LINE_RE = re.compile(r"(?m)^[ \t]*[@#a-z]")


def command_starts(masked: str):
    """Each command keyword of `masked`, as (keyword, start, keyword start, keyword end).

    `start` is where the declaration's modifiers begin. A line start inside a run of attribute
    or modifier lines already read from the run's first line reaches the same keyword (or the
    same miss) and is not read again: one regex over the whole text would re-read the rest of
    the run from every line of it, quadratic in the run's length.
    """
    resume = 0          # matches do not overlap: the next one starts after the last keyword
    no_decl_before = 0  # line starts before this lie in a modifier run that led to no keyword
    for line in CANDIDATE_LINE_RE.finditer(masked):
        at = line.start()
        if at < resume:
            continue
        if at >= no_decl_before:
            mods = MODS_RE.match(masked, at)
            assert mods is not None  # every part of it is optional
            decl = DECL_RE.match(masked, mods.end())
            if decl:
                indent = len(masked[at:mods.end()]) - len(masked[at:mods.end()].lstrip(" \t"))
                yield decl.group(), at + indent, decl.start(), decl.end()
                resume = decl.end()
                continue
            no_decl_before = mods.end()
        # Other commands only at column 0, so that e.g. `open Real in` inside a tactic block
        # does not cut the declaration in two.
        other = OTHER_RE.match(masked, at)
        if other:
            yield other.group(), at, at, other.end()
            resume = other.end()


_OPEN = "([{⦃⟨"
_CLOSE = ")]}⦄⟩"


class Segment:
    """One top-level command of the input: `[start, end)` in code points."""

    def __init__(self, kw: str, start: int, kw_start: int, kw_end: int, end: int):
        self.kw, self.start, self.kw_start, self.kw_end, self.end = kw, start, kw_start, kw_end, end
        self.name: str | None = None            # as written
        self.full_name: str | None = None       # with the enclosing namespaces
        # (start, end) of the name, else of the keyword
        self.name_span: tuple[int, int] = (kw_start, kw_end)
        self.goal: str | None = None  # "h : T\n⊢ U", or None when no statement was found
        self.hyps: list[str] = []
        self.proof_start: int | None = None     # first character after `:=`
        self.by_span: tuple[int, int] | None = None  # the `by` that starts the proof, if any
        self.decl_end = end         # end of the last token


def _top_level(masked: str, start: int, end: int):
    """Yield (index, char) of the characters of masked[start:end] at bracket depth 0."""
    depth = 0
    for i in range(start, end):
        ch = masked[i]
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(depth - 1, 0)
        elif depth == 0:
            yield i, ch


def _squash(text: str) -> str:
    return " ".join(text.split())


def _binder_hyps(text: str, masked: str, start: int, end: int) -> list[tuple[str, str]]:
    """Top-level binder groups `(a b : T)`, `{x : T}`, `[inst : C]`, `[C α]` -> (names, type)."""
    hyps = []
    i = start
    while i < end:
        ch = masked[i]
        if ch in "({[⦃":
            depth, j = 0, i
            while j < end:
                if masked[j] in _OPEN:
                    depth += 1
                elif masked[j] in _CLOSE:
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            inner_m, inner = masked[i + 1:j], text[i + 1:j]
            if inner_m.startswith("{") and inner_m.endswith("}"):  # {{x : T}}
                inner_m, inner = inner_m[1:-1], inner[1:-1]
            colon = _first_colon(inner_m, 0, len(inner_m))
            if colon is not None:
                names = _squash(inner[:colon])
                if names:
                    hyps.append((names, _squash(inner[colon + 1:])))
            elif ch == "[":
                hyps.append(("inst✝", _squash(inner)))
            i = j + 1
        else:
            i += 1
    return hyps


def _first_colon(masked: str, start: int, end: int):
    """Index of the first top-level `:` that is not part of `:=` or `::`."""
    for i, ch in _top_level(masked, start, end):
        if ch == ":" and masked[i + 1:i + 2] not in ("=", ":") and masked[i - 1:i] != ":":
            return i
    return None


def _goal_text(hyps: list[tuple[str, str]], target: str) -> str:
    # Lean's goal display merges consecutive hypotheses of the same type: `p q r : Prop`.
    lines: list[list[str]] = []
    for names, typ in hyps:
        if lines and lines[-1][1] == typ:
            lines[-1][0] += " " + names
        else:
            lines.append([names, typ])
    return "".join(f"{n} : {t}\n" for n, t in lines) + "⊢ " + target


def analyze(text: str):
    """Split `text` into command segments and read each declaration's header."""
    masked = mask_code(text)
    found = list(command_starts(masked))
    segments = []
    for k, (kw, start, kw_start, kw_end) in enumerate(found):
        end = found[k + 1][1] if k + 1 < len(found) else len(text)
        segments.append(Segment(kw, start, kw_start, kw_end, end))
    namespaces: list[str | None] = []
    for seg in segments:
        tail = masked[seg.kw_end:seg.end]
        word = IDENT_RE.match(tail.lstrip())
        if seg.kw == "namespace" and word:
            namespaces.extend(word.group().split("."))
        elif seg.kw == "section":
            namespaces.append(None)
        elif seg.kw == "end":
            count = len(word.group().split(".")) if word else 1
            del namespaces[max(len(namespaces) - count, 0):]
        elif seg.kw in DECL_KWS:
            _read_declaration(text, masked, seg, [n for n in namespaces if n])
    return masked, segments


def _read_declaration(text: str, masked: str, seg: Segment, namespaces: list[str]) -> None:
    pos = seg.kw_end
    while pos < seg.end and masked[pos] in ASCII_WS:
        pos += 1
    if seg.kw == "instance" and masked.startswith("(priority", pos):
        close = masked.find(")", pos)
        pos = close + 1 if close > 0 else pos
        while pos < seg.end and masked[pos] in ASCII_WS:
            pos += 1
    name_end = pos
    seg.name_span = (seg.kw_start, seg.kw_end)
    if seg.kw != "example":
        m = IDENT_RE.match(masked, pos, seg.end)
        if m and m.group() not in ("where", "extends"):
            seg.name = m.group()
            seg.name_span = (m.start(), m.end())
            name_end = m.end()
            plain = seg.name[len("_root_."):] if seg.name.startswith("_root_.") else seg.name
            prefix = [] if seg.name.startswith("_root_.") else namespaces
            seg.full_name = ".".join(prefix + [plain])
    # The signature runs to the first top-level `:=` (or `where` / `|` for other forms).
    sig_end = seg.end
    for i, ch in _top_level(masked, name_end, seg.end):
        if ch == ":" and masked[i + 1:i + 2] == "=":
            sig_end = i
            seg.proof_start = i + 2
            break
        if ch == "|" or (masked.startswith("where", i) and masked[i - 1:i] in ASCII_WS):
            sig_end = i
            break
    colon = _first_colon(masked, name_end, sig_end)
    hyps = _binder_hyps(text, masked, name_end, colon if colon is not None else sig_end)
    seg.hyps = [f"{n} : {t}" for n, t in hyps]
    if colon is not None:
        target = _squash(text[colon + 1:sig_end])
        if target:
            seg.goal = _goal_text(hyps, target)
    # Only this segment is stripped: stripping the text up to it would copy the whole
    # prefix once per declaration.
    stripped = masked[seg.kw_start:seg.end].rstrip(ASCII_WS)
    seg.decl_end = max(seg.kw_start + len(stripped), seg.kw_end)
    if seg.proof_start is not None:
        p = seg.proof_start
        while p < seg.end and masked[p] in ASCII_WS:
            p += 1
        seg.proof_start = p
        if re.match(r"by(?![\w'!?])", masked[p:p + 3]):
            seg.by_span = (p, p + 2)


class Positions:
    """Code-point index -> {"line": 1-based, "column": 0-based in code points}, like FileMap."""

    def __init__(self, text: str):
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def __call__(self, index: int) -> dict:
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= index:
                lo = mid
            else:
                hi = mid - 1
        return {"line": lo + 1, "column": index - self.starts[lo]}

