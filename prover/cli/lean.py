"""``prover setup`` (install Lean, Mathlib and the REPL) and ``prover check`` (verify a file's
theorems with the full verdict)."""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from prover.cli.common import (
    EXIT_NO_LEAN,
    EXIT_NOT_PROVED,
    EXIT_OK,
    EXIT_USAGE,
    fail,
    lean_options,
    read_lean_file,
    repl_spec,
    settings_from,
)
from prover.cli.jsonout import echo_json, json_command


@click.command()
@click.option("--toolchain", metavar="vX.Y.Z",
              help="Make a workspace for another Lean release (Mathlib and REPL tags of that name).")
@click.option("--for", "family_name", metavar="FAMILY",
              help="Make the workspace a model family was trained and evaluated on (its Lean, "
                   "Mathlib and REPL; `prover models` lists them), e.g. Kimina-Prover.")
@click.option("--workspace", type=click.Path(file_okay=False, path_type=Path),
              help="Where the workspace lives (default: this checkout, or a cache directory per toolchain).")
@click.option("--no-install", is_flag=True, help="Do not install elan when lake is missing; fail instead.")
def setup(toolchain: str | None, family_name: str | None, workspace: Path | None,
          no_install: bool) -> None:
    """Install Lean (elan), fetch Mathlib's cache and build the Lean REPL.

    Downloads: the Lean toolchain (~200 MB), Mathlib's sources and compiled files (~5 GB)
    and the REPL's sources. Writes prover-workspace.json with the versions used.
    `--for FAMILY` pins the family's environment (Kimina: Lean v4.15.0 with its Mathlib
    and REPL commits; DeepSeek and Goedel: the default v4.9.0-rc1). Exits 2 for an unknown
    family or release, 3 when it cannot set up (no network, no elan), saying what to do.
    """
    from lean_bridge.setup import SetupError, describe_plan, setup_workspace
    from lean_bridge.workspace import (
        Pins,
        default_workspace,
        pins_workspace,
        read_pins,
        toolchain_workspace,
    )

    if toolchain and family_name:
        fail("--toolchain and --for exclude each other (a family has its own Lean)", EXIT_USAGE)
    wanted = None
    if family_name:
        from prover.policies.families import family_for_model, family_pins, get_family

        try:  # a family's name, or a model id it covers
            family = family_for_model(family_name) if "/" in family_name else None
            wanted = family_pins(family or get_family(family_name))
        except ValueError as exc:
            fail(f"{exc} (or a model id they cover; see `prover models`)", EXIT_USAGE)
    if wanted is not None:
        pins, target = wanted, workspace or pins_workspace(wanted)
        # the family's pins are written unless the workspace already states exactly them
        write_files = not (target / "lakefile.lean").is_file() or read_pins(target) != pins
    elif toolchain:
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


