"""The main loop: read request blocks, answer them (or misbehave, as the rules say), and the
command line."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from lean_fake.printer import lean_pretty
from lean_fake.protocol import Fatal, parse_query
from lean_fake.reader import ASCII_WS
from lean_fake.repl import FakeRepl
from lean_fake.rules import _Shortcut, load_rules
from lean_fake.state import parse_version

DEFAULT_VERSION = "v4.9.0-rc1"
NEW_FRAMING = (4, 22, 0)  # first tag whose getLines right-trims and glues lines (PR #72)
GARBAGE_LINE = "PANIC at Lean.Expr garbage ✗"
CRASH_TEXT = "Stack overflow detected. Aborting.\n"
OOM_TEXT = "INTERNAL PANIC: out of memory\n"
BALLOON_CHUNK = 64 * 1024 * 1024
PAGE = 4096


# Answers written but not yet flushed (only with --no-flush). Kept here rather than in Python's
# stdout buffer, which PYTHONUNBUFFERED / -u would turn off.
_PENDING = bytearray()
STDOUT_BUFFER = 8192  # like a C stdio buffer: it goes out once this much has piled up


def _write_out(data: bytes, flush: bool = True) -> None:
    _PENDING.extend(data)
    if flush or len(_PENDING) >= STDOUT_BUFFER:
        _flush_out()


def _flush_out() -> None:
    """Everything pending onto stdout (also what a normal exit does)."""
    try:
        sys.stdout.buffer.write(bytes(_PENDING))
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        os._exit(1)
    _PENDING.clear()


def _write_err(text: str) -> None:
    try:
        sys.stderr.buffer.write(text.encode("utf-8"))
        sys.stderr.buffer.flush()
    except BrokenPipeError:
        pass


def _die(message: str):
    # What the Lean runtime does with an exception that escapes `main`.
    _write_err("uncaught exception: " + message + "\n")
    _flush_out()
    os._exit(1)


def _hang():
    # Never answer; keep the process alive and stop reading stdin, like a runaway tactic.
    while True:
        time.sleep(3600)


def _balloon(max_mib: int):
    chunks = []
    total = 0
    try:
        while True:
            if max_mib and total >= max_mib * 1024 * 1024:
                raise MemoryError  # safety cap for runs without an address-space limit
            chunk = bytearray(BALLOON_CHUNK)
            chunk[::PAGE] = b"\x01" * len(range(0, BALLOON_CHUNK, PAGE))  # touch every page
            chunks.append(chunk)
            total += BALLOON_CHUNK
    except MemoryError:
        chunks.clear()
        _write_err(OOM_TEXT)
        os._exit(1)


def read_block(stream, old_framing: bool) -> str:
    """`getLines` from REPL/Main.lean: read to a blank line, which is returned with the block."""
    parts: list[str] = []
    while True:
        line = stream.readline().decode("utf-8", errors="replace")
        if not line.strip(ASCII_WS):
            return "".join(parts) + line  # "" only at EOF with nothing pending
        parts.append(line if old_framing else line.rstrip(ASCII_WS))


def _noise(n: int) -> None:
    pattern = "fake-repl stderr noise: the client must drain this pipe.\n"
    text = (pattern * (n // len(pattern) + 1))[:n]
    _write_err(text)


def _log(path: str, obj) -> None:
    # One JSON object per line, written and closed at once so a test can read it at any time.
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _misbehaves(rule) -> bool:
    """The rule ends the request without one whole answer on stdout."""
    return bool(rule["exit"] is not None or rule["hang"] or rule["balloon"] or rule["garbage"]
                or rule["crash"])


def old_framing(args) -> bool:
    """Raw concatenation (before v4.22, PR #72) unless a flag says otherwise."""
    if args.old_framing or args.new_framing:
        return bool(args.old_framing)
    return parse_version(args.version) < NEW_FRAMING


def serve(args) -> int:
    rules = load_rules(args)
    repl = FakeRepl(args, rules)
    raw = old_framing(args)
    flush = not args.no_flush

    def record() -> None:
        if args.stats:
            _log(args.stats, repl.stats())

    replay = _load_replay(args.replay)
    stdin = sys.stdin.buffer
    while True:
        query = read_block(stdin, raw)
        if query == "":
            _flush_out()
            return 0
        if query.startswith("#") or query.startswith("--"):
            continue
        if args.lenient_blank_lines and not query.strip(ASCII_WS):
            continue
        kind, req = _receive(repl, args, query)
        if replay is not None:
            record()
            if not replay:
                _flush_out()
                return 0
            _write_out(replay.pop(0) + b"\n\n", flush)
            continue

        text, error, rule, match = _request_text(repl, kind, req)
        if rule is not None and _misbehaves(rule):
            record()  # nothing (or no whole answer) follows: the counters are written now
        if rule is not None and _act_out(rule, args):
            continue
        rendered = lean_pretty(_answer(repl, kind, req, text, error, rule, match)) + "\n\n"
        if rule is None or not _misbehaves(rule):
            record()  # before the answer: a client that has it can read the counters
        if rule is not None and rule["crash"]:
            # A stack overflow mid-print: half an answer, no blank line, then the runtime abort.
            _write_out(rendered[:len(rendered) // 2].encode("utf-8"), flush)
            _write_err(CRASH_TEXT)
            os._exit(134)
        _write_out(rendered.encode("utf-8"), flush)


def _load_replay(path):
    """The recorded answer blocks of ``--replay``, or None."""
    replay = None
    if path:
        with open(path, "rb") as f:
            replay = [b for b in f.read().split(b"\n\n") if b.strip()]
    return replay


def _receive(repl: FakeRepl, args, query: str):
    """Parse a block (or die as the REPL does), log and count it: (kind, request)."""
    try:
        kind, req = parse_query(query)
    except Fatal as e:
        _die(lean_pretty({"message": str(e)}))
    if args.log:
        _log(args.log, req)
    repl.requests_by_kind[kind] = repl.requests_by_kind.get(kind, 0) + 1
    if args.stderr_bytes:
        _noise(args.stderr_bytes)
    if args.latency:
        time.sleep(args.latency)
    return kind, req


def _request_text(repl: FakeRepl, kind: str, req: dict):
    """(text, error response, rule, match): the text rules are matched against, and its rule."""
    text = None
    if kind in ("command", "file"):
        if kind == "file":
            text, error = repl.read_file(req)
        else:
            text, error = req["cmd"], None
        rule, match = repl.find_rule("cmd", text) if text is not None else (None, None)
    elif kind == "proofStep":
        error = None
        rule, match = repl.find_rule("tactic", req["tactic"])
    else:
        error, rule, match = None, None, None
    return text, error, rule, match


def _act_out(rule, args) -> bool:
    """The rule's behaviour before an answer; True when garbage took the place of the answer
    (the other misbehaviours do not return)."""
    if rule["stderr"]:
        _write_err(rule["stderr"])
    if rule["sleep"]:
        time.sleep(float(rule["sleep"]))
    if rule["exit"] is not None:
        _flush_out()
        os._exit(int(rule["exit"]))
    if rule["hang"]:
        _hang()
    if rule["balloon"]:
        _balloon(args.balloon_max_mib)
    if rule["garbage"]:
        # Garbage takes the place of this answer; no ids are used up.
        _write_out((GARBAGE_LINE + "\n\n").encode("utf-8"))
        return True
    return False


def _answer(repl: FakeRepl, kind: str, req: dict, text, error, rule, match) -> dict:
    """The response to one request; an uncaught exception kills the process, as in Lean."""
    try:
        if error is not None:
            response = error
        elif kind in ("command", "file"):
            response = repl.command(text, req, rule, match, file=kind == "file")
        elif kind == "proofStep":
            response = repl.proof_step(req, rule, match)
        elif kind == "pickleEnvironment":
            response = repl.pickle_env(req)
        elif kind == "unpickleEnvironment":
            response = repl.unpickle_env(req)
        elif kind == "pickleProofState":
            response = repl.pickle_state(req)
        else:
            response = repl.unpickle_state(req)
    except Fatal as e:
        _die(str(e))
    return response


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lean_fake",
        description="A fake Lean REPL speaking the leanprover-community/repl wire protocol.")
    p.set_defaults(shortcuts=[], sorry_goal=None)
    p.add_argument("--version", default=DEFAULT_VERSION,
                   help="REPL/Lean version to imitate (message wording, proofStatus, "
                        "usedConstants, allTactics goal layout, framing, file-mode env); "
                        "default %(default)s")
    framing = p.add_mutually_exclusive_group()
    framing.add_argument("--old-framing", action="store_true",
                         help="join input lines raw, newline included (the default before "
                              "v4.22: a raw newline in a JSON string kills the process)")
    framing.add_argument("--new-framing", action="store_true",
                         help="right-trim input lines and glue them (the default from v4.22)")
    p.add_argument("--no-flush", action="store_true",
                   help="do not flush stdout after an answer, as the REPL before v4.10 (PR #49): "
                        "an answer on a pipe waits in the buffer until it fills or the process "
                        "exits. Off by default at every version, since clients need the reply")
    p.add_argument("--lenient-blank-lines", action="store_true",
                   help="ignore blank-only blocks instead of dying on them")
    p.add_argument("--script", help="JSON file {\"rules\": [...]} (default $FAKE_REPL_SCRIPT)")
    for flag, help_ in (("--hang-on", "never answer a matching request"),
                        ("--crash-on", "print half an answer, then die with status 134"),
                        ("--garbage-on", "answer a matching request with a non-JSON block"),
                        ("--balloon-on", "allocate memory until MemoryError, then exit 1"),
                        ("--error-on", "add an error message (see --error-data)"),
                        ("--sorry-goal", "goal text for every sorry found in a command")):
        p.add_argument(flag, metavar="REGEX" if flag != "--sorry-goal" else "TEXT",
                       action=_Shortcut, help=help_)
    p.add_argument("--error-data", default="unsolved goals",
                   help="text of the --error-on message; default %(default)r")
    p.add_argument("--latency", type=float, default=0.0, help="seconds to wait before answering")
    p.add_argument("--import-delay", "--import-latency", dest="import_delay", type=float,
                   default=0.0,
                   help="seconds to wait for a command without env that has `import` lines")
    p.add_argument("--import-cpu", type=float, default=0.0, metavar="S",
                   help="CPU seconds to burn (busy) for such a command, as Lean's import does")
    p.add_argument("--stderr-bytes", type=int, default=0,
                   help="bytes of noise written to stderr per request (blocks if undrained)")
    p.add_argument("--log", help="append each parsed request as one JSON line to this file")
    p.add_argument("--stats", metavar="FILE",
                   help="append this process's counters (pid, requests by kind, header imports) "
                        "as one JSON line after every request; the last line of a pid is current")
    p.add_argument("--pid-file", help="write the process id here at start")
    p.add_argument("--replay", metavar="FILE.expected.out",
                   help="answer with the recorded blocks of a transcript, verbatim")
    p.add_argument("--balloon-max-mib", type=int, default=4096,
                   help="stop ballooning here even without a memory limit (0: no cap)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.pid_file:
        with open(args.pid_file, "w", encoding="utf-8") as f:
            f.write(f"{os.getpid()}\n")
    return serve(args)

