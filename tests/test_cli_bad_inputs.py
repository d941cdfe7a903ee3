"""Every command, fed the bad inputs the README names, through the installed `prover`: each
exits with its documented code and says what is wrong, and none prints a Python traceback.

0 ok, 1 not proved / some failure, 2 usage or input error, 3 no Lean REPL could be started,
4 (`prove`) the file changed during the run. The cases are data (command line, environment,
expected code, a phrase the message must hold); the inputs they point at are built once.
"""
from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import fake_repl_command

PROVER = shutil.which("prover")
FAKE = shlex.join(fake_repl_command())

SORRY = "import Mathlib\n\ntheorem t (x : ℕ) : x + 0 = x := by\n  sorry\n"
PROVED = "import Mathlib\n\ntheorem t (x : ℕ) : x + 0 = x := by\n  simp\n"


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]  # "{d}" is the inputs' directory, "{fake}" the fake REPL, "{data}" miniF2F
    code: int
    says: str  # a phrase of the message
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = "cwd"  # under {d}: "cwd" has no prover.toml, "toml" a bad one
    untouched: str | None = None  # a file (under {d}) the failing command must leave as it was


def fake(*flags: str) -> str:
    return shlex.join(fake_repl_command(*flags))


PROVE = ("prove", "--dry-run", "{d}/sorry.lean")
GOOD_EVAL = ("eval", "minif2f", "--data", "{data}", "--split", "valid", "--limit", "3",
             "--budget", "1x2", "--repl", "{fake}", "--quiet")
GOOD_SYNTH = ("synth", "{data}", "--limit", "3", "--budget", "1x2", "--repl", "{fake}", "--quiet")

