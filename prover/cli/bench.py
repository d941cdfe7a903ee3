"""``prover bench-system``: the system's own overheads, with the model and Lean simulated."""
from __future__ import annotations

import json
import sys

import click

from prover.cli.common import EXIT_NOT_PROVED, EXIT_OK, EXIT_USAGE
from prover.cli.jsonout import echo_json, json_command


@click.command("bench-system")
@click.option("--nodes", type=click.IntRange(min=10), default=10_000, show_default=True,
              help="Grow the RMaxTS tree to this many nodes.")
@click.option("--workers", type=click.IntRange(min=1), default=8, show_default=True,
              help="Simulated Lean workers (fake REPL processes).")
@click.option("--latency", type=click.FloatRange(min=0.001), default=0.05, show_default=True,
              metavar="S", help="Seconds each simulated Lean check takes.")
@click.option("--checks", type=click.IntRange(min=1), default=400, show_default=True,
              help="Checks in the utilisation run.")
@click.option("--checkpoint-sizes", default="1000,10000,100000", show_default=True,
              metavar="N,N,...", help="Tree sizes at which checkpoint cost is measured, with "
              "and without checkpoints (the largest takes about 20 s); '' for none.")
@click.option("--import-cpu", type=click.FloatRange(min=0.0), default=0.2, show_default=True,
              metavar="S", help="CPU seconds a simulated header import burns (Lean CPU per check).")
@click.option("--lean-cost-checks", type=click.IntRange(min=1), default=40, show_default=True,
              help="Checks in the Lean CPU per check run (pool and fresh process per check).")
@click.option("--loop-nodes", type=click.IntRange(min=10), default=10_000, show_default=True,
              help="Grow the tree of the whole-loop figure to about this many nodes.")
@click.option("--baseline", type=click.Path(exists=True, file_okay=False), metavar="DIR",
              help="Also run the whole loop on the checkout in DIR (e.g. a git worktree of "
                   "an earlier commit) and report the ratio (target <= 0.5).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
@json_command
def bench_system(nodes: int, workers: int, latency: float, checks: int, checkpoint_sizes: str,
                 import_cpu: float, lean_cost_checks: int, loop_nodes: int,
                 baseline: str | None, as_json: bool) -> None:
    """Measure the system's own overheads, with the model and Lean simulated.

    RMaxTS bookkeeping per expansion on a tree of NODES nodes, the whole RMaxTS loop per
    expansion (prompts, segmentation, probes; beside DIR's with --baseline), utilisation of
    W simulated Lean workers, header imports per run and per search method (= REPL
    processes, with and without early stop), bytes per tree node, tokens per simulated
    second of the vLLM backend on a barrier-batched and a continuous simulated engine,
    checkpoint cost per expansion with and without checkpoints, and Lean CPU seconds per
    check of the warm pool against a fresh REPL per check (the reference's design); each
    against its target. Exit 0 when every target is met, 1 when one is missed, 2 when DIR
    cannot run the loop.
    """
    from benchmarks.system import run, target_text, verdicts
    from prover.policies.backends.vllm import on_simulated_engine
    from prover.policies.policy import GenerationRequest
    from prover.policies.proposer import make_proposer

    try:
        sizes = tuple(int(n) for n in checkpoint_sizes.split(",") if n.strip())
    except ValueError:
        raise click.BadParameter(f"not a list of sizes: {checkpoint_sizes!r}",
                                 param_hint="--checkpoint-sizes") from None
    if any(n < 100 for n in sizes):
        raise click.BadParameter("sizes are at least 100 nodes", param_hint="--checkpoint-sizes")
    try:
        report = run(nodes=nodes, workers=workers, latency=latency, checks=checks,
                     checkpoint_sizes=sizes, import_cpu=import_cpu,
                     leancost_checks=lean_cost_checks, loop_nodes=loop_nodes, baseline=baseline,
                     make_proposer=make_proposer, generation_request=GenerationRequest,
                     vllm_on_engine=on_simulated_engine)
    except RuntimeError as exc:  # the baseline checkout could not run the loop
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    met = verdicts(report)
    if as_json:
        echo_json(json.dumps({**report, "targets_met": met}, indent=2))
    else:
        for key, value in report.items():
            target = target_text(key)
            mark = "" if key not in met else ("  ok" if met[key] else "  MISSED")
            shown = f"{value:12.3f}" if isinstance(value, float) else f"{value:>12}"
            click.echo(f"{key:36} {shown}" + (f"  (target {target})" if target else "") + mark)
    sys.exit(EXIT_OK if all(met.values()) else EXIT_NOT_PROVED)
