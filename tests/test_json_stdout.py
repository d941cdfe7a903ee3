"""``--json`` prints exactly one JSON document on stdout, whatever a backend writes there.

The backend here is a stand-in ``vllm`` package, put first on the path of a real ``prover``
process, that writes to stdout the ways vLLM does and worse: a logger whose handler holds
``sys.stdout`` from import time (vLLM's default ``VLLM_LOGGING_STREAM``, which the stand-in does
not honour), ``print``, a write to file descriptor 1, and a child process that inherits fd 1
(vLLM's engine core). The engine behind it is the simulated one (benchmarks/sim_engine.py).
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import fake_repl_command

ROOT = Path(__file__).resolve().parents[1]

STAND_IN = '''
import logging, os, subprocess, sys
from types import SimpleNamespace

from benchmarks.sim_engine import SimEngine

_log = logging.getLogger("vllm")
_handler = logging.StreamHandler(sys.stdout)  # bound now, as vLLM's dictConfig does
_log.addHandler(_handler)
_log.setLevel(logging.INFO)
for i in range(80):
    _log.info("INFO engine log line %d", i)


class _Tokenizer:
    chat_template = None

    def encode(self, text, add_special_tokens=False):
        return [ord(c) for c in text]


class AsyncLLMEngine:
    @classmethod
    def from_engine_args(cls, args):
        print("print: loading", args["model"])
        os.write(1, b"fd 1: compiling\\n")
        subprocess.run([sys.executable, "-c", "print('child: engine core started')"], check=True)
        return SimEngine(tokenizer=_Tokenizer(), text_of=lambda _text, _i: "  norm_num\\n```")


AsyncEngineArgs = dict
SamplingParams = dict
sampling_params = SimpleNamespace(RequestOutputKind=SimpleNamespace(FINAL_ONLY=2))
'''


def _stand_in(tmp_path: Path) -> dict[str, str]:
    package = tmp_path / "stand_in" / "vllm"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(STAND_IN, encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(package.parent), str(ROOT)])
    env.pop("VLLM_LOGGING_STREAM", None)
    return env


def _prover(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prover.cli", *args], capture_output=True,
                          text=True, timeout=180, env=env)


def test_prove_json_is_one_document_while_the_backend_writes_to_stdout(tmp_path):
    env = _stand_in(tmp_path)
    model = tmp_path / "model"
    model.mkdir()
    lean = tmp_path / "f.lean"
    lean.write_text(textwrap.dedent("""\
        import Mathlib

        theorem t : (1 : ℕ) + 1 = 2 := by
          sorry
        """), encoding="utf-8")
    done = _prover(env, "prove", str(lean), "--policy", f"vllm:{model}", "--json", "--dry-run",
                   "--budget", "1x1", "--repl", shlex.join(fake_repl_command()))
    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)  # the whole of stdout, in one piece
    assert done.stdout.lstrip().startswith("{")
    assert report["theorems"][0]["name"] == "t"
    # What the backend wrote was moved to stderr, not lost.
    for line in ("INFO engine log line 79", "print: loading", "fd 1: compiling",
                 "child: engine core started"):
        assert line in done.stderr and line not in done.stdout
    assert done.returncode in (0, 1)


def test_without_json_the_backend_s_stdout_is_left_alone(tmp_path):
    env = _stand_in(tmp_path)
    model = tmp_path / "model"
    model.mkdir()
    lean = tmp_path / "f.lean"
    lean.write_text("theorem t : (1 : ℕ) + 1 = 2 := by\n  sorry\n", encoding="utf-8")
    done = _prover(env, "prove", str(lean), "--policy", f"vllm:{model}", "--dry-run",
                   "--budget", "1x1", "--repl", shlex.join(fake_repl_command()))
    assert "print: loading" in done.stdout and "fd 1: compiling" in done.stdout


def test_models_and_bench_system_json_go_through_the_same_guard(tmp_path):
    # No backend writes here; what is checked is that the guard's own path (the document on
    # the saved stdout) gives one document for these commands too.
    env = _stand_in(tmp_path)
    for args in (["models", "--json"],
                 ["bench-system", "--json", "--nodes", "50", "--workers", "1",
                  "--latency", "0.01", "--checks", "2"]):
        done = _prover(env, *args)
        assert done.returncode in (0, 1), done.stderr
        json.loads(done.stdout)
