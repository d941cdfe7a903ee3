"""``prover prove``: fill the ``sorry`` proofs of a Lean file and write back what Lean accepts."""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from benchmarks.checkpoints import METHOD as TREE_METHOD
from benchmarks.checkpoints import TreeCheckpoints
from prover.cli.common import (
    EXIT_CHANGED,
    EXIT_INTERRUPTED,
    EXIT_NO_LEAN,
    EXIT_NOT_PROVED,
    EXIT_OK,
    EXIT_USAGE,
    SearchSettings,
    fail,
    lean_options,
    read_lean_file,
    repl_spec,
    sampling_options,
    search_settings,
    self_correct_option,
    state_comment_option,
)
from prover.cli.jsonout import echo_json, json_command
from search.methods import METHOD_NAMES


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--theorem", "theorems", multiple=True, metavar="NAME",
              help="Prove only this theorem (repeatable; its proof must be `sorry`).")
@click.option("--policy", metavar="SPEC",
              help="What proposes proofs: portfolio (default, no model), hf:DIR, vllm:MODEL, "
                   "openai:URL#MODEL or mix:A,B.")
@click.option("--search", "search_method", type=click.Choice(METHOD_NAMES),
              help="Search algorithm (default rmaxts).")
@click.option("--budget", metavar="NxT",
              help="N attempts of T generations per theorem (default 1x32).")
