"""Self-correction turns: the next request for a candidate Lean refused, built from the
request that produced it, the model's raw answer and Lean's messages. Pure functions over
``str`` and frozen dataclasses, like ``prover.policies.prompts``; nothing here samples or checks.

Where each string comes from (``REF`` = shared/reference/prompts.md; the upstream files named
there were read at the commits it gives):

* ``goedel-v2`` (REF §6, Goedel-Prover-V2 ``src/utils.py`` @2e9036e,
  ``DeepSeekCoTHandler.generate_correction_prompt`` and ``get_error_str`` with
  ``error_thres=True``, the default of ``src/inference.py``): the conversation so far, the
  previous raw output as an assistant turn, then one user message: ``The proof (Round N) is not
  correct. …`` with N the round of the refused answer (0 = the first), the first 8 errors each
  with up to 4 lines before its line, the error's span marked ``<error>``…``</error>`` (a span
  over several lines: its first line, at most 5 lines between, a ``... --[Truncated]-- ...``
  line indented like the last shown one, its last line), the line after, then ``Error
  Message: …``; ``... [Omitted K more errors] ...`` past 8; then the analysis sentence.
  Positions are the REPL's: line 1-based, column 0-based in code points, which are Python
  ``str`` indices; an ``endPos`` of null ends the span at the end of its line. The code is
  the file Lean checked (header + statement + proof), as upstream shows the compiled file.
  Upstream applies the same turn to its Kimina-Preview handler, so every chat format without a
  published turn of its own gets it.
* ``kimina-2025`` (REF §4, MoonshotAI/Kimina-Prover-Preview ``kimina_prover_demo/utils.py``
  @7abd61a, ``create_tool_message``): the previous raw output as an assistant turn, then a user
  message with, for each of the first 3 errors, ``# Error i:``, the goals before it (``Goals
  state before error position:``), ``Error message:`` and a numbered snippet of 2 lines before to
  2 after (``NNN >| `` on the error line, ``count_heartbeats in`` removed). Lines are numbered
  after the file's leading ``import`` lines, as the demo numbers them. The demo takes the goals
  from the kimina-lean-server infotree (the node inside the error's span nearest to it, its
  ``goalsBefore``, else ``goalsAfter``); here they come from the REPL's ``allTactics``: the tactic
  inside the error's span nearest to it (same distance), its goals before. With no error
  message (a sorry, a rejected cheat) the demo's fallback for a server error is used, with
  our verdict's reasons: ``# System Error:`` then ``Error message:``.
* ``comment`` (raw-completion formats; REF §6, Goedel-Prover-V2 ``DeepSeekNonCoTHandler``): the
  lines of the Goedel error text, blank ones dropped, each prefixed ``-- ``, between ``-- The
  previous proof attempt (Round N) resulted in compilation errors:`` and ``-- Please provide a
  corrected version. Wrap the proof in ```lean4 and ```.``, all verbatim. Upstream sends that
  comment alone as the whole prompt (its handler builds the statement and drops it), which
  leaves a completion model nothing to continue; here (our choice) the comment follows the
  previous prompt and answer (up to its first fence), the fence closed, and a new ```` ```lean4 ```` block reopens the
  file up to the statement, so the answer is again a continuation that the format's stop
  string and extraction handle unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from lean_bridge.goals import FENCE
from lean_bridge.outcome import CheckResult
from lean_bridge.protocol import Message, Pos, Tactic
from prover.policies.policy import ChatMessage
from prover.policies.prompts import PromptFormat, PromptParts
from search.problem import Problem

GOEDEL_V2, KIMINA_2025, COMMENT = "goedel-v2", "kimina-2025", "comment"
STYLES = (GOEDEL_V2, KIMINA_2025, COMMENT)

# REF §6, verbatim.
GOEDEL_OPENING = ("The proof (Round {round}) is not correct. Following is the compilation error "
                  "message, where we use <error></error> to signal the position of the error."
                  "\n\n")
GOEDEL_CLOSING = ("\n\nBefore producing the Lean 4 code to formally prove the given theorem, "
                  "provide a detailed analysis of the error message.")
GOEDEL_MAX_ERRORS = 8
GOEDEL_LINES_BEFORE = 4
GOEDEL_MIDDLE_LINES = 5
TRUNCATED = "... --[Truncated]-- ..."
COMMENT_OPENING = "-- The previous proof attempt (Round {round}) resulted in compilation errors:\n"
COMMENT_CLOSING = "-- Please provide a corrected version. Wrap the proof in ```lean4 and ```."
LEAN4_FENCE = "```lean4\n"
# REF §4, verbatim.
KIMINA_MAX_ERRORS = 3
KIMINA_LINES_AROUND = 2
KIMINA_STRIPPED = "count_heartbeats in"

# Formats whose authors published a correction turn of their own.
_STYLE_OF_FORMAT = {"goedel-v2": GOEDEL_V2, "kimina-2025": KIMINA_2025}


@dataclass(frozen=True)
class Turn:
    """What one generation was asked and answered: the history a correction continues."""

    parts: PromptParts
    raw: str  # the model's whole answer (reasoning included), as the backend returned it


def style_for(fmt: PromptFormat) -> str | None:
    """The correction style of a prompt format: its family's own (``goedel-v2``,
    ``kimina-2025``), Goedel-V2's for the other chat formats, ``comment`` for raw completion;
    None for tactic formats (nothing to correct)."""
    if fmt.output == "tactic":
        return None
    if fmt.name in _STYLE_OF_FORMAT:
        return _STYLE_OF_FORMAT[fmt.name]
    return GOEDEL_V2 if fmt.chat else COMMENT


def lean_errors(messages: Sequence[Message]) -> list[Message]:
    """Lean's error messages, in the REPL's order (warnings and infos are not shown)."""
    return [m for m in messages if m.is_error]


# -- Goedel-Prover-V2 -------------------------------------------------------------------------

def _line_index(lines: Sequence[str], pos: Pos) -> int:
    """The 0-based line of a REPL position, kept inside the text (tactic-mode messages sit
    at line 0; a position past the end is the last line)."""
    return min(max(pos.line - 1, 0), len(lines) - 1)


def _marked(lines: Sequence[str], message: Message) -> list[str]:
    """The lines shown for one error, with ``<error>``/``</error>`` at its span."""
    first = _line_index(lines, message.pos)
    start = message.pos.column
    if message.end_pos is None:
        last, end = first, len(lines[first])
    else:
        last, end = max(_line_index(lines, message.end_pos), first), message.end_pos.column
    shown = list(lines[max(first - GOEDEL_LINES_BEFORE, 0):first])
    if first == last:
        line = lines[first]
        shown.append(f"{line[:start]}<error>{line[start:end]}</error>{line[end:]}")
    else:
        shown.append(f"{lines[first][:start]}<error>{lines[first][start:]}")
        middle = list(range(first + 1, last))
        kept = middle[:GOEDEL_MIDDLE_LINES]
        shown += [lines[k] for k in kept]
        if len(middle) > len(kept):
            indent = len(lines[kept[-1]]) - len(lines[kept[-1]].lstrip(" "))
            shown.append("\n" + " " * indent + TRUNCATED)
        shown.append(f"{lines[last][:end]}</error>{lines[last][end:]}")
    if last + 1 < len(lines):
        shown.append(lines[last + 1])
    return shown


def goedel_error_text(code: str, messages: Sequence[Message],
                      limit: int = GOEDEL_MAX_ERRORS) -> str:
    """Goedel-Prover-V2's error listing of ``code`` (module docstring): the first ``limit``
    errors among ``messages``, each marked at its span."""
    errors = lean_errors(messages)
    lines = code.split("\n")
    out = []
    for i, message in enumerate(errors[:limit], start=1):
        snippet = "".join(line + "\n" for line in _marked(lines, message))
        out.append(f"\nError {i}:\n\nCorresponding Code:\n{LEAN4_FENCE}{snippet}\n{FENCE}\n"
                   f"\nError Message: {message.data}\n")
    if len(errors) > limit:
        out.append(f"\n... [Omitted {len(errors) - limit} more errors] ...\n")
    return "".join(out)


def goedel_feedback(code: str, messages: Sequence[Message], round: int) -> str:
    """The user message after the refused answer of ``round`` (0 = the first answer)."""
    return GOEDEL_OPENING.format(round=round) + goedel_error_text(code, messages) + GOEDEL_CLOSING


# -- Kimina-Prover (2025) ---------------------------------------------------------------------

def _imports(lines: Sequence[str]) -> int:
    """How many lines come before the demo's body: the blank lines its ``strip()`` removes,
    then the leading ``import`` lines its ``split_proof_header`` takes as the header."""
    k = 0
    while k < len(lines) and not lines[k].strip():
        k += 1
    while k < len(lines) and lines[k].startswith("import"):
        k += 1
    return k


def _after(a: Pos, b: Pos) -> bool:
    return (a.line, a.column) >= (b.line, b.column)


def _distance(a: Pos, b: Pos) -> int:
    return 10 * abs(a.line - b.line) + abs(a.column - b.column)


def goals_before(message: Message, tactics: Sequence[Tactic]) -> str | None:
    """The goals before the tactic inside the error's span that is nearest to it (the demo's
    infotree rule, on ``allTactics``); None without an end position or such a tactic."""
    end = message.end_pos
    if end is None:
        return None
    inside = [t for t in tactics if _after(t.pos, message.pos) and _after(end, t.end_pos)]
    if not inside:
        return None
    nearest = min(inside, key=lambda t: _distance(t.pos, message.pos) + _distance(t.end_pos, end))
    return nearest.goals or None


def kimina_feedback(code: str, check: CheckResult) -> str:
    """Kimina-Prover's error-fix message for ``code`` (module docstring)."""
    lines = code.split("\n")
    skip = _imports(lines)
    body = lines[skip:]
    out = []
    for i, message in enumerate(lean_errors(check.messages)[:KIMINA_MAX_ERRORS], start=1):
        out.append(f"# Error {i}:\n")
        goals = goals_before(message, check.tactics)
        if goals:
            out.append(f"Goals state before error position: \n{goals}\n\n")
        out.append(f"Error message: \n{message.data.strip()}\n\n")
        at = message.pos.line - 1 - skip
        snippet = "".join(
            f"{k + 1:03d}{' >' if k == at else '  '}| {body[k].replace(KIMINA_STRIPPED, '')}\n"
            for k in range(max(0, at - KIMINA_LINES_AROUND),
                           min(len(body), at + KIMINA_LINES_AROUND + 1)))
        out.append(f"Lean 4 code snippet with error:\n{LEAN4_FENCE}{snippet}{FENCE}\n")
    if not out:
        reasons = "\n".join(check.reasons).strip() or check.status.value
        out.append(f"# System Error:\nError message: \n{reasons}\n\n")
    return "".join(out)