@click.command()
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
@json_command
def check(file: Path, theorems: tuple[str, ...], against: Path | None, allow_native_decide: bool,
          repl: str | None, workspace: Path | None, timeout: float | None, as_json: bool) -> None:
    """Verify every theorem and lemma of FILE with Lean.

    Statuses: proved, incomplete (a sorry), error (Lean rejected it), timeout, crashed,
    rejected (it cheats: a banned construct, a changed statement, a forbidden axiom).
    Exit 0 when every checked theorem is proved, 1 when not, 2 for bad input, 3 when no
    Lean REPL can be started or Lean refuses FILE's import header (its message is shown).
    """
    from lean_bridge.integrity import IntegrityOptions, parsed

    text = read_lean_file(file)
    declarations = parsed(text).declarations  # the checker reads the same cached parse
    names = [d.name for d in declarations if d.kind in ("theorem", "lemma") and d.name]
    if not names and not against:
        fail(f"{file} has no theorem or lemma to check", EXIT_USAGE)
    references = _references_for(against, text) if against else None
    # A benchmark's target may be a def (ProofNet): it is checked like a theorem.
    declared = {d.name for d in declarations if d.name}
    names += [r.name for r in references or [] if r.name in declared]
    known = frozenset(names)
    missing = [t for t in dict.fromkeys(theorems) if t not in known]
    if missing:
        from prover.drivers.prove import name_list

        fail(f"no theorem named {', '.join(missing)} in {file} (it has: {name_list(names)})",
             EXIT_USAGE)
    settings = settings_from({"repl": repl, "workspace": str(workspace) if workspace else None,
                              "timeout": timeout})
    spec = repl_spec(settings)
    options = IntegrityOptions(allow_native_decide=allow_native_decide)
    if references == []:
        checks = _no_reference_rows(text, against, theorems)
    else:
        checks = asyncio.run(_check_file(spec, settings, text, list(theorems) or None, references, options))
    from lean_bridge.checker import repeated_names
    from lean_bridge.sandbox import describe

    repeated = repeated_names(checks)
    report = {
        "file": str(file),
        "theorems": [{"name": c.name, "line": c.line or None, "status": c.result.status.value,
                      "reasons": list(c.result.reasons), "seconds": round(c.result.seconds, 3)}
                     for c in checks],
        "lean_version": next((c.result.lean_version for c in checks if c.result.lean_version), None),
        "repl": " ".join(spec.command),
        "against": str(against) if against else None,
        "sandbox": describe(spec.sandbox, spec.limits),
        # One message per name the file declares more than once (each row has its verdict).
        "duplicates": [{"name": r.name, "lines": list(r.lines),
                        "message": r.describe() + "; give each a name of its own to check it"}
                       for r in repeated],
    }
    if as_json:
        echo_json(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        _print_check_table(report)
    sys.exit(EXIT_OK if checks and all(c.result.proved for c in checks) else EXIT_NOT_PROVED)


def _no_reference_rows(text: str, against: Path | None, theorems: tuple[str, ...]):
    """A benchmark file with no theorem of these names: a renamed theorem (or one turned into
    an anonymous example) proves nothing about the benchmark. One row per declaration."""
    from lean_bridge.checker import TheoremCheck
    from lean_bridge.integrity import parsed
    from lean_bridge.outcome import CheckResult, Status
    from lean_bridge.text import LineIndex

    why = (f"missing_theorem: no theorem of {against} is declared in the file",)
    index, wanted = LineIndex(text), frozenset(theorems)
    rows = [TheoremCheck(d.name, CheckResult(Status.REJECTED, reasons=why),
                         index.offset_to_line_col(d.keyword_start)[0])
            for d in parsed(text).declarations
            if d.kind in ("theorem", "lemma") and d.name and (not wanted or d.name in wanted)]
    return rows or [TheoremCheck("(no theorem)", CheckResult(Status.REJECTED, reasons=why))]


def _references_for(path: Path, text: str):
    """The references a candidate is held to: all theorems of a .lean REF, or the JSONL records
    the file answers, matched by Lean name (a benchmark file holds hundreds of other problems)."""
    from lean_bridge.reference import BadReference, load_references, references_for_file

    try:
        references = load_references(path)
    except BadReference as exc:
        fail(f"cannot use --against {path}: {exc}", EXIT_USAGE)
    if path.suffix == ".lean":
        return list(references.values())
    return references_for_file(references, text)


async def _check_file(spec, settings, text: str, names: list[str] | None, references, options):
    from lean_bridge.checker import LeanChecker
    from lean_bridge.errors import HeaderError, ReplUnavailable
    from lean_bridge.integrity import parsed
    from lean_bridge.pool import PoolConfig, ReplPool
    from prover.drivers.preflight import start_lean

    pool = ReplPool(spec, PoolConfig(max_processes=1, header_timeout=settings.header_timeout))
    try:
        checker = LeanChecker(pool, timeout=settings.timeout, integrity=options)
        refused = None
        try:
            await start_lean(checker, parsed(text).header)  # the parse check_file reuses
        except HeaderError as exc:
            refused = exc  # a cheat the static layer sees is still reported as one
        return await checker.check_file(text, names, references, refused=refused)
    except HeaderError as exc:
        # Nothing of the file can be judged: not a row per theorem that blames its proof.
        fail(f"its header does not elaborate: Lean says {exc.detail}; nothing was checked",
             EXIT_NO_LEAN)
    except ReplUnavailable as exc:
        fail(str(exc), EXIT_NO_LEAN)
    finally:
        await pool.close()


def _print_check_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    colours = {"proved": "green", "incomplete": "yellow", "error": "red",
               "timeout": "magenta", "crashed": "magenta", "rejected": "red"}
    table = Table(title=f"{report['file']}  (Lean {report['lean_version'] or 'unknown'})")
    for column in ("theorem", "line", "status", "seconds", "why"):
        table.add_column(column)
    for row in report["theorems"]:
        colour = colours.get(row["status"], "white")
        why = row["reasons"][0] if row["reasons"] else ""
        table.add_row(row["name"], str(row["line"] or ""), f"[{colour}]{row['status']}[/]",
                      f"{row['seconds']:.2f}", why)
    console = Console()
    console.print(table)
    for repeated in report["duplicates"]:
        console.print(repeated["message"], markup=False)
