"""A small synthetic proof world, served through the fake REPL, and a scripted proposer.

Not a test module: tests import it. Search algorithms are tested here with the whole
pipeline running for real (design.md §6): proposals go through ``LeanChecker`` to a fake
REPL subprocess whose rules make it answer the way Lean would in this world.

The world. A goal is a target under the hypotheses ``n : ℕ`` and ``h₀ : 0 < n`` (and an
optional ``case`` tag). A proof state is a list of goals; a tactic acts on the first one:
``World.moves[goal][tactic]`` is the list of subgoals it leaves (two for a split, one for a
step, none for a close); a tactic not listed for the goal fails. Proofs are canonical text:
one tactic per line, indented two spaces, each line ending in a newline.

The rules (``World.rules()``; one group per reachable proof prefix P, i.e. a sequence of
tactics that all succeed, enumerated from the root; S = the statement, line numbers
relative to the command text ``S + proof`` the checker sends):

* ``S + P`` and nothing else: no messages when P closes every goal; else Lean's
  ``unsolved goals`` error (with the goals) at the statement's ``by``.
* ``S + P`` then a line that is not a valid next tactic: an error at that line (line and
  column computed: the fake would otherwise place it at the match span, i.e. at 0); when P
  closed every goal, the error is ``no goals to be proved``.
* in both, ``tactics`` gives each tactic of P (and the failing one) its goals BEFORE, in
  the REPL's format (goals separated by a blank line), with exact positions;
* tactic mode, for the probes ``search.segments`` builds where a state is not reported
  (the end of an unfinished proof): in a flat block the probe replays the last tactic from
  its own proof state, so each tactic gets a rule answering the goals it leaves. A rule
  sees the tactic's text, not the state, so only tactics whose result is the same wherever
  they apply get one (all of them in the worlds below); others fall to the catch-all;
* ``S + "  sorry"`` answers one sorry whose goal is the root goal (the tree's root key);
* last, catch-alls: any other proof text of S is an error at its first line, any other
  tactic an error, so nothing outside the world is ever "proved".

Rules are anchored at the start of the command (``\\A`` + the statement), so the checker's
own commands (the header, ``#eval Lean.versionString``, a separate ``#print axioms NAME``)
match none; ``#print axioms`` lines the checker appends to the proof's own command are
allowed after it (``END``). Either way the audit keeps the fake's default answer (propext,
Classical.choice, Quot.sound), so an honest proof passes it.
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from search.problem import Problem
from search.protocols import Proposal

HYPOTHESES = (("n", "ℕ"), ("h₀", "0 < n"))
HEADER = "import Mathlib\n"
INDENT = "  "
NO_GOALS = "no goals"
# The end of a command: whitespace, then maybe the checker's own `#print axioms NAME` lines
# (it may send them in the same command as the proof, after a blank line).
AUDIT = r"#print axioms [^\n]*"
END = r"[ \t\n]*(?:" + AUDIT + r"(?:\n[ \t\n]*|\Z))*\Z"


@dataclass(frozen=True)
class Goal:
    target: str
    case: str | None = None


@dataclass(frozen=True)
class World:
    """A proof world: goals by id, the working tactics of each, extra wrong tactics."""

    name: str
    goals: Mapping[str, Goal]
    moves: Mapping[str, Mapping[str, tuple[str, ...]]]
    distractors: tuple[str, ...] = ()
    root: str = "G0"
    header: str = HEADER
    max_prefixes: int = 2000

    # -- text ---------------------------------------------------------------------------------

    @property
    def statement(self) -> str:
        binders = " ".join(f"({n} : {t})" for n, t in HYPOTHESES)
        return f"theorem {self.name} {binders} : {self.goals[self.root].target} := by\n"

    def problem(self) -> Problem:
        return Problem(self.name, self.header, self.statement)

    def goal_text(self, goal: str) -> str:
        g = self.goals[goal]
        case = f"case {g.case}\n" if g.case else ""
        return case + "".join(f"{n} : {t}\n" for n, t in HYPOTHESES) + "⊢ " + g.target

    def state_text(self, state: Sequence[str]) -> str:
        """A proof state as the REPL prints ``goals``: goals separated by a blank line."""
        return "\n\n".join(self.goal_text(g) for g in state) if state else NO_GOALS

    @property
    def root_goal(self) -> str:
        return self.state_text([self.root])

    @staticmethod
    def proof_text(tactics: Sequence[str]) -> str:
        return "".join(f"{INDENT}{t}\n" for t in tactics)

    # -- semantics ----------------------------------------------------------------------------

    @property
    def vocabulary(self) -> tuple[str, ...]:
        words = {t for m in self.moves.values() for t in m} | set(self.distractors)
        return tuple(sorted(words))

    def moves_of(self, goal: str) -> Mapping[str, tuple[str, ...]]:
        return self.moves.get(goal, {})

    def apply(self, state: tuple[str, ...], tactic: str) -> tuple[str, ...] | None:
        """The state after ``tactic`` on the first goal; None when it fails."""
        if not state or tactic not in self.moves_of(state[0]):
            return None
        return tuple(self.moves_of(state[0])[tactic]) + state[1:]

    def run(self, tactics: Sequence[str]) -> tuple[str, ...] | None:
        state: tuple[str, ...] | None = (self.root,)
        for t in tactics:
            state = self.apply(state, t) if state is not None else None
        return state

    def prefixes(self) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
        """Every valid proof prefix with its state, depth first from the empty one."""
        out: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
        stack: list[tuple[tuple[str, ...], tuple[str, ...]]] = [((), (self.root,))]
        while stack:
            prefix, state = stack.pop()
            out.append((prefix, state))
            if len(out) > self.max_prefixes:
                raise ValueError(f"world {self.name} has over {self.max_prefixes} proof prefixes")
            if state:
                for t in sorted(self.moves_of(state[0]), reverse=True):
                    stack.append((prefix + (t,), self.apply(state, t)))  # type: ignore[arg-type]
        return out

    def proofs(self) -> list[tuple[str, ...]]:
        return [p for p, s in self.prefixes() if not s]

    # -- fake REPL rules ----------------------------------------------------------------------

    def _line(self, k: int) -> int:
        """Line (1-based, in the command text) of the proof's k-th tactic (0-based)."""
        return self.statement.count("\n") + 1 + k

    def _tactic_entries(self, prefix: Sequence[str]) -> list[dict]:
        entries, state = [], (self.root,)
        for k, t in enumerate(prefix):
            line = self._line(k)
            entries.append({"tactic": t, "goals": self.state_text(state), "line": line,
                            "column": len(INDENT), "endLine": line,
                            "endColumn": len(INDENT) + len(t)})
            state = self.apply(state, t)  # type: ignore[assignment]
        return entries

    def rules(self) -> dict:
        stmt = re.escape(self.statement)
        by_line = self.statement.count("\n")
        last = self.statement.rstrip("\n").split("\n")[-1]
        by_column = last.rindex("by")
        rules: list[dict] = [{
            "on": "cmd", "match": r"\A" + stmt + r"[ \t]*sorry" + END,
            "sorries": [{"goal": self.root_goal}],
        }]
        after: dict[str, set[tuple[str, ...]]] = {}  # tactic -> states it leaves
        for prefix, state in self.prefixes():
            # S + P without P's last newline (optional: the patterns go on with `\n|\Z`).
            core = stmt + r"\n".join(re.escape(f"{INDENT}{t}") for t in prefix)
            entries = self._tactic_entries(prefix)
            bad_line = self._line(len(prefix))
            if state:
                end_messages = [{"severity": "error", "line": by_line, "column": by_column,
                                 "data": "unsolved goals\n" + self.state_text(state)}]
                good = sorted(self.moves_of(state[0]), key=len, reverse=True)
                bad_data = "tactic failed, the goal is not of the expected form\n" \
                    + self.state_text(state)
            else:
                end_messages, good, bad_data = [], [], "no goals to be proved"
            rules.append({"on": "cmd", "match": r"\A" + core + END,
                          "messages": end_messages, "tactics": entries})
            nl = r"\n" if prefix else ""
            not_good = (r"(?![ \t]*(?:" + "|".join(re.escape(t) for t in good)
                        + r")[ \t]*(?:\n|\Z))") if good else ""
            rules.append({
                "on": "cmd",
                "match": r"\A" + core + nl + not_good + r"(?![ \t]*" + AUDIT + r")(?=[ \t]*\S)",
                "messages": [{"severity": "error", "line": bad_line, "column": len(INDENT),
                              "data": bad_data}],
                "tactics": entries + [{"tactic": "<failed>", "goals": self.state_text(state),
                                       "line": bad_line, "column": len(INDENT)}],
            })
            if prefix:
                after.setdefault(prefix[-1], set()).add(state)
        # Tactic mode (probes): a rule sees the tactic text only, not the proof state, so a
        # tactic gets one when its result is the same wherever the world uses it.
        for tactic, states in sorted(after.items()):
            if len(states) == 1:
                rules.append({"on": "tactic", "match": r"\A" + re.escape(tactic) + r"\Z",
                              "goals": [self.goal_text(g) for g in next(iter(states))]})
        rules.append({"on": "cmd", "match": r"\A" + stmt, "messages": [
            {"severity": "error", "line": by_line + 1, "column": 0,
             "data": f"synthetic world {self.name}: unexpected proof text"}]})
        # `skip` re-reads a state (a flattened one, before Lean v4.14): Lean leaves it as it is.
        rules.append({"on": "tactic", "match": r"\Askip\Z"})
        rules.append({"on": "tactic", "match": "", "messages": [
            {"severity": "error", "data": f"synthetic world {self.name}: unknown tactic"}]})
        return {"rules": rules}

    def write_rules(self, directory: Path) -> Path:
        path = Path(directory) / f"{self.name}.rules.json"
        path.write_text(json.dumps(self.rules(), ensure_ascii=False), encoding="utf-8")
        return path


