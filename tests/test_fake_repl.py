"""The fake Lean REPL (the ``lean_fake`` package) behaves like the real one on the wire.

Every test spawns the fake as a real subprocess on real pipes, exactly as the bridge will spawn
Lean, and reads its stdout with a deadline so that a framing bug fails a test instead of hanging
the suite. Real recorded transcripts are the reference: replay must reproduce them byte for byte,
and the default semantics must reproduce the transcripts that need no real elaboration.
"""
from __future__ import annotations

import json
import os
import resource
import select
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import lean_fake

REPO_ROOT = Path(__file__).resolve().parents[1]
READ_TIMEOUT = 5.0


def _env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.pop("FAKE_REPL_SCRIPT", None)
    env.update(extra or {})
    return env


class Fake:
    """A running fake REPL with a deadline-bounded block reader."""

    def __init__(self, *args: str, cwd=None, env=None, preexec_fn=None, by_path=False):
        cmd = [*lean_fake.command()] if by_path else [sys.executable, "-m", "lean_fake"]
        self.proc = subprocess.Popen(
            cmd + list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, cwd=cwd, env=_env(env), preexec_fn=preexec_fn)
        self.buf = b""

    def send_raw(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, request: dict) -> None:
        self.send_raw(json.dumps(request, ensure_ascii=False) + "\n\n")

    def read_block(self, timeout: float = READ_TIMEOUT) -> bytes | None:
        """One response block without its blank line; None at EOF; TimeoutError if silent."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no complete block within {timeout}s; have {self.buf!r}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return None
                self.buf += chunk
        block, self.buf = self.buf.split(b"\n\n", 1)
        return block

    def ask(self, request: dict) -> dict:
        self.send(request)
        block = self.read_block()
        assert block is not None, f"EOF; stderr: {self.stderr_now()!r}"
        return json.loads(block)

    def read_rest(self, timeout: float = READ_TIMEOUT) -> bytes:
        """Everything up to EOF on stdout."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("stdout not closed in time")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    data, self.buf = self.buf, b""
                    return data
                self.buf += chunk

    def close_stdin(self) -> None:
        self.proc.stdin.close()

    def wait(self, timeout: float = READ_TIMEOUT) -> int:
        return self.proc.wait(timeout=timeout)

    def stderr_now(self) -> bytes:
        if self.proc.poll() is None:
            return b""
        return self.proc.stderr.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=READ_TIMEOUT)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except OSError:
                pass


@pytest.fixture
def fake():
    spawned: list[Fake] = []

    def spawn(*args: str, **kwargs) -> Fake:
        f = Fake(*args, **kwargs)
        spawned.append(f)
        return f

    yield spawn
    for f in spawned:
        f.kill()


def run_fake(*args: str, input: bytes, cwd=None, env=None, timeout: float = 10.0,
             by_path: bool = False):
    cmd = [*lean_fake.command()] if by_path else [sys.executable, "-m", "lean_fake"]
    return subprocess.run(cmd + list(args), input=input, capture_output=True, cwd=cwd,
                          env=_env(env), timeout=timeout)


def transcripts(shared: Path) -> Path:
    return shared / "reference" / "lean-repl-transcripts"


def transcripts_v49(shared: Path) -> Path:
    return shared / "reference" / "lean-repl-transcripts-v4.9"


# (directory, the tag it was recorded at, its number of pairs)
TRANSCRIPT_SETS = [(transcripts, "v4.33.0-rc2", 71), (transcripts_v49, "v4.9.0-rc1", 51)]


# --- framing ------------------------------------------------------------------------------------

def test_one_blank_line_terminated_response_per_request(fake):
    f = fake()
    for i in range(3):
        f.send({"cmd": f"def f{i} := {i}"})
    blocks = [f.read_block() for _ in range(3)]
    assert [json.loads(b) for b in blocks] == [{"env": 0}, {"env": 1}, {"env": 2}]
    f.close_stdin()
    assert f.read_rest() == b""  # nothing after the three answers
    assert f.wait() == 0


def test_raw_stdout_is_pretty_json_then_blank_line(fake):
    f = fake("--version", "v4.33.0")
    f.send({"cmd": "theorem t : 1 = 1 := sorry"})
    f.close_stdin()
    raw = f.read_rest()
    assert raw.endswith(b"}\n\n") and raw.count(b"\n\n") == 1
    assert raw.startswith(b'{"sorries":\n [{"proofState": 0,\n')  # Lean's layout and key order
    assert "⊢ 1 = 1".encode() in raw  # raw UTF-8, not \u escapes


def test_pending_block_at_eof_is_answered():
    result = run_fake(input=b'{"cmd": "def a := 1"}\n\n{"cmd": "def b := 2", "env": 0}')
    assert result.returncode == 0
    assert [json.loads(b) for b in result.stdout.split(b"\n\n")[:-1]] == [{"env": 0}, {"env": 1}]


