"""LeanChecker: command-mode verdicts and tactic mode, against the fake REPL."""
from __future__ import annotations

import json

import pytest
from conftest import fake_repl_command

from lean_bridge.checker import LeanChecker
from lean_bridge.outcome import Status
from lean_bridge.pool import PoolConfig, ReplPool
from lean_bridge.process import ReplSpec

HEADER = "import Mathlib\n"
STATEMENT = "theorem t (a b : ℕ) (h : a = b) : b = a := by\n"


def checker(*args: str, timeout: float = 10) -> LeanChecker:
    return LeanChecker(ReplPool(ReplSpec(fake_repl_command(*args)), PoolConfig(max_processes=1)), timeout=timeout)


async def test_command_verdicts():
    c = checker("--error-on", "bad_tactic")
    try:
        proved = await c.check(HEADER, STATEMENT + "  exact h.symm\n")
        sorry = await c.check(HEADER, STATEMENT + "  sorry\n")
        error = await c.check(HEADER, STATEMENT + "  bad_tactic\n")
    finally:
        await c.pool.close()
    assert proved.status is Status.PROVED and proved.lean_version == "4.9.0-rc1"
    assert sorry.status is Status.INCOMPLETE and sorry.sorries
    assert error.status is Status.ERROR and error.reasons


async def test_sorry_hidden_only_in_a_warning_is_incomplete(tmp_path):
    # SorryDB #197: some tactics leave a sorry that is only visible as the warning.
    script = tmp_path / "rules.json"
    script.write_text(json.dumps({"rules": [{"match": "mystery_tactic", "messages": [
        {"severity": "warning", "data": "declaration uses 'sorry'"}]}]}))
    c = checker("--script", str(script))
    try:
        result = await c.check(HEADER, STATEMENT + "  mystery_tactic\n")
    finally:
        await c.pool.close()
    assert result.status is Status.INCOMPLETE


@pytest.mark.parametrize("version,has_status", [("v4.9.0-rc1", False), ("v4.19.0", True)])
async def test_tactic_mode_with_and_without_proof_status(version, has_status):
    c = checker("--version", version)
    try:
        async with c.proof_session(HEADER, STATEMENT) as session:
            root = session.root
            assert root.status == "open" and "b = a" in root.goals[0]
            step = await session.run_tactic(root.proof_state, "exact h.symm")
            assert step.status == "completed"
            stuck = await session.run_tactic(root.proof_state, "sorry")
            assert stuck.status == "error"
            final = await session.recheck("  exact h.symm\n")
    finally:
        await c.pool.close()
    assert final.status is Status.PROVED


async def test_tactic_mode_open_goals_and_thrown_errors(tmp_path):
    script = tmp_path / "rules.json"
    script.write_text(json.dumps({"rules": [
        {"on": "tactic", "match": "^constructor$", "goals": ["⊢ p", "⊢ q"],
         "proofStatus": "Incomplete: open goals remain"},
        {"on": "tactic", "match": "^nonsense$", "message": "Lean error:\n<input>:1:1: unknown tactic"},
        {"on": "tactic", "match": "^fake_close$", "goals": [], "proofStatus": "Incomplete: contains metavariable(s)"},
    ]}))
    c = checker("--script", str(script), "--version", "v4.19.0")
    try:
        async with c.proof_session(HEADER, "theorem pq (p q : Prop) (hp : p) (hq : q) : p ∧ q :=") as s:
            opened = await s.run_tactic(s.root.proof_state, "constructor")
            thrown = await s.run_tactic(s.root.proof_state, "nonsense")
            fake = await s.run_tactic(s.root.proof_state, "fake_close")
    finally:
        await c.pool.close()
    assert opened.status == "open" and opened.goals == ("⊢ p", "⊢ q")
    assert thrown.status == "error" and "unknown tactic" in thrown.error
    # No goals left, but proofStatus says it is not a proof: not completed.
    assert fake.status == "open" and fake.goals == ()


async def test_timeout_and_crash_are_statuses_not_exceptions():
    c = checker("--hang-on", "spin", "--crash-on", "explode", timeout=0.5)
    try:
        timeout = await c.check(HEADER, STATEMENT + "  spin\n")
        crashed = await c.check(HEADER, STATEMENT + "  explode\n")
        fine = await c.check(HEADER, STATEMENT + "  exact h.symm\n")
    finally:
        await c.pool.close()
    assert timeout.status is Status.TIMEOUT
    assert crashed.status is Status.CRASHED
    assert fine.status is Status.PROVED
