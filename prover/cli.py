"""The ``prover`` command line. Thin: it parses options, wires concrete pieces together and
maps outcomes to exit codes. Heavy imports happen inside the commands that need them.

Exit codes (a contract for scripts): 0 everything checked/proved, 1 something was not,
2 usage or input error, 3 no Lean/REPL could be started (the message says how to fix it).
"""
from __future__ import annotations

import asyncio
import json
import shlex
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

EXIT_OK, EXIT_NOT_PROVED, EXIT_USAGE, EXIT_NO_LEAN = 0, 1, 2, 3


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def read_lean_file(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        fail(f"{path} is not UTF-8 text (byte {exc.start}): Lean files must be UTF-8", EXIT_USAGE)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}", EXIT_USAGE)


def settings_from(flags: dict[str, Any]):
    from .config import ConfigError, load_settings

    try:
        return load_settings(flags)
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)


def repl_spec(settings, *, auto_setup: bool = True):
    """The REPL to talk to: --repl / PROVER_REPL / prover.toml, else the workspace's own.

    A workspace that was never built is set up here, on first use, saying what it downloads.
    """
    from lean_bridge.process import GIB, ProcessLimits, ReplSpec
    from lean_bridge.workspace import Pins, default_workspace, is_built, read_pins, workspace_spec

    limits = ProcessLimits(memory_bytes=int(settings["memory_gb"] * GIB))
    if settings["repl"]:
        command = tuple(shlex.split(settings["repl"]))
        if not command:
            fail("--repl is empty", EXIT_USAGE)
        return ReplSpec(command, limits=limits)
    workspace = Path(settings["workspace"]) if settings["workspace"] else default_workspace()
    if not is_built(workspace) and auto_setup:
        from lean_bridge.setup import SetupError, setup_workspace

        pins = read_pins(workspace) if (workspace / "lakefile.lean").is_file() else Pins.default()
        click.echo(f"No Lean REPL is set up yet: setting up {workspace} (first use).", err=True)
        try:
            setup_workspace(workspace, pins, say=lambda s: click.echo(s, err=True),
                            write_files=not (workspace / "lakefile.lean").is_file())
        except SetupError as exc:
            fail(str(exc), EXIT_NO_LEAN)
    from lean_bridge.errors import ReplUnavailable

    try:
        return workspace_spec(workspace, limits)
    except ReplUnavailable as exc:
        fail(str(exc), EXIT_NO_LEAN)


def lean_options(func):
    """Options shared by every command that talks to Lean."""
    func = click.option("--repl", metavar="CMD",
                        help="Command that starts a Lean REPL (any program speaking its protocol). "
                             "Default: PROVER_REPL, prover.toml, else the workspace's REPL.")(func)
    func = click.option("--workspace", type=click.Path(file_okay=False, path_type=Path),
                        help="Lean workspace built by `prover setup` (default: this checkout).")(func)
    func = click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="S",
                        help="Wall-clock seconds per Lean request (default 60).")(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lean-prover")
def cli() -> None:
    """A neural theorem prover for Lean 4.

    Start with `prover setup` (installs Lean, Mathlib and the REPL on first use), then
    `prover check FILE.lean` to verify the theorems of a file.
    """


@cli.command()
@click.option("--toolchain", metavar="vX.Y.Z",
              help="Make a workspace for another Lean release (Mathlib and REPL tags of that name).")
@click.option("--workspace", type=click.Path(file_okay=False, path_type=Path),
              help="Where the workspace lives (default: this checkout, or a cache directory per toolchain).")
@click.option("--no-install", is_flag=True, help="Do not install elan when lake is missing; fail instead.")
def setup(toolchain: str | None, workspace: Path | None, no_install: bool) -> None:
    """Install Lean (elan), fetch Mathlib's cache and build the Lean REPL.

    Downloads: the Lean toolchain (~200 MB), Mathlib's sources and compiled files (~5 GB)
    and the REPL's sources. Writes prover-workspace.json with the versions used.
    Exits 3 when it cannot (no network, no elan), saying what to do.
    """
    from lean_bridge.setup import SetupError, describe_plan, setup_workspace
    from lean_bridge.workspace import Pins, default_workspace, read_pins, toolchain_workspace

    if toolchain:
        try:
            pins = Pins.for_toolchain(toolchain)
        except ValueError as exc:
            fail(str(exc), EXIT_USAGE)
        target = workspace or toolchain_workspace(toolchain)
        write_files = True
    else:
        target = workspace or default_workspace()
        write_files = not (target / "lakefile.lean").is_file()
        pins = Pins.default() if write_files else read_pins(target)
    for line in describe_plan(pins, target):
        click.echo(line)
    try:
        manifest = setup_workspace(target, pins, say=click.echo, write_files=write_files,
                                   allow_install=not no_install)
    except SetupError as exc:
        fail(str(exc), EXIT_NO_LEAN)
    click.echo(f"Lean is ready. Versions recorded in {manifest}")


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--theorem", "theorems", multiple=True, metavar="NAME",
              help="Check only this theorem (repeatable).")