def test_skipped_blocks_get_no_answer(fake):
    f = fake()
    f.send_raw("# a comment block\n\n-- another one\n\n")
    f.send({"cmd": "def x := 1"})
    assert json.loads(f.read_block()) == {"env": 0}
    f.close_stdin()
    assert f.read_rest() == b""  # exactly one answer for three blocks
    assert f.wait() == 0


def test_invalid_json_kills_the_process(fake):
    f = fake()
    assert f.ask({"cmd": "def x := 1"}) == {"env": 0}
    f.send_raw('{"cmd": oops}\n\n')
    assert f.read_rest() == b""
    assert f.wait() == 1
    err = f.proc.stderr.read().decode()
    assert err.startswith('uncaught exception: {"message": "Could not parse JSON:\\n')


def test_two_requests_in_one_block_kill_the_process():
    result = run_fake(input=b'{"cmd": "a"}\n{"cmd": "b"}\n\n')
    assert result.returncode == 1 and result.stdout == b""
    assert b"expected end of input" in result.stderr


def test_json_that_is_no_request_kills_the_process():
    result = run_fake(input=b'{"command": "def x := 1"}\n\n')
    assert result.returncode == 1
    assert b"Could not parse as a valid JSON command" in result.stderr


def test_extra_blank_line_kills_unless_lenient():
    data = b'{"cmd": "def a := 1"}\n\n\n{"cmd": "def b := 1"}\n\n'
    faithful = run_fake(input=data)
    assert faithful.returncode == 1
    assert faithful.stdout == b'{"env": 0}\n\n'  # the first request was answered
    assert b"unexpected end of input" in faithful.stderr
    lenient = run_fake("--lenient-blank-lines", input=data)
    assert lenient.returncode == 0
    assert lenient.stdout == b'{"env": 0}\n\n{"env": 1}\n\n'


def test_raw_line_break_framing_follows_the_version_and_the_flags():
    data = '{"cmd": "theorem foo : 1 = 1 := by\nsorry"}\n\n'.encode()
    # v4.22+ glues the lines: `bysorry` is one identifier, so there is no sorry.
    for args in (("--version", "v4.22.0"), ("--version", "v4.33.0"), ("--new-framing",)):
        glued = run_fake(*args, input=data)
        assert glued.returncode == 0 and json.loads(glued.stdout) == {"env": 0}, args
    # Before v4.22 lines are concatenated raw: the newline is a control character in a JSON
    # string, the parse fails and the process dies.
    for args in ((), ("--version", "v4.21.0"), ("--old-framing",),
                 ("--old-framing", "--version", "v4.33.0")):
        old = run_fake(*args, input=data)
        assert old.returncode == 1 and old.stdout == b"", args
        assert b"Could not parse JSON:\\noffset 34: unexpected character in string" in old.stderr
    # A request spread over several lines outside strings is fine with either framing.
    spread = b'{"cmd":\n  "def a := 1"}\n\n'
    assert run_fake(input=spread).stdout == run_fake("--new-framing", input=spread).stdout


def test_no_flush_keeps_an_answer_in_the_buffer(fake, tmp_path):
    # The REPL before v4.10 printed its answers without a flush (PR #49 added it). Once the
    # --stats line of the second (hanging) request is written, the first answer has been
    # written too: flushed, it is on the pipe; unflushed, it never arrives.
    for flags, arrives in (((), True), (("--no-flush",), False)):
        stats = tmp_path / f"stats{len(flags)}"
        f = fake("--hang-on", "slow", "--stats", str(stats), *flags)
        f.send({"cmd": "def a := 1"})
        f.send({"cmd": "def slow := 1"})
        while not stats.exists() or len(stats.read_text().splitlines()) < 2:
            time.sleep(0.01)
        ready, _, _ = select.select([f.proc.stdout.fileno()], [], [], 0)
        assert bool(ready) is arrives, flags
    data = b'{"cmd": "def a := 1"}\n\n'
    assert run_fake("--no-flush", input=data).stdout == b'{"env": 0}\n\n'  # flushed at exit


def test_runs_by_path_and_writes_pid_file(tmp_path):
    pid_file = tmp_path / "pid"
    f = Fake("--pid-file", str(pid_file), by_path=True, cwd=tmp_path)
    try:
        assert f.ask({"cmd": "def x := 1"}) == {"env": 0}
        assert int(pid_file.read_text()) == f.proc.pid
    finally:
        f.kill()


# --- state and default semantics ------------------------------------------------------------------

