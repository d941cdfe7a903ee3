"""The tactic-state comment switch of RMaxTS, end to end: ``prover prove --search rmaxts``
with a model served over HTTP (the local server of ``test_backend_openai``), against the fake
REPL. The prompts the server receives carry a ``/- tactic state: … -/`` comment after the
proof prefix by default, and none with ``--no-state-comment`` or ``tactic_state_comment =
false`` in the project's ``prover.toml``."""
from __future__ import annotations

import json
import os

import pytest

if not os.environ.get("CI"):
    pytest.importorskip("httpx")  # in CI a missing httpx is an install bug: fail, don't skip

from test_backend_openai import LEAN_STEPS, server  # noqa: F401  (the fixture)
from test_prove import prove, write

HAVE = "  have h₁ : x = 1 := by linarith\n"  # the first line of every answer (LEAN_STEPS)
THEOREM = "import Mathlib\n\ntheorem t (x : ℝ) (h₀ : x + 1 = 2) : x = 1 := by\n  sorry\n"


assert LEAN_STEPS.startswith(HAVE)


def prompts_of(state) -> list[str]:
    return [body["prompt"] for path, body, _auth in state.received if path == "/v1/completions"]


def run(tmp_path, url, *args, cwd=None):
    path = write(tmp_path, "t.lean", THEOREM)
    result = prove(path, "--search", "rmaxts", "--budget", "1x4", "--policy",
                   f"openai:{url}#lean-steps?logprobs=false", "--json", *args, cwd=cwd)
    assert result.returncode == 1, result.stderr  # every answer ends in sorry: unproved
    assert json.loads(result.stdout)["theorems"][0]["generations"] == 4
    return result


def after_prefix(prompts: list[str]) -> list[str]:
    """What follows the statement in each prompt (the proof prefix and its comment)."""
    head = "theorem t (x : ℝ) (h₀ : x + 1 = 2) : x = 1 := by\n"
    return [p[p.index(head) + len(head):] for p in prompts]


def test_prompts_carry_the_state_comment_by_default(tmp_path, server):  # noqa: F811
    url, state = server
    run(tmp_path, url)
    tails = after_prefix(prompts_of(state))
    assert len(tails) == 4
    grown = [t for t in tails if t]
    # Each accepted `have` line grew a node; a prompt from it ends with that node's state
    # (the fake, like Lean, shows an earlier `h₁` shadowed as `h₁✝`).
    assert grown and grown[0] == (HAVE + "  /- tactic state:\n    x : ℝ\n    h₀ : x + 1 = 2\n"
                                  "    h₁ : x = 1\n    ⊢ x = 1\n  -/\n"), grown
    for tail in grown:
        code, comment = tail.split("  /- tactic state:\n")
        assert code == HAVE * code.count(HAVE) and comment.endswith("    ⊢ x = 1\n  -/\n")


def test_no_state_comment_flag_removes_the_comment(tmp_path, server):  # noqa: F811
    url, state = server
    run(tmp_path, url, "--no-state-comment")
    tails = after_prefix(prompts_of(state))
    assert len(tails) == 4 and any(tails)
    assert all(t == HAVE * t.count(HAVE) for t in tails if t), tails


def test_config_file_turns_the_comment_off(tmp_path, server):  # noqa: F811
    url, state = server
    (tmp_path / "prover.toml").write_text("tactic_state_comment = false\n")
    run(tmp_path, url, cwd=tmp_path)
    tails = after_prefix(prompts_of(state))
    assert any(tails) and all("tactic state" not in t for t in tails), tails
    state.received.clear()
    # The flag still wins over the file.
    run(tmp_path, url, "--state-comment", cwd=tmp_path)
    assert any("/- tactic state:" in t for t in after_prefix(prompts_of(state)))
