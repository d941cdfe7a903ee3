"""The pipelines at both REPL versions the fake imitates: the default pin v4.9.0-rc1 (allTactics
states flattened onto one line when short, no proofStatus, raw framing) and v4.33. Through the
installed ``prover`` command with the portfolio policy: ``check``, ``prove``, ``eval`` with every
search method, and ``synth``'s annotated proofs, whose state comments must be multi-line at
every version (a flattened state shows the model text it never saw in training).
"""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import fake_repl_command

from search.segments import flattened

PROVER = shutil.which("prover") or "prover"
VERSIONS = ["v4.9.0-rc1", "v4.33.0-rc2"]
COMMENT_RE = re.compile(r"/- tactic state:\n(.*?)\n\s*-/", re.S)


def run(*args: str, version: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    repl = shlex.join(fake_repl_command("--version", version))
    return subprocess.run([PROVER, *args, "--repl", repl], capture_output=True, text=True,
                          timeout=240, cwd=cwd)


def statements(shared: Path, tmp_path: Path, n: int = 4) -> Path:
    # Statements with hypotheses, so that their states have several lines to flatten.
    rows = [line for line in (shared / "benchmarks" / "minif2f.jsonl").read_text().splitlines()
            if json.loads(line)["split"] == "valid" and "(h₀" in json.loads(line)["formal_statement"]]
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(rows[:n]) + "\n")
    return path


def statuses(out: Path) -> dict[str, str]:
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return {f"{r['problem']}#{r['attempt']}": r["status"] for r in rows}


@pytest.mark.parametrize("method", ["sample", "rmaxts", "bestfirst", "decompose"])
def test_eval_gives_the_same_results_at_both_versions(shared, tmp_path, method):
    data = statements(shared, tmp_path)
    got = {}
    for version in VERSIONS:
        out = tmp_path / version
        result = run("eval", "minif2f", "--data", str(data), "--search", method, "--budget",
                     "1x4", "--out", str(out), "--quiet", version=version)
        assert result.returncode == 0, (version, result.stderr[-2000:])
        got[version] = statuses(out)
    assert len(got[VERSIONS[0]]) == 4 and got[VERSIONS[0]] == got[VERSIONS[1]]
    assert set(got[VERSIONS[0]].values()) <= {"proved", "failed"}


def test_check_and_prove_agree_at_both_versions(tmp_path):
    source = Path(__file__).parent.parent / "examples" / "inequalities.lean"
    outcomes = {}
    for version in VERSIONS:
        work = tmp_path / version
        work.mkdir()
        target = work / "inequalities.lean"
        shutil.copy(source, target)
        proved = run("prove", str(target), "--budget", "1x8", version=version)
        assert proved.returncode in (0, 1), (version, proved.stderr[-2000:])
        checked = run("check", str(target), version=version)
        outcomes[version] = (proved.returncode, target.read_text(), checked.returncode)
    assert outcomes[VERSIONS[0]] == outcomes[VERSIONS[1]]
    code, text, check_code = outcomes[VERSIONS[0]]
    assert text != source.read_text()  # some sorry was filled and written back
    assert ("sorry" in text) == (code == 1) and check_code == code


@pytest.mark.parametrize("version", VERSIONS)
def test_annotated_proofs_carry_multi_line_states(version):
    # What synth writes for training (search.annotate): at v4.9 the fake's allTactics states
    # are flattened, as the real REPL's are; the annotation must re-read them multi-line.
    import asyncio

    from lean_bridge.checker import LeanChecker
    from lean_bridge.pool import PoolConfig, ReplPool
    from lean_bridge.process import ReplSpec
    from search.annotate import annotated
    from search.problem import DEFAULT_HEADER, Problem

    statement = "theorem t (x y : ℕ) (h₀ : x + y = 10) (h₁ : x = 4) : y = 6 := by\n"
    proof = "  subst h₁\n  omega\n"

    async def go():
        pool = ReplPool(ReplSpec(fake_repl_command("--version", version)),
                        PoolConfig(max_processes=1))
        try:
            return await annotated(LeanChecker(pool, timeout=10),
                                   Problem("t", DEFAULT_HEADER, statement), proof)
        finally:
            await pool.close()

    text, lean = asyncio.run(go())
    assert lean == version.lstrip("v")
    assert text == ("  subst h₁\n  /- tactic state:\n    x y : ℕ\n    h₀ : x + y = 10\n"
                    "    h₁ : x = 4\n    ⊢ y = 6\n  -/\n  omega\n")
    assert not any(flattened(m.group(1)) for m in COMMENT_RE.finditer(text))
