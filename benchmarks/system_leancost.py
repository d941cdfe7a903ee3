"""Lean CPU per check: our warm pool against a fresh process per check (``prover
bench-system``, issue 17 item 6).

DeepSeek-Prover-V1.5 verifies each candidate in a new REPL process: start it, send the whole
file (header imports included) as one command, read the verdict, let it exit; so every check
pays the header import again, which with Mathlib is seconds of CPU. Our bridge keeps W REPLs
warm, each with the header imported once (``lean_bridge.pool``), and checks every candidate
in an environment made from it.

Both designs here check the same stream of ``checks`` candidates, W at a time, against fake
REPLs whose header import burns ``import_cpu`` seconds of CPU (``lean_fake --import-cpu``, a
busy loop: a sleep would cost no CPU at all). The pool goes through the full verdict
(``LeanChecker.check``: static checks, the command, the axiom audit, and each process's one
version probe); the fresh design sends one command per process, as the reference does. CPU is
counted on the REPL processes only: ``RUSAGE_CHILDREN`` of this process around each run, whose
REPLs are all reaped by its end (a terminated child's CPU is added when it is waited for; the
benchmark starts no other child meanwhile). The figures include each process's start (the
fake is a Python program: tens of ms, real Lean's start costs too).

Keys: ``lean_cpu_s_per_check_pool``, ``lean_cpu_s_per_check_fresh``,
``lean_cpu_ratio_fresh_over_pool`` (> 1: the pool spends less Lean CPU per check), with
``leancost_checks``, ``leancost_workers``, ``leancost_import_cpu_s`` and the header imports
each design made (``leancost_imports_pool`` = W, ``leancost_imports_fresh`` = checks).
"""
from __future__ import annotations

import asyncio
import json
import resource
import tempfile
from functools import partial
from pathlib import Path
from typing import Any, Awaitable, Callable

import lean_fake

HEADER = "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\nopen Real Nat\n\n"
STATEMENT = "theorem cost_{i} (x y : ℝ) (h₀ : 0 < x) (h₁ : x * y = 1) : 0 < y := by\n"
# Half the stream is refused, as most candidates are; the fake answers both at once.
PROOFS = ("  nlinarith [h₀, h₁]\n", "  linarith\n")
RULES = {"rules": [{"on": "cmd", "match": r"linarith\n",
                    "messages": [{"severity": "error", "data": "linarith failed"}]}]}


def children_cpu_s() -> float:
    """User + system CPU seconds of this process's reaped children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _stream(checks: int) -> list[str]:
    return [STATEMENT.format(i=i) + PROOFS[i % len(PROOFS)] for i in range(checks)]


async def _windowed(workers: int, jobs: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    window = asyncio.Semaphore(workers)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with window:
            return await job()

    return await asyncio.gather(*(one(j) for j in jobs))


def _imports(stats: Path) -> int:
    last: dict[int, dict[str, Any]] = {}
    for line in stats.read_text().splitlines():
        row = json.loads(line)
        last[row["pid"]] = row
    return sum(int(r["header_imports"]) for r in last.values())


async def pool_run(command: tuple[str, ...], checks: int, workers: int) -> dict[str, Any]:
    """The stream through W warm workers (the header imported once each)."""
    from lean_bridge.checker import LeanChecker
    from lean_bridge.pool import PoolConfig, ReplPool
    from lean_bridge.process import ReplSpec

    pool = ReplPool(ReplSpec(command), PoolConfig(max_processes=workers))
    lean = LeanChecker(pool, timeout=120)
    before = children_cpu_s()
    try:
        results = await _windowed(workers, [partial(lean.check, HEADER, b)
                                            for b in _stream(checks)])
    finally:
        await pool.close()  # every REPL reaped: its CPU is in RUSAGE_CHILDREN now
    return {"cpu_s": children_cpu_s() - before, "proved": sum(r.proved for r in results)}


async def fresh_run(command: tuple[str, ...], checks: int, workers: int) -> dict[str, Any]:
    """The stream with a new REPL per check: start, import and check in one command, exit."""
    from lean_bridge.process import ReplProcess, ReplSpec
    from lean_bridge.protocol import CommandResponse

    spec = ReplSpec(command)

    async def check(body: str) -> bool:
        process = await ReplProcess(spec).start()
        try:
            answer = await process.request({"cmd": HEADER + body}, timeout=120)
        finally:
            await process.close()
        return isinstance(answer, CommandResponse) and not answer.errors

    before = children_cpu_s()
    proved = await _windowed(workers, [partial(check, b) for b in _stream(checks)])
    return {"cpu_s": children_cpu_s() - before, "proved": sum(proved)}


def lean_cost(*, checks: int = 40, workers: int = 4, import_cpu: float = 0.2) -> dict[str, Any]:
    """Both runs on the same stream; the figures of the module docstring."""
    with tempfile.TemporaryDirectory() as tmp:
        rules, out = Path(tmp) / "rules.json", {}
        rules.write_text(json.dumps(RULES))
        for name, run in (("pool", pool_run), ("fresh", fresh_run)):
            stats = Path(tmp) / f"{name}.jsonl"
            command = lean_fake.command("--script", str(rules), "--stats", str(stats),
                                        "--import-cpu", str(import_cpu))
            out[name] = {**asyncio.run(run(command, checks, workers)), "imports": _imports(stats)}
    pool, fresh = out["pool"]["cpu_s"] / checks, out["fresh"]["cpu_s"] / checks
    return {
        "lean_cpu_s_per_check_pool": pool,
        "lean_cpu_s_per_check_fresh": fresh,
        "lean_cpu_ratio_fresh_over_pool": fresh / pool if pool > 0 else float("inf"),
        "leancost_checks": checks,
        "leancost_workers": workers,
        "leancost_import_cpu_s": import_cpu,
        "leancost_imports_pool": out["pool"]["imports"],
        "leancost_imports_fresh": out["fresh"]["imports"],
        "leancost_proved_pool": out["pool"]["proved"],
        "leancost_proved_fresh": out["fresh"]["proved"],
    }


if __name__ == "__main__":
    print(json.dumps(lean_cost(), indent=2))
