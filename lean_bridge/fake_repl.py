"""A fake Lean REPL: a stand-in for ``leanprover-community/repl`` so the bridge can be tested
on machines without Lean.

Run it as ``python -m lean_bridge.fake_repl [options]`` or ``python path/to/fake_repl.py
[options]``. It is a real process on real pipes and speaks the real wire protocol, so the code
under test (spawning, framing, timeouts, crash handling, stderr draining, restarts) is the code
that will talk to Lean.

What it imitates (from ``REPL/Main.lean`` and the recorded upstream transcripts):

* Framing. stdin is read line by line; a line that is blank after trimming ASCII whitespace ends a
  request block; non-blank lines are right-trimmed and glued (v4.22+; ``--old-framing`` keeps the
  raw newlines, as before v4.22). At EOF a pending block is processed, then the process exits 0.
  A block starting with ``#`` or ``--`` is skipped with no answer at all. A block that is not JSON,
  or not one of the request shapes, kills the process: ``uncaught exception: {"message": ...}`` on
  stderr, exit status 1. A second blank line after a block is itself a block (``"\\n"``) and kills
  it too (code reading of ``getLines``; ``--lenient-blank-lines`` turns that off).
* Output. Each answer is printed the way Lean's ``Json.pretty`` prints it (the Wadler-style
  ``Format`` layout at width 80, keys in reverse-lexicographic order, raw UTF-8), then a blank line,
  then a flush. Empty lists are omitted, as the REPL does.
* Request shapes, tried in the REPL's order; unknown extra keys are ignored.
* Bookkeeping. Environment ids and proof-state ids count from 0 per process. Every command, file
  and ``unpickleEnvFrom`` appends an env; ``pickleTo`` an env answers the same id. Sorries, then
  root goals, then ``allTactics`` tactics, then the proof-step result take proof-state ids, in that
  order. The exact error strings (``Unknown environment.``, ``Unknown proof state.``, ``Unknown
  proof State.``) are the REPL's.
* A few elaborator behaviours that a bridge's verdict logic depends on: ``sorry`` tokens give
  sorries and one ``declaration uses 'sorry'`` warning per declaration (backquoted from v4.28),
  redeclaring a name gives an error message, ``import`` with an ``env`` is an error, ``#print
  axioms`` and ``#eval Lean.versionString`` answer info messages, ``proofStatus`` is absent before
  v4.19 and ``usedConstants`` before v4.14, v4.19 prints ``Goals accomplished!``.
* Failure modes, on request (``--script`` rules or shortcut flags): hangs, a stack-overflow crash
  after half a response, garbage on stdout, memory ballooning until the address-space limit, stderr
  floods, slow imports.
* ``--replay FILE.expected.out`` answers each request with the next recorded block, byte for byte.

What it records, for tests that count work (neither changes what is answered):

* ``--log FILE``: each parsed request, one JSON line, appended as it arrives.
* ``--stats FILE``: after every request, this process's counters as one JSON line
  ``{"pid", "requests", "by_kind": {"command": n, "proofStep": n, ...}, "header_imports"}``,
  appended (one short ``write`` in append mode, so several processes can share one file; the
  last line of each pid is its current state, and a process's lines only ever grow). A header
  import is a command on a fresh environment (no ``env``) with ``import`` lines, the request
  that costs seconds and gigabytes with Mathlib (``--import-delay S``, alias
  ``--import-latency S``, makes it take S seconds). The line is written before the answer, so
  a client that has the answer can read counters that include it; a request that gets no whole
  answer (``exit``, ``hang``, ``crash``, ``garbage``, ``balloon``) is recorded before it
  misbehaves.

What it does not imitate: there is no Lean in here. Nothing is type-checked; any command without a
matching rule is accepted, any tactic other than ``sorry`` closes the goal. Goals are rebuilt from
the declaration's text (binders become hypotheses, the statement after the first top-level ``:``
becomes the target, whitespace collapsed but not re-pretty-printed). ``allTactics`` lists each
non-blank line of a ``by`` block with the declaration's goal. No infotrees, no traces, no
``variable`` hypotheses, no options, no real ``.olean`` pickles (a small JSON file instead), no
multi-goal tactic semantics. Parse-error texts are approximations of Lean's.

Rules (``--script FILE.json`` or ``$FAKE_REPL_SCRIPT``: ``{"rules": [rule, ...]}``; the shortcut
flags append rules after the script's, in command-line order). The first rule whose ``match``
regex (``re.search``, DOTALL; empty matches everything) matches the command text (``cmd`` or the
file's content) or the tactic text wins. Fields, all optional:

* ``on``: ``"cmd"`` | ``"tactic"`` | ``"any"`` (default); ``times``: fire at most N times in this
  process; ``once_file``: fire only while this file does not exist, and create it (so a restarted
  process behaves differently, e.g. crash once then work).
* Answer content: ``messages`` ``[{"severity", "data", "line"?, "column"?, "endLine"?,
  "endColumn"?}]`` (added to the default ones; positions default to the match span; 0:0 in
  tactic mode); ``sorries`` ``[{"goal"}]`` (replace the default sorries); ``goals`` (tactic mode:
  the goals left); ``proofStatus``; ``tactics`` ``[{"tactic", "goals"?, "line"?, "column"?}]``
  (replace the ``allTactics`` list); ``axioms`` (for ``#print axioms``; ``[]`` = none);
  ``message`` (answer ``{"message": ...}`` instead).
* Behaviour: ``stderr`` (text written to stderr first), ``sleep`` (seconds), ``exit`` (exit
  status, no answer), ``hang``, ``crash`` (half the answer, no blank line, stack-overflow text on
  stderr, status 134), ``garbage`` (a non-JSON block *instead of* this answer; no ids used up),
  ``balloon`` (64 MiB chunks until ``MemoryError``, or ``--balloon-max-mib``, then
  ``INTERNAL PANIC: out of memory`` on stderr and status 1).

Stdlib only and no project imports, so it starts fast and can be run by path. (Run with ``-m``,
Python still imports the ``lean_bridge`` package ``__init__`` first; running it by path avoids
that cost.)
"""
from __future__ import annotations

