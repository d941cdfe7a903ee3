"""The GitHub workflow that runs real Lean (.github/workflows/lean.yml) is valid: checked here
against the GitHub-workflow schema vendored in check-jsonschema (no network), and it does what
issue 15 asks of it (elan, the README's install, `prover setup`, the lean tests, a short
miniF2F run whose directory is uploaded)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "lean.yml"


def validate(path: Path) -> subprocess.CompletedProcess:
    tool = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    return subprocess.run([tool, "--builtin-schema", "vendor.github-workflows", str(path)],
                          capture_output=True, text=True, timeout=120)


def test_the_lean_workflow_is_valid_and_a_broken_one_is_not(tmp_path):
    done = validate(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs_on:"))
    assert validate(broken).returncode != 0  # the validator does reject a mistake


def test_the_lean_workflow_runs_what_it_should():
    flow = yaml.safe_load(WORKFLOW.read_text())
    triggers = flow[True] if True in flow else flow["on"]  # YAML 1.1 reads `on` as true
    assert set(triggers) == {"push", "workflow_dispatch"}
    (job,) = flow["jobs"].values()
    assert job["runs-on"].startswith("ubuntu")
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    for needed in ("elan-init.sh", 'pip install -e ".[dev]"', "prover setup", "pytest -m lean",
                   "prover eval minif2f --split valid --limit 20 --policy portfolio"):
        assert needed in runs, needed
    uploads = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert uploads and uploads[0]["with"]["path"] in runs
