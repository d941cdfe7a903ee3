"""Truncate-and-resume on proof text: valid prefix, per-line segments, state after each.

Reference: ``shared/reference/deepseek-prover.md`` §6.1-6.2 (upstream ``Proof.segmentation``)
and ``shared/design.md`` §5 (the upstream REPL's ``allTactics`` gives goals BEFORE each
tactic only). Pure functions over ``str``; no Lean, no randomness.

Coordinates. Everything here is an offset into ``proof``: the text after the statement
(for miniF2F, what follows ``:= by\\n``). Offsets are Python ``str`` indices, i.e. Unicode
code points, the REPL's column unit. The REPL reports ``Pos(line, column)`` in the text it
was sent, e.g. ``statement + proof`` (header in a reused env) or ``header + statement +
proof``. Callers say where the proof starts in that text with ``base_line`` (lines before
the proof's first line) and ``base_column`` (column of the proof's first character on its
line, 0 when the statement ends with a newline); ``proof_origin(prefix)`` computes both
from the text before the proof. ``pos_to_offset`` then maps each position through
``lean_bridge.text.LineIndex(proof)``. Positions outside the proof (the statement's ``by``,
``Pos(0, 0)`` of tactic mode, a later declaration) map to None and are ignored, as
upstream ignores entries before ``prefix_len``.

Truncation (§6.1). The valid prefix ends at the earliest error or ``sorry`` in the proof,
except errors whose text starts with "unsolved goals": Lean reports those at the ``by`` of
the unfinished block, which would throw away the whole block.

Segments (§6.2, adapted to goals-before). A segment is a run of complete lines ending at a
*cut*: the end of a line that lies wholly inside the valid prefix and whose last code
character ends a tactic (``T``, the outermost tactic ending there). A cut is refused
(the line joins the next segment) when it would split a tactic:

* no tactic ends at the line's last code character (``nlinarith [a,`` / ``b]``, a
  ``have … := by`` opener, a line ending in ``<;>``);
* the next code starts with a continuation token (``<;>``, ``<|>``, ``;``, a closing
  bracket, ``,``, ``|``, ``:=``, ``=>``, ``at``, ``with``, …);
* a tactic that began before the line goes on after it (the cut is inside its nested
  block), and the next code is not a tactic start (optionally after a bullet): this keeps
  ``have … := by`` blocks splittable line by line but refuses cuts between calc steps,
  match arms or ``( … )`` groups, whose goals-before belong to a different block.
* the line's newline is inside a comment or string: the cut moves to the end of the
  code-free line where it closes, or, if code comes first, the line joins the next one.

State after a segment (design.md §5, ``state_after_segments``): the goals-before of the
next tactic (or ``sorry``), when only whitespace and comments separate the cut from it;
then that tactic runs on exactly the goals the segment left, in the same block ("the same
or an enclosing level": whitespace alone cannot close a block, so it is the same block or
the next tactic of an enclosing one after its nested block ended with the segment).
``"no goals"`` when the proof is complete and nothing follows. A goals-before that the
REPL printed flattened onto one line (``flattened``: Lean before v4.14, the default pin
v4.9.0-rc1) is never used as it is: its probe is ``skip`` from that tactic's proof state,
which answers the same state multi-line. Everything else is
ambiguous and gets ``state_after=None`` plus a ``Probe``: a bullet or ``case`` between
(the next tactic sees a focused goal), repeated entries with different goals at the next
position (``<;>``, ``all_goals``: one entry per goal), no next tactic (the proof stops
there, the next tactic failed to parse or was not reported). The probe replays T's block
in tactic mode; ``Segment.resolve`` fills in the answer (``goals_text`` formats a
tactic-mode goal list). A probe can fail (a replay ending inside an unclosed bullet):
the caller then ends the path before that segment, which ``Tree.insert_path`` does for
any unresolved segment.
"""
from __future__ import annotations

import bisect
import re
import textwrap
from dataclasses import dataclass
from typing import NamedTuple, Sequence

from lean_bridge.protocol import Message, Sorry, Tactic
from lean_bridge.text import mask_non_code

from .repl_steps import Step, flattened, line_index, pos_to_offset, proof_origin, steps_from_repl

NO_GOALS = "no goals"  # Lean's pretty-printed empty goal list (§3.3)
UNSOLVED_GOALS = "unsolved goals"

# Tokens that continue the tactic before them when they open the next line.
_CONTINUATION_RE = re.compile(
    r"<;>|<\|>|;|[)\]}⟩⦄,|]|:=|=>|(?:at|with|using|generalizing|then|else|from)(?![\w'!?])")
