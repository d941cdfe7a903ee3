"""`prover prove` through the installed command, against the fake REPL.

The fake accepts every command unless a rule says otherwise, so a theorem is made unsolvable
by a rule on its own text (``theorem hard_one``): it matches every command that holds the
theorem (a candidate proof, the ``sorry`` command that opens a tactic session, the check of
the whole file) and never the header or a ``#print axioms`` line.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import fake_repl_command, process_alive, run_until

from lean_bridge.goals import find_declaration
from lean_bridge.text import replace_proof

PROVER = shutil.which("prover")

THREE = """import Mathlib
open Real

/-- A linear equation, with a docstring. -/
theorem one_easy (x : ℝ) (h₀ : 3 * x + 2 = 11) : x = 3 := by
  sorry

-- a comment that must survive
def helper (n : ℕ) : ℕ := n + 1

theorem hard_one (n : ℕ) (h : 0 < n) : helper n > 1 := by sorry

lemma already_done : (1 : ℕ) + 1 = 2 := by norm_num

/- a block comment -/
lemma two_easy : (2 : ℕ) ^ 10 = 1024 := by
  sorry
-- trailing comment, no newline at the end"""

HARD = {"rules": [{"match": "theorem hard_one",
                   "messages": [{"severity": "error", "data": "linarith failed"}]}]}

MANY = "import Mathlib\n" + "".join(
    f"\ntheorem t{i} (x : ℝ) (h₀ : x + {i} = {i + 1}) : x = 1 := by\n  sorry\n" for i in range(1, 5))


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def rules(tmp_path: Path, data: dict) -> tuple[str, ...]:
    script = tmp_path / "rules.json"
    script.write_text(json.dumps(data))
    return ("--script", str(script))


def prove(path: Path, *args: str, fake: tuple[str, ...] = (), repl: str | None = None,
          env: dict | None = None, cwd: Path | None = None, timeout: float = 120):
    repl = repl if repl is not None else shlex.join(fake_repl_command(*fake))
    command = [PROVER, "prove", str(path), "--repl", repl, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, **(env or {})})


def by_name(result) -> dict[str, dict]:
    return {t["name"]: t for t in json.loads(result.stdout)["theorems"]}


def expected_text(original: str, proofs: dict[str, str]) -> str:
    """The original with only the proof spans of ``proofs`` replaced (from the end backwards)."""
    decls = sorted((find_declaration(original, n) for n in proofs), key=lambda d: d.start, reverse=True)
    out = original
    for d in decls:
        out = replace_proof(out, d, proofs[d.name])
    return out


def saved_proofs(sidecar: Path) -> dict:
    """The proofs a running ``prove`` has saved in its progress sidecar so far."""
    try:
        return json.loads(sidecar.read_text())["proofs"]
    except (FileNotFoundError, ValueError, KeyError):
        return {}


def test_prover_is_installed():
    assert PROVER, "the `prover` console script is not on PATH"


@pytest.mark.parametrize("method", ["sample", "rmaxts", "bestfirst"])
def test_two_of_three_proved_rest_byte_identical(tmp_path, method):
    path = write(tmp_path, "three.lean", THREE)
    result = prove(path, "--search", method, "--budget", "1x4", "--json", fake=rules(tmp_path, HARD))
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert set(report) >= {"theorems", "file", "output", "config"}
    rows = by_name(result)
    assert list(rows) == ["one_easy", "hard_one", "two_easy"]  # file order; already_done untouched
    for row in rows.values():
        assert set(row) >= {"name", "status", "proof", "generations", "lean_calls", "seconds"}
        assert row["method"] == method and row["reused"] is False
    assert rows["one_easy"]["status"] == rows["two_easy"]["status"] == "proved"
    assert rows["hard_one"]["status"] == "unproved" and rows["hard_one"]["proof"] is None
    assert 1 <= rows["one_easy"]["generations"] <= 4
    proofs = {n: rows[n]["proof"] for n in ("one_easy", "two_easy")}
    assert all("sorry" not in p and p.startswith(" by\n") for p in proofs.values())
    new = path.read_text()
    assert new == expected_text(THREE, proofs)
    assert "theorem hard_one (n : ℕ) (h : 0 < n) : helper n > 1 := by sorry" in new
    assert (tmp_path / "three.lean.bak").read_bytes() == THREE.encode()
    assert not (tmp_path / "three.lean.prover-progress.json").exists()
    assert report["output"] == str(path) and report["config"]["search"] == method


def test_output_leaves_the_original_untouched(tmp_path):
    path = write(tmp_path, "three.lean", THREE)
    out = tmp_path / "out" / "proved.lean"
    out.parent.mkdir()
    result = prove(path, "--search", "sample", "--budget", "1x2", "--output", str(out), "--json",
                   fake=rules(tmp_path, HARD))
    assert result.returncode == 1, result.stderr
    assert path.read_bytes() == THREE.encode()
    rows = by_name(result)
    assert out.read_text() == expected_text(THREE, {n: rows[n]["proof"] for n in ("one_easy", "two_easy")})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "rules.json", "three.lean"]
    assert json.loads(result.stdout)["output"] == str(out)


def test_dry_run_writes_nothing_and_shows_the_change(tmp_path):
    path = write(tmp_path, "three.lean", THREE)
    fake = rules(tmp_path, HARD)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = prove(path, "--search", "sample", "--budget", "1x2", "--dry-run", fake=fake)
    assert result.returncode == 1, result.stderr
    assert path.read_bytes() == THREE.encode()
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert "-  sorry" in result.stdout and "+  linarith" in result.stdout  # the diff
    assert "one_easy" in result.stdout and "unproved" in result.stdout  # the summary table
    as_json = prove(path, "--search", "sample", "--budget", "1x2", "--dry-run", "--json", fake=fake)
    report = json.loads(as_json.stdout)
    assert report["dry_run"] is True and report["output"] is None and "+  linarith" in report["diff"]
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_all_proved_exit_0_only_the_named_theorem(tmp_path):
    path = write(tmp_path, "many.lean", MANY)
    result = prove(path, "--theorem", "t3", "--search", "sample", "--budget", "1x2", "--json")
    assert result.returncode == 0, result.stderr
    rows = by_name(result)
    assert list(rows) == ["t3"] and rows["t3"]["status"] == "proved"
    assert path.read_text() == expected_text(MANY, {"t3": rows["t3"]["proof"]})


def test_interrupt_keeps_the_file_and_the_proofs_found_and_a_rerun_reuses_them(tmp_path):
    path = write(tmp_path, "many.lean", MANY)
    sidecar = tmp_path / "many.lean.prover-progress.json"
    pid_file = tmp_path / "repl.pid"
    repl = shlex.join(fake_repl_command("--latency", "0.3", "--pid-file", str(pid_file)))
    command = [PROVER, "prove", str(path), "--repl", repl, "--search", "sample", "--budget", "1x4"]
    code, _out, err = run_until(command, lambda: bool(saved_proofs(sidecar)), what="a saved proof")
    assert code == 130, err
    assert "interrupted" in err
    assert path.read_bytes() == MANY.encode()
    assert not (tmp_path / "many.lean.bak").exists()
    saved = json.loads(sidecar.read_text())["proofs"]
    assert 1 <= len(saved) < 4 and "t1" in saved
    assert not process_alive(int(pid_file.read_text()))  # the REPL went with the run

    log = tmp_path / "requests.jsonl"
    rerun = prove(path, "--search", "sample", "--budget", "1x4", "--json", fake=("--log", str(log)))
    assert rerun.returncode == 0, rerun.stderr
    rows = by_name(rerun)
    assert all(r["status"] == "proved" for r in rows.values())
    assert {n for n, r in rows.items() if r["reused"]} == set(saved)
    assert all(rows[n]["proof"] == saved[n]["proof"] for n in saved)
    # No candidate was sent for a reused theorem: a candidate's command ends with its theorem
    # (earlier ones are its context; the final check of the whole file ends with t4).
    sent = [json.loads(line).get("cmd", "") for line in log.read_text().splitlines()]
    last = [re.findall(r"theorem (t\d) ", cmd)[-1] for cmd in sent if "theorem t" in cmd]
    searched = set(last[:-1])  # the last command is the final check
    assert searched == {"t1", "t2", "t3", "t4"} - set(saved), last
    assert not sidecar.exists()
    assert path.read_text() == expected_text(MANY, {n: r["proof"] for n, r in rows.items()})
    assert (tmp_path / "many.lean.bak").read_bytes() == MANY.encode()


def test_a_sidecar_for_another_version_of_the_file_is_ignored(tmp_path):
    path = write(tmp_path, "many.lean", MANY)
    sidecar = tmp_path / "many.lean.prover-progress.json"
    # A proof of t1 found when t1 (or what precedes it) read differently.
    sidecar.write_text(json.dumps({"format": "prover-progress/1", "file": "many.lean",
                                   "sha256": "0" * 64,
                                   "proofs": {"t1": {"proof": " by\n  bogus", "problem": "1" * 64}}}))
    result = prove(path, "--search", "sample", "--budget", "1x2", "--json")
    assert result.returncode == 0, result.stderr
    assert not any(r["reused"] for r in by_name(result).values())
    assert "bogus" not in path.read_text() and "changed" in result.stderr


@pytest.mark.parametrize("case", ["no_sorry", "unknown_theorem", "missing_file", "not_utf8",
                                  "malformed", "not_sorry"])
def test_bad_input_exit_2(tmp_path, case):
    path = write(tmp_path, "f.lean", THREE)
    args: list[str] = []
    if case == "no_sorry":
        path = write(tmp_path, "f.lean", "import Mathlib\n\ntheorem t : 1 + 1 = 2 := by norm_num\n")
    elif case == "unknown_theorem":
        args = ["--theorem", "nope"]
    elif case == "missing_file":
        path = tmp_path / "absent.lean"
    elif case == "not_utf8":
        path = write(tmp_path, "f.lean", b"import Mathlib\ntheorem t : True := by sorry -- \xff\n")
    elif case == "malformed":
        path = write(tmp_path, "f.lean", "this is { not Lean\n  := sorry (((\n")
    elif case == "not_sorry":
        args = ["--theorem", "already_done"]
    result = prove(path, *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    if case != "missing_file":
        assert result.stderr.startswith("error:")
    assert not list(tmp_path.glob("*.bak")) and not list(tmp_path.glob("*.prover-progress.json"))


def test_no_lean_exit_3(tmp_path):
    path = write(tmp_path, "three.lean", THREE)
    result = prove(path, repl="/nonexistent")
    assert result.returncode == 3, result.stderr
    assert path.read_bytes() == THREE.encode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["three.lean"]


def test_configuration_precedence_and_verbose(tmp_path):
    path = write(tmp_path, "many.lean", MANY)
    (tmp_path / "prover.toml").write_text('search = "bestfirst"\nbudget = "1x3"\nseed = 7\n')
    result = prove(path, "--verbose", "--json", "--budget", "1x2", cwd=tmp_path,
                   env={"PROVER_SEARCH": "sample"})
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)["config"]
    assert (config["search"], config["budget"], config["seed"]) == ("sample", "1x2", 7)
    assert "search = 'sample'  (environment)" in result.stderr
    assert "budget = '1x2'  (command line)" in result.stderr
    assert f"seed = 7  ({tmp_path / 'prover.toml'})" in result.stderr
    assert "policy = 'portfolio'  (default)" in result.stderr


def test_hf_policy_counts_exactly_the_budget(tmp_path):
    if not os.environ.get("CI"):
        pytest.importorskip("torch")
        pytest.importorskip("transformers")
        pytest.importorskip("tokenizers")
    from benchmarks.tiny_generation import build_tiny_model

    lines = [
        "theorem t1 (x : ℝ) (h₀ : 3 * x + 2 = 11) : x = 3 := by", "  linarith", "  norm_num",
        "  nlinarith [sq_nonneg (a - b), sq_nonneg (a + b)]", "  simp [h₀] at *", "  omega",
        "import Mathlib", "open Real Nat", "  intro n hn", "  rcases h with ⟨a, b⟩",
    ] * 10
    model = build_tiny_model(tmp_path / "tiny", lines)
    _favour_eos(model)
    path = write(tmp_path, "one.lean", "import Mathlib\n\ntheorem t1 (x : ℝ) (h₀ : 3 * x + 2 = 11) : x = 3 := by\n  sorry\n")
    reject = {"rules": [{"match": "theorem t1", "messages": [{"severity": "error", "data": "nope"}]}]}
    result = prove(path, "--policy", f"hf:{model}?device=cpu&dtype=float32", "--search", "sample",
                   "--budget", "1x8", "--json", fake=rules(tmp_path, reject), timeout=240)
    assert result.returncode == 1, result.stderr
    row = by_name(result)["t1"]
    assert row["status"] == "unproved" and row["generations"] == 8, row
    assert row["lean_calls"] >= 1  # candidates reached the fake, which refused them
    assert path.read_bytes().endswith(b"  sorry\n") and not (tmp_path / "one.lean.bak").exists()


def _favour_eos(model_dir: Path) -> None:
    """Make the random tiny model end its answers after a few tokens (P(EOS) ~ 0.2 a step), so
    no sample outgrows its 512 positions whatever the torch version draws."""
    import torch
    from transformers import GPT2LMHeadModel

    model = GPT2LMHeadModel.from_pretrained(model_dir)
    eos = model.config.eos_token_id
    with torch.no_grad():
        w = model.transformer.wte.weight[eos]
        model.transformer.ln_f.bias += 5.0 * w / w.dot(w)
    model.save_pretrained(model_dir)


def run_and_edit_meanwhile(path: Path, edit, *args: str, fake: tuple[str, ...] = ()):
    """Start prove on ``path`` with a slow fake, call ``edit()`` once the first proof is saved
    (the run is still searching the others), and wait for the run to end."""
    sidecar = path.with_name(path.name + ".prover-progress.json")
    repl = shlex.join(fake_repl_command("--latency", "0.3", *fake))
    command = [PROVER, "prove", str(path), "--repl", repl, "--search", "sample", "--budget", "1x4",
               "--json", *args]
    return run_until(command, lambda: bool(saved_proofs(sidecar)), lambda _proc: edit(),
                     what="a saved proof")


def test_an_edit_made_while_prove_runs_is_kept_and_a_rerun_applies_the_proofs(tmp_path):
    path = write(tmp_path, "many.lean", MANY)
    sidecar = tmp_path / "many.lean.prover-progress.json"
    # The user changes t3's hypothesis and appends a lemma of their own while the run goes on.
    assert "(h₀ : x + 3 = 4)" in MANY
    edited = MANY.replace("(h₀ : x + 3 = 4)", "(h₀ : 4 = x + 3)") + "\n-- my note\n"

    code, out, err = run_and_edit_meanwhile(path, lambda: path.write_text(edited))
    assert code == 4, err
    assert path.read_text() == edited  # the edit is kept, no result written over it
    assert not (tmp_path / "many.lean.bak").exists()
    assert "changed while prove ran" in err and "run the same command again" in err
    report = json.loads(out)
    assert report["output"] is None and "nothing was written" in report["not_written"]
    found = {r["name"]: r["proof"] for r in report["theorems"] if r["status"] == "proved"}
    assert set(found) == {"t1", "t2", "t3", "t4"}
    saved = json.loads(sidecar.read_text())["proofs"]
    assert {n: e["proof"] for n, e in saved.items()} == found

    log = tmp_path / "requests.jsonl"
    rerun = prove(path, "--search", "sample", "--budget", "1x4", "--json", fake=("--log", str(log)))
    assert rerun.returncode == 0, rerun.stderr
    assert "many.lean changed since it was written" in rerun.stderr
    rows = by_name(rerun)
    # t1, t2 and everything before them are as they were: their proofs apply as saved. t3's
    # statement changed, and t4's context (t3) with it: both are searched again.
    assert {n for n, r in rows.items() if r["reused"]} == {"t1", "t2"}
    assert all(r["status"] == "proved" for r in rows.values())
    sent = [json.loads(line).get("cmd", "") for line in log.read_text().splitlines()]
    last = [re.findall(r"theorem (t\d) ", cmd)[-1] for cmd in sent if "theorem t" in cmd]
    assert set(last[:-1]) == {"t3", "t4"}, last  # the last command is the final check
    assert path.read_text() == expected_text(edited, {n: r["proof"] for n, r in rows.items()})
    assert (tmp_path / "many.lean.bak").read_text() == edited  # what the user had, nothing else
    assert not sidecar.exists()


@pytest.mark.parametrize("before", [None, "-- an older result\n"], ids=["appeared", "changed"])
def test_an_output_path_changed_while_prove_runs_is_not_overwritten(tmp_path, before):
    path = write(tmp_path, "many.lean", MANY)
    out = tmp_path / "proved.lean"
    if before is not None:
        out.write_text(before)
    mine = "-- written by someone else meanwhile\n"

    code, stdout, err = run_and_edit_meanwhile(path, lambda: out.write_text(mine), "--output", str(out))
    assert code == 4, err
    assert out.read_text() == mine and path.read_text() == MANY
    assert f"{out} changed while prove ran" in err
    assert json.loads(stdout)["not_written"] is not None
    assert len(json.loads((tmp_path / "many.lean.prover-progress.json").read_text())["proofs"]) == 4