def test_env_and_proof_state_numbering(fake):
    f = fake("--version", "v4.33.0")
    assert f.ask({"cmd": "def f := 37"}) == {"env": 0}
    r = f.ask({"cmd": "theorem a : 1 = 1 := sorry\n\ntheorem b : 2 = 2 := by sorry", "env": 0})
    assert r["env"] == 1
    assert [s["proofState"] for s in r["sorries"]] == [0, 1]
    assert [s["goal"] for s in r["sorries"]] == ["⊢ 1 = 1", "⊢ 2 = 2"]
    step = f.ask({"tactic": "rfl", "proofState": 1})
    assert step == {"proofState": 2, "goals": [], "proofStatus": "Completed"}
    r = f.ask({"cmd": "theorem c : 3 = 3 := sorry", "env": 0})  # branching from env 0
    assert r["env"] == 2 and r["sorries"][0]["proofState"] == 3


def test_sorry_positions_goal_and_warning(fake):
    f = fake("--version", "v4.33.0")
    r = f.ask({"cmd": "theorem complex_and (p q r : Prop) (h1 : p ∧ q) (h2 : q → r) :"
                      " p ∧ r := by sorry"})
    (s,) = r["sorries"]
    assert s["pos"] == {"line": 1, "column": 75}  # code points, not UTF-8 bytes (81)
    assert s["endPos"] == {"line": 1, "column": 80}
    assert s["goal"] == "p q r : Prop\nh1 : p ∧ q\nh2 : q → r\n⊢ p ∧ r"
    (w,) = r["messages"]
    assert w["severity"] == "warning" and w["data"] == "declaration uses `sorry`"
    assert (w["pos"], w["endPos"]) == ({"line": 1, "column": 8}, {"line": 1, "column": 19})


def test_sorry_in_comment_or_string_is_not_a_sorry(fake):
    f = fake()
    r = f.ask({"cmd": 'def s := "sorry" -- sorry\n/- sorry /- nested -/ sorry -/\n'
                      "theorem t : True := trivial"})
    assert r == {"env": 0}


def test_wording_and_fields_follow_the_version(fake):
    old = fake()  # default v4.9.0-rc1
    r = old.ask({"cmd": "def f : Nat := by sorry", "allTactics": True})
    assert r["messages"][0]["data"] == "declaration uses 'sorry'"
    assert "usedConstants" not in r["tactics"][0]  # added in v4.14
    step = old.ask({"tactic": "exact 42", "proofState": 0})
    assert step == {"proofState": 2, "goals": []}  # no proofStatus before v4.19
    new = fake("--version", "v4.28.0")
    r = new.ask({"cmd": "def f : Nat := by sorry", "allTactics": True})
    assert r["messages"][0]["data"] == "declaration uses `sorry`"
    assert r["tactics"][0]["usedConstants"] == []
    assert new.ask({"tactic": "exact 42", "proofState": 0})["proofStatus"] == "Completed"


def test_tactic_sorry_creates_a_state_before_the_result(fake):
    f = fake("--version", "v4.33.0")
    f.ask({"cmd": "def f : Nat := by sorry"})
    step = f.ask({"proofState": 0, "tactic": "sorry"})
    assert step == {"sorries": [{"proofState": 1, "goal": "⊢ Nat"}],
                    "proofStatus": "Incomplete: contains sorry", "proofState": 2, "goals": []}


def test_unknown_environment_and_proof_state(fake, tmp_path):
    f = fake()
    assert f.ask({"cmd": "def f := 1", "env": 5}) == {"message": "Unknown environment."}
    assert f.ask({"tactic": "rfl", "proofState": 0}) == {"message": "Unknown proof state."}
    assert f.ask({"pickleTo": str(tmp_path / "p"), "proofState": 3}) == {
        "message": "Unknown proof State."}
    assert f.ask({"pickleTo": str(tmp_path / "e"), "env": 0}) == {
        "message": "Unknown environment."}
    # Error answers use up no ids.
    assert f.ask({"cmd": "def f := 1"}) == {"env": 0}


def test_redeclaration_is_an_error_in_the_env_chain_only(fake):
    f = fake()
    assert f.ask({"cmd": "def f := 1"}) == {"env": 0}
    r = f.ask({"cmd": "def g := 2\ndef f := 3", "env": 0})
    (m,) = r["messages"]
    assert m["severity"] == "error" and m["data"] == "'f' has already been declared"
    assert m["pos"] == {"line": 2, "column": 4}
    assert f.ask({"cmd": "def g := 5", "env": 0}) == {"env": 2}  # g was declared in env 1 only
    assert f.ask({"cmd": "def f := 5"}) == {"env": 3}  # a fresh env knows nothing
    r = f.ask({"cmd": "namespace N\ndef f := 1\nend N\ndef N.f := 2"})
    assert r["messages"][0]["data"] == "'N.f' has already been declared"