# -- raw completion (Goedel's non-CoT comment form) ------------------------------------------

def comment_feedback(code: str, messages: Sequence[Message], round: int) -> str:
    """The comment block: Goedel's error text as ``-- `` lines (module docstring)."""
    commented = "\n".join(f"-- {line}" for line in goedel_error_text(code, messages).splitlines()
                          if line.strip())
    return COMMENT_OPENING.format(round=round) + commented + "\n" + COMMENT_CLOSING


def reopened(problem: Problem) -> str:
    """A new ``lean4`` block up to the statement, for the completion to continue."""
    return LEAN4_FENCE + problem.header + (problem.informal or "") + problem.statement


# -- the next request -------------------------------------------------------------------------

def next_parts(style: str, previous: Turn, problem: Problem, code: str, check: CheckResult,
               round: int) -> PromptParts:
    """The request that corrects ``previous``, refused by ``check`` on ``code`` (the file Lean
    checked), the answer of ``round`` (0 = the first)."""
    if style == COMMENT:
        if previous.parts.messages is not None:
            raise ValueError("the comment style corrects raw completions, not chats")
        answer = previous.raw.split(FENCE, 1)[0]  # the code, without the fence and after
        answer = answer if answer.endswith("\n") else answer + "\n"
        return PromptParts(prompt=previous.parts.prompt + answer + FENCE + "\n\n"
                           + comment_feedback(code, check.messages, round) + "\n\n"
                           + reopened(problem))
    if previous.parts.messages is None:
        raise ValueError(f"the {style} style corrects chats, not raw completions")
    if style == GOEDEL_V2:
        feedback = goedel_feedback(code, check.messages, round)
    elif style == KIMINA_2025:
        feedback = kimina_feedback(code, check)
    else:
        raise ValueError(f"unknown correction style {style!r}; known: {', '.join(STYLES)}")
    return PromptParts(messages=(*previous.parts.messages, ChatMessage("assistant", previous.raw),
                                 ChatMessage("user", feedback)))


__all__ = [
    "COMMENT", "GOEDEL_V2", "KIMINA_2025", "STYLES", "Turn", "comment_feedback",
    "goals_before", "goedel_error_text", "goedel_feedback", "kimina_feedback", "lean_errors",
    "next_parts", "reopened", "style_for",
]
