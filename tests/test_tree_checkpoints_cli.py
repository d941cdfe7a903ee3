"""Resumable RMaxTS trees through the installed command (``prover prove`` and ``prover eval``),
against the fake REPL: the run is interrupted (SIGINT, as Ctrl-C) once its tree's first
checkpoint is on disk, and the rerun goes on from it: it says so, sends Lean only the
candidates of the rollouts not done yet, and of those only the ones not judged before (the
checkpoint keeps the verdicts: the portfolio proposes the same few candidates again and again;
counted in the fake REPL's request log), and reports the whole budget's generations. A finished run leaves no checkpoint behind."""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from conftest import fake_repl_command, run_until
from test_eval import eval_cmd, lines, run
from test_prove import HARD, PROVER, THREE, by_name, prove, rules, write

from benchmarks.checkpoints import CHECKPOINT_EVERY
from search.rmaxts import load_checkpoint

BUDGET = 3 * CHECKPOINT_EVERY  # the interruption falls after the first checkpoint, before the end


def interrupted(command: list[str], folder: Path, pattern: str = "*.json") -> str:
    """Run ``command`` until a checkpoint matching ``pattern`` is in ``folder``, then SIGINT
    it; its stderr."""
    code, _out, err = run_until(
        command, lambda: folder.is_dir() and any(folder.glob(pattern)),
        what=f"a checkpoint in {folder}")
    assert code == 130, err
    return err


def candidates_for(log: Path, theorem: str, *, unless: str = "\0") -> int:
    """Candidates of ``theorem`` sent to Lean: RMaxTS checks each with ``allTactics`` (its
    tactic-mode probes and the root's ``sorry`` go without), the theorem last in the command;
    a command holding ``unless`` (a later theorem's) is not counted."""
    requests = [json.loads(line) for line in log.read_text().splitlines()]
    return sum(1 for r in requests if r.get("allTactics") and unless not in r.get("cmd", "")
               and re.findall(r"theorem (\w+) ", r.get("cmd", ""))[-1:] == [theorem])


def test_prove_resumes_the_tree_of_the_theorem_it_was_searching(tmp_path):
    path = write(tmp_path, "three.lean", THREE)
    folder = tmp_path / "three.lean.prover-checkpoints"
    slow = rules(tmp_path, HARD) + ("--latency", "0.01")
    args = ["--search", "rmaxts", "--budget", f"1x{BUDGET}", "--workers", "1"]
    # one_easy's tree may be saved and removed before hard_one's: wait for hard_one's.
    err = interrupted([PROVER, "prove", str(path), "--repl", shlex.join(fake_repl_command(*slow)),
                       *args], folder, "hard_one-*.json")
    assert "resumes its tree" in err
    [saved_path] = folder.glob("*.json")
    assert saved_path.name.startswith("hard_one-")
    saved = load_checkpoint(saved_path)
    assert saved["problem"] == "hard_one" and not saved["finished"]
    assert CHECKPOINT_EVERY <= saved["generations"] < BUDGET
    assert path.read_bytes() == THREE.encode()

    log = tmp_path / "requests.jsonl"
    rerun = prove(path, *args, "--json", fake=rules(tmp_path, HARD) + ("--log", str(log)))
    assert rerun.returncode == 1, rerun.stderr  # hard_one stays unproved
    assert f"hard_one #0: resuming its tree from {saved_path.name} " \
           f"({saved['generations']} generation(s) done)" in rerun.stderr
    rows = by_name(rerun)
    assert rows["one_easy"]["reused"] and rows["two_easy"]["status"] == "proved"
    assert rows["hard_one"]["status"] == "unproved"
    assert rows["hard_one"]["generations"] == BUDGET  # counted on from the checkpoint
    # The tree was not restarted: only candidates no rollout before the checkpoint judged.
    assert saved["distinct"] > 0 and rows["hard_one"]["distinct"] <= BUDGET
    assert candidates_for(log, "hard_one", unless="two_easy") \
        == rows["hard_one"]["distinct"] - saved["distinct"]
    assert not folder.exists()  # the result is written: nothing left to resume