import argparse
import bisect
import json
import os
import re
import sys
import time

DEFAULT_VERSION = "v4.9.0-rc1"
DEFAULT_AXIOMS = ["propext", "Classical.choice", "Quot.sound"]
GARBAGE_LINE = "PANIC at Lean.Expr garbage ✗"
CRASH_TEXT = "Stack overflow detected. Aborting.\n"
OOM_TEXT = "INTERNAL PANIC: out of memory\n"
BALLOON_CHUNK = 64 * 1024 * 1024
PAGE = 4096
# Lean's `Char.isWhitespace`, which `String.trim` uses: only these four count.
ASCII_WS = " \t\r\n"


# ---------------------------------------------------------------------------------------------
# Lean's `Json.pretty`: Json.render builds a `Format`; Format.pretty lays it out at width 80.
# Rebuilt here so responses have the real line breaks: a client that splits on blank lines or
# reads line by line sees the same bytes it would see from Lean.
# ---------------------------------------------------------------------------------------------

_LINE = object()  # Format.line: a space when its group is flattened, else newline + indent


def _lean_escape(s: str) -> str:
    # Lean escapes only ", \, \n, \r and the other control characters (as \u00XX, lower hex);
    # everything else, non-ASCII included, is written raw.
    out = []
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append("\ufffd")  # a Lean String cannot hold a lone surrogate
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _to_format(value):
    """Json.render: objects and arrays are `bracket` groups, each key/value pair its own group."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, str):
        return _lean_escape(value)
    if isinstance(value, (list, tuple)):
        items = [_to_format(v) for v in value]
        open_, close = "[", "]"
    elif isinstance(value, dict):
        # Lean stores object fields in an RBMap and renders them with a fold that prepends, so
        # they come out in reverse-lexicographic key order.
        items = [("group", [_lean_escape(k), ":", _LINE, _to_format(value[k])])
                 for k in sorted(value, reverse=True)]
        open_, close = "{", "}"
    else:
        raise TypeError(f"not JSON: {value!r}")
    body: list = [open_]
    for i, item in enumerate(items):
        if i:
            body += [",", _LINE]
        body.append(item)
    body.append(close)
    return ("group", ("nest", 1, body))


def _space(fmt, flatten: bool, width: int):
    """spaceUptoLine: (found_line, space) of `fmt` up to its first line break."""
    if isinstance(fmt, str):
        return False, len(fmt)
    if fmt is _LINE:
        return (False, 1) if flatten else (True, 0)
    if isinstance(fmt, list):
        return _space_seq(((f, flatten) for f in fmt), width)
    if fmt[0] == "nest":
        return _space(fmt[2], flatten, width)
    return _space(fmt[1], True, width)  # a group inside is measured flattened


def _space_seq(pairs, width: int):
    """`merge` over a sequence: stop at the first line break or once the width is exceeded."""
    found, space = False, 0
    for fmt, flatten in pairs:
        if found or space > width:
            break
        found, extra = _space(fmt, flatten, width - space)
        space += extra
    return found, space


def _pending(groups):
    # Items still to print, top of the stack first (each group's items are stored reversed).
    for flatten, items in reversed(groups):
        for fmt, _indent in reversed(items):
            yield fmt, flatten


def lean_pretty(value, width: int = 80) -> str:
    """Lay out `value` exactly like Lean's `Json.pretty` (Format.be / pushGroup)."""
    out: list[str] = []
    col = 0
    groups = [[False, [(_to_format(value), 0)]]]  # [flatten, items]; items[-1] is next
    while groups:
        group = groups[-1]
        if not group[1]:
            groups.pop()
            continue
        fmt, indent = group[1].pop()
        if isinstance(fmt, str):
            out.append(fmt)
            col += len(fmt)  # Lean counts columns in characters (code points)
        elif fmt is _LINE:
            if group[0]:
                out.append(" ")
                col += 1
            else:
                out.append("\n" + " " * indent)
                col = indent
        elif isinstance(fmt, list):
            group[1].extend((f, indent) for f in reversed(fmt))
        elif fmt[0] == "nest":
            group[1].append((fmt[2], indent + fmt[1]))
        elif group[0]:
            group[1].append((fmt[1], indent))  # flatten (group f) = flatten f
        else:
            # pushGroup: flatten the new group if it, plus what follows up to the next line
            # break of the enclosing groups, fits in the rest of the line.
            avail = max(width - col, 0)
            new = [True, [(fmt[1], indent)]]
            found, space = _space_seq(_pending([new]), avail)
            if not (found or space > avail):
                _found, more = _space_seq(_pending(groups), avail - space)
                space += more
            new[0] = space <= avail
            groups.append(new)
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Versions
# ---------------------------------------------------------------------------------------------

