"""Rules: scripted behaviour, from ``--script FILE.json`` / ``$FAKE_REPL_SCRIPT`` and the
shortcut flags."""
from __future__ import annotations

import argparse
import json
import os
import re


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