def test_a_redeclared_theorem_is_refused_at_its_name_in_the_version_s_words(fake):
    # Lean's `checkNotAlreadyDeclared` throws at the name before the body is elaborated:
    # the second `d` has no sorry and no "declaration uses sorry" warning of its own.
    cmd = {"cmd": "theorem d : True := by sorry\ntheorem d : True := by sorry\n#print axioms d"}
    for version, quoted in (("v4.9.0-rc1", "'d'"), ("v4.22.0", "'d'"), ("v4.24.0", "`d`"),
                            ("v4.33.0", "`d`")):
        r = fake("--version", version).ask(cmd)
        errors = [m for m in r["messages"] if m["severity"] == "error"]
        assert [(m["data"], m["pos"]) for m in errors] == [
            (f"{quoted} has already been declared", {"line": 2, "column": 8})]
        assert [s["pos"]["line"] for s in r["sorries"]] == [1]
        warnings = [m for m in r["messages"] if m["severity"] == "warning"]
        assert [m["pos"]["line"] for m in warnings] == [1]
        (audit,) = [m["data"] for m in r["messages"] if m["severity"] == "info"]
        assert "depends on axioms" in audit and "sorryAx" in audit  # about the first `d`


def test_imports_only_in_a_fresh_env_and_import_delay(fake, tmp_path):
    log = tmp_path / "requests.jsonl"
    f = fake("--import-delay", "0.3", "--log", str(log))
    t0 = time.monotonic()
    assert f.ask({"cmd": "import Mathlib\nimport Aesop"}) == {"env": 0}
    assert time.monotonic() - t0 >= 0.3
    t0 = time.monotonic()
    r = f.ask({"cmd": "import Mathlib\ntheorem t : True := trivial", "env": 0})
    assert time.monotonic() - t0 < 0.3  # no import work with an env
    (m,) = r["messages"]
    assert m["severity"] == "error" and "beginning of the file" in m["data"]
    for i in range(3):
        f.ask({"cmd": f"theorem t{i} : True := trivial", "env": 0})
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == 5
    assert sum(1 for req in lines if "env" not in req and "import" in req["cmd"]) == 1


def test_stats_count_requests_and_header_imports_per_process_in_one_shared_file(fake, tmp_path):
    stats = tmp_path / "stats.jsonl"
    a = fake("--import-latency", "0.2", "--stats", str(stats), by_path=True)
    b = fake("--stats", str(stats), "--crash-on", "boom", by_path=True)
    t0 = time.monotonic()
    assert a.ask({"cmd": "import Mathlib"}) == {"env": 0}
    assert time.monotonic() - t0 >= 0.2  # --import-latency is --import-delay
    a.ask({"cmd": "import Mathlib\ntheorem t : True := by sorry", "env": 0})  # not a header import
    a.ask({"tactic": "rfl", "proofState": 0})
    b.ask({"cmd": "import Aesop"})
    b.send({"cmd": "theorem t : True := by boom", "env": 0})
    assert b.wait() == 134
    a.ask({"pickleTo": str(tmp_path / "e.olean"), "env": 0})
    rows = [json.loads(line) for line in stats.read_text().splitlines()]
    assert len(rows) == 6  # one line per request, the crashed one included
    last = {row["pid"]: row for row in rows}
    assert last[a.proc.pid] == {"pid": a.proc.pid, "requests": 4, "header_imports": 1, "by_kind": {
        "command": 2, "proofStep": 1, "pickleEnvironment": 1}}
    assert last[b.proc.pid] == {"pid": b.proc.pid, "requests": 2, "header_imports": 1,
                                "by_kind": {"command": 2}}


def test_print_axioms_and_version_string(fake):
    f = fake("--version", "v4.33.0")
    r = f.ask({"cmd": "theorem a : 1 = 1 := rfl\ntheorem b : 2 = 2 := sorry\n"
                      "#print axioms a\n#print axioms b\n#eval Lean.versionString"})
    infos = [m for m in r["messages"] if m["severity"] == "info"]
    assert [m["data"] for m in infos] == [
        "'a' depends on axioms: [propext, Classical.choice, Quot.sound]",
        "'b' depends on axioms: [propext, sorryAx, Classical.choice, Quot.sound]",
        '"4.33.0"',
    ]
    assert infos[0]["pos"] == {"line": 3, "column": 0}
    # A later env still knows that b used sorry.
    r = f.ask({"cmd": "#print axioms b", "env": 0})
    assert "sorryAx" in r["messages"][0]["data"]


def test_all_tactics_and_root_goals(fake):
    f = fake("--version", "v4.33.0")
    r = f.ask({"cmd": "example (P : Prop) (hp : P) : P := by\n  skip\n  exact hp\n",
               "allTactics": True, "rootGoals": True})
    (root,) = r["sorries"]
    assert root["proofState"] == 0 and root["pos"] == root["endPos"] == {"line": 1, "column": 35}
    assert [t["tactic"] for t in r["tactics"]] == ["skip", "exact hp"]
    assert [t["proofState"] for t in r["tactics"]] == [1, 2]
    assert r["tactics"][1]["pos"] == {"line": 3, "column": 2}
    assert r["tactics"][0]["goals"] == "P : Prop\nhp : P\n⊢ P"


