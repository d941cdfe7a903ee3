"""``prover bench-system``: the system's own overheads, with the model and Lean simulated."""
from __future__ import annotations

import json
import sys

import click

from prover.cli.common import EXIT_NOT_PROVED, EXIT_OK, EXIT_USAGE


@click.command("bench-system")
@click.option("--nodes", type=click.IntRange(min=10), default=10_000, show_default=True,
              help="Grow the RMaxTS tree to this many nodes.")
@click.option("--workers", type=click.IntRange(min=1), default=8, show_default=True,
              help="Simulated Lean workers (fake REPL processes).")
@click.option("--latency", type=click.FloatRange(min=0.001), default=0.05, show_default=True,
              metavar="S", help="Seconds each simulated Lean check takes.")
@click.option("--checks", type=click.IntRange(min=1), default=400, show_default=True,
              help="Checks in the utilisation run.")
@click.option("--loop-nodes", type=click.IntRange(min=10), default=10_000, show_default=True,
              help="Grow the tree of the whole-loop figure to about this many nodes.")
@click.option("--baseline", type=click.Path(exists=True, file_okay=False), metavar="DIR",
              help="Also run the whole loop on the checkout in DIR (e.g. a git worktree of "
                   "an earlier commit) and report the ratio (target <= 0.5).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
def bench_system(nodes: int, workers: int, latency: float, checks: int, loop_nodes: int,
                 baseline: str | None, as_json: bool) -> None:
    """Measure the system's own overheads, with the model and Lean simulated.

    RMaxTS bookkeeping per expansion on a tree of NODES nodes, the whole RMaxTS loop per
    expansion (prompts, segmentation, probes; beside DIR's with --baseline), utilisation of
    W simulated Lean workers, header imports per run and per search method (= REPL
    processes, with and without early stop), and bytes per tree node; each against its
    target. Exit 0 when every target is met, 1 when one is missed, 2 when DIR cannot run
    the loop.
    """
    from benchmarks.system import run, target_text, verdicts
    from prover.policies.proposer import make_proposer

    try:
        report = run(nodes=nodes, workers=workers, latency=latency, checks=checks,
                     make_proposer=make_proposer, loop_nodes=loop_nodes, baseline=baseline)
    except RuntimeError as exc:  # the baseline checkout could not run the loop
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
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