_BULLET_RE = re.compile(r"[·.]\s")
# What may separate two consecutive tactics of one sequence (for the probe's replay).
_SEQUENCE_GAP_RE = re.compile(r"(?:\s|;|·|\.|<;>)*")


def tactic_state_comment(state: str, indent: int) -> str:
    """The prompt comment of DeepSeek-Prover-V1.5 (shared/reference/deepseek-prover.md §3.3): ``{I}/- tactic state:``, each goal line prefixed by I+2 spaces, ``{I}-/``,
    trailing newline. Trailing newlines of ``state`` are dropped (REPL goals have none);
    blank lines inside it (between goals) get the I+2 prefix too, as the rule says."""
    pad = " " * indent
    inner = pad + "  "
    body = inner + ("\n" + inner).join(state.rstrip("\n").split("\n")) + "\n"
    return f"{pad}/- tactic state:\n{body}{pad}-/\n"


def tactic_state_comment_length(state: str, indent: int) -> int:
    """``len(tactic_state_comment(state, indent))``, without writing the comment: the
    header and footer lines, and each goal line with its I+2 prefix and newline."""
    text = state.rstrip("\n")
    return 2 * indent + 21 + (text.count("\n") + 1) * (indent + 2) + len(text)


@dataclass(frozen=True)
class Probe:
    """Run ``tactic`` from ``proof_state`` in tactic mode to learn an ambiguous state."""

    proof_state: int
    tactic: str


@dataclass(frozen=True)
class Segment:
    """A run of complete proof lines and the tactic state after it.

    Invariants: ``text == proof[previous.end:end]`` (the first segment starts at 0), so
    ``proof[:seg.end]`` is the code prefix up to and including this segment; ``end`` is
    just past a newline (or the end of the proof); ``state_after`` is a goal text as Lean
    prints it (``"no goals"`` when closed) or None, and then ``probe`` says how to get it.
    ``indent`` is the leading spaces of the line where the earliest tactic ending inside
    the segment starts (§6.2), the indentation of the state comment.
    """

    text: str
    state_after: str | None
    end: int
    indent: int
    probe: Probe | None = None

    @property
    def resolved(self) -> bool:
        return self.state_after is not None

    def resolve(self, goals: str) -> "Segment":
        """This segment with the state a probe produced (see ``goals_text``)."""
        # The constructor, not dataclasses.replace: a probe per rollout, and replace() costs
        # several times more.
        return Segment(self.text, goals, self.end, self.indent)

    def comment(self) -> str:
        """The ``/- tactic state: … -/`` comment of §3.3; "" while unresolved."""
        return "" if self.state_after is None else state_comment(self.state_after, self.indent)


# -- formats ----------------------------------------------------------------------------------

def goals_text(goals: Sequence[str]) -> str:
    """A tactic-mode goal list as one state text: joined by a blank line, like the
    ``goals`` string of ``allTactics``; ``"no goals"`` when empty."""
    return "\n\n".join(goals) if goals else NO_GOALS


def state_comment(goal: str, indent: int) -> str:
    """§3.3 tactic-state comment: the tree counts the tokens of exactly the comment the
    prompt will carry, so it is the prompt module's own formatter."""
    return tactic_state_comment(goal, indent)


def truncate(proof: str, messages: Sequence[Message], sorries: Sequence[Sorry] = (), *,
             base_line: int = 0, base_column: int = 0) -> int:
    """Offset in ``proof`` where the valid prefix ends (``len(proof)`` if nothing cuts).

    The earliest error or ``sorry`` inside the proof, ignoring errors whose text starts
    with "unsolved goals" (§6.1). Warnings (``declaration uses 'sorry'``) do not cut; the
    sorry itself does. Errors outside the proof are ignored (upstream: before it).
    """
    index = line_index(proof)
    cut = len(proof)
    for msg in messages:
        if not msg.is_error or msg.data.lstrip().startswith(UNSOLVED_GOALS):
            continue
        off = pos_to_offset(msg.pos, index, base_line=base_line, base_column=base_column)
        if off is not None:
            cut = min(cut, off)
    for s in sorries:
        off = pos_to_offset(s.pos, index, base_line=base_line, base_column=base_column)
        if off is not None:
            cut = min(cut, off)
    return cut


# -- segmentation -----------------------------------------------------------------------------

class _Line(NamedTuple):
    start: int
    code_end: int  # just past the last code character; == start for a blank/comment line
    cut: int  # just past the newline (len(proof) on the last line)
    in_literal: bool  # the newline is inside a comment or string


