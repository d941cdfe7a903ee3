"""`prover prove --search bestfirst` with a step-prover format, end to end: the installed
command, a local OpenAI-compatible HTTP server standing in for the model (it records every
request body), and the fake REPL playing a small tactic world.

The world is built so that the node priority decides the proof: BFS-Prover-V2's
length-normalised priority (prompts.md §8) finds ``left; left2; close``, the summed
log-probability ``right; close``. So the proof in the written file shows which priority the
CLI handed to the search.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import fake_repl_command

PROVER = shutil.which("prover")

FILE = "import Mathlib\n\ntheorem w (p q : Prop) (hp : p) (hq : q) : p ∧ q := by\n  sorry\n"
ROOT = "p q : Prop\nhp : p\nhq : q\n⊢ p ∧ q"  # the fake REPL's root goal for `w`
INCOMPLETE = "Incomplete: open goals remain"
RULES = {"rules": [
    *[{"on": "tactic", "match": rf"^{name}$", "goals": [f"⊢ {goal}"], "proofStatus": INCOMPLETE}
      for name, goal in [("left", "L"), ("left2", "L2"), ("right", "R")]],
    {"on": "tactic", "match": r"^close$", "goals": [], "proofStatus": "Completed"},
    {"on": "tactic", "match": "", "message": "Lean error:\n<input>:1:1: unknown tactic"},
]}
# goal -> (tactic, per-token log-probs): root `left` -0.2 and `right` -0.5; L2's path -1.0 at
# depth 2 is -0.25 after BFS-Prover's division by depth**2, better than R's -0.5.
ANSWERS = {
    ROOT: [("left", [-0.2]), ("right", [-0.5])],
    "⊢ L": [("left2", [-0.8])],
    "⊢ L2": [("close", [-0.1])],
    "⊢ R": [("close", [-0.1])],
}


class _Server:
    def __init__(self) -> None:
        self.bodies: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.bodies.append(body)
                prompt = body["prompt"]
                goal = prompt[:-len(":::")] if prompt.endswith(":::") else None
                answers = ANSWERS.get(goal, [("junk", [-9.0])])
                choices = [{"index": i, "text": " " + answers[i % len(answers)][0] + "\n",
                            "logprobs": {"token_logprobs": answers[i % len(answers)][1]},
                            "finish_reason": "stop"} for i in range(body["n"])]
                data = json.dumps({"choices": choices}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.skipif(PROVER is None, reason="the prover command is not installed")
@pytest.mark.parametrize("prompt_format, proof", [
    ("bfs-prover", "  left\n  left2\n  close\n"),
])
def test_prove_bestfirst_with_bfs_prover_uses_its_priority(tmp_path: Path, prompt_format, proof):
    script = tmp_path / "rules.json"
    script.write_text(json.dumps(RULES, ensure_ascii=False))
    path = tmp_path / "w.lean"
    path.write_text(FILE)
    out = tmp_path / "out.lean"
    repl = shlex.join(fake_repl_command("--script", str(script), "--version", "v4.19.0"))
    with _Server() as server:
        result = subprocess.run(
            [PROVER, "prove", str(path), "--repl", repl, "--search", "bestfirst",
             "--budget", "1x32", "--policy", f"openai:{server.url}#ByteDance-Seed/BFS-Prover-V2-7B",
             "--prompt-format", prompt_format, "--output", str(out)],
            capture_output=True, text=True, timeout=120, env={**os.environ})
    assert result.returncode == 0, result.stderr
    assert out.read_text() == FILE.replace("  sorry\n", proof)
    # every request is the raw `{state}:::` completion, no chat messages, no stop string
    assert [b["prompt"] for b in server.bodies] == [ROOT + ":::", "⊢ L:::", "⊢ L2:::"]
    assert all("messages" not in b and "stop" not in b for b in server.bodies)
