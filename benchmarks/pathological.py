"""Time and peak memory of ``prover check`` and the text utilities on pathological inputs.

Every command must grow at most linearly with its input, in bytes and in declarations. This
script generates each input shape itself, at each size, and runs on it:

* ``check``: the ``prover check --json`` command, in this process (so its printing counts),
  against the fake REPL (``lean_fake``; its own time is in the wall time, its
  memory is not ours and is left out);
* the text utilities: ``parse_file``, ``mask_non_code``, ``strip_comments``,
  ``normalize_statement``, ``find_identifier``, ``find_name``, ``find_sorry_proofs``,
  ``scan_integrity``, ``compare_to_reference`` and ``references_from_lean`` (lean_bridge), and
  ``select_targets`` + ``gaps_of`` + the last target's ``problem_for`` (``prover prove``).

Each (shape, size, tool) runs in a forked child, so its peak RSS is its own: the figure is
the child's peak resident memory above what it held when the tool started (the input text
included in neither). Printed: seconds per MB and peak MiB per MB; linear growth shows as
figures that stay flat as the size grows. Sizes are in MB of UTF-8 input.

    python -m benchmarks.pathological [--mb 1,2,5,10] [--shapes a,b] [--tools a,b] [--json]

The shapes (``SHAPES``): ``many_theorems`` (distinct names, every other proof ``sorry``),
``one_name`` (the same theorem, ``sorry`` proof, repeated), ``giant_proof`` (one theorem, one
long tactic proof), ``nested`` (a comment nested to a great depth, then brackets nested as
deep), ``long_lines`` (lines of 1 MiB), ``many_sorries`` (one theorem with a ``sorry`` per
line), and ``stacked_modifiers`` (indented attribute lines, which the splitter once re-read from
each of them). The tests (tests/test_linear.py) assert on small sizes that output sizes and counts of
work grow linearly; timings are only ever reported here.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import shlex
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import lean_fake
from benchmarks import app

MB = 1_000_000
HEADER = "import Mathlib\n\n"


# -- input shapes ----------------------------------------------------------------------------

def _repeat(size: int, head: str, unit: Callable[[int], str], tail: str = "") -> str:
    parts, total, i = [head], len(head) + len(tail), 0
    while total < size:
        piece = unit(i)
        parts.append(piece)
        total += len(piece)
        i += 1
    parts.append(tail)
    return "".join(parts)


def many_theorems(size: int) -> str:
    return _repeat(size, HEADER, lambda i: (
        f"theorem t{i} (x : Nat) : x + 0 = x := by\n  {'sorry' if i % 2 else 'simp'}\n\n"))


def one_name(size: int) -> str:
    return _repeat(size, "", lambda i: "theorem dup (x : Nat) : x + 0 = x := by sorry\n")


def giant_proof(size: int) -> str:
    return _repeat(size, HEADER + "theorem giant (x : Nat) : x + 0 = x := by\n",
                   lambda i: f"  have h{i} : {i} + 0 = {i} := by simp\n", "  simp\n")


def nested(size: int) -> str:
    depth = max(1, size // 8)  # "/- " + " -/" per level of the comment, "(" + ")" of the term
    comment = "/- " * depth + "deep" + " -/" * depth + "\n"
    term = "(" * depth + "1" + ")" * depth
    return HEADER + comment + f"theorem nested : {term} = 1 := by\n  rfl\n"


def long_lines(size: int) -> str:
    width = min(2 ** 20, size)
    line = lambda i: ("theorem long" + str(i) + " (x : Nat) : x = x" + " + 0" * (width // 4)
                      + " := by\n  simp\n")
    return _repeat(size, HEADER, line)


def many_sorries(size: int) -> str:
    return _repeat(size, HEADER + "theorem holes (x : Nat) : x + 0 = x := by\n",
                   lambda i: f"  have h{i} : {i} = {i} := sorry\n", "  sorry\n")


def stacked_modifiers(size: int) -> str:
    # Indented attribute lines that never reach a declaration keyword: a reader that tries
    # each line start on its own reads the rest of the run from every one of them.
    return _repeat(size, HEADER + "theorem stacked : True := by\n",
                   lambda i: "  @[simp]\n", "  trivial\n")


SHAPES: dict[str, Callable[[int], str]] = {
    "many_theorems": many_theorems, "one_name": one_name, "giant_proof": giant_proof,
    "nested": nested, "long_lines": long_lines, "many_sorries": many_sorries,
    "stacked_modifiers": stacked_modifiers,
}


# -- tools -----------------------------------------------------------------------------------

def run_check(path: Path, *args: str) -> dict[str, Any]:
    """``prover check --json PATH`` in this process; what it printed, summarised."""
    cli = app.part("cli")

    out = io.StringIO()
    repl = shlex.join(lean_fake.command())
    code: Any = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        try:
            # Lean's own per-request limit would cut a 10 MB file short: give it an hour.
            cli.main(["check", "--json", str(path), "--repl", repl, "--timeout", "3600", *args],
                     standalone_mode=False)
        except SystemExit as exc:
            code = exc.code
    printed = out.getvalue()
    counts: dict[str, Any] = {"exit": code, "json_bytes": len(printed.encode("utf-8"))}
    if printed.strip():
        rows = json.loads(printed)["theorems"]
        counts.update(rows=len(rows), reasons=sum(len(r["reasons"]) for r in rows),
                      statuses=sorted({r["status"] for r in rows}))
    return counts


def _text_tools() -> dict[str, Callable[[str, Path], dict[str, Any]]]:
    from lean_bridge.integrity import scan_integrity
    from lean_bridge.reference import (
        BadReference,
        compare_to_reference,
        references_from_lean,
    )
    from lean_bridge.text import (
        find_identifier,
        find_name,
        find_sorry_proofs,
        mask_non_code,
        normalize_statement,
        parse_file,
        strip_comments,
    )
    pv = app.part("prove")  # the application's file driver (benchmarks/app.py)

    def references(text: str, _path: Path) -> dict[str, Any]:
        try:
            return {"references": len(references_from_lean(text))}
        except BadReference as exc:
            return {"refused": str(exc)[:80]}

    def compare(text: str, _path: Path) -> dict[str, Any]:
        first = parse_file(text).declarations[0]
        ref = next(iter(references_from_lean(text[:first.end]).values()))
        return {"findings": len(compare_to_reference(text, ref))}

    def prove_targets(text: str, _path: Path) -> dict[str, Any]:
        try:
            targets = pv.select_targets(text)
        except pv.ProveInputError as exc:
            return {"refused": str(exc)[:80]}
        gaps = pv.gaps_of(text)
        problem = pv.problem_for(text, targets[-1], proofs={}, gaps=gaps)
        return {"targets": len(targets), "gaps": len(gaps), "statement": len(problem.statement)}

    return {
        "parse_file": lambda t, _p: {"declarations": len(parse_file(t).declarations)},
        "mask_non_code": lambda t, _p: {"chars": len(mask_non_code(t))},
        "strip_comments": lambda t, _p: {"chars": len(strip_comments(t))},
        "normalize_statement": lambda t, _p: {"chars": len(normalize_statement(t))},
        "find_identifier": lambda t, _p: {"hits": len(find_identifier(t, "sorry"))},
        "find_name": lambda t, _p: {"hits": len(find_name(t, "Nat.sorryAx"))},
        "find_sorry_proofs": lambda t, _p: {"hits": len(find_sorry_proofs(t))},
        "scan_integrity": lambda t, _p: {"findings": len(scan_integrity(t))},
        "compare_to_reference": compare,
        "references_from_lean": references,
        "prove_targets": prove_targets,
    }


def tools() -> dict[str, Callable[[str, Path], dict[str, Any]]]:
    return {"check": lambda _t, p: run_check(p), **_text_tools()}


# -- measuring -------------------------------------------------------------------------------

def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _measure_here(shape: str, size: int, tool: str, directory: Path) -> dict[str, Any]:
    text = SHAPES[shape](size)
    path = directory / f"{shape}.lean"
    path.write_text(text, encoding="utf-8")
    run = tools()[tool]
    base = _rss_bytes()
    started = time.perf_counter()
    counts = run(text, path)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return {"seconds": seconds, "peak_bytes": max(0, peak - base), "counts": counts}


def measure(shape: str, mb: float, tool: str, directory: Path,
            limit_s: int = 600) -> dict[str, Any]:
    """One measurement in a forked child: its peak RSS is this tool's alone. A child still
    running after ``limit_s`` seconds is ended by its own alarm (a super-linear path)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: measure, send the figures, leave without cleanup
        os.close(read)
        os.setpgid(0, 0)  # its fake REPL goes with it when the alarm ends it
        signal.signal(signal.SIGALRM, lambda *_: os.killpg(0, signal.SIGKILL))
        signal.alarm(limit_s)
        try:
            result = _measure_here(shape, int(mb * MB), tool, directory)
        except BaseException as exc:  # report it; the parent prints it with the figures
            result = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        with os.fdopen(write, "w") as out:
            json.dump(result, out)
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as inp:
        data = inp.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
            return {"error": f"still running after {limit_s} s (ended)"}
        return {"error": f"the measuring process died (wait status {status})"}
    return json.loads(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pathological",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", default="1,2,5,10", help="input sizes in MB (default 1,2,5,10)")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="which input shapes")
    parser.add_argument("--tools", default=",".join(tools()), help="which commands/utilities")
    parser.add_argument("--limit-s", type=int, default=600,
                        help="end a measurement after this many seconds (default 600)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    sizes = [float(s) for s in args.mb.split(",") if s]
    shapes = [s for s in args.shapes.split(",") if s]
    chosen = [t for t in args.tools.split(",") if t]
    unknown = [s for s in shapes if s not in SHAPES] + [t for t in chosen if t not in tools()]
    if unknown:
        parser.error(f"unknown shape or tool: {', '.join(unknown)}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="pathological-") as tmp:
        for shape in shapes:
            for tool in chosen:
                for mb in sizes:
                    r = measure(shape, mb, tool, Path(tmp), args.limit_s)
                    row = {"shape": shape, "tool": tool, "mb": mb, **r}
                    if "seconds" in r:
                        row["s_per_mb"] = r["seconds"] / mb
                        row["mib_per_mb"] = r["peak_bytes"] / 2 ** 20 / mb
                    rows.append(row)
                    if not args.json:
                        _print_row(row)
    if args.json:
        print(json.dumps({"rows": rows}, indent=1))
    return 0 if not any("error" in r for r in rows) else 1


def _print_row(row: dict[str, Any]) -> None:
    if "error" in row:
        print(f"{row['shape']:14} {row['tool']:21} {row['mb']:5g} MB  ERROR {row['error']}",
              flush=True)
        return
    counts = " ".join(f"{k}={v}" for k, v in row["counts"].items())
    print(f"{row['shape']:14} {row['tool']:21} {row['mb']:5g} MB  {row['s_per_mb']:8.3f} s/MB "
          f"{row['mib_per_mb']:8.1f} MiB/MB  {counts}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