# -- worlds ---------------------------------------------------------------------------------

DISTRACTORS = ("simp", "linarith", "omega", "norm_num", "positivity", "ring_nf")


def branching_world(name: str = "branching_world") -> World:
    """A conjunction split into two cases, each closed in two steps, plus dead ends:
    ``apply pq_of_r`` leads to ``n < 0`` where nothing works, ``apply p_of_pred`` to
    ``P (n - 1)`` likewise. Shortest proof: 5 tactics."""
    goals = {
        "G0": Goal("P n ∧ Q n"),
        "L": Goal("P n", "left"), "R": Goal("Q n", "right"),
        "L1": Goal("0 < n", "left"), "L2": Goal("P (n - 1)", "left"),
        "R1": Goal("1 ≤ n * n", "right"),
        "D": Goal("R n"), "D1": Goal("n < 0"),
    }
    moves = {
        "G0": {"constructor": ("L", "R"), "apply pq_of_r": ("D",)},
        "L": {"apply p_of_pos": ("L1",), "apply p_of_pred": ("L2",)},
        "L1": {"exact h₀": ()},
        "R": {"apply q_of_sq": ("R1",)},
        "R1": {"nlinarith [h₀]": (), "exact Nat.one_le_iff_ne_zero.mpr (by omega)": ()},
        "D": {"apply r_of_neg": ("D1",)},
    }
    return World(name, goals, moves, DISTRACTORS)


