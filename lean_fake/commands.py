"""Command and file requests: what the fake's "elaborator" answers for a piece of Lean source.

Nothing is type-checked. The reader (`lean_fake.reader`) finds the commands; here they become
the REPL's messages, sorries, root goals and tactics, in the REPL's order of proof-state ids.
"""
from __future__ import annotations

import bisect
import json
import re
import time

from lean_fake.goals import (
    have_hypothesis,
    hypotheses_of,
    tactic_goals_text,
    with_hypothesis,
)
from lean_fake.reader import (
    _IDENT,
    ASCII_WS,
    DECL_KWS,
    IMPORT_RE,
    PROOF_KWS,
    SORRY_RE,
    Positions,
    Segment,
    _goal_text,
    _squash,
    analyze,
)
from lean_fake.state import Env, ReplState
from lean_fake.tactic_block import pieces, read_calc, step_terms

DEFAULT_AXIOMS = ["propext", "Classical.choice", "Quot.sound"]
CALC_STEPS_NODE = (4, 14, 0)  # first tag whose allTactics lists a calc's steps node
FILE_ENV = (4, 22, 0)  # first tag whose file mode takes an `env`
ONE_UNFINISHED_BY_ERROR = (4, 31, 0)  # before it, an empty `by` at EOF also has a parse error


def _burn_cpu(seconds: float) -> None:
    """Spin until this process has used ``seconds`` more CPU time: real Lean's import reads
    and links the .olean files on the CPU, which a sleep does not imitate (the CPU cost of a
    check is what a process-per-check design pays again on every check)."""
    until = time.process_time() + seconds
    while time.process_time() < until:
        pass


class _Messages:
    """A command's messages, each with its sort key (segment, phase, start)."""

    def __init__(self, pos: Positions, segments: list[Segment]):
        self.pos = pos
        self.messages: list[tuple[tuple, dict]] = []  # (sort key, message)
        self.starts = [s.start for s in segments]  # in text order

    def seg_of(self, index: int) -> int:
        # The last segment starting at or before `index`, by bisection: a file of many
        # declarations must not cost the fake time quadratic in them.
        return bisect.bisect_right(self.starts, index) - 1

    def add(self, severity, data, start, end, phase=0, seg=None):
        """A message over [start, end); `end` None is the REPL's `"endPos": null`."""
        key = (self.seg_of(start) if seg is None else seg, phase, start)
        self.messages.append((key, {"severity": severity, "pos": self.pos(start),
                                    "endPos": None if end is None else self.pos(end),
                                    "data": data}))


