"""A resumed run adds to the earlier lines only on the same data and the same Lean (issue 13,
item 6), through the installed ``prover``: changed statements (another sha256) or a REPL that
reports another Lean version exit 2 naming the field, with the manifest left byte for byte; a
different REPL command running the same Lean is allowed and recorded. The fake REPL's
``--version`` makes it report another Lean, as the real REPL's ``#eval Lean.versionString``
would."""
from __future__ import annotations

import hashlib
import json
import shlex
import shutil

import pytest
from conftest import fake_repl_command
from test_eval import PROVER, eval_without_data, lines, minif2f, run

from benchmarks.manifest import ManifestError, check_resume, open_run, run_id


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def eval_on(data, out, *args, repl: tuple[str, ...] = ()) -> list[str]:
    return [PROVER, "eval", "minif2f", "--data", str(data), "--split", "valid",
            "--search", "sample", "--budget", "1x2", "--workers", "1",
            "--repl", shlex.join(fake_repl_command(*repl)), "--out", str(out), *args]


@pytest.fixture
def started(shared, tmp_path):
    """A run of 2 problems on a copy of the miniF2F file; (data, out, manifest bytes)."""
    data = tmp_path / "minif2f.jsonl"
    shutil.copyfile(minif2f(shared), data)
    out = tmp_path / "run"
    first = run(eval_on(data, out, "--limit", "2"))
    assert first.returncode == 0, first.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["data"]["sha256"] == sha256(data)
    assert manifest["lean"]["version"] == "4.9.0-rc1"
    return data, out, (out / "manifest.json").read_bytes()


def test_resuming_on_changed_statements_exits_2_and_leaves_the_manifest(started):
    data, out, manifest = started
    old = sha256(data)
    data.write_text(data.read_text().replace("a + b", "b + a"))  # statements changed
    results = (out / "results.jsonl").read_bytes()
    resumed = run(eval_on(data, out, "--limit", "3"))
    assert resumed.returncode == 2, resumed.stderr
    assert "on other data" in resumed.stderr
    assert f"data.sha256 is {old!r} there, {sha256(data)!r} now" in resumed.stderr
    assert (out / "manifest.json").read_bytes() == manifest
    assert (out / "results.jsonl").read_bytes() == results  # no attempt ran


def test_resuming_with_another_lean_exits_2_and_leaves_the_manifest(started):
    data, out, manifest = started
    resumed = run(eval_on(data, out, "--limit", "3", repl=("--version", "v4.33.0")))
    assert resumed.returncode == 2, resumed.stderr
    assert "with another Lean" in resumed.stderr
    assert "lean.version is '4.9.0-rc1' there, '4.33.0' now" in resumed.stderr
    assert (out / "manifest.json").read_bytes() == manifest
    assert len(lines(out)) == 2


def test_another_repl_command_with_the_same_lean_is_allowed_and_recorded(started):
    data, out, _ = started
    first_repl = json.loads((out / "manifest.json").read_text())["lean"]["repl"]
    resumed = run(eval_on(data, out, "--limit", "3", repl=("--latency", "0.01")))
    assert resumed.returncode == 0, resumed.stderr
    lean = json.loads((out / "manifest.json").read_text())["lean"]
    second_repl = shlex.join(fake_repl_command("--latency", "0.01"))
    assert lean["repls"] == [first_repl, second_repl]
    assert lean["repl"] == second_repl and lean["version"] == "4.9.0-rc1"
    assert len(lines(out)) == 3


def test_downloaded_data_is_hashed_too(shared, tmp_path):
    out = tmp_path / "run"
    result, cached = eval_without_data(shared, tmp_path, out, "--split", "valid", "--limit", "1")
    assert result.returncode == 0, result.stderr
    data = json.loads((out / "manifest.json").read_text())["data"]
    assert data == {"path": str(cached), "sha256": sha256(cached)}


def test_workspace_pins_are_compared_where_both_sides_know_them(tmp_path):
    identity = {"kind": "eval", "benchmark": "minif2f", "budget": "1x2"}
    pins = {"repl": "lake exe repl", "toolchain": "leanprover/lean4:v4.9.0", "mathlib": "abc",
            "version": "4.9.0"}
    open_run(tmp_path, identity, problems=["p"], categories={"p": "x"}, shard=None,
             order=["p"], extra={"data": {"path": "d", "sha256": "1"}, "lean": pins})
    before = (tmp_path / "manifest.json").read_bytes()
    with pytest.raises(ManifestError, match="lean.mathlib is 'abc' there, 'def' now"):
        check_resume(tmp_path, identity, {"lean": {**pins, "mathlib": "def"}})
    with pytest.raises(ManifestError, match="lean.toolchain"):
        open_run(tmp_path, identity, problems=["q"], categories={"q": "x"}, shard=None,
                 order=["p", "q"], extra={"lean": {**pins, "toolchain": "leanprover/lean4:v4.15.0"}})
    assert (tmp_path / "manifest.json").read_bytes() == before
    # A --repl command knows no pins: nothing to compare them with, so it may resume.
    check_resume(tmp_path, identity, {"lean": {"repl": "my-repl", "toolchain": None,
                                               "mathlib": None, "version": None}})
    assert json.loads(before)["run"] == run_id(identity)
