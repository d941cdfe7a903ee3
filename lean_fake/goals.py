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

import re

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


# `have NAME : TYPE := PROOF`, or `have NAME := NUMERAL` (a numeral elaborates to Nat by default).
_NAME = r"[^\W\d][\w'!?.]*"
_HAVE_TYPED = re.compile(r"\s*have\s+(?:(?P<name>" + _NAME + r")\s*)?:(?!=)\s*(?P<type>.+?)\s*"
                         r":=(?P<proof>.*)", re.DOTALL)
_HAVE_NUMERAL = re.compile(r"\s*have\s+(?:(?P<name>" + _NAME + r")\s*)?:=\s*\d+\s*")


def have_hypothesis(tactic: str) -> tuple[str, str, str] | None:
    """(name, type, proof text) of a `have` whose type the fake can read off its text, else None.

    Only these two forms: the fake does no elaboration, so `have h := foo x` (type unknown),
    binders (`have h (x : T) : ...`) and pattern `have ⟨a, b⟩ := ...` are left alone."""
    m = _HAVE_TYPED.fullmatch(tactic)
    if m and "\n" not in m.group("type"):
        return m.group("name") or "this", " ".join(m.group("type").split()), m.group("proof")
    m = _HAVE_NUMERAL.fullmatch(tactic)
    if m:
        return m.group("name") or "this", "Nat", ""
    return None


_SUPERSCRIPTS = "¹²³⁴⁵⁶⁷⁸⁹"


def _shadowed(names: str, name: str) -> str:
    """A hypothesis line's names once a new `name` shadows the old one: Lean shows the old one
    inaccessible, `name✝` (older ones `name✝¹`, `name✝²`, … as more shadow them)."""
    def older(n: str) -> str:
        if n == name:
            return name + "✝"
        if n == name + "✝":
            return name + "✝¹"
        if n.startswith(name + "✝") and n[len(name) + 1:] and all(c in _SUPERSCRIPTS for c in n[len(name) + 1:]):
            k = int("".join(str(_SUPERSCRIPTS.index(c) + 1) for c in n[len(name) + 1:]))
            return name + "✝" + "".join(_SUPERSCRIPTS[int(d) - 1] for d in str(k + 1))
        return n
    return " ".join(older(n) for n in names.split(" "))


def with_hypothesis(goal: str, name: str, typ: str) -> str:
    """`goal` with `name : typ` added last, merged into the previous hypothesis line when that
    has the same type (Lean shows `x y : Nat`); an earlier hypothesis of the same name becomes
    inaccessible (`h✝`)."""
    lines = [(_shadowed(line.split(" : ", 1)[0], name) + " : " + line.split(" : ", 1)[1])
             if " : " in line and not line.startswith("⊢") else line
             for line in goal.split("\n")]
    target = next((i for i, line in enumerate(lines) if line.startswith("⊢")), len(lines))
    if target and lines[target - 1].endswith(f" : {typ}") and " : " in lines[target - 1]:
        names, previous = lines[target - 1].split(" : ", 1)
        if previous == typ:
            lines[target - 1] = f"{names} {name} : {typ}"
            return "\n".join(lines)
    return "\n".join(lines[:target] + [f"{name} : {typ}"] + lines[target:])


def hypotheses_of(goal: str) -> str:
    """The hypothesis lines of `goal`, each ending in a newline."""
    return "".join(line + "\n" for line in goal.split("\n") if not line.startswith("⊢"))