def test_all_tactics_goals_are_flattened_when_short_before_v4_14(fake):
    # Before v4.14 the REPL printed tactics[].goals as one Format group at width 120: a short
    # goal on one line ("t : Nat ⊢ Nat" in the v4.9 all_tactics transcript), a long one not.
    short = "example (P : Prop) (hp : P) : P := by\n  exact hp\n"
    # Twelve short hypotheses: each fits, the goal on one line would not (over 120 characters).
    binders = " ".join(f"(h{i} : p ∧ {i} = {i})" for i in range(12))
    long = f"example (p : Prop) {binders} : p := by\n  skip\n"
    long_goal = "p : Prop\n" + "".join(f"h{i} : p ∧ {i} = {i}\n" for i in range(12)) + "⊢ p"
    for version in ("v4.9.0-rc1", "v4.11.0", "v4.13.0"):
        f = fake("--version", version)
        r = f.ask({"cmd": short, "allTactics": True})
        assert r["tactics"][0]["goals"] == "P : Prop hp : P ⊢ P", version
        r = f.ask({"cmd": long, "allTactics": True})
        assert r["tactics"][0]["goals"] == long_goal, version
        # The proof state behind a tactic answers multi-line goals, like sorries do.
        step = f.ask({"tactic": "sorry", "proofState": r["tactics"][0]["proofState"]})
        assert step["sorries"][0]["goal"] == long_goal
    r = fake("--version", "v4.14.0").ask({"cmd": short, "allTactics": True})
    assert r["tactics"][0]["goals"] == "P : Prop\nhp : P\n⊢ P"


def test_a_hypothesis_longer_than_the_width_breaks_after_its_colon():
    from lean_fake.goals import tactic_goals_text
    typ = "x" * 130
    assert tactic_goals_text(f"h : {typ}\n⊢ True", (4, 9, 0)) == f"h :\n  {typ}\n⊢ True"
    assert tactic_goals_text("a : Nat\n⊢ a = a\n\n⊢ True", (4, 9, 0)) == "a : Nat ⊢ a = a\n\n⊢ True"
    assert tactic_goals_text("no goals", (4, 9, 0)) == "no goals"
    assert tactic_goals_text(f"h : {typ}\n⊢ True", (4, 14, 0)) == f"h : {typ}\n⊢ True"


def test_a_sorry_tactic_sees_the_haves_before_it_at_both_versions(fake):
    # The sorry's goal is the state its tactic runs on (Lean's `sorry` closes exactly that
    # goal): the same hypotheses as its allTactics entry, multi-line even where that entry is
    # flattened (v4.9.0-rc1).
    code = ("theorem t (x : ℝ) (h₀ : x + 1 = 2) : x = 1 := by\n"
            "  have h₁ : x = 1 := by linarith\n  sorry")
    state = "x : ℝ\nh₀ : x + 1 = 2\nh₁ : x = 1\n⊢ x = 1"
    for version, entry in (("v4.33.0", state), ("v4.9.0-rc1", " ".join(state.split("\n")))):
        out = fake("--version", version).ask({"cmd": code, "allTactics": True})
        assert [s["goal"] for s in out["sorries"]] == [state]
        assert out["tactics"][-1]["tactic"] == "sorry" and out["tactics"][-1]["goals"] == entry


def test_a_have_of_a_name_in_scope_makes_the_old_one_inaccessible(fake):
    # Lean's `n✝` (real transcripts: induction's `n✝ : ℕ`): a repeated `have h₁` leaves the
    # first one shadowed, shown `h₁✝`, merged with the new one when the types agree.
    code = ("theorem t (x : Nat) : x = x := by\n  have h₁ : x = 1 := sorry\n"
            "  have h₁ : x = 1 := sorry\n  have h₁ : x = 1 := sorry\n  sorry")
    out = fake("--version", "v4.33.0").ask({"cmd": code, "allTactics": True})
    assert out["tactics"][-1]["goals"] == "x : Nat\nh₁✝¹ h₁✝ h₁ : x = 1\n⊢ x = x"


def test_pickle_round_trip(fake, tmp_path):
    f = fake("--version", "v4.33.0")
    assert f.ask({"cmd": "def f := 42"}) == {"env": 0}
    assert f.ask({"pickleTo": str(tmp_path / "e.olean"), "env": 0}) == {"env": 0}
    assert f.ask({"unpickleEnvFrom": str(tmp_path / "e.olean")}) == {"env": 1}
    r = f.ask({"cmd": "def f := 1", "env": 1})
    assert r["messages"][0]["data"] == "`f` has already been declared"  # names survived
    r = f.ask({"cmd": "def g : Nat := by sorry", "env": 1})
    state = r["sorries"][0]["proofState"]
    pickled = f.ask({"pickleTo": str(tmp_path / "s.olean"), "proofState": state})
    assert pickled == {"proofStatus": "Incomplete: open goals remain",
                       "proofState": state + 1, "goals": ["⊢ Nat"]}
    back = f.ask({"unpickleProofStateFrom": str(tmp_path / "s.olean")})
    assert back["proofState"] == state + 2 and back["goals"] == ["⊢ Nat"]


