"""What RMaxTS charges Lean, counted in the fake REPL's request log, at the default pin
(v4.9.0-rc1, whose ``allTactics`` goals are flattened and re-read in tactic mode) and at
v4.33: ``prover prove --search rmaxts`` with a model over HTTP (``test_backend_openai``'s
``lean-steps`` answers, each a ``have`` line then ``sorry``, so every rollout grows a node;
``lean-steps-error``: a ``have`` line then a tactic Lean refuses, whose flattened goals-before
is the new node's state at v4.9).

One command per distinct candidate (the model's answers repeat: a copy takes the first one's
outcome, ``search.verdicts``), checked on the worker that then answers its probes (no
re-check, no extra proof session), and no probe for a state the tree already holds: the
default pin costs what v4.33 costs."""
from __future__ import annotations

import json
import os
import shlex

import pytest

if not os.environ.get("CI"):
    pytest.importorskip("httpx")  # in CI a missing httpx is an install bug: fail, don't skip

from conftest import fake_repl_command
from test_backend_openai import server  # noqa: F401  (the fixture)
from test_prove import prove, write
from test_state_comment_cli import THEOREM

GENERATIONS = 12


REFUSED = {"rules": [{"match": r"nlinarith \[h₁\]", "on": "cmd",
                      "messages": [{"severity": "error", "data": "linarith failed"}]}]}


def requests_of(tmp_path, url, version: str, model: str = "lean-steps"
                ) -> tuple[dict, list[dict]]:
    folder = tmp_path / f"{model}-{version}"
    folder.mkdir()
    log = folder / "requests.jsonl"
    path = write(folder, "t.lean", THEOREM)
    script = folder / "rules.json"
    script.write_text(json.dumps(REFUSED))
    fake = fake_repl_command("--version", version, "--log", str(log), "--script", str(script))
    result = prove(path, "--search", "rmaxts", "--budget", f"1x{GENERATIONS}", "--policy",
                   f"openai:{url}#{model}?logprobs=false", "--json", repl=shlex.join(fake))
    assert result.returncode == 1, result.stderr  # no answer is a proof
    [row] = json.loads(result.stdout)["theorems"]
    return row, [json.loads(line) for line in log.read_text().splitlines()]


def test_the_default_pin_costs_one_check_per_candidate_like_v4_33(tmp_path, server):  # noqa: F811
    url, _state = server
    rows = {v: requests_of(tmp_path, url, v) for v in ("v4.9.0-rc1", "v4.33.0-rc2")}
    for version, (row, requests) in rows.items():
        assert row["generations"] == GENERATIONS and row["tree"]["nodes"] > 3, version
        checks = [r for r in requests if r.get("allTactics")]
        # each distinct candidate checked once, and the answers did repeat
        assert len(checks) == len({r["cmd"] for r in checks}) == row["distinct"], version
        assert 3 < row["distinct"] < GENERATIONS, version
        # The rest: the header, the version probe and the root's `sorry`, nothing per rollout.
        others = [r for r in requests if not r.get("allTactics")]
        assert len(others) == 3 and all("tactic" not in r for r in others), (version, others)
        # Every request but the header import and the version probe is the search's own.
        assert row["lean_calls"] == len(requests) - 2, version
    (old, old_requests), (new, new_requests) = rows.values()
    assert old["lean_calls"] == new["lean_calls"] and old["tree"] == new["tree"]


def test_a_flattened_state_costs_one_skip_on_the_worker_that_checked(tmp_path, server):  # noqa: F811
    url, _state = server
    rows = {v: requests_of(tmp_path, url, v, "lean-steps-error") for v in ("v4.9.0-rc1", "v4.33.0-rc2")}
    for version, (row, requests) in rows.items():
        checks = [r for r in requests if r.get("allTactics")]
        # no candidate checked twice, to probe it or because it was sampled again
        assert len(checks) == len({r["cmd"] for r in checks}) == row["distinct"], version
        assert [r for r in requests if not r.get("allTactics") and "tactic" not in r][3:] == []
        assert row["lean_calls"] == len(requests) - 2, version
    (old, old_requests), (new, new_requests) = rows.values()
    # At v4.9 the new node of each rollout (the state before the refused tactic) is re-read
    # once with `skip`, its ancestors' states come from the tree; v4.33 prints it multi-line.
    skips = [r for r in old_requests if "tactic" in r]
    assert len(skips) == old["distinct"] and all(r["tactic"] == "skip" for r in skips)
    assert not any("tactic" in r for r in new_requests)
    assert old["tree"] == new["tree"] and new["tree"]["nodes"] > 3
