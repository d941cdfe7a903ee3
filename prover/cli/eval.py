"""``prover eval`` and ``prover report``: benchmark runs and their reports (thin wiring; the
work is in ``benchmarks``)."""
from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from prover.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_NO_LEAN,
    EXIT_NOT_PROVED,
    EXIT_OK,
    EXIT_USAGE,
    SearchSettings,
    fail,
    lean_options,
    repl_spec,
    sampling_options,
    search_settings,
    self_correct_option,
    state_comment_option,
)

if TYPE_CHECKING:
    from prover.config import Settings

BENCHMARK_CHOICES = ("minif2f", "proofnet", "putnambench")


def _names(values: tuple[str, ...]) -> list[str]:
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def lean_info(settings: Settings, spec: Any) -> dict[str, Any]:
    """Toolchain and Mathlib pins of the workspace in use (unknown for a --repl command)."""
    info: dict[str, Any] = {"repl": " ".join(spec.command), "toolchain": None, "mathlib": None,
                            "version": None}
    if settings.repl:
        return info
    from lean_bridge.workspace import default_workspace, read_pins

    workspace = Path(settings.workspace) if settings.workspace else default_workspace()
    try:
        pins = read_pins(workspace)
        info.update(toolchain=pins.lean, mathlib=pins.mathlib, repl_tag=pins.repl)
    except (OSError, ValueError):
        pass
    return info


@click.command("eval")
@click.argument("benchmark", type=click.Choice(BENCHMARK_CHOICES))
@click.option("--data", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help="Benchmark JSONL (schema of the project's benchmark files). Default: download "
                   "from the upstream repository into a cache on first use.")
@click.option("--split", help="valid or test (PutnamBench: test). Default: all splits.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N problems.")
@click.option("--names", multiple=True, metavar="NAME[,NAME…]",
              help="Only these problems (repeatable or comma-separated).")
@click.option("--revised", is_flag=True,
              help="miniF2F: use the revised statements of the flagged problems "
                   "(needs minif2f_revisions.jsonl beside --data).")
@click.option("--no-answer", is_flag=True,
              help="PutnamBench: the no-answer statements (their `…_solution := sorry` "
                   "answers are not filled by the searches yet).")
@click.option("--policy", metavar="SPEC", help="Policy spec (default portfolio).")
@click.option("--search", "search_method", metavar="METHOD",
              help="sample, rmaxts, bestfirst or decompose (default rmaxts).")
@click.option("--budget", metavar="NxT",
              help="N independent attempts per problem of T generations each (default 1x32).")
@click.option("--workers", type=int, help="Lean REPL processes and problems in flight.")
@click.option("--seed", type=int, help="Base seed; each attempt derives its own (default 0).")
@click.option("--prompt-format", metavar="NAME",
              help="Prompt format of a model policy (default: the model family's, see "
                   "`prover models`; else deepseek-v1.5, next-tactic for bestfirst).")
@lean_options
@click.option("--shard", metavar="I/N", help="Run only every N-th problem starting at the I-th "
                                             "(0-based); shards of one run share --out.")