def chain_world(depth: int = 4, name: str = "chain_world") -> World:
    """The sparse world: the proof is ``depth`` specific steps, one working tactic each."""
    goals = {f"G{i}": Goal(f"S{i} n") for i in range(depth)}
    moves = {f"G{i}": {f"apply s{i}_of_s{i + 1}": (f"G{i + 1}",)} for i in range(depth - 1)}
    moves[f"G{depth - 1}"] = {f"exact s{depth - 1}_holds n": ()}
    return World(name, goals, moves, DISTRACTORS)


# -- a scripted proposer ------------------------------------------------------------------------

@dataclass
class ScriptedProposer:
    """Stands in for a model: continues a proof prefix by a seeded random walk.

    At each step it picks one of the working tactics for the first goal with probability
    ``p_correct``, else a wrong one from the world's vocabulary (then, like a model that
    carries on, up to ``trailing`` more random lines, which truncation cuts away). With
    probability ``stop`` per step (after the first) it stops early, leaving an unfinished
    proof. With probability ``redundant`` a walk that closed every goal goes on with one
    more line (Lean: "no goals to be proved"), so the valid prefix is a proof that was not
    checked alone. Given a prefix that already closes every goal it continues with nothing,
    an empty proposal, as a model does. It checks that the tactic state it is given is the
    world's state after the prefix (None at the root) and records any mismatch in
    ``mismatches``; ``prompts`` records each (prefix, state comment) it was asked with.
    """

    world: World
    p_correct: float = 0.5
    max_steps: int = 16
    stop: float = 0.0
    trailing: int = 1
    redundant: float = 0.0
    calls: int = 0
    mismatches: list = field(default_factory=list)
    prompts: list = field(default_factory=list)

    async def propose_proofs(self, problem: Problem, n: int, *, prefix: str = "",
                             tactic_state: str | None = None, seed: int | None = None,
                             temperature: float = 1.0, state_comment: str | None = None
                             ) -> list[Proposal]:
        self.calls += 1
        self.prompts.append((prefix, state_comment))
        tactics = [line.strip() for line in prefix.splitlines() if line.strip()]
        state = self.world.run(tactics)
        if state is None:
            raise ValueError(f"not a valid proof prefix in {self.world.name}: {prefix!r}")
        expected = self.world.state_text(state) if tactics else None
        if tactic_state != expected:
            self.mismatches.append((prefix, tactic_state, expected))
        rng = random.Random(seed)
        out = []
        for _ in range(n):
            lines = self._walk(state, rng)
            if lines or not state:
                out.append(Proposal(World.proof_text(lines), None, len(lines)))
        return out

    def _walk(self, state: tuple[str, ...], rng: random.Random) -> list[str]:
        lines: list[str] = []
        vocabulary = self.world.vocabulary
        while state and len(lines) < self.max_steps:
            if lines and self.stop and rng.random() < self.stop:
                break
            good = sorted(self.world.moves_of(state[0]))
            bad = [t for t in vocabulary if t not in good]
            if good and (not bad or rng.random() < self.p_correct):
                tactic = rng.choice(good)
                lines.append(tactic)
                state = self.world.apply(state, tactic)  # type: ignore[assignment]
            else:
                lines.append(rng.choice(bad))
                lines.extend(rng.choice(vocabulary) for _ in range(rng.randrange(self.trailing + 1)))
                break
        if lines and not state and self.redundant and rng.random() < self.redundant:
            lines.append(rng.choice(vocabulary))
        return lines