def test_file_request(fake, tmp_path):
    (tmp_path / "a.lean").write_text("theorem t : True := sorry\n", encoding="utf-8")
    f = fake(cwd=tmp_path)
    r = f.ask({"path": "a.lean"})
    assert r["env"] == 0 and r["sorries"][0]["goal"] == "⊢ True"
    missing = f.ask({"path": "missing.lean"})
    assert set(missing) == {"message"} and "missing.lean" in missing["message"]


def test_file_mode_ignores_env_before_v4_22(fake, tmp_path):
    (tmp_path / "a.lean").write_text("import Lean\ndef b := 1\n", encoding="utf-8")
    old = fake(cwd=tmp_path)  # v4.9: processFile always runs with env := none
    assert old.ask({"cmd": "def b := 0"}) == {"env": 0}
    assert old.ask({"path": "a.lean", "env": 0}) == {"env": 1}  # a header, no redeclaration
    assert old.ask({"path": "a.lean", "env": 7}) == {"env": 2}  # not even an unknown env
    new = fake("--version", "v4.22.0", cwd=tmp_path)
    assert new.ask({"cmd": "def b := 0"}) == {"env": 0}
    datas = [m["data"] for m in new.ask({"path": "a.lean", "env": 0})["messages"]]
    assert datas == ["invalid 'import' command, it must be used in the beginning of the file",
                     "'b' has already been declared"]
    assert new.ask({"path": "a.lean", "env": 7}) == {"message": "Unknown environment."}


def test_unfinished_by_block_errors_follow_the_version(fake):
    parse_error = {"severity": "error", "pos": {"line": 1, "column": 17}, "endPos": None,
                   "data": "unexpected end of input; expected '{'"}
    unsolved = {"severity": "error", "pos": {"line": 1, "column": 15},
                "endPos": {"line": 1, "column": 17}, "data": "unsolved goals\n⊢ Nat"}
    for version, messages in (("v4.9.0-rc1", [parse_error, unsolved]),
                              ("v4.30.0", [parse_error, unsolved]), ("v4.31.0", [unsolved])):
        r = fake("--version", version).ask({"cmd": "def f : Nat := by"})
        assert r == {"env": 0, "messages": messages}, version
    # Something after the `by` is a proof: no such errors.
    assert fake().ask({"cmd": "def f : Nat := by exact 1"}) == {"env": 0}


# --- failure modes ------------------------------------------------------------------------------

def test_hang_keeps_the_process_alive_without_answering(fake):
    f = fake("--hang-on", "slow_thm")
    assert f.ask({"cmd": "def ok := 1"}) == {"env": 0}
    f.send({"cmd": "theorem slow_thm : True := by decide"})
    with pytest.raises(TimeoutError):
        f.read_block(timeout=0.5)
    assert f.proc.poll() is None


def test_crash_prints_half_an_answer_and_aborts(fake):
    f = fake("--crash-on", "boom")
    assert f.ask({"cmd": "def ok := 1"}) == {"env": 0}
    f.send({"cmd": "theorem boom : 5 ^ 999999 > 0 := by norm_num"})
    rest = f.read_rest()
    assert rest and b"\n\n" not in rest  # a partial block, never terminated
    assert f.wait() == 134
    assert b"Stack overflow detected. Aborting." in f.proc.stderr.read()


def test_garbage_block_then_normal_service(fake):
    f = fake("--garbage-on", "weird")
    f.send({"cmd": "def weird := 1"})
    block = f.read_block()
    assert block.startswith(b"PANIC at")
    with pytest.raises(json.JSONDecodeError):
        json.loads(block)
    assert f.ask({"cmd": "def fine := 1"}) == {"env": 0}


def _limit_address_space():
    limit = 512 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_balloon_dies_under_an_address_space_limit(fake):
    f = fake("--balloon-on", "big", preexec_fn=_limit_address_space)
    assert f.ask({"cmd": "def small := 1"}) == {"env": 0}
    t0 = time.monotonic()
    f.send({"cmd": "theorem big : True := trivial"})
    assert f.read_rest(timeout=20) == b""
    code = f.wait(timeout=20)
    assert code != 0
    assert b"INTERNAL PANIC: out of memory" in f.proc.stderr.read()
    assert time.monotonic() - t0 < 20