# Each newline of the marked text with the sentinel after it (see ``_layout``).
_MARKED_NEWLINE_RE = re.compile(r"\n.", re.S)
# What ``str.lstrip()`` strips (both use Python's Unicode whitespace), matched in place so
# that finding the next code character copies nothing.
_SPACE_RE = re.compile(r"\s*")
_SPACES_RE = re.compile(r" *")
# Where any literal but a line comment may start (``lean_bridge._scan``'s lexer; a raw
# string needs its quote too).
_NON_LINE_COMMENT_STARTS = ("/-", '"', "'", "«")
_LINE_COMMENT_RE = re.compile(r"--[^\n]*")
_NOT_CR_RE = re.compile(r"[^\r]")  # the mask keeps line breaks


def _blank_comment(comment: re.Match[str]) -> str:
    return _NOT_CR_RE.sub(" ", comment.group())


def _layout(proof: str) -> tuple[str, list[_Line]]:
    """(``mask_non_code(proof)``, the proof's lines) from one lexer pass.

    The pass decides for every newline whether a comment or string is open there: a NUL
    sentinel after each newline is code outside literals and blanked inside them (a NUL
    starts no token and joins no identifier, so the lexing is otherwise unchanged, and the
    mask with the sentinels taken out is the proof's own mask).

    Most proofs hold no block comment, string, char literal or ``«name»``: then only line
    comments can occur (nothing can hide a ``--``), each blanked to the end of its line,
    and no newline is inside one; that case needs no lexer pass at all."""
    if not any(token in proof for token in _NON_LINE_COMMENT_STARTS):
        mask = _LINE_COMMENT_RE.sub(_blank_comment, proof) if "--" in proof else proof
        marked = ""  # no newline is inside a literal
    else:
        marked = mask_non_code(proof.replace("\n", "\n\0"))
        mask = _MARKED_NEWLINE_RE.sub("\n", marked)
    parts = mask.split("\n")  # the mask keeps every newline where the proof has it
    if len(parts) > 1 and not parts[-1]:
        parts.pop()  # a proof ending with a newline has no line after it
    out: list[_Line] = []
    start, last = 0, len(parts) - 1
    for k, part in enumerate(parts):
        nl = start + len(part)
        if k == last and nl == len(proof):
            out.append(_Line(start, start + len(part.rstrip()), nl, False))
            break
        out.append(_Line(start, start + len(part.rstrip()), nl + 1,
                         bool(marked) and marked[nl + k + 1] != "\0"))
        start = nl + 1
    return mask, out


def _cut_after(lines: Sequence[_Line], k: int) -> int | None:
    """Where a segment ending with line k's code may end: after its newline, or, when a
    comment (or string) is open there, after the first following code-free line that
    closes it; None when code comes first (the line then joins the next segment)."""
    for line in lines[k:]:
        if line is not lines[k] and line.code_end > line.start:
            return None
        if not line.in_literal:
            return line.cut
    return lines[-1].cut


def _parents(steps: Sequence[Step]) -> list[int]:
    """Index of each step's innermost strictly-containing step, -1 at top level."""
    parents: list[int] = []
    stack: list[int] = []
    for i, s in enumerate(steps):
        while stack and not (steps[stack[-1]].start <= s.start and s.end <= steps[stack[-1]].end):
            stack.pop()
        parents.append(stack[-1] if stack else -1)
        stack.append(i)
    return parents


def _outermost_ending(steps: Sequence[Step], lo: int, hi: int) -> int | None:
    """The step ending in [lo, hi] that starts first (longest on ties), as an index."""
    best = None
    for i, s in enumerate(steps):
        if lo <= s.end <= hi and (best is None or s.start < steps[best].start):
            best = i
    return best


def _next_code(mask: str, i: int) -> int:
    return _SPACE_RE.match(mask, i).end()  # type: ignore[union-attr]  # `\s*` always matches


def _cut_allowed(mask: str, steps: Sequence[Step], starts: set[int], code_end: int,
                 cut: int) -> bool:
    nxt = _next_code(mask, cut)
    if nxt == len(mask):
        return True
    if _CONTINUATION_RE.match(mask, nxt):
        return False
    bullet = _BULLET_RE.match(mask, nxt)
    if nxt in starts or (bullet and _next_code(mask, bullet.end()) in starts):
        return True
    # Not a known tactic start: fine at top level (the state will be probed), refused
    # inside another tactic, whose remaining text may belong to a different block.
    return not any(s.start < code_end < s.end for s in steps)


