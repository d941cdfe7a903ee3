"""A header Lean answers with an error (a missing import, a broken ``open``) is reported as
such, with Lean's message, and its environment is never reused (issue 15; other tools cache
the failed header, LeanInteract #43): exit 3 for ``check`` and ``prove`` (covered in
test_cli_bad_inputs), an ``error`` attempt in ``eval`` and ``synth``, a fresh import (and
the same refusal) on every later request for that header."""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess

import pytest
from cheat_cases import REF, t1
from conftest import fake_repl_command
from fake_counters import fake_stats, logged_imports

from lean_bridge.errors import HeaderError
from lean_bridge.pool import PoolConfig, ReplPool
from lean_bridge.process import ReplSpec

PROVER = shutil.which("prover") or "prover"
LEAN_SAYS = "unknown package 'Mathlb'"
# The fake refuses the miniF2F header (it opens with `import Mathlib`), nothing else.
REFUSES_HEADER = ("--error-on", "^import Mathlib", "--error-data", LEAN_SAYS)


async def test_a_refused_header_is_imported_again_never_reused(tmp_path):
    stats = tmp_path / "stats.jsonl"
    pool = ReplPool(ReplSpec(fake_repl_command(*REFUSES_HEADER, "--stats", str(stats))),
                    PoolConfig(max_processes=2))
    try:
        for _ in range(2):
            with pytest.raises(HeaderError, match=LEAN_SAYS):
                async with pool.acquire("import Mathlib\n"):
                    pass
        # Another header still gets a REPL, warm for later use.
        async with pool.acquire("import Aesop\n") as worker:
            assert worker.header == "import Aesop\n"
    finally:
        await pool.close()
    assert pool.stats.header_imports == 3 and pool.stats.started == 3
    assert sum(p["header_imports"] for p in fake_stats(stats).values()) == 3


@pytest.mark.parametrize("command", ["eval", "synth"])
def test_eval_and_synth_record_a_refused_header_as_error_attempts(shared, tmp_path, command):
    data = shared / "benchmarks" / "minif2f.jsonl"
    if command == "eval":
        argv = ["eval", "minif2f", "--data", str(data), "--split", "valid", "--limit", "2"]
    else:
        statements = tmp_path / "statements.jsonl"
        statements.write_text("\n".join(data.read_text().splitlines()[:2]) + "\n")
        argv = ["synth", str(statements)]
    log = tmp_path / "requests.log"
    repl = shlex.join(fake_repl_command(*REFUSES_HEADER, "--log", str(log)))
    done = subprocess.run([PROVER, *argv, "--budget", "2x2", "--search", "sample", "--repl", repl,
                           "--out", str(tmp_path / "run"), "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1, done.stderr  # infrastructure errors: a rerun redoes them
    lines = [json.loads(x) for x in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 4
    for line in lines:
        assert line["status"] == "error" and not line["proved"], line
        assert "did not elaborate" in line["error"] and LEAN_SAYS in line["error"], line
    # The manifest still knows the Lean it ran on (asked of a REPL with no imports).
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["lean"]["version"]
    # Every attempt asked Lean again: the refused environment was never lent out.
    assert logged_imports(log) >= 1 + len(lines)


def test_a_cheat_in_a_refused_header_is_still_a_cheat_and_imports_once(tmp_path):
    # An `import` slipped in after the reference's header: Lean refuses the header (the fake
    # does too), yet the finding is the static layer's, so the row says why, exit 1, and the
    # refused header is not imported a second time to find that out.
    cand, ref, log = tmp_path / "cand.lean", tmp_path / "ref.lean", tmp_path / "requests.log"
    cand.write_text(t1("  linarith", "import Mathlib.Tactic\n\n"))
    ref.write_text(REF)
    repl = shlex.join(fake_repl_command("--log", str(log)))
    done = subprocess.run([PROVER, "check", str(cand), "--against", str(ref), "--json",
                           "--repl", repl], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    (row,) = json.loads(done.stdout)["theorems"]
    assert row["status"] == "rejected" and "import" in " ".join(row["reasons"]), row
    assert logged_imports(log) == 1