def test_undrained_stderr_blocks_the_answer(fake):
    f = fake("--stderr-bytes", str(1024 * 1024))
    f.send({"cmd": "def x := 1"})
    with pytest.raises(TimeoutError):
        f.read_block(timeout=1.0)  # stuck writing to a full stderr pipe
    drained = []
    reader = threading.Thread(target=lambda: drained.append(f.proc.stderr.read()), daemon=True)
    reader.start()
    assert json.loads(f.read_block()) == {"env": 0}
    f.close_stdin()
    reader.join(timeout=READ_TIMEOUT)
    assert len(drained[0]) == 1024 * 1024


def test_latency(fake):
    f = fake("--latency", "0.3")
    t0 = time.monotonic()
    assert f.ask({"cmd": "def x := 1"}) == {"env": 0}
    assert time.monotonic() - t0 >= 0.3


# --- scripted rules -----------------------------------------------------------------------------

def test_script_rules(fake, tmp_path):
    script = tmp_path / "rules.json"
    script.write_text(json.dumps({"rules": [
        {"match": "bad_thm", "on": "cmd",
         "messages": [{"severity": "error", "data": "unsolved goals\n⊢ False"}]},
        {"match": "two_goals", "on": "cmd", "sorries": [{"goal": "⊢ A"}, {"goal": "⊢ B"}]},
        {"match": "^constructor$", "on": "tactic", "goals": ["⊢ A", "⊢ B"]},
        {"match": "^omega$", "on": "tactic", "message": "Lean error:\nomega could not prove"},
        {"match": "^first$", "on": "tactic", "times": 1, "proofStatus": "Error: weird"},
        {"match": "quit_now", "exit": 3},
    ]}), encoding="utf-8")
    f = fake("--script", str(script), "--version", "v4.33.0")
    r = f.ask({"cmd": "theorem ok : True := trivial\n\ntheorem bad_thm : False := by simp"})
    (m,) = r["messages"]
    assert m["data"] == "unsolved goals\n⊢ False"
    assert m["pos"] == {"line": 3, "column": 8} and m["endPos"] == {"line": 3, "column": 15}
    r = f.ask({"cmd": "theorem two_goals : A ∧ B := by constructor <;> sorry"})
    assert [(s["proofState"], s["goal"]) for s in r["sorries"]] == [(0, "⊢ A"), (1, "⊢ B")]
    assert f.ask({"tactic": "constructor", "proofState": 0}) == {
        "proofStatus": "Incomplete: open goals remain", "proofState": 2,
        "goals": ["⊢ A", "⊢ B"]}
    assert f.ask({"tactic": "omega", "proofState": 0}) == {
        "message": "Lean error:\nomega could not prove"}
    assert f.ask({"tactic": "first", "proofState": 0})["proofStatus"] == "Error: weird"
    assert f.ask({"tactic": "first", "proofState": 0})["proofStatus"] == "Completed"  # times: 1
    f.send({"cmd": "quit_now"})
    assert f.read_rest() == b""
    assert f.wait() == 3


def test_script_from_env_var_and_once_file(fake, tmp_path):
    marker = tmp_path / "crashed-once"
    script = tmp_path / "rules.json"
    script.write_text(json.dumps({"rules": [
        {"match": "flaky", "crash": True, "once_file": str(marker)}]}), encoding="utf-8")
    first = fake(env={"FAKE_REPL_SCRIPT": str(script)})
    first.send({"cmd": "theorem flaky : True := trivial"})
    first.read_rest()
    assert first.wait() == 134 and marker.exists()
    second = fake(env={"FAKE_REPL_SCRIPT": str(script)})  # a restarted process succeeds
    assert second.ask({"cmd": "theorem flaky : True := trivial"}) == {"env": 0}


def test_error_on_in_tactic_mode_and_sorry_goal(fake):
    f = fake("--error-on", "my_fake_premise", "--error-data", "Unknown identifier",
             "--sorry-goal", "x : Nat\n⊢ x = x", "--version", "v4.33.0")
    r = f.ask({"cmd": "theorem t (x : Nat) : x = x := by sorry"})
    assert r["sorries"][0]["goal"] == "x : Nat\n⊢ x = x"
    step = f.ask({"tactic": "exact my_fake_premise", "proofState": 0})
    assert step["goals"] == [] and step["proofStatus"] == "Incomplete: contains sorry"
    (m,) = step["messages"]
    assert m == {"severity": "error", "pos": {"line": 0, "column": 0},
                 "endPos": {"line": 0, "column": 0}, "data": "Unknown identifier"}


# --- real transcripts ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["def_eval", "proof_branching"])
def test_replay_is_byte_exact(shared, name):
    base = transcripts(shared) / name
    expected = (base.parent / f"{name}.expected.out").read_bytes()
    result = run_fake("--replay", str(base.parent / f"{name}.expected.out"),
                      input=(base.parent / f"{name}.in").read_bytes())
    assert result.returncode == 0
    assert result.stdout == expected