def _segment_ends(mask: str, lines: Sequence[_Line], valid_end: int, steps: Sequence[Step],
                  complete: bool, proof_len: int) -> list[int]:
    starts = {s.start for s in steps}
    step_ends = sorted(s.end for s in steps)
    last_end = step_ends[-1] if step_ends else -1
    ends: list[int] = []
    for k, (start, code_end, line_cut, in_literal) in enumerate(lines):
        if code_end == start or code_end > valid_end or code_end > last_end:
            continue
        # A tactic must end at the line's last code character (or in the gap after it).
        if step_ends[bisect.bisect_left(step_ends, code_end)] > line_cut:
            continue
        cut = line_cut if not in_literal else _cut_after(lines, k)
        if cut is not None and _cut_allowed(mask, steps, starts, code_end, cut):
            ends.append(cut)
    if complete:
        # A complete proof's last segment reaches its last code line, whatever ends there.
        coded = [k for k, ln in enumerate(lines) if ln.code_end > ln.start]
        if coded:
            last = _cut_after(lines, coded[-1]) or proof_len
            if not ends or ends[-1] < last:
                ends.append(last)
    return ends


def _probe(proof: str, mask: str, steps: Sequence[Step], parents: Sequence[int],
           t: int) -> Probe | None:
    """Replay T's block in tactic mode, from the latest point where its goals are not
    focused: the chain of T's siblings separated only by whitespace, ``;``, ``<;>`` or
    bullets is T's tactic sequence; the replay starts at the last of them that opens its
    line at the sequence's base column (so never inside a bullet: bullets are not
    ``allTactics`` entries, a bullet's body is in its parent's sequence, and replaying from
    before the bullet ends with the bullet closed and the remaining goals shown)."""
    chain = [t]
    parent = parents[t]
    for i in range(t - 1, -1, -1):  # T's earlier siblings, nearest first
        if parents[i] != parent:
            continue
        gap, stop = steps[i].end, steps[chain[-1]].start
        if gap < stop and not _SEQUENCE_GAP_RE.fullmatch(mask, gap, stop):  # (none: a match)
            break
        chain.append(i)

    def layout(i: int) -> tuple[int, bool]:  # (column of the line's first code, opens it)
        line_start = mask.rfind("\n", 0, steps[i].start) + 1
        lead = mask[line_start:steps[i].start]
        return len(lead) - len(lead.lstrip()), not lead.strip()

    layouts = [layout(i) for i in chain]
    base = min(column for column, _ in layouts)
    first = next((i for i, lay in zip(chain, layouts, strict=True) if lay == (base, True)),
                 chain[-1])
    head = steps[first]
    if head.proof_state is None:
        return None
    line_start = proof.rfind("\n", 0, head.start) + 1
    text = " " * (head.start - line_start) + proof[head.start:steps[t].end]
    # One line (the usual probe) dedents to itself without its indent (dedent's own rule).
    body = text.lstrip(" \t") if "\n" not in text else textwrap.dedent(text).strip("\n")
    # The REPL parses one tactic; a sequence goes in parentheses (lean-bridge.md).
    tactic = body if "\n" not in body else "(\n" + body + ")"
    return Probe(head.proof_state, tactic)


def state_after_segments(proof: str, ends: Sequence[int], steps: Sequence[Step], *,
                         complete: bool = False) -> list[str | Probe | None]:
    """The tactic state after each segment ending at ``ends`` (design.md §5).

    Args:
      proof: the proof text.
      ends: segment ends in increasing order, each just past a line's newline (or
        ``len(proof)``).
      steps: ``allTactics`` entries and sorries in proof offsets (``steps_from_repl``),
        including those after the valid prefix: the failing tactic's goals-before is the
        state after the last valid segment.
      complete: the whole proof checked with no error and no sorry (it closes).

    Returns, per end: a goal text (the goals-before of the next step, which only
    whitespace and comments separate from the end; ``"no goals"`` at the end of a
    complete proof), or a ``Probe`` to run in tactic mode where that is ambiguous, or None
    where not even a probe can be built (no tactic ends in the segment, or its block's
    first tactic has no proof state).
    """
    ordered = sorted(steps, key=lambda s: (s.start, -s.end))
    return _states_after(proof, mask_non_code(proof), ends, ordered, complete)