def parse_version(text: str) -> tuple[int, int, int]:
    """`v4.9.0-rc1` -> (4, 9, 0). Release candidates count as their release: the wording and
    field changes we key on landed in the first rc of each release."""
    nums = [int(n) for n in re.findall(r"\d+", text.split("-", 1)[0])][:3]
    while len(nums) < 3:
        nums.append(0)
    return tuple(nums)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# A small reader for Lean source: enough to find declarations, names, statements and `sorry`s.
# ---------------------------------------------------------------------------------------------

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
        self.name = None            # as written
        self.full_name = None       # with the enclosing namespaces
        self.name_span = None       # (start, end) of the name, else of the keyword
        self.goal = None            # "h : T\n⊢ U", or None when no statement was found
        self.hyps: list[str] = []
        self.proof_start = None     # first character after `:=`
        self.by_span = None         # the `by` that starts the proof, if any
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


# ---------------------------------------------------------------------------------------------
# Rules: scripted behaviour
# ---------------------------------------------------------------------------------------------

class Rule:
    def __init__(self, spec: dict):
        if not isinstance(spec, dict):
            raise ValueError(f"a rule must be an object, got {spec!r}")
        self.spec = spec
        self.regex = re.compile(spec.get("match", ""), re.DOTALL)
        self.on = spec.get("on", "any")
        if self.on not in ("cmd", "tactic", "any"):
            raise ValueError(f"rule 'on' must be cmd, tactic or any, got {self.on!r}")
        self.times = spec.get("times")
        self.once_file = spec.get("once_file")
        self.fired = 0

    def match(self, kind: str, text: str):
        if self.on not in ("any", kind):
            return None
        if self.times is not None and self.fired >= self.times:
            return None
        if self.once_file and os.path.exists(self.once_file):
            return None
        m = self.regex.search(text)
        if m:
            self.fired += 1
            if self.once_file:
                with open(self.once_file, "w", encoding="utf-8") as f:
                    f.write(str(os.getpid()))
        return m

    def __getitem__(self, key):
        return self.spec.get(key)


def load_rules(args) -> list[Rule]:
    specs: list[dict] = []
    script = args.script or os.environ.get("FAKE_REPL_SCRIPT")
    if script:
        with open(script, encoding="utf-8") as f:
            data = json.load(f)
        specs.extend(data.get("rules", []) if isinstance(data, dict) else data)
    for flag, value in args.shortcuts:
        if flag == "sorry_goal":
            continue
        spec = {"match": value}
        if flag == "error_on":
            spec["messages"] = [{"severity": "error", "data": args.error_data}]
        else:
            spec[flag[:-3]] = True  # hang_on -> hang, crash_on -> crash, ...
        specs.append(spec)
    return [Rule(s) for s in specs]


class _Shortcut(argparse.Action):
    # Keeps all shortcut flags in one list, in command-line order, because rule order matters.
    def __call__(self, parser, namespace, values, option_string=None):
        namespace.shortcuts.append((self.dest, values))
        if self.dest == "sorry_goal":
            namespace.sorry_goal = values


# ---------------------------------------------------------------------------------------------
# The REPL state machine
# ---------------------------------------------------------------------------------------------

class Env:
    """A command snapshot: what was declared in it, on top of its parent."""

    def __init__(self, parent=None, names=(), sorry_names=(), imports=()):
        self.parent = parent
        self.names = set(names)
        self.sorry_names = set(sorry_names)
        self.imports = list(imports)

    def declared(self, name: str) -> bool:
        env = self
        while env is not None:
            if name in env.names:
                return True
            env = env.parent
        return False

    def uses_sorry(self, name: str) -> bool:
        env = self
        while env is not None:
            if name in env.sorry_names:
                return True
            env = env.parent
        return False

    def all_names(self):
        names, sorry, env = set(), set(), self
        while env is not None:
            names |= env.names
            sorry |= env.sorry_names
            env = env.parent
        return names, sorry


class Fatal(Exception):
    """An exception the REPL does not catch: it reaches `main` and kills the process."""