@click.option("--against", "against", type=click.Path(dir_okay=False, path_type=Path), metavar="REF",
              help="Reference statements (benchmark JSONL with name/header/formal_statement, or a .lean "
                   "file): the header and each matching theorem's statement must be unchanged.")
@click.option("--allow-native-decide", is_flag=True,
              help="Accept native_decide (and the Lean.ofReduceBool axiom); reported as such.")
@lean_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def check(file: Path, theorems: tuple[str, ...], against: Path | None, allow_native_decide: bool,
          repl: str | None, workspace: Path | None, timeout: float | None, as_json: bool) -> None:
    """Verify every theorem and lemma of FILE with Lean.

    Statuses: proved, incomplete (a sorry), error (Lean rejected it), timeout, crashed,
    rejected (it cheats: a banned construct, a changed statement, a forbidden axiom).
    Exit 0 when every checked theorem is proved, 1 when not, 2 for bad input, 3 when no
    Lean REPL can be started.
    """
    from lean_bridge.integrity import IntegrityOptions
    from lean_bridge.text import parse_file

    text = read_lean_file(file)
    names = [d.name for d in parse_file(text).declarations if d.kind in ("theorem", "lemma") and d.name]
    if not names and not against:
        fail(f"{file} has no theorem or lemma to check", EXIT_USAGE)
    missing = [t for t in theorems if t not in names]
    if missing:
        fail(f"no theorem named {', '.join(missing)} in {file} (it has: {', '.join(names)})", EXIT_USAGE)
    references = _references_for(against, names, text) if against else None
    settings = settings_from({"repl": repl, "workspace": str(workspace) if workspace else None,
                              "timeout": timeout})
    spec = repl_spec(settings)
    options = IntegrityOptions(allow_native_decide=allow_native_decide)
    if references == []:
        # A benchmark file with no theorem of these names: a renamed theorem (or one turned
        # into an anonymous example) proves nothing about the benchmark.
        from lean_bridge.checker import TheoremCheck
        from lean_bridge.outcome import CheckResult, Status

        why = f"missing_theorem: no theorem of {against} is declared in the file"
        checks = [TheoremCheck(n, CheckResult(Status.REJECTED, reasons=(why,)))
                  for n in theorems or names or ["(no theorem)"]]
    else:
        checks = asyncio.run(_check_file(spec, settings, text, list(theorems) or None, references, options))
    from lean_bridge.sandbox import describe

    report = {
        "file": str(file),
        "theorems": [{"name": c.name, "status": c.result.status.value,
                      "reasons": list(c.result.reasons), "seconds": round(c.result.seconds, 3)}
                     for c in checks],
        "lean_version": next((c.result.lean_version for c in checks if c.result.lean_version), None),
        "repl": " ".join(spec.command),
        "against": str(against) if against else None,
        "sandbox": describe(spec.sandbox, spec.limits),
    }
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        _print_check_table(report)
    sys.exit(EXIT_OK if checks and all(c.result.proved for c in checks) else EXIT_NOT_PROVED)