CASES: dict[str, Case] = {
    # -- check
    "check/missing-file": Case(("check", "{d}/absent.lean", "--repl", "{fake}"), 2, "does not exist"),
    "check/not-utf8": Case(("check", "{d}/latin1.lean", "--repl", "{fake}"), 2, "not UTF-8"),
    "check/not-lean": Case(("check", "{d}/garbage.lean", "--repl", "{fake}"), 2, "no theorem or lemma"),
    "check/unknown-theorem": Case(("check", "{d}/proved.lean", "--theorem", "nope", "--repl", "{fake}"),
                                  2, "no theorem named nope"),
    "check/wrong-flag": Case(("check", "--bogus", "{d}/proved.lean"), 2, "No such option"),
    "check/missing-reference": Case(("check", "{d}/proved.lean", "--against", "{d}/absent.jsonl",
                                     "--repl", "{fake}"), 2, "cannot use --against"),
    "check/no-repl-program": Case(("check", "{d}/proved.lean", "--repl", "/nonexistent/repl"), 3,
                                  "is not an executable"),
    "check/repl-exits": Case(("check", "{d}/proved.lean", "--repl", "true"), 3,
                             "no Lean REPL could be started"),
    "check/repl-not-a-repl": Case(("check", "{d}/proved.lean", "--repl", "cat"), 3,
                                  "not a Lean REPL response"),
    "check/repl-crashes-on-version": Case(
        ("check", "{d}/proved.lean", "--repl", fake("--crash-on", "versionString")), 3,
        "`#eval Lean.versionString`"),
    "check/repl-hangs-on-version": Case(
        ("check", "{d}/proved.lean", "--timeout", "1", "--repl", fake("--hang-on", "versionString")),
        3, "did not answer within 1 s"),
    "check/header-does-not-elaborate": Case(
        ("check", "{d}/proved.lean",
         "--repl", fake("--error-on", "^import", "--error-data", "unknown package 'Mathlb'")), 3,
        "header does not elaborate: Lean says line 1: unknown package 'Mathlb'; nothing was checked"),
    "check/empty-repl": Case(("check", "{d}/proved.lean", "--repl", ""), 2, "--repl '': is an empty command"),
    "check/env-timeout-0": Case(("check", "{d}/proved.lean", "--repl", "{fake}"), 2,
                                "PROVER_TIMEOUT=0: must be a positive number", env={"PROVER_TIMEOUT": "0"}),
    "check/flag-timeout-0": Case(("check", "{d}/proved.lean", "--timeout", "0", "--repl", "{fake}"), 2,
                                 "--timeout 0"),
    "check/toml-workers-0": Case(("check", "{d}/proved.lean", "--repl", "{fake}"), 2,
                                 "prover.toml: workers = 0: must be at least 1", cwd="toml"),
    # -- prove (--dry-run: should one case be wrongly accepted, it cannot change the next's input)
    "prove/missing-file": Case(("prove", "--dry-run", "{d}/absent.lean", "--repl", "{fake}"), 2,
                               "does not exist"),
    "prove/not-utf8": Case(("prove", "--dry-run", "{d}/latin1.lean", "--repl", "{fake}"), 2, "not UTF-8"),
    "prove/nothing-to-prove": Case(("prove", "--dry-run", "{d}/proved.lean", "--repl", "{fake}"), 2,
                                   "nothing to prove"),
    "prove/unknown-theorem": Case((*PROVE, "--theorem", "nope", "--repl", "{fake}"), 2,
                                  "no theorem named nope"),
    "prove/bare-budget": Case((*PROVE, "--budget", "4", "--repl", "{fake}"), 2, "ambiguous: write NxT"),
    "prove/env-workers-0": Case((*PROVE, "--repl", "{fake}"), 2, "PROVER_WORKERS=0: must be at least 1",
                                env={"PROVER_WORKERS": "0"}),
    "prove/flag-workers-0": Case((*PROVE, "--workers", "0", "--repl", "{fake}"), 2,
                                 "--workers 0: must be at least 1"),
    "prove/missing-model-dir": Case((*PROVE, "--policy", "hf:/nonexistent", "--repl", "{fake}"), 2,
                                    "no such directory: /nonexistent"),
    "prove/output-dir-missing": Case((*PROVE, "--output", "{d}/no/dir.lean", "--repl", "{fake}"), 2,
                                     "does not exist"),
    "prove/output-and-in-place": Case((*PROVE, "--output", "{d}/o.lean", "--in-place", "--repl", "{fake}"),
                                      2, "exclude each other"),
    "prove/tactic-search-proof-format": Case(
        (*PROVE, "--search", "bestfirst", "--prompt-format", "deepseek-v1.5", "--repl", "{fake}"), 2,
        "needs a tactic format"),
    # Issue 15: a header Lean refuses is reported with Lean's message, exit 3 (was 2).
    "prove/header-does-not-elaborate": Case(
        (*PROVE, "--repl", fake("--error-on", "^import", "--error-data", "unknown package 'Mathlb'")),
        3, "header does not elaborate: Lean says line 1: unknown package 'Mathlb'"),
    "prove/repl-exits": Case((*PROVE, "--repl", "true"), 3, "no Lean REPL could be started"),
    "prove/repl-not-a-repl": Case((*PROVE, "--repl", "cat"), 3, "not a Lean REPL response"),
    "prove/repl-crashes-on-import": Case((*PROVE, "--repl", fake("--crash-on", "^import")), 3,
                                         "import header"),
    "prove/no-lean-offline": Case((*PROVE, "--workspace", "{d}/no-workspace"), 3, "no network"),
    # -- eval
    "eval/missing-data": Case(("eval", "minif2f", "--data", "{d}/absent.jsonl", "--out", "{d}/e1",
                               "--repl", "{fake}"), 2, "does not exist"),
    "eval/damaged-data": Case(("eval", "minif2f", "--data", "{d}/damaged.jsonl", "--out", "{d}/e1",
                               "--repl", "{fake}"), 2, "damaged.jsonl:2"),
    "eval/unknown-name": Case(("eval", "minif2f", "--data", "{data}", "--names", "nope", "--out", "{d}/e1",
                               "--repl", "{fake}"), 2, "no problem named nope"),
    "eval/empty-selection": Case(("eval", "minif2f", "--data", "{data}", "--split", "nope", "--out",
                                  "{d}/e1", "--repl", "{fake}"), 2, "no split 'nope'"),
    "eval/bad-shard": Case(("eval", "minif2f", "--data", "{data}", "--shard", "3/2", "--out", "{d}/e1",
                            "--repl", "{fake}"), 2, "--shard 3/2"),
    "eval/missing-out": Case(("eval", "minif2f", "--data", "{data}"), 2, "Missing option '--out'"),
    "eval/bare-budget": Case(("eval", "minif2f", "--data", "{data}", "--budget", "8", "--out", "{d}/e1",
                              "--repl", "{fake}"), 2, "ambiguous"),
    "eval/damaged-results-line": Case((*GOOD_EVAL, "--out", "{d}/run-damaged"), 2, "results.jsonl:2",
                                      untouched="run-damaged/results.jsonl"),
    "eval/other-options": Case(("eval", "minif2f", "--data", "{data}", "--split", "valid", "--limit", "3",
                                "--budget", "2x2", "--repl", "{fake}", "--out", "{d}/run"),
                               2, "holds another run", untouched="run/results.jsonl"),
    "eval/repl-exits": Case(("eval", "minif2f", "--data", "{data}", "--limit", "1", "--out", "{d}/e2",
                             "--repl", "true"), 3, "no Lean REPL could be started"),
    # -- report
    "report/missing-dir": Case(("report", "{d}/absent"), 2, "not found"),
    "report/not-a-run": Case(("report", "{d}/cwd"), 2, "no manifest.json"),
    "report/damaged-manifest": Case(("report", "{d}/bad-manifest"), 2, "manifest.json: not valid JSON"),
    "report/damaged-results-line": Case(("report", "{d}/run-damaged"), 2, "results.jsonl:2",
                                        untouched="run-damaged/results.jsonl"),
    # -- synth
    "synth/missing-statements": Case(("synth", "{d}/absent.jsonl", "--out", "{d}/s1", "--repl", "{fake}"),
                                     2, "cannot read"),
    "synth/damaged-statements": Case(("synth", "{d}/damaged.jsonl", "--out", "{d}/s1", "--repl", "{fake}"),
                                     2, "damaged.jsonl:2"),
    "synth/damaged-records-line": Case((*GOOD_SYNTH, "--out", "{d}/synth-damaged"), 2, "records.jsonl:2",
                                       untouched="synth-damaged/records.jsonl"),
    "synth/missing-model-dir": Case(("synth", "{data}", "--policy", "hf:./no-model", "--out", "{d}/s1",
                                     "--repl", "{fake}"), 2, "no such directory: ./no-model"),
    "synth/repl-crashes-on-version": Case(
        ("synth", "{data}", "--limit", "1", "--out", "{d}/s2", "--repl", fake("--crash-on", "versionString")),
        3, "no Lean REPL could be started"),
    # -- train sft / grpo
    "sft/missing-data": Case(("train", "sft", "--data", "{d}/absent", "--model", "m", "--out", "{d}/t"), 2,
                             "does not exist"),
    "sft/no-records": Case(("train", "sft", "--data", "{d}/cwd", "--model", "m", "--out", "{d}/t"), 2,
                           "no records*.jsonl"),
    "sft/damaged-records-line": Case(("train", "sft", "--data", "{d}/synth-damaged", "--model", "m",
                                      "--out", "{d}/t"), 2, "records.jsonl:2"),
    "sft/missing-model-dir": Case(("train", "sft", "--data", "{d}/synth", "--model", "/nonexistent",
                                   "--out", "{d}/t"), 2, "needs network"),
    "sft/bad-flag-value": Case(("train", "sft", "--data", "{d}/synth", "--model", "m", "--out", "{d}/t",
                                "--lr", "0"), 2, "--lr"),
    "grpo/missing-data": Case(("train", "grpo", "--data", "{d}/absent", "--model", "m", "--out", "{d}/t"), 2,
                              "does not exist"),
    "grpo/flag-workers-0": Case(("train", "grpo", "--data", "{d}/synth", "--model", "m", "--out", "{d}/t",
                                 "--workers", "0", "--repl", "{fake}"), 2, "--workers 0"),
    "grpo/repl-exits": Case(("train", "grpo", "--data", "{d}/synth", "--model", "m", "--out", "{d}/t",
                             "--repl", "true"), 3, "no Lean REPL could be started"),
    # -- iterate
    "iterate/missing-statements": Case(("iterate", "{d}/absent.jsonl", "--model", "m", "--out", "{d}/i"), 2,
                                       "does not exist"),
    "iterate/zero-rounds": Case(("iterate", "{data}", "--model", "m", "--out", "{d}/i", "--rounds", "0"), 2,
                                "--rounds"),
    "iterate/bare-budget": Case(("iterate", "{data}", "--model", "m", "--out", "{d}/i", "--budget", "4"), 2,
                                "ambiguous"),
    "iterate/missing-model-dir": Case(("iterate", "{data}", "--model", "./no-model", "--out", "{d}/i"), 2,
                                      "no such directory"),
    "iterate/repl-exits": Case(("iterate", "{data}", "--model", "m", "--out", "{d}/i2", "--limit", "1",
                                "--repl", "true"), 3, "no Lean REPL could be started"),
    # -- setup
    "setup/unknown-toolchain": Case(("setup", "--toolchain", "lean-five", "--workspace", "{d}/ws"), 2,
                                    "not a Lean release name"),
    "setup/offline": Case(("setup", "--workspace", "{d}/ws"), 3, "no network"),
    # -- bench-system
    "bench-system/too-few-nodes": Case(("bench-system", "--nodes", "5"), 2, "--nodes"),
    "bench-system/zero-workers": Case(("bench-system", "--workers", "0"), 2, "--workers"),
    "bench-system/wrong-flag": Case(("bench-system", "--bogus"), 2, "No such option"),
}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(d: Path) -> dict[str, str]:
    """The caller's environment without PROVER_* settings, no user config, and offline (so
    nothing ever starts a download of Lean)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVER_")}
    env.update(XDG_CONFIG_HOME=str(d / "xdg"), PROVER_NETWORK_PROBE=f"127.0.0.1:{closed_port()}")
    if "PROVER_SHARED" in os.environ:
        env["PROVER_SHARED"] = os.environ["PROVER_SHARED"]
    return env


def damage_line(path: Path, number: int) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert len(lines) > number, f"{path} has too few lines to damage a middle one"
    lines[number - 1] = '{"problem": "cut here\n'
    path.write_text("".join(lines), encoding="utf-8")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, shared) -> Path:
    d = tmp_path_factory.mktemp("bad-inputs")
    data = shared / "benchmarks" / "minif2f.jsonl"
    (d / "cwd").mkdir()
    (d / "toml").mkdir()
    (d / "toml" / "prover.toml").write_text("workers = 0\n")
    (d / "sorry.lean").write_text(SORRY)
    (d / "proved.lean").write_text(PROVED)
    (d / "latin1.lean").write_bytes(PROVED.encode() + "-- café\n".encode("latin-1"))
    (d / "garbage.lean").write_text("this is { not Lean\n  := (((\n")
    lines = data.read_text(encoding="utf-8").splitlines(keepends=True)[:3]
    (d / "damaged.jsonl").write_text("".join(lines))
    damage_line(d / "damaged.jsonl", 2)
    (d / "bad-manifest").mkdir()
    (d / "bad-manifest" / "manifest.json").write_text("{\n")
    env = clean_env(d)
    for args, out in ((GOOD_EVAL, "run"), (GOOD_SYNTH, "synth")):
        command = [PROVER, *(a.format(d=d, fake=FAKE, data=data) for a in args), "--out", str(d / out)]
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=d / "cwd", timeout=120)
        assert done.returncode == 0, done.stderr
    shutil.copytree(d / "run", d / "run-damaged")
    damage_line(d / "run-damaged" / "results.jsonl", 2)
    shutil.copytree(d / "synth", d / "synth-damaged")
    damage_line(d / "synth-damaged" / "records.jsonl", 2)
    return d


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gets_its_exit_code_and_a_message_never_a_traceback(inputs, shared, name):
    case = CASES[name]
    data = shared / "benchmarks" / "minif2f.jsonl"
    command = [PROVER, *(a.format(d=inputs, fake=FAKE, data=data) for a in case.args)]
    before = (inputs / case.untouched).read_bytes() if case.untouched else None
    result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                            cwd=inputs / case.cwd, env={**clean_env(inputs), **case.env})
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == case.code, output
    assert case.says in output, output
    if case.untouched:  # results already obtained are neither lost nor rewritten
        assert (inputs / case.untouched).read_bytes() == before