def _nat(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _str(v) -> bool:
    return isinstance(v, str)


def _bool(v) -> bool:
    return isinstance(v, bool)


_CMD_OPTS = [("env", _nat, False), ("allTactics", _bool, False), ("rootGoals", _bool, False),
             ("infotree", _str, False)]
# (kind, [(field, type check, required)]) in the order `parse` in REPL/Main.lean tries them.
SHAPES = [
    ("proofStep", [("tactic", _str, True), ("proofState", _nat, True)]),
    ("pickleEnvironment", [("pickleTo", _str, True), ("env", _nat, True)]),
    ("unpickleEnvironment", [("unpickleEnvFrom", _str, True)]),
    ("pickleProofState", [("pickleTo", _str, True), ("proofState", _nat, True)]),
    ("unpickleProofState", [("unpickleProofStateFrom", _str, True), ("env", _nat, False)]),
    ("command", [("cmd", _str, True)] + _CMD_OPTS),
    ("file", [("path", _str, True)] + _CMD_OPTS),
]


def classify(obj):
    """Return (kind, request) or raise Fatal with the REPL's message. Missing and null fields
    are the same thing to Lean's derived FromJson (`getObjValD` gives null)."""
    last_error = "object expected"
    for kind, fields in SHAPES:
        ok = isinstance(obj, dict)
        for name, check, required in fields:
            if not ok:
                break
            value = obj.get(name)
            if value is None:
                if required:
                    ok, last_error = False, f"property not found: {name}"
            elif not check(value):
                ok, last_error = False, f"{name}: unexpected value {json.dumps(value)}"
        if ok:
            return kind, obj
    raise Fatal("Could not parse as a valid JSON command:\n" + last_error)


def parse_query(query: str):
    try:
        obj = json.loads(query, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        offset = len(query[:e.pos].encode("utf-8"))  # Lean reports a byte offset
        if e.msg == "Expecting value" and not query[e.pos:].strip(ASCII_WS):
            msg = "unexpected end of input"
        elif e.msg == "Extra data":
            msg = "expected end of input"
        elif e.msg.startswith("Invalid control character"):
            msg = "unexpected character in string"  # a raw line break inside a string
        else:
            msg = e.msg[:1].lower() + e.msg[1:]
        raise Fatal(f"Could not parse JSON:\noffset {offset}: {msg}") from None
    except (ValueError, RecursionError) as e:
        raise Fatal(f"Could not parse JSON:\n{e}") from None
    return classify(obj)


def _reject_constant(name):
    raise ValueError(f"unexpected character in {name}")


class FakeRepl:
    def __init__(self, args, rules: list[Rule]):
        self.args = args
        self.rules = rules
        self.version = parse_version(args.version)
        self.envs: list[Env] = []
        self.states: list[tuple[list[str], str]] = []  # (goals, proofStatus) per proof state
        self.requests_by_kind: dict[str, int] = {}
        self.header_imports = 0  # commands on a fresh env with `import` lines

    # -- helpers -------------------------------------------------------------------------------
    def _new_state(self, goals: list[str], status: str | None = None) -> int:
        if status is None:
            status = "Incomplete: open goals remain" if goals else "Completed"
        self.states.append((list(goals), status))
        return len(self.states) - 1

    def _sorry_word(self) -> str:
        return "`sorry`" if self.version >= (4, 28, 0) else "'sorry'"

    def stats(self) -> dict:
        """This process's counters, one line of the ``--stats`` file."""
        return {"pid": os.getpid(), "requests": sum(self.requests_by_kind.values()),
                "by_kind": dict(self.requests_by_kind), "header_imports": self.header_imports}

    def _redeclared(self, name: str) -> str:
        # Lean's `checkNotAlreadyDeclared`, reported at the declaration's name. Lean PR
        # #10143 (August 2025) quoted names in messages with backticks; the recorded tags
        # show that quoting from v4.24.0 (`Unknown identifier`), so the same boundary here.
        quoted = f"`{name}`" if self.version >= (4, 24, 0) else f"'{name}'"
        return f"{quoted} has already been declared"

    def find_rule(self, kind: str, text: str):
        for rule in self.rules:
            m = rule.match(kind, text)
            if m:
                return rule, m
        return None, None

    # -- requests ------------------------------------------------------------------------------
    def command(self, text: str, req: dict, rule, match):
        env_id = req.get("env")
        if env_id is not None and env_id >= len(self.envs):
            return {"message": "Unknown environment."}
        if rule is not None and rule["message"] is not None:
            return {"message": rule["message"]}
        parent = self.envs[env_id] if env_id is not None else None
        pos = Positions(text)
        masked, segments = analyze(text)
        messages: list[tuple[tuple, dict]] = []  # (sort key, message)

        starts = [s.start for s in segments]  # in text order

        def seg_of(index: int) -> int:
            # The last segment starting at or before `index`, by bisection: a file of many
            # declarations must not cost the fake time quadratic in them.
            return bisect.bisect_right(starts, index) - 1

        def add(severity, data, start, end, phase=0, seg=None):
            key = (seg_of(start) if seg is None else seg, phase, start)
            messages.append((key, {"severity": severity, "pos": pos(start),
                                   "endPos": pos(end), "data": data}))

        new = Env(parent=parent, imports=parent.imports if parent else ())
        has_import = False
        seen_other = False
        for seg in segments:
            if seg.kw == "import":
                has_import = True
                m = IMPORT_RE.match(masked, seg.kw_end, seg.end)
                mod_end = m.end() if m else seg.kw_end
                if parent is not None or seen_other:
                    # Only a fresh env parses a header; later `import`s reach the command
                    # elaborator, which rejects them.
                    add("error", "invalid 'import' command, it must be used in the beginning "
                        "of the file", seg.kw_start, mod_end)
                elif m:
                    new.imports.append(m.group(1))
            else:
                seen_other = True
        if has_import and parent is None:
            self.header_imports += 1
            if self.args.import_delay:
                time.sleep(self.args.import_delay)

        # Sorries, by declaration.
        sorry_at: dict[int, list[int]] = {}
        loose_sorries: list[int] = []
        for m in SORRY_RE.finditer(masked):
            k = seg_of(m.start())
            if k >= 0 and segments[k].kw in DECL_KWS:
                sorry_at.setdefault(k, []).append(m.start())
            else:
                loose_sorries.append(m.start())
        rule_errors = rule is not None and any(
            (msg.get("severity", "error") == "error") for msg in (rule["messages"] or []))

        sorry_items: list[tuple[int, str]] = []  # (index, goal)
        root_items: list[tuple[int, str]] = []
        tactic_items: list[dict] = []
        for k, seg in enumerate(segments):
            if seg.kw in DECL_KWS:
                if seg.full_name and (new.declared(seg.full_name)):
                    add("error", self._redeclared(seg.full_name), *seg.name_span)
                    continue
                if seg.full_name:
                    new.names.add(seg.full_name)
                goal = seg.goal or "⊢ True"
                sorries = sorry_at.get(k, [])
                for s in sorries:
                    sorry_items.append((s, self._local_goal(text, masked, s, seg) or goal))
                if sorries:
                    if seg.full_name:
                        new.sorry_names.add(seg.full_name)
                    add("warning", f"declaration uses {self._sorry_word()}", *seg.name_span,
                        phase=1, seg=k)
                elif (self.version[:2] == (4, 19) and seg.by_span and not rule_errors):
                    add("info", "Goals accomplished!", seg.start, seg.decl_end, phase=1, seg=k)
                if req.get("rootGoals") and seg.proof_start is not None and seg.kw in PROOF_KWS:
                    root_items.append((seg.proof_start, goal))
                if req.get("allTactics") and seg.by_span:
                    tactic_items.extend(self._tactics(text, masked, seg, goal))
            elif seg.kw == "#print":
                m = re.match(r"\s+axioms\s+(" + _IDENT + ")", masked[seg.kw_end:seg.end])
                if m:
                    name = m.group(1)
                    # Real Lean answers each `#print axioms` command on its own, so a rule
                    # with `axioms` is matched against this command's own text, not the whole
                    # request (one request may audit several theorems).
                    own = next((r for r in self.rules if r["axioms"] is not None
                                and r.match("cmd", text[seg.kw_start:seg.end])), None)
                    axioms = None
                    if own is not None:
                        axioms = list(own["axioms"])
                    if axioms is None:
                        axioms = list(DEFAULT_AXIOMS)
                        if new.uses_sorry(name) or any(
                                new.uses_sorry(".".join(p)) for p in _suffixes(name)):
                            axioms.insert(1, "sorryAx")
                    data = (f"'{name}' depends on axioms: [{', '.join(axioms)}]" if axioms
                            else f"'{name}' does not depend on any axioms")
                    add("info", data, seg.kw_start, seg.kw_end + m.end(1))
            elif seg.kw == "#eval":
                if re.match(r"\s+Lean\.versionString(?![\w'!?.])", masked[seg.kw_end:seg.end]):
                    # #eval of a String shows it quoted, as `repr` would.
                    add("info", json.dumps(self.args.version.lstrip("v"), ensure_ascii=False),
                        seg.kw_start, seg.kw_end)
        for s in loose_sorries:
            sorry_items.append((s, "⊢ True"))

        sorry_items.sort(key=lambda item: item[0])
        if rule is not None:
            for msg in rule["messages"] or []:
                start, end = self._rule_span(pos, text, match, msg)
                add(msg.get("severity", "error"), msg.get("data", ""), start, end)
            if rule["sorries"] is not None:
                # The rule's sorries, in its order, at the `sorry` tokens found (then at the
                # match) so that positions stay plausible.
                spots = [s for s, _g in sorry_items]
                sorry_items = [(spots[i] if i < len(spots) else match.start(),
                                spec.get("goal", "⊢ True"))
                               for i, spec in enumerate(rule["sorries"])]
            if rule["tactics"] is not None:
                tactic_items = []
                for spec in rule["tactics"]:
                    start, end = self._rule_span(pos, text, match, spec)
                    tactic_items.append({"tactic": spec.get("tactic", ""),
                                         "goals": spec.get("goals", "no goals"),
                                         "start": start, "end": end})

        sorries = []
        for start, goal in sorry_items:
            if self.args.sorry_goal is not None:
                goal = self.args.sorry_goal
            sorries.append({"proofState": self._new_state([goal]), "pos": pos(start),
                            "goal": goal, "endPos": pos(start + len("sorry"))})
        for start, goal in root_items:
            sorries.append({"proofState": self._new_state([goal]), "pos": pos(start),
                            "goal": goal, "endPos": pos(start)})
        tactics = []
        for item in tactic_items:
            goals = item["goals"]
            entry = {"tactic": item["tactic"], "goals": goals, "pos": pos(item["start"]),
                     "endPos": pos(item["end"]),
                     "proofState": self._new_state([] if goals == "no goals" else [goals])}
            if self.version >= (4, 14, 0):
                entry["usedConstants"] = []
            tactics.append(entry)

        self.envs.append(new)
        response = {"env": len(self.envs) - 1}
        if messages:
            messages.sort(key=lambda item: item[0])
            response["messages"] = [m for _k, m in messages]
        if sorries:
            response["sorries"] = sorries
        if tactics:
            response["tactics"] = tactics
        return response

    @staticmethod
    def _rule_span(pos, text, match, spec):
        if spec.get("line") is not None:
            # Explicit positions are Lean positions (1-based line, code-point column).
            line, col = spec["line"], spec.get("column", 0)
            start = sum(len(l) + 1 for l in text.split("\n")[:line - 1]) + col
            if spec.get("endLine") is not None:
                end = (sum(len(l) + 1 for l in text.split("\n")[:spec["endLine"] - 1])
                       + spec.get("endColumn", 0))
            else:
                end = start
            return start, end
        return match.start(), match.end()

    @staticmethod
    def _local_goal(text, masked, index, seg):
        # `have h : T := by sorry` on one line: the sorry's goal is T (with the declaration's
        # hypotheses), as in the `have_by_sorry` transcript.
        line_start = masked.rfind("\n", 0, index) + 1
        m = re.search(r"\bhave\b[^:\n]*?:(?!=)(?P<t>[^\n]*?):=\s*(?:by\s+)?$",
                      masked[line_start:index])
        if not m:
            return None
        target = _squash(text[line_start + m.start("t"):line_start + m.end("t")])
        return "".join(h + "\n" for h in _merge_hyp_lines(seg.hyps)) + "⊢ " + target

    @staticmethod
    def _tactics(text, masked, seg, goal):
        """Best effort `allTactics`: every non-blank line of the `by` block (split at top-level
        `;`, bullets dropped), each with the declaration's goal."""
        items = []
        start = seg.by_span[1]
        end = seg.decl_end
        line_start = start
        while line_start < end:
            line_end = masked.find("\n", line_start, end)
            line_end = end if line_end < 0 else line_end
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
                    items.append({"tactic": text[a:b], "goals": goal, "start": a, "end": b})
                piece_start = cut + 1
            line_start = line_end + 1
        return items

    def proof_step(self, req: dict, rule, match):
        n = req["proofState"]
        if n >= len(self.states):
            return {"message": "Unknown proof state."}
        if rule is not None and rule["message"] is not None:
            return {"message": rule["message"]}
        goals, _status = self.states[n]
        tactic = req["tactic"]
        sorry_goals: list[str] = []
        remaining: list[str] = []
        masked = mask_code(tactic)
        if tactic.strip(ASCII_WS) == "sorry":
            sorry_goals, remaining = goals[:1], goals[1:]  # closes the main goal only
        elif re.fullmatch(r"\s*all_goals\s+sorry\s*", masked):
            sorry_goals = list(goals)
        else:
            sorry_goals = [goals[0] if goals else "⊢ True"] * len(SORRY_RE.findall(masked))
        messages = []
        if rule is not None:
            if rule["sorries"] is not None:
                sorry_goals = [s.get("goal", "⊢ True") for s in rule["sorries"]]
            if rule["goals"] is not None:
                remaining = list(rule["goals"])
            for msg in rule["messages"] or []:
                # Tactic-mode messages always sit at 0:0.
                messages.append({"severity": msg.get("severity", "error"),
                                 "pos": {"line": 0, "column": 0},
                                 "endPos": {"line": 0, "column": 0},
                                 "data": msg.get("data", "")})
        sorries = [{"proofState": self._new_state([g]), "goal": g} for g in sorry_goals]
        status = rule["proofStatus"] if rule is not None else None
        if status is None:
            if remaining:
                status = "Incomplete: open goals remain"
            elif sorries or any(m["severity"] == "error" for m in messages):
                status = "Incomplete: contains sorry"  # error recovery closes goals with sorry
            else:
                status = "Completed"
        return self._step_response(remaining, status, messages, sorries)

    def _step_response(self, goals, status, messages=(), sorries=()):
        response = {"proofState": self._new_state(goals, status), "goals": list(goals)}
        if messages:
            response["messages"] = list(messages)
        if sorries:
            response["sorries"] = list(sorries)
        if self.version >= (4, 19, 0):
            response["proofStatus"] = status
        return response

    def pickle_env(self, req):
        n = req["env"]
        if n >= len(self.envs):
            return {"message": "Unknown environment."}
        names, sorry = self.envs[n].all_names()
        _write_pickle(req["pickleTo"], {"kind": "env", "names": sorted(names),
                                        "sorryNames": sorted(sorry),
                                        "imports": self.envs[n].imports})
        return {"env": n}

    def unpickle_env(self, req):
        data = _read_pickle(req["unpickleEnvFrom"], "env")
        self.envs.append(Env(None, data["names"], data["sorryNames"], data["imports"]))
        return {"env": len(self.envs) - 1}

    def pickle_state(self, req):
        n = req["proofState"]
        if n >= len(self.states):
            return {"message": "Unknown proof State."}
        goals, status = self.states[n]
        _write_pickle(req["pickleTo"], {"kind": "proofState", "goals": goals, "status": status})
        # Like the REPL, pickling answers a full proof-step response under a new id.
        return self._step_response(goals, status)

    def unpickle_state(self, req):
        env = req.get("env")
        if env is not None and env >= len(self.envs):
            return {"message": "Unknown environment."}
        data = _read_pickle(req["unpickleProofStateFrom"], "proofState")
        return self._step_response(data["goals"], data["status"])

    def read_file(self, req):
        """(text, None), or (None, error response) when the file cannot be read."""
        try:
            with open(req["path"], encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            # processFile catches the IO error and answers it as a message.
            return None, {"message": f"{(e.strerror or str(e)).lower()} (error code: {e.errno})"
                                     f"\n  file: {req['path']}"}
        return text, None


def _merge_hyp_lines(hyps: list[str]) -> list[str]:
    pairs = [tuple(h.split(" : ", 1)) for h in hyps]
    text = _goal_text(pairs, "")
    return text.split("\n")[:-1]


def _suffixes(name: str):
    parts = name.split(".")
    return [parts[i:] for i in range(1, len(parts))]


PICKLE_MAGIC = "fake-lean-repl-pickle/1"


def _write_pickle(path: str, data: dict) -> None:
    data = dict(data, magic=PICKLE_MAGIC)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)


def _read_pickle(path: str, kind: str) -> dict:
    # Unpickling is not wrapped in `try` in the REPL: a bad file kills the process.
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise Fatal(f"{(e.strerror or str(e)).lower()} (error code: {e.errno})\n  file: {path}",
                    ) from None
    except ValueError:
        raise Fatal(f"failed to read file '{path}', invalid header") from None
    if not isinstance(data, dict) or data.get("magic") != PICKLE_MAGIC or data.get("kind") != kind:
        raise Fatal(f"failed to read file '{path}', invalid header")
    return data


# ---------------------------------------------------------------------------------------------
# The main loop
# ---------------------------------------------------------------------------------------------

def _write_out(data: bytes) -> None:
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        os._exit(1)


def _write_err(text: str) -> None:
    try:
        sys.stderr.buffer.write(text.encode("utf-8"))
        sys.stderr.buffer.flush()
    except BrokenPipeError:
        pass


def _die(message: str):
    # What the Lean runtime does with an exception that escapes `main`.
    _write_err("uncaught exception: " + message + "\n")
    sys.stdout.flush()
    os._exit(1)


def _hang():
    # Never answer; keep the process alive and stop reading stdin, like a runaway tactic.
    while True:
        time.sleep(3600)


def _balloon(max_mib: int):
    chunks = []
    total = 0
    try:
        while True:
            if max_mib and total >= max_mib * 1024 * 1024:
                raise MemoryError  # safety cap for runs without an address-space limit
            chunk = bytearray(BALLOON_CHUNK)
            chunk[::PAGE] = b"\x01" * len(range(0, BALLOON_CHUNK, PAGE))  # touch every page
            chunks.append(chunk)
            total += BALLOON_CHUNK
    except MemoryError:
        chunks.clear()
        _write_err(OOM_TEXT)
        os._exit(1)


def read_block(stream, old_framing: bool) -> str:
    """`getLines` from REPL/Main.lean: read to a blank line, which is returned with the block."""
    parts = []
    while True:
        line = stream.readline().decode("utf-8", errors="replace")
        if not line.strip(ASCII_WS):
            return "".join(parts) + line  # "" only at EOF with nothing pending
        parts.append(line if old_framing else line.rstrip(ASCII_WS))


def _noise(n: int) -> None:
    pattern = "fake-repl stderr noise: the client must drain this pipe.\n"
    text = (pattern * (n // len(pattern) + 1))[:n]
    _write_err(text)


def _log(path: str, obj) -> None:
    # One JSON object per line, written and closed at once so a test can read it at any time.
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _misbehaves(rule) -> bool:
    """The rule ends the request without one whole answer on stdout."""
    return bool(rule["exit"] is not None or rule["hang"] or rule["balloon"] or rule["garbage"]
                or rule["crash"])


def serve(args) -> int:
    rules = load_rules(args)
    repl = FakeRepl(args, rules)

    def record() -> None:
        if args.stats:
            _log(args.stats, repl.stats())

    replay = None
    if args.replay:
        with open(args.replay, "rb") as f:
            replay = [b for b in f.read().split(b"\n\n") if b.strip()]
    stdin = sys.stdin.buffer
    while True:
        query = read_block(stdin, args.old_framing)
        if query == "":
            return 0
        if query.startswith("#") or query.startswith("--"):
            continue
        if args.lenient_blank_lines and not query.strip(ASCII_WS):
            continue
        try:
            kind, req = parse_query(query)
        except Fatal as e:
            _die(lean_pretty({"message": str(e)}))
        if args.log:
            _log(args.log, req)
        repl.requests_by_kind[kind] = repl.requests_by_kind.get(kind, 0) + 1
        if args.stderr_bytes:
            _noise(args.stderr_bytes)
        if args.latency:
            time.sleep(args.latency)
        if replay is not None:
            record()
            if not replay:
                return 0
            _write_out(replay.pop(0) + b"\n\n")
            continue

        text = None
        if kind in ("command", "file"):
            if kind == "file":
                text, error = repl.read_file(req)
            else:
                text, error = req["cmd"], None
            rule, match = repl.find_rule("cmd", text) if text is not None else (None, None)
        elif kind == "proofStep":
            error = None
            rule, match = repl.find_rule("tactic", req["tactic"])
        else:
            error, rule, match = None, None, None

        if rule is not None and _misbehaves(rule):
            record()  # nothing (or no whole answer) follows: the counters are written now
        if rule is not None:
            if rule["stderr"]:
                _write_err(rule["stderr"])
            if rule["sleep"]:
                time.sleep(float(rule["sleep"]))
            if rule["exit"] is not None:
                sys.stdout.flush()
                os._exit(int(rule["exit"]))
            if rule["hang"]:
                _hang()
            if rule["balloon"]:
                _balloon(args.balloon_max_mib)
            if rule["garbage"]:
                # Garbage takes the place of this answer; no ids are used up.
                _write_out((GARBAGE_LINE + "\n\n").encode("utf-8"))
                continue

        try:
            if error is not None:
                response = error
            elif kind in ("command", "file"):
                response = repl.command(text, req, rule, match)
            elif kind == "proofStep":
                response = repl.proof_step(req, rule, match)
            elif kind == "pickleEnvironment":
                response = repl.pickle_env(req)
            elif kind == "unpickleEnvironment":
                response = repl.unpickle_env(req)
            elif kind == "pickleProofState":
                response = repl.pickle_state(req)
            else:
                response = repl.unpickle_state(req)
        except Fatal as e:
            _die(str(e))
        rendered = lean_pretty(response) + "\n\n"
        if rule is None or not _misbehaves(rule):
            record()  # before the answer: a client that has it can read the counters
        if rule is not None and rule["crash"]:
            # A stack overflow mid-print: half an answer, no blank line, then the runtime abort.
            _write_out(rendered[:len(rendered) // 2].encode("utf-8"))
            _write_err(CRASH_TEXT)
            os._exit(134)
        _write_out(rendered.encode("utf-8"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lean_bridge.fake_repl",
        description="A fake Lean REPL speaking the leanprover-community/repl wire protocol.")
    p.set_defaults(shortcuts=[], sorry_goal=None)
    p.add_argument("--version", default=DEFAULT_VERSION,
                   help="REPL/Lean version to imitate (message wording, proofStatus, "
                        "usedConstants); default %(default)s")
    p.add_argument("--old-framing", action="store_true",
                   help="join input lines raw, newline included (REPL before v4.22)")
    p.add_argument("--lenient-blank-lines", action="store_true",
                   help="ignore blank-only blocks instead of dying on them")
    p.add_argument("--script", help="JSON file {\"rules\": [...]} (default $FAKE_REPL_SCRIPT)")
    for flag, help_ in (("--hang-on", "never answer a matching request"),
                        ("--crash-on", "print half an answer, then die with status 134"),
                        ("--garbage-on", "answer a matching request with a non-JSON block"),
                        ("--balloon-on", "allocate memory until MemoryError, then exit 1"),
                        ("--error-on", "add an error message (see --error-data)"),
                        ("--sorry-goal", "goal text for every sorry found in a command")):
        p.add_argument(flag, metavar="REGEX" if flag != "--sorry-goal" else "TEXT",
                       action=_Shortcut, help=help_)
    p.add_argument("--error-data", default="unsolved goals",
                   help="text of the --error-on message; default %(default)r")
    p.add_argument("--latency", type=float, default=0.0, help="seconds to wait before answering")
    p.add_argument("--import-delay", "--import-latency", dest="import_delay", type=float,
                   default=0.0,
                   help="seconds to wait for a command without env that has `import` lines")
    p.add_argument("--stderr-bytes", type=int, default=0,
                   help="bytes of noise written to stderr per request (blocks if undrained)")
    p.add_argument("--log", help="append each parsed request as one JSON line to this file")
    p.add_argument("--stats", metavar="FILE",
                   help="append this process's counters (pid, requests by kind, header imports) "
                        "as one JSON line after every request; the last line of a pid is current")
    p.add_argument("--pid-file", help="write the process id here at start")
    p.add_argument("--replay", metavar="FILE.expected.out",
                   help="answer with the recorded blocks of a transcript, verbatim")
    p.add_argument("--balloon-max-mib", type=int, default=4096,
                   help="stop ballooning here even without a memory limit (0: no cap)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.pid_file:
        with open(args.pid_file, "w", encoding="utf-8") as f:
            f.write(f"{os.getpid()}\n")
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