def _references_for(path: Path, names: list[str], text: str):
    """The references a candidate is held to: all theorems of a .lean REF, or the JSONL records
    named like the candidate's theorems (a benchmark file holds hundreds of other problems)."""
    from lean_bridge.reference import BadReference, load_references

    try:
        references = load_references(path)
    except BadReference as exc:
        fail(f"cannot use --against {path}: {exc}", EXIT_USAGE)
    if path.suffix == ".lean":
        return list(references.values())
    # JSONL records are keyed by their id; the candidate is matched by Lean name. ProofNet
    # repeats Lean names across textbooks: prefer the record whose statement the file has.
    from lean_bridge.text import find_declaration, normalize_statement

    chosen = []
    for name in names:
        same = [r for r in references.values() if r.name == name]
        decl = find_declaration(text, name)
        mine = normalize_statement(decl.statement(text)) if decl else None
        exact = [r for r in same
                 if (d := find_declaration(r.text, name)) and normalize_statement(d.statement(r.text)) == mine]
        if same:
            chosen.append((exact or same)[0])
    return chosen


async def _check_file(spec, settings, text: str, names: list[str] | None, references, options):
    from lean_bridge.checker import LeanChecker
    from lean_bridge.errors import ReplUnavailable
    from lean_bridge.pool import PoolConfig, ReplPool

    pool = ReplPool(spec, PoolConfig(max_processes=1, header_timeout=settings["header_timeout"]))
    try:
        checker = LeanChecker(pool, timeout=settings["timeout"], integrity=options)
        return await checker.check_file(text, names, references)
    except ReplUnavailable as exc:
        fail(str(exc), EXIT_NO_LEAN)
    finally:
        await pool.close()


@cli.command("bench-system")
@click.option("--nodes", type=click.IntRange(min=10), default=10_000, show_default=True,
              help="Grow the RMaxTS tree to this many nodes.")
@click.option("--workers", type=click.IntRange(min=1), default=8, show_default=True,
              help="Simulated Lean workers (fake REPL processes).")
@click.option("--latency", type=click.FloatRange(min=0.001), default=0.05, show_default=True,
              metavar="S", help="Seconds each simulated Lean check takes.")
@click.option("--checks", type=click.IntRange(min=1), default=400, show_default=True,
              help="Checks in the utilisation run.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
def bench_system(nodes: int, workers: int, latency: float, checks: int, as_json: bool) -> None:
    """Measure the system's own overheads, with the model and Lean simulated.

    RMaxTS bookkeeping per expansion on a tree of NODES nodes, utilisation of W simulated
    Lean workers, header imports per run, and bytes per tree node; each against its target.
    Exit 0 when every target is met, 1 when one is missed.
    """
    from benchmarks.system import TARGETS, run, verdicts

    report = run(nodes=nodes, workers=workers, latency=latency, checks=checks)
    met = verdicts(report)
    if as_json:
        click.echo(json.dumps({**report, "targets_met": met}, indent=2))
    else:
        for key, value in report.items():
            target = TARGETS.get(key)
            mark = "" if key not in met else ("  ok" if met[key] else "  MISSED")
            click.echo(f"{key:36} {value:12.3f}" + (f"  (target {target[0]} {target[1]})" if target else "") + mark
                       if isinstance(value, float) else f"{key:36} {value:12}" + mark)
    sys.exit(EXIT_OK if all(met.values()) else EXIT_NOT_PROVED)


def _print_check_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    colours = {"proved": "green", "incomplete": "yellow", "error": "red",
               "timeout": "magenta", "crashed": "magenta", "rejected": "red"}
    table = Table(title=f"{report['file']}  (Lean {report['lean_version'] or 'unknown'})")
    for column in ("theorem", "status", "seconds", "why"):
        table.add_column(column)
    for row in report["theorems"]:
        colour = colours.get(row["status"], "white")
        why = row["reasons"][0] if row["reasons"] else ""
        table.add_row(row["name"], f"[{colour}]{row['status']}[/]", f"{row['seconds']:.2f}", why)
    Console().print(table)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
