"""The ``prover`` command line. Thin: it parses options, wires concrete pieces together and
maps outcomes to exit codes. Heavy imports happen inside the commands that need them.

Exit codes (a contract for scripts): 0 everything checked/proved, 1 something was not,
2 usage or input error, 3 no Lean/REPL could be started (the message says how to fix it),
4 (`prove`) the file changed while prove ran, so nothing was written, 130 interrupted.
"""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from prover.cli.common import (EXIT_CHANGED, EXIT_NO_LEAN, EXIT_NOT_PROVED, EXIT_OK,  # noqa: F401
                         EXIT_USAGE, fail, lean_options, read_lean_file, repl_spec, search_settings,
                         settings_from)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lean-prover")
def cli() -> None:
    """A neural theorem prover for Lean 4.

    Start with `prover setup` (installs Lean, Mathlib and the REPL on first use), then
    `prover prove FILE.lean` to fill in the `sorry` proofs of a file, or `prover check
    FILE.lean` to verify its theorems. `prover eval` runs miniF2F, ProofNet or PutnamBench
    (then `prover report`); `prover synth`, `prover train` and `prover iterate` turn verified
    proofs into training data and models.
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
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
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
    from lean_bridge.errors import ReplUnavailable
    from lean_bridge.pool import PoolConfig, ReplPool

    from lean_bridge.errors import HeaderError
    from lean_bridge.integrity import parsed

    from prover.drivers.preflight import start_lean

    pool = ReplPool(spec, PoolConfig(max_processes=1, header_timeout=settings["header_timeout"]))
    try:
        checker = LeanChecker(pool, timeout=settings["timeout"], integrity=options)
        try:
            await start_lean(checker, parsed(text).header)  # the parse check_file reuses
        except HeaderError:
            pass  # the file's own fault: its theorems are reported as Lean's errors
        return await checker.check_file(text, names, references)
    except ReplUnavailable as exc:
        fail(str(exc), EXIT_NO_LEAN)
    finally:
        await pool.close()


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--theorem", "theorems", multiple=True, metavar="NAME",
              help="Prove only this theorem (repeatable; its proof must be `sorry`).")
@click.option("--policy", metavar="SPEC",
              help="What proposes proofs: portfolio (default, no model), hf:DIR, vllm:MODEL, "
                   "openai:URL#MODEL or mix:A,B.")
@click.option("--search", "search_method", type=click.Choice(["sample", "rmaxts", "bestfirst", "decompose"]),
              help="Search algorithm (default rmaxts).")
@click.option("--budget", metavar="NxT",
              help="N attempts of T generations per theorem (default 1x32).")
@click.option("--workers", type=int, metavar="N", help="Lean REPL processes (default 1).")
@lean_options
@click.option("--seed", type=int, metavar="N", help="Seed of the search's random choices (default 0).")
@click.option("--prompt-format", metavar="NAME",
              help="Prompt format of a model policy (default deepseek-v1.5; next-tactic for bestfirst).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help="Write the result here and leave FILE untouched.")
@click.option("--in-place", is_flag=True,
              help="Rewrite FILE, keeping the original as FILE.bak (the default).")
@click.option("--dry-run", is_flag=True, help="Write nothing; print what would change.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--ray", "ray_address", metavar="local|auto|ADDRESS",
              help="Run the searches and the final check on a Ray cluster's Lean worker "
                   "(needs the ray extra).")
@click.option("--verbose", is_flag=True, help="Print the effective configuration to stderr.")
def prove(file: Path, theorems: tuple[str, ...], policy: str | None, search_method: str | None,
          budget: str | None, workers: int | None, repl: str | None, workspace: Path | None,
          timeout: float | None, seed: int | None, prompt_format: str | None,
          output: Path | None, in_place: bool, dry_run: bool, as_json: bool,
          ray_address: str | None, verbose: bool) -> None:
    """Prove the `sorry` theorems and lemmas of FILE and write back the proofs Lean accepts.

    Each proof found has passed the full verdict (static integrity, Lean, axiom audit), and
    the assembled file is checked once more; everything else in FILE stays byte for byte.
    In place, the original is kept as FILE.bak. Proofs found so far are saved in
    FILE.prover-progress.json after each theorem, so an interrupted run (Ctrl-C: exit 130,
    FILE untouched) resumes where it stopped. If FILE (or the --output PATH) changes while
    prove runs, nothing is written (exit 4): your edit stays, the proofs stay in the progress
    file, and running the same command again applies them to every theorem you did not
    change. Exit 0 when every theorem was proved, 1 when not, 2 for bad input, 3 when no Lean
    REPL can be started, 4 when FILE changed during the run.
    """
    from prover.drivers import prove as pv

    if output is not None and in_place:
        fail("--output and --in-place exclude each other", EXIT_USAGE)
    if output is not None and not output.parent.is_dir():
        fail(f"--output {output}: directory {output.parent} does not exist", EXIT_USAGE)
    text = read_lean_file(file)
    for note in pv.duplicate_notes(text):
        click.echo(f"{file}: {note}", err=True)
    try:
        targets = pv.select_targets(text, theorems)
    except pv.ProveInputError as exc:
        fail(f"{file}: {exc}", EXIT_USAGE)
    settings, (method, search_budget, fmt) = search_settings(locals())
    spec = repl_spec(settings)
    original = text.encode("utf-8")
    # What --output PATH held when the run started: it is only written if still so.
    output_before = pv.file_state(output) if output is not None else None
    store = pv.ProgressStore(file, pv.sha256_of(original), enabled=not dry_run)
    if store.note:
        click.echo(store.note, err=True)
    options: dict[str, Any] = {"rmaxts": {"concurrency": settings["workers"]}}.get(method, {})
    reporter = pv.make_reporter()
    try:
        outcomes, new_text = asyncio.run(_prove_file(
            spec, settings, text, targets, store, reporter, method=method, budget=search_budget,
            prompt_format=fmt, options=options, ray_address=ray_address))
    except KeyboardInterrupt:
        reporter.close()
        store.save(only_if_useful=True)
        where = f"; {len(store.proofs)} proof(s) found so far are in {store.path}, a rerun " \
            "resumes from them" if store.enabled and store.path.exists() else ""
        click.echo(f"\ninterrupted: {file} is unchanged{where}", err=True)
        sys.exit(130)
    except pv.ProveInputError as exc:
        reporter.close()
        fail(f"{file}: {exc}", EXIT_USAGE)
    except Exception as exc:
        reporter.close()
        store.save(only_if_useful=True)
        from lean_bridge.errors import ReplUnavailable

        if isinstance(exc, ReplUnavailable):
            fail(str(exc), EXIT_NO_LEAN)
        if verbose:
            import traceback

            traceback.print_exc()
        kept = f" ({len(store.proofs)} proof(s) saved in {store.path})" \
            if store.enabled and store.path.exists() else ""
        fail(f"{type(exc).__name__}: {exc}; {file} is unchanged{kept}", EXIT_NOT_PROVED)
    reporter.close()
    report: dict[str, Any] = {
        "file": str(file), "output": None, "dry_run": dry_run, "changed": new_text != text,
        "config": {k: settings[k] for k in ("policy", "search", "budget", "seed", "workers",
                                            "timeout", "prompt_format")},
        "theorems": [o.to_json() for o in outcomes],
        "not_written": None,
    }
    conflict = None
    if dry_run:
        report["diff"] = pv.diff(text, new_text, str(file))
        if not as_json:
            click.echo(report["diff"] or f"{file}: nothing would change")
    else:
        # The proofs the final check kept: what a rerun may reuse should this write not happen.
        store.retain({o.name for o in outcomes if o.status == "proved"})
        try:
            written = pv.write_result(file, original, new_text, output=output,
                                      output_before=output_before)
        except pv.ChangedDuringRun as exc:
            store.save(only_if_useful=True)
            conflict = _not_written_message(exc, file, store)
            report["not_written"] = conflict
            written = None
        except OSError as exc:
            store.save(only_if_useful=True)
            fail(f"cannot write the result: {exc}; {file} is unchanged, proofs are in {store.path}",
                 EXIT_USAGE)
        else:
            store.delete()
        report["output"] = str(written) if written else None
        if written is not None:
            backup = f" (the original is {file}.bak)" if written == file else ""
            click.echo(f"wrote {written}{backup}", err=True)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        pv.print_summary(report)
    if conflict is not None:
        fail(conflict, EXIT_CHANGED)
    proved = all(o.status == "proved" for o in outcomes)
    sys.exit(EXIT_OK if proved else EXIT_NOT_PROVED)


def _not_written_message(exc: Exception, file: Path, store) -> str:
    """Why nothing was written, and how to get the proofs found into the edited file."""
    found = len(store.proofs)
    kept = (f"the {found} proof(s) found are saved in {store.path}; run the same command again "
            "to apply them: every theorem whose statement and everything before it are "
            "unchanged reuses its proof without a new search") if found else \
        "no proof was found, so nothing is lost"
    return f"{exc}: nothing was written, so the edit is kept; {kept}"


async def _prove_file(spec, settings, text: str, targets, store, reporter, *, method: str, budget,
                      prompt_format: str | None, options: dict[str, Any],
                      ray_address: str | None = None):
    """Wire the concrete pieces (REPL pool, checker, proposer), here or on a Ray cluster's Lean
    worker, and run ``prover.drivers.prove``."""
    from lean_bridge.checker import LeanChecker
    from lean_bridge.text import parse_file

    from prover.drivers import prove as pv
    from prover.drivers.stack import search_stack

    # One command checks the whole file: give it the time of one request per theorem.
    whole_timeout = settings["timeout"] * max(1, len(targets))
    if ray_address is not None:
        from prover.drivers.ray import ray_prover

        async with ray_prover(address=ray_address, spec=spec, settings=dict(settings.values),
                              prompt_format=prompt_format, header=parse_file(text).header,
                              processes=settings["workers"]) as remote:
            outcomes = await pv.prove_file(text, targets, proposer=None, lean=None, method=method,
                                           budget=budget, seed=settings["seed"], store=store,
                                           reporter=reporter, options=options,
                                           searcher=remote.search)
            new_text = await pv.final_check(remote.checker(whole_timeout), text, targets, outcomes)
            return outcomes, new_text
    async with search_stack(spec, settings, prompt_format=prompt_format,
                            header=parse_file(text).header) as stack:
        outcomes = await pv.prove_file(text, targets, proposer=stack.proposer, lean=stack.lean,
                                       method=method, budget=budget, seed=settings["seed"],
                                       store=store, reporter=reporter, options=options)
        whole = LeanChecker(stack.pool, timeout=whole_timeout)
        new_text = await pv.final_check(whole, text, targets, outcomes)
        return outcomes, new_text


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
    Lean workers, header imports per run and per search method (= REPL processes, with and
    without early stop), and bytes per tree node; each against its target. Exit 0 when every
    target is met, 1 when one is missed.
    """
    from benchmarks.system import run, target_text, verdicts

    report = run(nodes=nodes, workers=workers, latency=latency, checks=checks)
    met = verdicts(report)
    if as_json:
        click.echo(json.dumps({**report, "targets_met": met}, indent=2))
    else:
        for key, value in report.items():
            target = target_text(key)
            mark = "" if key not in met else ("  ok" if met[key] else "  MISSED")
            shown = f"{value:12.3f}" if isinstance(value, float) else f"{value:>12}"
            click.echo(f"{key:36} {shown}" + (f"  (target {target})" if target else "") + mark)
    sys.exit(EXIT_OK if all(met.values()) else EXIT_NOT_PROVED)


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


def _register_commands() -> None:
    from prover.cli.eval import eval_command, report_command, synth_command
    from prover.cli.train import iterate, train

    cli.add_command(eval_command)
    cli.add_command(report_command)
    cli.add_command(synth_command)
    cli.add_command(train)
    cli.add_command(iterate)


_register_commands()


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