def test_prove_ignores_a_tree_grown_with_other_settings(tmp_path):
    path = write(tmp_path, "three.lean", THREE)
    folder = tmp_path / "three.lean.prover-checkpoints"
    slow = rules(tmp_path, HARD) + ("--latency", "0.01")
    args = ["--search", "rmaxts", "--budget", f"1x{BUDGET}", "--workers", "1"]
    interrupted([PROVER, "prove", str(path), "--repl", shlex.join(fake_repl_command(*slow)),
                 *args], folder, "hard_one-*.json")
    [stale] = folder.glob("*.json")
    log = tmp_path / "requests.jsonl"
    rerun = prove(path, *args, "--seed", "7", "--json",
                  fake=rules(tmp_path, HARD) + ("--log", str(log)))
    assert rerun.returncode == 1, rerun.stderr
    assert f"hard_one #0: ignoring checkpoint {stale.name}, grown for another statement or " \
           "other search settings; removed" in rerun.stderr
    assert "resuming" not in rerun.stderr
    row = by_name(rerun)["hard_one"]
    assert row["generations"] == BUDGET
    # From scratch, the stale tree's verdicts unused: each distinct candidate checked once.
    assert 0 < candidates_for(log, "hard_one", unless="two_easy") == row["distinct"] <= BUDGET
    assert not folder.exists()


def test_eval_resumes_an_interrupted_attempt_from_its_checkpoint(shared, tmp_path):
    out = tmp_path / "run"
    folder = out / "checkpoints"
    args = ("--limit", "1", "--search", "rmaxts", "--budget", f"1x{BUDGET}", "--workers", "1")
    err = interrupted(eval_cmd(shared, out, *args, fake=("--error-on", "theorem",
                                                          "--latency", "0.01")), folder)
    assert f"rerun to resume (RMaxTS trees in flight resume from {folder})" in err
    [saved_path] = folder.glob("*.json")
    saved = load_checkpoint(saved_path)
    assert CHECKPOINT_EVERY <= saved["generations"] < BUDGET and not saved["finished"]
    assert lines(out) == []

    log = tmp_path / "requests.jsonl"
    rerun = run(eval_cmd(shared, out, *args, fake=("--error-on", "theorem", "--log", str(log))))
    assert rerun.returncode == 0, rerun.stderr
    assert f"#0: resuming its tree from {saved_path.name} " \
           f"({saved['generations']} generation(s) done)" in rerun.stderr
    [line] = lines(out)
    assert line["status"] == "unproved" and line["generations"] == BUDGET
    theorem = line["theorem"]
    assert list(folder.iterdir()) == []  # the tree went once the line was written
    # Rollouts in flight at the checkpoint are not counted in it (they are redone); a portfolio
    # proposal may be empty (no candidate sent), and one judged before the checkpoint is not
    # sent again: the rerun checks only the distinct candidates it added.
    assert saved["distinct"] > 0
    assert candidates_for(log, theorem) == line["distinct"] - saved["distinct"] \
        <= BUDGET - saved["generations"]


def test_a_dry_run_keeps_no_tree(tmp_path):
    path = write(tmp_path, "three.lean", THREE)
    fake = rules(tmp_path, HARD)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = prove(path, "--search", "rmaxts", "--budget", f"1x{CHECKPOINT_EVERY + 1}",
                   "--workers", "1", "--dry-run", fake=fake)
    assert result.returncode == 1, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_finished_run_leaves_no_checkpoint_folder(tmp_path):
    path = write(tmp_path, "three.lean", THREE)
    out = tmp_path / "out.lean"
    # hard_one's search outlasts one checkpoint interval, so its tree was written once.
    result = prove(path, "--search", "rmaxts", "--budget", f"1x{CHECKPOINT_EVERY + 1}",
                   "--workers", "1", "--output", str(out), "--json", fake=rules(tmp_path, HARD))
    assert result.returncode == 1, result.stderr
    assert by_name(result)["hard_one"]["generations"] == CHECKPOINT_EVERY + 1
    assert out.exists() and path.read_bytes() == THREE.encode()
    assert not (tmp_path / "three.lean.prover-checkpoints").exists()
