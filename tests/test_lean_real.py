"""End to end with a real Lean toolchain. Runs wherever `lake` is on PATH (see conftest.py);
the first run sets the workspace up, as a user's first `prover check` would."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from lean_bridge.checker import LeanChecker
from lean_bridge.outcome import Status
from lean_bridge.pool import PoolConfig, ReplPool
from lean_bridge.workspace import default_workspace, workspace_spec

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.lean


def test_check_mathlib_free_example_end_to_end():
    result = subprocess.run([shutil.which("prover"), "check", str(REPO / "examples" / "basics.lean"), "--json"],
                            capture_output=True, text=True, timeout=7200, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert {t["status"] for t in report["theorems"]} == {"proved"}
    assert report["lean_version"].startswith("4.")


async def test_real_lean_rejects_a_wrong_proof_and_reports_a_sorry():
    pool = ReplPool(workspace_spec(default_workspace()), PoolConfig(max_processes=1))
    checker = LeanChecker(pool, timeout=120)
    try:
        wrong = await checker.check("", "theorem w : 2 + 2 = 5 := by decide\n")
        sorry = await checker.check("", "theorem s (n : Nat) : n + 0 = n := by sorry\n")
        async with checker.proof_session("", "theorem r (n : Nat) : n + 0 = n := by") as session:
            step = await session.run_tactic(session.root.proof_state, "simp")
            recheck = await session.recheck("\n  simp\n")
    finally:
        await pool.close()
    assert wrong.status is Status.ERROR
    assert sorry.status is Status.INCOMPLETE
    assert step.status == "completed" and recheck.status is Status.PROVED
