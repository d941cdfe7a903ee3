"""``prover eval`` shows each attempt while it runs, on a terminal (issue 13, item 9).

The installed command runs with its stderr on a pseudo-terminal (what a user's terminal is to
it) against the fake REPL, slowed so an attempt lasts a few seconds and refuting every
candidate so none ends early. RMaxTS asks for generations as rollouts start (four at once,
then one per finished rollout), so the live row must go through counts below the budget.
Off a terminal, only the plain finished-attempt lines are written.
"""
from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import threading

from test_eval import eval_cmd, run

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def on_a_terminal(command: list[str], timeout: float = 120) -> tuple[int, str]:
    """Run ``command`` with stderr on a pty; (exit status, what the terminal received)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=slave)
    os.close(slave)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # the other end is closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        proc.wait(timeout=timeout)
    finally:
        reader.join(timeout=10)
        os.close(master)
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace")


def test_on_a_terminal_each_attempt_in_flight_shows_generations_and_elapsed(shared, tmp_path):
    command = eval_cmd(shared, tmp_path / "run", "--limit", "1", "--budget", "1x8",
                       "--workers", "1", fake=("--error-on", "theorem", "--latency", "0.3"))
    status, screen = on_a_terminal(command)
    assert status == 0, screen
    text = ANSI.sub("", screen)
    rows = re.findall(r"amc12a_2019_p21 #0\s+\S*\s*(\d+)/8 generations\s+(\d+:\d\d:\d\d)", text)
    assert rows, text[-2000:]
    counts = {int(n) for n, _ in rows}
    assert counts & {4, 5, 6, 7}, counts  # seen while the attempt was still going
    # The portfolio's candidates repeat: the later rollouts take the first ones' verdicts at
    # once (no candidate is checked twice), so the display may never catch 8 in flight; the
    # result line counts all eight.
    assert max(counts) <= 8
    [line] = [json.loads(raw) for raw in (tmp_path / "run" / "results.jsonl").read_text()
              .splitlines()]
    assert (line["generations"], line["distinct"]) == (8, 1) and line["lean_calls"] < 8
    assert "amc12a_2019_p21 #0 unproved in" in text  # the finished line stays
    assert "done: solved 0/1" in text


def test_off_a_terminal_only_the_finished_lines_are_written(shared, tmp_path):
    result = run(eval_cmd(shared, tmp_path / "run", "--limit", "2", "--search", "sample",
                          "--budget", "1x2"))
    assert result.returncode == 0, result.stderr
    assert not ANSI.search(result.stderr) and "generations" not in result.stderr
    finished = [line for line in result.stderr.splitlines() if " #0 " in line]
    assert len(finished) == 2 and all(" #0 proved (cost " in line for line in finished)
