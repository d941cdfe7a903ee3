"""Reading what the fake REPL recorded: its ``--log`` (one request per line) and its
``--stats`` (one line of counters per request, per process; see the ``lean_fake`` package)."""
from __future__ import annotations

import json
from pathlib import Path


def fake_stats(path: Path) -> dict[int, dict]:
    """Each process's current counters, by pid: the last line it wrote."""
    latest: dict[int, dict] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        latest[row["pid"]] = row
    return latest


def logged_imports(path: Path) -> int:
    """Header imports in a ``--log``: commands on a fresh environment with an ``import``."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return sum(1 for r in rows if "cmd" in r and "env" not in r and "import" in r["cmd"])