@pytest.mark.parametrize("where, version, count", TRANSCRIPT_SETS, ids=["v4.33", "v4.9"])
def test_replay_all_transcripts_frames_like_the_repl(shared, where, version, count):
    # Replaying answers one recorded block per request block the fake reads, so equal output
    # means the fake cut every recorded input (raw line breaks included) into the same blocks,
    # with the framing of the tag the transcripts were recorded at.
    # 50+ processes: run by path (skips the package import) and in parallel, to stay fast.
    pairs = sorted(where(shared).rglob("*.expected.out"))
    assert len(pairs) == count

    def replay(out: Path):
        inp = out.with_name(out.name.replace(".expected.out", ".in"))
        return subprocess.run(lean_fake.command("--replay", str(out), "--version", version),
                              input=inp.read_bytes(), capture_output=True, timeout=30)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(replay, pairs))
    for out, result in zip(pairs, results):
        assert result.returncode == 0, out.name
        assert result.stdout == out.read_bytes(), out.name


def test_replay_exits_when_exhausted(shared):
    out = transcripts(shared) / "def_eval.expected.out"
    requests = b'{"cmd": "a"}\n\n{"cmd": "b"}\n\n{"cmd": "c"}\n\n{"cmd": "d"}\n\n'
    result = run_fake("--replay", str(out), input=requests)
    assert result.returncode == 0
    assert result.stdout == out.read_bytes()


# These transcripts need no real elaboration: the default semantics must give the same bytes,
# at the version each set was recorded at.
FAITHFUL = ["tactic_sorry", "term_sorry", "dup_sorries", "tactic_mode_sorry", "unknown_environment",
            "unknown_proof_state", "import_lean", "all_tactics-20250622", "assumption_proof",
            "pickle_environment", "pickle_environment_with_imports", "Mathlib/test/H20231020",
            "Mathlib/test/H20231110", "Mathlib/test/H20231215", "Mathlib/test/H20231215_2",
            "pickle_open", "pickle_open_2", "pickle_open_scoped", "pickle_open_scoped_2",
            "pickle_proof_state_1", "pickle_proof_state_2", "pickle_proof_state_env",
            "proof_transitivity", "sorry_hypotheses", "unfinished_tactic_block"]
FAITHFUL_V49 = ["tactic_sorry", "term_sorry", "dup_sorries", "tactic_mode_sorry",
                "unknown_environment", "unknown_proof_state", "enableInitializersExecution",
                "pickle_environment", "pickle_environment_with_imports", "pickle_open",
                "pickle_open_2", "pickle_open_scoped", "pickle_open_scoped_2",
                "pickle_proof_state_1", "pickle_proof_state_2", "pickle_proof_state_env",
                "all_tactics", "calc", "file", "sorry_hypotheses", "unfinished_tactic_block",
                "Mathlib/test/H20231020", "Mathlib/test/H20231110", "Mathlib/test/H20231215",
                "Mathlib/test/H20231215_2"]
# Pairs that read what an earlier pair wrote (the same order as upstream's test.sh).
PREREQUISITE = {"pickle_open_2": "pickle_open", "pickle_open_scoped_2": "pickle_open_scoped",
                "pickle_proof_state_2": "pickle_proof_state_1",
                "Mathlib/test/H20231215_2": "Mathlib/test/H20231215"}


def test_the_faithful_lists_are_substantial(shared):
    for names, (where, _version, _count) in ((FAITHFUL, TRANSCRIPT_SETS[0]),
                                            (FAITHFUL_V49, TRANSCRIPT_SETS[1])):
        assert len(names) >= 20 and len(set(names)) == len(names)
        assert all((where(shared) / f"{n}.expected.out").exists() for n in names)


def _run_pair(base: Path, name: str, version: str, cwd: Path):
    return run_fake("--version", version, input=(base / f"{name}.in").read_bytes(), cwd=cwd,
                    by_path=True)


@pytest.mark.parametrize("where, version, name",
                         [(transcripts, "v4.33.0-rc2", n) for n in FAITHFUL]
                         + [(transcripts_v49, "v4.9.0-rc1", n) for n in FAITHFUL_V49],
                         ids=[f"v4.33-{n}" for n in FAITHFUL] + [f"v4.9-{n}" for n in FAITHFUL_V49])
def test_default_semantics_reproduce_real_transcripts(shared, tmp_path, where, version, name):
    (tmp_path / "test").mkdir()  # pickle and file paths are relative to the REPL's directory
    base = where(shared)
    for lean in base.glob("*.lean"):  # `{"path": "test/file.lean"}` reads the test's own file
        (tmp_path / "test" / lean.name).write_bytes(lean.read_bytes())
    if name in PREREQUISITE:
        assert _run_pair(base, PREREQUISITE[name], version, tmp_path).returncode == 0
    result = _run_pair(base, name, version, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == (base / f"{name}.expected.out").read_text(encoding="utf-8")
