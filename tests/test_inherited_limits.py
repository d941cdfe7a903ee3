"""An address-space limit inherited from the shell (``ulimit -v``) through the installed
``prover``: the REPL gets the smaller of it and the configured cap; when too little is left to
start Lean, a clear message names PROVER_MEMORY_GB (exit 3), never a raw preexec_fn error."""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import FAKE_REPL

PROVER = shutil.which("prover") or "prover"
THEOREM = "theorem t (x : Nat) : x + 0 = x := by\n  sorry\n"


def under_ulimit(kib: int, argv: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    script = f"ulimit -v {kib} && exec {shlex.join(argv)}"
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env={**os.environ, **(env or {})})


def recording_repl(tmp_path: Path) -> str:
    """The fake REPL behind a wrapper that first writes the address-space limit it was given."""
    wrapper = tmp_path / "repl_wrapper.py"
    seen = tmp_path / "rlimit_as.json"
    wrapper.write_text(
        "import json, os, resource, sys\n"
        f"open({str(seen)!r}, 'w').write(json.dumps(resource.getrlimit(resource.RLIMIT_AS)))\n"
        f"os.execv(sys.executable, [sys.executable, {str(FAKE_REPL)!r}])\n")
    return shlex.join([sys.executable, str(wrapper)])


def test_the_repl_gets_the_inherited_limit_when_it_is_below_the_configured_cap(tmp_path):
    source = tmp_path / "t.lean"
    source.write_text(THEOREM.replace("sorry", "simp"))
    kib = 8_000_000  # about 7.6 GiB, below the default 16 GiB cap
    done = under_ulimit(kib, [PROVER, "check", str(source), "--json", "--repl", recording_repl(tmp_path)],
                        tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [row["status"] for row in report["theorems"]] == ["proved"]
    assert json.loads((tmp_path / "rlimit_as.json").read_text()) == [kib * 1024, kib * 1024]
    limits = report["sandbox"]["limits"]
    assert limits["address_space_bytes"] == kib * 1024
    assert limits["address_space_configured_bytes"] == 16 * 1024**3


def test_too_small_an_inherited_limit_is_a_clear_no_lean_error(tmp_path):
    source = tmp_path / "t.lean"
    source.write_text(THEOREM)
    repl = shlex.join([sys.executable, str(FAKE_REPL)])
    done = under_ulimit(700_000, [PROVER, "prove", str(source), "--budget", "1x2", "--repl", repl], tmp_path)
    assert done.returncode == 3, done.stderr
    assert "PROVER_MEMORY_GB" in done.stderr and "ulimit -v" in done.stderr
    assert "preexec_fn" not in done.stderr and "Traceback" not in done.stderr
    assert source.read_text() == THEOREM
    # The fix the message offers: a cap below the inherited limit, chosen on purpose.
    fixed = under_ulimit(700_000, [PROVER, "prove", str(source), "--budget", "1x2", "--repl", repl],
                         tmp_path, env={"PROVER_MEMORY_GB": "0.5"})
    assert fixed.returncode == 0, fixed.stderr
    assert "sorry" not in source.read_text()