@click.option("--problem-timeout", type=click.FloatRange(min=0, min_open=True), metavar="S",
              help="Wall-clock seconds for all attempts of one problem (default: no limit).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              metavar="DIR", help="Run directory: manifest.json and results*.jsonl (resumable).")
@click.option("--ray", "ray_address", metavar="local|auto|ADDRESS",
              help="Run the attempts on a Ray cluster (needs the ray extra).")
@click.option("--quiet", is_flag=True, help="No progress lines.")
@sampling_options
@state_comment_option
@self_correct_option
@click.option("--verbose", is_flag=True, help="Print the effective configuration to stderr.")
def eval_command(benchmark: str, data: Path | None, split: str | None, limit: int | None,
                 names: tuple[str, ...], revised: bool, no_answer: bool, policy: str | None,
                 search_method: str | None, budget: str | None, workers: int | None,
                 seed: int | None, prompt_format: str | None, repl: str | None,
                 workspace: Path | None, timeout: float | None, shard: str | None,
                 problem_timeout: float | None, out: Path, ray_address: str | None, quiet: bool,
                 tactic_state_comment: bool | None, temperature: float | None,
                 top_p: float | None, max_tokens: int | None,
                 self_correct: int | None, verbose: bool) -> None:
    """Evaluate a prover on BENCHMARK (minif2f, proofnet or putnambench).

    Writes one JSON line per attempt to DIR/results.jsonl (fsync'd as it goes) and the run's
    configuration and versions to DIR/manifest.json. Rerun the same command to resume: done
    attempts are skipped, none is repeated or lost, even after kill -9; an RMaxTS attempt
    that was cut off resumes its tree from DIR/checkpoints/. Then `prover report
    DIR`. Exit 0 when every attempt has a result, 1 when some failed for infrastructure
    reasons (rerun to redo them), 2 for bad input (also: another run is writing DIR, or DIR
    holds results on other data or another Lean), 3 when no Lean REPL can be started. An
    attempt whose import header Lean refuses is an error line with Lean's message.
    """
    from functools import partial

    from benchmarks.datasets import REVISIONS_FILE, data_file, load_benchmark
    from benchmarks.download import download_benchmark
    from benchmarks.manifest import data_identity

    run = search_settings(repl=repl, workspace=workspace, timeout=timeout, workers=workers,
                          policy=policy, search_method=search_method, budget=budget, seed=seed,
                          prompt_format=prompt_format, verbose=verbose,
                          tactic_state_comment=tactic_state_comment,
                          temperature=temperature, top_p=top_p, max_tokens=max_tokens,
                          self_correct=self_correct)

    def load():
        # The file is found (downloaded, on first use) once, so the hash is of what is read.
        path = data_file(benchmark, data, download=partial(
            download_benchmark, say=lambda s: click.echo(s, err=True)))
        items = load_benchmark(benchmark, data=path, split=split, revised=revised,
                               no_answer=no_answer)
        return items, data_identity(path, path.parent / REVISIONS_FILE if revised else None)

    variant = {"revised": revised} if benchmark == "minif2f" else \
        {"no_answer": no_answer} if benchmark == "putnambench" else {}
    if no_answer:
        click.echo("note: --no-answer keeps each `…_solution := sorry` placeholder; the searches "
                   "write the theorem's proof only, so problems that ask for an answer stay "
                   "unproved in this mode (the default, with-answer form, is what published "
                   "PutnamBench numbers use)", err=True)
    _drive("eval", benchmark, split, variant, load, run, limit=limit,
           names=_names(names), shard=shard, problem_timeout=problem_timeout, out=out,
           ray_address=ray_address, quiet=quiet, verbose=verbose)


def _drive(kind: str, benchmark: str, split: str | None, variant: dict[str, Any], load,
           run: SearchSettings, *, limit: int | None, names: list[str], shard: str | None,
           problem_timeout: float | None, out: Path, ray_address: str | None, quiet: bool,
           verbose: bool) -> None:
    """What eval and synth share: select, lock and check (or create) the run directory, run
    the missing attempts, map the outcome to an exit code. ``load()`` gives the items and the
    manifest's ``data`` (``benchmarks.manifest.data_identity``)."""
    from benchmarks import runlock, runner
    from benchmarks.checkpoints import CHECKPOINT_DIR
    from benchmarks.datasets import DatasetError
    from benchmarks.manifest import (
        ManifestError,
        check_resume,
        open_run,
        package_info,
        run_id,
    )
    from prover.drivers import prove as pv

    settings, method, plan_budget, fmt = run.settings, run.method, run.budget, run.prompt_format
    try:
        shard_spec = runner.parse_shard(shard)
        items, data_info = load()
        selection = runner.select(items, limit=limit, names=names)
    except (ValueError, DatasetError, OSError) as exc:  # EvalInputError included
        fail(str(exc), EXIT_USAGE)
    if ray_address is not None:  # before anything is written: a missing extra is bad input
        from prover.drivers.ray import RayUnavailable, import_ray

        try:
            import_ray()
        except RayUnavailable as exc:
            fail(str(exc), EXIT_USAGE)
    mine = runner.shard_of(selection, shard_spec)
    plan = runner.EvalPlan(benchmark=benchmark, split=split, method=method, budget=plan_budget,
                           policy=settings.policy, seed=settings.seed, prompt_format=fmt,
                           variant=variant, options=run.search_options(),
                           sampling=run.sampling(),
                           problem_timeout=problem_timeout, concurrency=settings.workers)
    spec = repl_spec(settings)
    package = package_info()
    extra = {
        "attempts": plan_budget.attempts, "per_attempt": plan_budget.per_attempt,
        "problem_timeout": problem_timeout,
        "model": None if settings.policy == "portfolio" else settings.policy,
        "package": package, "lean": lean_info(settings, spec),
        "config": dict(sorted(settings.values.items())),
        "config_sources": dict(settings.sources),
        "data": data_info,
        "command": sys.argv,
    }
    identity = {**plan.identity(), "kind": kind}

    def open_manifest(lean_version: str | None) -> dict[str, Any]:
        """Check the run's Lean against the directory's and write the manifest (called once
        the REPL has said which Lean it runs, before any attempt)."""
        return open_run(out, identity, problems=[i.name for i in selection],
                        categories={i.name: i.category for i in selection},
                        extra={**extra, "lean": {**extra["lean"], "version": lean_version}},
                        shard=shard, order=[i.name for i in items])

    with contextlib.ExitStack() as held:
        # One writer per results file for the whole run (shards write files of their own);
        # the directory's run, data and pins are checked before any Lean starts.
        try:
            out.mkdir(parents=True, exist_ok=True)
            held.enter_context(runlock.writing(runner.results_path(out, shard_spec)))
            check_resume(out, identity, extra)
        except (runlock.RunLocked, ManifestError, OSError) as exc:
            fail(str(exc), EXIT_USAGE)
        from benchmarks.resultlog import ResultLogError

        try:
            log = runner.open_log(out, shard_spec)
        except (ResultLogError, OSError) as exc:  # a damaged line: the file:line, not a traceback
            fail(str(exc), EXIT_USAGE)
        todo = runner.pending_attempts(mine, log, plan_budget.attempts)
        click.echo(f"{benchmark} {split or 'all'}: {len(mine)} problems × {plan_budget.attempts} "
                   f"attempt(s); {todo} to run, {len(mine) * plan_budget.attempts - todo} done "
                   f"before; results in {log.path}", err=True)
        sink = None
        if kind == "synth":
            from prover.drivers import synth

            try:
                sink = synth.RecordSink(out, mine, plan, package_version=package["version"])
            except (ResultLogError, OSError) as exc:
                log.close()
                fail(str(exc), EXIT_USAGE)
            restored = sink.backfill(log.records)
            if restored:
                click.echo(f"restored {restored} record(s) from earlier attempt lines", err=True)
        try:
            tally = asyncio.run(_run(kind, plan, mine, log, spec, settings, fmt, run_id(identity),
                                     open_manifest, quiet=quiet, ray_address=ray_address,
                                     sink=sink))
        except KeyboardInterrupt:
            trees = out / CHECKPOINT_DIR
            kept = f" (RMaxTS trees in flight resume from {trees})" \
                if trees.is_dir() and any(trees.glob("*.json")) else ""
            click.echo(f"\ninterrupted: finished attempts are in {log.path}; rerun to "
                       f"resume{kept}", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except Exception as exc:
            from lean_bridge.errors import ReplUnavailable

            if isinstance(exc, ReplUnavailable):
                fail(str(exc), EXIT_NO_LEAN)
            if isinstance(exc, (pv.ProveInputError, runner.EvalInputError, ManifestError)):
                fail(str(exc), EXIT_USAGE)
            if verbose:
                import traceback

                traceback.print_exc()
            fail(f"{type(exc).__name__}: {exc}; finished attempts are in {log.path}",
                 EXIT_NOT_PROVED)
        finally:
            log.close()
            if sink is not None:
                sink.close()
        if sink is not None:
            click.echo(f"records: {sink.written} new, {sink.total} in {sink.path}", err=True)
        else:
            click.echo(f"done: {tally.line()}; `prover report {out}` writes the report", err=True)
        # The log knows what is done (a rerun redoes `error` attempts): no need to read it again.
        missing = runner.pending_attempts(mine, log, plan_budget.attempts)
    sys.exit(EXIT_OK if missing == 0 else EXIT_NOT_PROVED)


async def _run(kind: str, plan, items, log, spec, settings, prompt_format, run_id: str,
               open_manifest, *, quiet: bool, ray_address: str | None, sink=None):
    """Wire the REPL pool, checker and proposer (locally, or on Ray), record the Lean they
    run in the manifest (``open_manifest(version)``), and run the attempts."""
    from benchmarks import runner
    from benchmarks.progress import make_progress

    progress = make_progress(quiet=quiet, per_attempt=plan.budget.per_attempt,
                             total=runner.pending_attempts(items, log, plan.budget.attempts))
    try:
        return await _attempts(kind, plan, items, log, spec, settings, prompt_format, run_id,
                               open_manifest, progress, ray_address=ray_address, sink=sink)
    finally:
        if progress is not None:
            progress.close()


async def _attempts(kind: str, plan, items, log, spec, settings, prompt_format, run_id: str,
                    open_manifest, progress, *, ray_address: str | None, sink):
    """``_run`` with its progress display (``benchmarks.progress``) set up."""
    from benchmarks import runner
    from benchmarks.feeding import GeneratorGauge
    from prover.drivers.stack import search_stack

    def on_result(record, tally) -> None:
        if sink is not None:
            sink.add(record)
        if progress is not None:
            progress(record, tally)

    on_start = progress.start if progress is not None else None
    watch = progress.generations if progress is not None else None
    header = items[0].problem.header if items else None
    if ray_address is not None:
        import dataclasses

        from prover.drivers.ray import ray_attempts

        # --workers given anywhere sizes the fleet; by default there is one worker per CPU.
        workers = settings.workers if settings.sources.get("workers") != "default" else None
        async with ray_attempts(plan, address=ray_address, spec=spec,
                                settings=settings, prompt_format=prompt_format,
                                run=run_id, kind=kind, header=header, workers=workers,
                                strict_header=False) as attempts:
            click.echo(attempts.describe(), err=True)
            open_manifest(attempts.lean_version)
            plan = dataclasses.replace(plan, concurrency=attempts.capacity)
            # Attempts on Ray report no generations while they run: no rows that would say 0.
            return await runner.run_eval(plan, items, log, attempts, on_result=on_result,
                                         run=run_id)
    # RMaxTS trees are checkpointed in the run directory and resumed by a rerun (local only:
    # a Ray worker's disk may not be the driver's).
    checkpoints = runner.eval_checkpoints(log.path.parent, plan,
                                          say=lambda note: click.echo(note, err=True))
    # A header Lean refuses is not the end of the run: its attempts become `error` lines.
    async with search_stack(spec, settings, prompt_format=prompt_format, header=header,
                            strict_header=False) as stack:
        open_manifest(stack.lean_version)
        local: runner.Attempts  # `attempts` above is the Ray fleet's
        # The next problem may start while the generator idles (benchmarks.feeding).
        gauge = GeneratorGauge()
        proposer = gauge.watch(stack.proposer)
        if kind == "synth":
            from prover.drivers.synth import SynthAttempts

            local = SynthAttempts(plan, proposer=proposer, lean=stack.lean, run=run_id,
                                  watch=watch, checkpoints=checkpoints)
        else:
            local = runner.LocalAttempts(plan, proposer=proposer, lean=stack.lean,
                                         run=run_id, watch=watch, checkpoints=checkpoints)
        # The folder stays when empty: another shard of the run may be about to write in it.
        return await runner.run_eval(plan, items, log, local, on_result=on_result,
                                     on_start=on_start, run=run_id, checkpoints=checkpoints,
                                     gauge=gauge)


@click.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--compare", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              metavar="OTHER_DIR", help="Another run directory to put side by side (repeatable).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Write report.md and the plots here (default: RUN_DIR).")
def report_command(run_dir: Path, compare: tuple[Path, ...], out: Path | None) -> None:
    """Write RUN_DIR/report.md: pass rates, pass@k, per-category tables, pass rate vs budget
    and per-category plots (PNG), and published results for the same benchmark and budget."""
    from benchmarks.report import write_report
    from benchmarks.rundir import RunDirError

    try:
        files = write_report(run_dir, compare=compare, out=out)
    except (RunDirError, OSError, ValueError) as exc:
        fail(str(exc), EXIT_USAGE)
    click.echo(f"wrote {files.report}")
    for plot in files.plots:
        click.echo(f"wrote {plot}")
    if files.plot_error:
        click.echo(f"no plots: {files.plot_error}", err=True)
    sys.exit(EXIT_OK)


@click.command("synth")
@click.argument("statements", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              metavar="DIR", help="Run directory: manifest.json, results*.jsonl (attempts) and "
                                  "records.jsonl (training records); resumable.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N statements.")
@click.option("--names", multiple=True, metavar="NAME[,NAME…]", help="Only these statements.")
@click.option("--policy", metavar="SPEC", help="Policy spec (default portfolio).")
@click.option("--search", "search_method", metavar="METHOD",
              help="sample, rmaxts, bestfirst or decompose (default rmaxts).")
@click.option("--budget", metavar="NxT", help="N attempts per statement of T generations each.")
@click.option("--workers", type=int, help="Lean REPL processes and statements in flight.")
@click.option("--seed", type=int, help="Base seed; each attempt derives its own (default 0).")
@click.option("--prompt-format", metavar="NAME",
              help="Prompt format of a model policy (default: the model family's, see "
                   "`prover models`; else deepseek-v1.5, next-tactic for bestfirst).")
@lean_options
@click.option("--shard", metavar="I/N", help="Run only every N-th statement starting at the I-th.")
@click.option("--problem-timeout", type=click.FloatRange(min=0, min_open=True), metavar="S",
              help="Wall-clock seconds for all attempts of one statement.")
@click.option("--ray", "ray_address", metavar="local|auto|ADDRESS",
              help="Run the attempts on a Ray cluster (needs the ray extra).")
@click.option("--quiet", is_flag=True, help="No progress lines.")
@sampling_options
@state_comment_option
@self_correct_option
@click.option("--verbose", is_flag=True, help="Print the effective configuration to stderr.")
def synth_command(statements: Path, out: Path, limit: int | None, names: tuple[str, ...],
                  policy: str | None, search_method: str | None, budget: str | None,
                  workers: int | None, seed: int | None, prompt_format: str | None,
                  repl: str | None, workspace: Path | None, timeout: float | None,
                  shard: str | None, problem_timeout: float | None, ray_address: str | None,
                  quiet: bool, tactic_state_comment: bool | None, temperature: float | None,
                  top_p: float | None, max_tokens: int | None,
                  self_correct: int | None, verbose: bool) -> None:
    """Prove the statements of STATEMENTS (JSONL: name, formal_statement, optional header)
    and write every verified proof as a training record to DIR/records.jsonl.

    Records carry the statement, header, proof, the proof annotated with
    `/- tactic state: … -/` comments (DeepSeek-Prover-V1.5 format), the lemmas it came from,
    the verifier's versions and a content hash (no duplicates). Each lemma proved during
    `--search decompose` is a record of its own. Resumable like `prover eval`. Load with
    `datasets.load_dataset("json", data_files="DIR/records.jsonl")`.
    """
    from benchmarks.manifest import data_identity
    from prover.drivers.synth import load_statements

    run = search_settings(repl=repl, workspace=workspace, timeout=timeout, workers=workers,
                          policy=policy, search_method=search_method, budget=budget, seed=seed,
                          prompt_format=prompt_format, verbose=verbose,
                          tactic_state_comment=tactic_state_comment,
                          temperature=temperature, top_p=top_p, max_tokens=max_tokens,
                          self_correct=self_correct)

    def load():
        return load_statements(statements), data_identity(statements)

    _drive("synth", statements.stem, None, {}, load, run, limit=limit,
           names=_names(names), shard=shard, problem_timeout=problem_timeout, out=out,
           ray_address=ray_address, quiet=quiet, verbose=verbose)
