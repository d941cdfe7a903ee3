"""How ``allTactics`` prints a tactic's goals (``tactics[].goals``), per version.

The REPL renders them with ``s!"{(← ctx.ppGoals goals)}"``: a Lean ``Format`` turned into a string
at the default width (``Format.defWidth`` = 120). Before v4.14.0 that ``Format`` was laid out as a
group, so a goal that fits in 120 characters comes out on one line: the line breaks between
hypotheses and before ``⊢`` become spaces (the v4.9.0-rc1 ``all_tactics`` transcript has
``"t : Nat ⊢ Nat"``). A goal that does not fit keeps its line breaks; a hypothesis that alone does
not fit breaks after its ``:`` (``ppGoal`` nests the type by 2 in its own group). From v4.14.0 the
goals are always multi-line. ``sorries[].goal``, proof-step ``goals[]`` and ``unsolved goals``
messages are multi-line at every version; only ``tactics[].goals`` is laid out here.

The fake's goals are multi-line text (``"h : T\\n⊢ U"``; several goals separated by a blank line,
a hard break after which Lean's layout decides afresh), so the layout works on that text.
"""
from __future__ import annotations

FORMAT_WIDTH = 120  # Lean's Format.defWidth
FIRST_MULTILINE = (4, 14, 0)  # first REPL tag whose tactics[].goals keep their line breaks


def tactic_goals_text(goals: str, version: tuple[int, int, int],
                      width: int = FORMAT_WIDTH) -> str:
    """``goals`` (multi-line, the fake's form) as ``tactics[].goals`` prints it at ``version``."""
    if version >= FIRST_MULTILINE or goals == "no goals":
        return goals
    return "\n\n".join(_lay_out_goal(goal, width) for goal in goals.split("\n\n"))


def _lay_out_goal(goal: str, width: int) -> str:
    lines = goal.split("\n")
    flat = " ".join(lines)
    if len(flat) <= width:  # Lean measures in characters (code points)
        return flat
    return "\n".join(_lay_out_hypothesis(line, width) for line in lines)


def _lay_out_hypothesis(line: str, width: int) -> str:
    # `(ids ++ " :" ++ nest 2 (line ++ type)).group`: flat if it fits, else the type on the
    # next line, indented by 2. The `⊢` line and `case` tags have no such group.
    if len(line) <= width or line.startswith(("⊢", "case ")) or " : " not in line:
        return line
    names, typ = line.split(" : ", 1)
    return f"{names} :\n  {typ}"