@click.option("--workers", type=int, metavar="N", help="Lean REPL processes (default 1).")
@lean_options
@click.option("--seed", type=int, metavar="N", help="Seed of the search's random choices (default 0).")
@click.option("--prompt-format", metavar="NAME",
              help="Prompt format of a model policy (default: the model family's, see "
                   "`prover models`; else deepseek-v1.5, next-tactic for bestfirst).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help="Write the result here and leave FILE untouched.")
@click.option("--in-place", is_flag=True,
              help="Rewrite FILE, keeping the original as FILE.bak (the default).")
@click.option("--dry-run", is_flag=True, help="Write nothing; print what would change.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--ray", "ray_address", metavar="local|auto|ADDRESS",
              help="Run the searches and the final check on a Ray cluster's Lean worker "
                   "(needs the ray extra).")
@sampling_options
@state_comment_option
@self_correct_option
@click.option("--verbose", is_flag=True, help="Print the effective configuration to stderr.")
@json_command
def prove(file: Path, theorems: tuple[str, ...], policy: str | None, search_method: str | None,
          budget: str | None, workers: int | None, repl: str | None, workspace: Path | None,
          timeout: float | None, seed: int | None, prompt_format: str | None,
          output: Path | None, in_place: bool, dry_run: bool, as_json: bool,
          ray_address: str | None, tactic_state_comment: bool | None, temperature: float | None,
          top_p: float | None, max_tokens: int | None,
          self_correct: int | None, verbose: bool) -> None:
    """Prove the `sorry` theorems and lemmas of FILE and write back the proofs Lean accepts.

    Each proof found has passed the full verdict (static integrity, Lean, axiom audit), and
    the assembled file is checked once more; everything else in FILE stays byte for byte.
    In place, the original is kept as FILE.bak. Proofs found so far are saved in
    FILE.prover-progress.json after each theorem, so an interrupted run (Ctrl-C: exit 130,
    FILE untouched) resumes where it stopped; an RMaxTS search cut off mid-theorem resumes its
    tree from FILE.prover-checkpoints/. If FILE (or the --output PATH) changes while
    prove runs, nothing is written (exit 4): your edit stays, the proofs stay in the progress
    file, and running the same command again applies them to every theorem you did not
    change. Exit 0 when every theorem was proved, 1 when not, 2 for bad input, 3 when no Lean
    REPL can be started or Lean refuses FILE's import header, 4 when FILE changed during
    the run.
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
    run = search_settings(repl=repl, workspace=workspace, timeout=timeout, workers=workers,
                          policy=policy, search_method=search_method, budget=budget, seed=seed,
                          prompt_format=prompt_format, verbose=verbose,
                          tactic_state_comment=tactic_state_comment,
                          temperature=temperature, top_p=top_p, max_tokens=max_tokens,
                          self_correct=self_correct)
    settings = run.settings
    spec = repl_spec(settings)
    original = text.encode("utf-8")
    # What --output PATH held when the run started: it is only written if still so.
    output_before = pv.file_state(output) if output is not None else None
    store = pv.ProgressStore(file, pv.sha256_of(original), enabled=not dry_run)
    if store.note:
        click.echo(store.note, err=True)
    options: dict[str, Any] = {"rmaxts": {"concurrency": settings.workers}}.get(run.method, {})
    options.update(run.search_options())
    checkpoints = _tree_checkpoints(run, store, options, ray=ray_address is not None)
    reporter = pv.make_reporter()
    try:
        outcomes, new_text = asyncio.run(_prove_file(
            spec, run, text, targets, store, reporter, options=options,
            ray_address=ray_address, checkpoints=checkpoints))
    except KeyboardInterrupt:
        reporter.close()
        store.save(only_if_useful=True)
        where = f"; {len(store.proofs)} proof(s) found so far are in {store.path}, a rerun " \
            "resumes from them" if store.enabled and store.path.exists() else ""
        if checkpoints is not None:
            checkpoints.close()  # stopped between two theorems: no tree to keep
            if checkpoints.directory.is_dir():
                where += f"; the search in flight resumes its tree from {checkpoints.directory}"
        click.echo(f"\ninterrupted: {file} is unchanged{where}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except pv.ProveInputError as exc:
        reporter.close()
        fail(f"{file}: {exc}", EXIT_USAGE)
    except pv.HeaderRejected as exc:
        reporter.close()
        fail(f"{file}: {exc}; nothing was searched, {file} is unchanged", EXIT_NO_LEAN)
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
        "config": {k: getattr(settings, k) for k in ("policy", "search", "budget", "seed",
                                                     "workers", "timeout", "prompt_format",
                                                     "temperature", "top_p", "max_tokens",
                                                     "self_correct")}
        | {"prompt_format": run.prompt_format},  # the one used (the model family's when unset)
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
        if checkpoints is not None:  # every theorem's outcome is recorded: the folder is empty
            checkpoints.close()
        report["output"] = str(written) if written else None
        if written is not None:
            backup = f" (the original is {file}.bak)" if written == file else ""
            click.echo(f"wrote {written}{backup}", err=True)
    if as_json:
        echo_json(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        pv.print_summary(report)
    if conflict is not None:
        fail(conflict, EXIT_CHANGED)
    proved = all(o.status == "proved" for o in outcomes)
    sys.exit(EXIT_OK if proved else EXIT_NOT_PROVED)


def _tree_checkpoints(run: SearchSettings, store, options: dict[str, Any], *,
                      ray: bool) -> TreeCheckpoints | None:
    """Where an RMaxTS search keeps its tree (``FILE.prover-checkpoints/``, beside the progress
    sidecar), keyed by the settings it depends on; None for the other methods, a dry run
    (which writes nothing) and Ray (the search runs on a worker whose disk may be another's)."""
    if run.method != TREE_METHOD or not store.enabled or ray:
        return None
    settings = {"kind": "prove", "method": run.method, "budget": str(run.budget),
                "seed": run.settings.seed, "policy": run.settings.policy,
                "prompt_format": run.prompt_format, "options": options}
    return TreeCheckpoints(store.checkpoint_dir, settings,
                           say=lambda note: click.echo(note, err=True))


def _not_written_message(exc: Exception, file: Path, store) -> str:
    """Why nothing was written, and how to get the proofs found into the edited file."""
    found = len(store.proofs)
    kept = (f"the {found} proof(s) found are saved in {store.path}; run the same command again "
            "to apply them: every theorem whose statement and everything before it are "
            "unchanged reuses its proof without a new search") if found else \
        "no proof was found, so nothing is lost"
    return f"{exc}: nothing was written, so the edit is kept; {kept}"


async def _prove_file(spec, run: SearchSettings, text: str, targets, store, reporter, *,
                      options: dict[str, Any], ray_address: str | None = None,
                      checkpoints: TreeCheckpoints | None = None):
    """Wire the concrete pieces (REPL pool, checker, proposer), here or on a Ray cluster's Lean
    worker, and run ``prover.drivers.prove``."""
    from lean_bridge.checker import LeanChecker
    from lean_bridge.text import parse_file
    from prover.drivers import prove as pv
    from prover.drivers.stack import search_stack

    # One command checks the whole file: give it the time of one request per theorem.
    settings, method, budget, prompt_format = run.settings, run.method, run.budget, \
        run.prompt_format
    whole_timeout = settings.timeout * max(1, len(targets))
    if ray_address is not None:
        from prover.drivers.ray import ray_prover

        async with ray_prover(address=ray_address, spec=spec, settings=settings,
                              prompt_format=prompt_format, header=parse_file(text).header,
                              processes=settings.workers) as remote:
            outcomes = await pv.prove_file(text, targets, proposer=None, lean=None, method=method,
                                           budget=budget, seed=settings.seed, store=store,
                                           reporter=reporter, options=options,
                                           searcher=remote.search)
            new_text = await pv.final_check(remote.checker(whole_timeout), text, targets, outcomes)
            return outcomes, new_text
    async with search_stack(spec, settings, prompt_format=prompt_format,
                            header=parse_file(text).header) as stack:
        outcomes = await pv.prove_file(text, targets, proposer=stack.proposer, lean=stack.lean,
                                       method=method, budget=budget, seed=settings.seed,
                                       store=store, reporter=reporter, options=options,
                                       checkpoints=checkpoints)
        whole = LeanChecker(stack.pool, timeout=whole_timeout)
        new_text = await pv.final_check(whole, text, targets, outcomes)
        return outcomes, new_text