class Commands(ReplState):
    """The ``cmd`` and ``path`` requests, on top of the REPL's bookkeeping."""

    def command(self, text: str, req: dict, rule, match, file: bool = False):
        # Before v4.22 (PR #99) `processFile` ran with `env := none` whatever the request said.
        env_id = None if file and self.version < FILE_ENV else req.get("env")
        if env_id is not None and env_id >= len(self.envs):
            return {"message": "Unknown environment."}
        if rule is not None and rule["message"] is not None:
            return {"message": rule["message"]}
        parent = self.envs[env_id] if env_id is not None else None
        pos = Positions(text)
        masked, segments = analyze(text)
        out = _Messages(pos, segments)

        new = Env(parent=parent, imports=parent.imports if parent else ())
        self._read_header(masked, segments, parent, new, out)
        sorry_at, loose_sorries = self._sorries_by_declaration(masked, segments, out)
        rule_errors = rule is not None and any(
            (msg.get("severity", "error") == "error") for msg in (rule["messages"] or []))
        sorry_items, root_items, tactic_items = self._declarations(
            text, masked, segments, req, new, sorry_at, rule_errors, out)
        for s in loose_sorries:
            sorry_items.append((s, "⊢ True"))

        sorry_items.sort(key=lambda item: item[0])
        if rule is not None:
            sorry_items, tactic_items = self._apply_rule(
                rule, match, text, pos, sorry_items, tactic_items, out)
        sorries, tactics = self._number_items(pos, sorry_items, root_items, tactic_items)

        self.envs.append(new)
        response: dict = {"env": len(self.envs) - 1}
        messages = out.messages
        if messages:
            messages.sort(key=lambda item: item[0])
            response["messages"] = [m for _k, m in messages]
        if sorries:
            response["sorries"] = sorries
        if tactics:
            response["tactics"] = tactics
        return response

    # -- the steps of a command ----------------------------------------------------------------
    def _read_header(self, masked: str, segments: list[Segment], parent, new: Env,
                     out: _Messages) -> None:
        """The `import` lines: a fresh env's header, an error anywhere else."""
        add = out.add
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
            if self.args.import_cpu:
                _burn_cpu(self.args.import_cpu)

    @staticmethod
    def _sorries_by_declaration(masked: str, segments: list[Segment], out: _Messages):
        """Sorries, by declaration: ({segment: [index]}, [index outside any declaration])."""
        sorry_at: dict[int, list[int]] = {}
        loose_sorries: list[int] = []
        for m in SORRY_RE.finditer(masked):
            k = out.seg_of(m.start())
            if k >= 0 and segments[k].kw in DECL_KWS:
                sorry_at.setdefault(k, []).append(m.start())
            else:
                loose_sorries.append(m.start())
        return sorry_at, loose_sorries

    def _declarations(self, text: str, masked: str, segments: list[Segment], req: dict,
                      new: Env, sorry_at, rule_errors, out: _Messages):
        """Each command in turn: (sorry items, root-goal items, tactic items)."""
        add = out.add
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
                # A `sorry` tactic sees the hypotheses of the `have`s before it, like the
                # goals-before of its allTactics entry.
                threaded = ({t["start"]: t["goals"] for t in self._tactics(text, masked, seg, goal)}
                            if sorries and seg.by_span else {})
                for s in sorries:
                    sorry_items.append((s, self._local_goal(text, masked, s, seg)
                                        or self._calc_goal(text, masked, seg, goal, s)
                                        or threaded.get(s) or goal))
                if sorries:
                    if seg.full_name:
                        new.sorry_names.add(seg.full_name)
                    add("warning", f"declaration uses {self._sorry_word()}", *seg.name_span,
                        phase=1, seg=k)
                elif seg.by_span and seg.by_span[1] == seg.decl_end:
                    self._unfinished_by(masked, seg.by_span, goal, out, k)
                elif (self.version[:2] == (4, 19) and seg.by_span and not rule_errors):
                    add("info", "Goals accomplished!", seg.start, seg.decl_end, phase=1, seg=k)
                if req.get("rootGoals") and seg.proof_start is not None and seg.kw in PROOF_KWS:
                    root_items.append((seg.proof_start, goal))
                if req.get("allTactics") and seg.by_span:
                    tactic_items.extend(self._tactics(text, masked, seg, goal))
            elif seg.kw == "#print":
                self._print_axioms(text, masked, seg, new, out)
            elif seg.kw == "#eval":
                if re.match(r"\s+Lean\.versionString(?![\w'!?.])", masked[seg.kw_end:seg.end]):
                    # #eval of a String shows it quoted, as `repr` would.
                    add("info", json.dumps(self.args.version.lstrip("v"), ensure_ascii=False),
                        seg.kw_start, seg.kw_end)
        return sorry_items, root_items, tactic_items

    def _unfinished_by(self, masked: str, by_span: tuple[int, int], goal: str, out: _Messages,
                       k: int) -> None:
        """`def f : Nat := by` and nothing after it: the goal is left unsolved at the `by`. Before
        v4.31 the parser first complains at the end of input, with no end position (the
        `unfinished_tactic_block` transcripts). An empty `by` followed by another command is
        left alone: what Lean says there depends on that command."""
        if masked[by_span[1]:].strip(ASCII_WS):
            return
        if self.version < ONE_UNFINISHED_BY_ERROR:
            out.add("error", "unexpected end of input; expected '{'", len(masked), None,
                    phase=-1, seg=k)
        out.add("error", "unsolved goals\n" + goal, by_span[0], by_span[1], seg=k)

    def _print_axioms(self, text: str, masked: str, seg: Segment, new: Env,
                      out: _Messages) -> None:
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
            out.add("info", data, seg.kw_start, seg.kw_end + m.end(1))

    def _apply_rule(self, rule, match, text, pos, sorry_items, tactic_items, out: _Messages):
        """The rule's messages, sorries and tactics: (sorry items, tactic items)."""
        for msg in rule["messages"] or []:
            start, end = self._rule_span(pos, text, match, msg)
            out.add(msg.get("severity", "error"), msg.get("data", ""), start, end)
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
        return sorry_items, tactic_items

    def _number_items(self, pos, sorry_items, root_items, tactic_items):
        """Proof-state ids in the REPL's order: sorries, then root goals, then tactics."""
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
            entry = {"tactic": item["tactic"], "goals": tactic_goals_text(goals, self.version),
                     "pos": pos(item["start"]),
                     "endPos": pos(item["end"]),
                     "proofState": self._new_state([] if goals == "no goals" else [goals])}
            if self.version >= (4, 14, 0):
                entry["usedConstants"] = []
            tactics.append(entry)
        return sorries, tactics

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

    def _tactics(self, text, masked, seg, goal):
        """Best effort `allTactics`: every non-blank line of the `by` block (split at top-level
        `;`, bullets dropped), each with the declaration's goal plus the hypotheses of the
        `have`s before it; a `calc` is one tactic, then (from v4.14) its steps node, then the
        tactics of its steps' `by` blocks, each with its step's goal."""
        items: list[dict] = []

        def item(a, b, goals, tactic=None):
            items.append({"tactic": text[a:b] if tactic is None else tactic, "goals": goals,
                          "start": a, "end": b})

        current = goal
        skip_to = -1
        for a, b in pieces(masked, seg.by_span[1], seg.decl_end):
            if a < skip_to:
                continue
            calc = read_calc(text, masked, a, seg.decl_end)
            if calc is None:
                item(a, b, current)
                have = have_hypothesis(text[a:b])
                if have is not None:
                    current = with_hypothesis(current, have[0], have[1])
                continue
            item(a, calc.end, current)
            if self.version >= CALC_STEPS_NODE:
                item(calc.steps[0].start, calc.end, "no goals",
                     tactic=text[calc.kw_end:calc.end])
            for step, term in zip(calc.steps, step_terms(calc), strict=True):
                by = re.match(r"\s*by(?![\w'!?])", masked[step.proof_start:step.end])
                if by:
                    step_goal = hypotheses_of(current) + "⊢ " + term
                    for c, d in pieces(masked, step.proof_start + by.end(), step.end):
                        item(c, d, step_goal)
            skip_to = calc.end
        return items

    def _calc_goal(self, text, masked, seg, goal, index):
        """The goal of a `calc` step's proof that contains `index`, if any."""
        if seg.by_span is None:
            return None
        for a, _b in pieces(masked, seg.by_span[1], seg.decl_end):
            calc = read_calc(text, masked, a, seg.decl_end)
            if calc is None:
                continue
            for step, term in zip(calc.steps, step_terms(calc), strict=True):
                if step.proof_start <= index < step.end:
                    return hypotheses_of(goal) + "⊢ " + term
        return None


def _merge_hyp_lines(hyps: list[str]) -> list[str]:
    pairs = [tuple(h.split(" : ", 1)) for h in hyps]  # each hyp is "names : type"
    text = _goal_text(pairs, "")  # type: ignore[arg-type]
    return text.split("\n")[:-1]


def _suffixes(name: str):
    parts = name.split(".")
    return [parts[i:] for i in range(1, len(parts))]