# -- the same, behind the policy interface ---------------------------------------------------

STATE_OPEN = "/- tactic state:"


@dataclass
class ScriptedPolicy:
    """A ``ScriptedProposer`` as a completion model, for ``LMProposer`` with the
    ``deepseek-v1.5`` format: it reads the proof prefix and the tactic state back out of
    each prompt (the text after the statement; the state from its ``/- tactic state: … -/``
    comment, None when there is none) and answers the walk's text followed by the closing
    fence, as the model does. So the proposer's own prompt building and post-processing run
    (an empty walk answers just the fence). ``prompts`` keeps every prompt."""

    proposer: ScriptedProposer
    name: str = "scripted"
    prompts: list = field(default_factory=list)

    async def generate(self, requests: Sequence) -> list[list]:
        from prover.policies.policy import Completion

        world = self.proposer.world
        out = []
        for r in requests:
            self.prompts.append(r.prompt)
            tail = r.prompt[r.prompt.index(world.statement) + len(world.statement):]
            at = tail.find(STATE_OPEN)
            code, state = (tail, None) if at < 0 else (tail[:tail.rfind("\n", 0, at) + 1],
                                                        _comment_state(tail[at:]))
            got = await self.proposer.propose_proofs(world.problem(), r.n, prefix=code,
                                                     tactic_state=state, seed=r.seed)
            out.append([Completion(p.text + "```\n") for p in got])
        return out

    async def close(self) -> None:
        return None


def _comment_state(comment: str) -> str:
    """The state a ``/- tactic state: … -/`` comment carries (its lines, indent removed)."""
    lines = comment.split("\n")[1:]
    body = lines[:next(i for i, line in enumerate(lines) if line.strip() == "-/")]
    pad = min((len(x) - len(x.lstrip(" ")) for x in body if x.strip()), default=0)
    return "\n".join(x[pad:] for x in body)


__all__ = ["DISTRACTORS", "Goal", "ScriptedPolicy", "ScriptedProposer", "World",
           "branching_world", "chain_world"]