def _states_after(proof: str, mask: str, ends: Sequence[int], ordered: Sequence[Step],
                  complete: bool) -> list[str | Probe | None]:
    """``state_after_segments`` with the proof's mask made and the steps sorted by (start,
    -end), stably (``steps_from_repl``'s order). The steps at or after an end are then a
    tail of ``ordered``, and the first of a run of equal (start, end) is the first in the
    REPL's answer: the one kept for probes, and the one whose goals count."""
    uniq: list[Step] | None = None  # one step per (start, end), for probes: made when needed
    parents: list[int] = []
    starts = [s.start for s in ordered]
    out: list[str | Probe | None] = []
    count = len(ordered)
    for end in ends:
        nxt = _next_code(mask, end)
        i = bisect.bisect_left(starts, end)
        if i < count:
            first = ordered[i]
            # The entries at the next position: one goal text, or one per goal (``<;>``).
            same_goals = True
            j = i + 1
            while j < count and ordered[j].start == first.start and ordered[j].end == first.end:
                same_goals = same_goals and ordered[j].goals == first.goals
                j += 1
            if nxt == first.start and same_goals:
                if not flattened(first.goals):
                    out.append(first.goals)
                elif first.proof_state is not None:
                    # The REPL flattened the text (Lean before v4.14); the same state in
                    # tactic mode prints multi-line, and `skip` changes nothing.
                    out.append(Probe(first.proof_state, "skip"))
                else:
                    out.append(None)
                continue
        elif complete and nxt == len(mask):
            out.append(NO_GOALS)
            continue
        code_end = len(mask[:end].rstrip())  # the segment's last code character
        if uniq is None:
            uniq = [s for k, s in enumerate(ordered)
                    if not k or (s.start, s.end) != (ordered[k - 1].start, ordered[k - 1].end)]
            parents = _parents(uniq)
        t = _outermost_ending(uniq, code_end, end)
        out.append(None if t is None else _probe(proof, mask, uniq, parents, t))
    return out


def _indents(proof: str, steps: Sequence[Step], ends: Sequence[int]) -> list[int | None]:
    """Per segment ``[previous end, end)``: the leading spaces of the line where the
    earliest-starting step ending inside it (after its start, up to its end) begins; None
    when no step ends there."""
    by_end = sorted(steps, key=lambda s: s.end)
    j, count = 0, len(by_end)
    while j < count and by_end[j].end <= 0:
        j += 1
    out: list[int | None] = []
    for end in ends:  # increasing: each step is inside at most one segment
        lowest = -1
        while j < count and by_end[j].end <= end:
            if lowest < 0 or by_end[j].start < lowest:
                lowest = by_end[j].start
            j += 1
        if lowest < 0:
            out.append(None)
            continue
        line_start = proof.rfind("\n", 0, lowest) + 1
        out.append(_SPACES_RE.match(proof, line_start).end() - line_start)  # type: ignore[union-attr]
    return out


def segment(proof: str, valid_end: int, tactics: Sequence[Tactic],
            sorries: Sequence[Sorry] = (), *, complete: bool = False, base_line: int = 0,
            base_column: int = 0) -> list[Segment]:
    """Split ``proof[:valid_end]`` into per-line segments tagged with the state after each.

    Args:
      proof: the proof text (see the module docstring for coordinates).
      valid_end: ``truncate(...)``'s answer.
      tactics, sorries: the REPL's ``allTactics`` entries and sorries for the whole text,
        positions relative to the text Lean saw.
      complete: the proof checked complete (no errors, no sorries); its last segment then
        reaches the last code line with state ``"no goals"``. Requires
        ``valid_end == len(proof)``.
      base_line, base_column: where the proof starts in the text Lean saw.

    Lines after the last cut inside the valid prefix belong to no segment (they do not
    end a tactic, or their state cannot be told).
    """
    if not 0 <= valid_end <= len(proof):
        raise ValueError(f"valid_end {valid_end} outside 0..{len(proof)}")
    if complete and valid_end != len(proof):
        raise ValueError("a complete proof cannot have been truncated")
    steps = steps_from_repl(proof, tactics, sorries, base_line=base_line,
                            base_column=base_column)
    mask, lines = _layout(proof)
    ends = _segment_ends(mask, lines, valid_end, steps, complete, len(proof))
    states = _states_after(proof, mask, ends, steps, complete)
    segments: list[Segment] = []
    prev = 0
    for end, state, indent in zip(ends, states, _indents(proof, steps, ends), strict=True):
        if indent is None:  # §6.2: a final segment without tactics takes the first indent
            indent = segments[0].indent if segments else 2
        if isinstance(state, Probe):
            segments.append(Segment(proof[prev:end], None, end, indent, state))
        else:
            segments.append(Segment(proof[prev:end], state, end, indent))
        prev = end
    return segments


__all__ = [
    "NO_GOALS", "Probe", "Segment", "Step", "flattened", "goals_text", "pos_to_offset", "proof_origin",
    "segment", "state_after_segments", "state_comment", "steps_from_repl", "truncate",
]
