"""The REPL's bookkeeping: environments, proof states, counters, versions and rule lookup.

`ReplState` is the base of `FakeRepl`: `lean_fake.commands` adds the command and file
requests on top of it, `lean_fake.repl` the proof steps and pickles.
"""
from __future__ import annotations

import os
import re

from lean_fake.rules import Rule

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


class ReplState:
    """Ids and counters of one process: envs and proof states count from 0, as in the REPL."""

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
