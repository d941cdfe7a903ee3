"""What RMaxTS checkpoints cost per expansion, and the peak memory of a checkpointed tree run.

The search's own loop (``search.rmaxts._Search``: launch with selection and virtual loss,
completion with path insertion and backup, a checkpoint every 32 completed rollouts with 32
rollouts in flight) is driven with rollouts that come back at once (their segments made up
like ``benchmarks.system``'s, so policy and Lean cost nothing), once without checkpoints and
once with them, to ``nodes`` nodes; the figure is the time per expansion, writes included
(the last one waited for), as the process's CPU time. Peak memory is traced (``tracemalloc``) over a checkpointed run
and divided by what the finished run still holds (its tree; the trace is off).

The same file runs against an older tree of the project (``--baseline DIR`` in
``prover bench-system``, or ``PYTHONPATH=DIR python system_checkpoints.py --json``): it only
uses what that code has too (a checkpoint there rewrote the whole tree as one document).
"""
from __future__ import annotations

import argparse
import gc
import json
import random
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

from lean_bridge.outcome import Status
from search import rmaxts
from search.budget import Budget
from search.problem import Problem
from search.segments import Segment
from search.tree import Tree
from search.ucb import EXPLORATION, GAMMA

try:
    from search.rollouts import RolloutOutcome as _Outcome
except ImportError:  # the older code kept it in the loop's module
    _Outcome = rmaxts._Outcome  # type: ignore[attr-defined,misc]

IN_FLIGHT = 32
EVERY = 32
SIZES = (1_000, 10_000, 100_000)


def goal_text(rng: random.Random) -> str:
    """A goal text of a realistic length (~120 chars), distinct with overwhelming
    probability (``benchmarks.system`` grows its trees with these too)."""
    a, b, c = rng.randrange(10**6), rng.randrange(10**6), rng.randrange(10**6)
    return f"x y : ℝ\nh₀ : 0 < x\nh₁ : x * y = {a}\nh₂ : {b} ≤ x ^ 2 + y ^ 2\n⊢ 0 < y * {c} + x"


def path_segments(tree: Tree, node: int, new: list[str]) -> list[Segment]:
    """The segments a rollout from ``node`` would produce: its path, then the ``new``
    states (ends kept consistent)."""
    goals = [tree.nodes[i].goal for i in tree.path_to(node)[1:]] + new
    out, end = [], 0
    for k, g in enumerate(goals):
        text = f"  tactic_{k} [h₀, h₁]\n"
        end += len(text)
        out.append(Segment(text, g, end, 2))
    return out


def _segments(tree: Tree, node: int, rng: random.Random) -> tuple[Segment, ...]:
    """A rollout from ``node``: its path again, then 0-2 new states."""
    return tuple(path_segments(tree, node,
                               [goal_text(rng) for _ in range(rng.choice((0, 1, 1, 2)))]))


def _search(checkpoint: Path | None, *, trace: bool) -> Any:
    problem = Problem("bench", "import Mathlib\n\n",
                      "theorem bench (x y : ℝ) (h₀ : 0 < x) (h₁ : x * y = 1) : 0 < y := by\n")
    search = rmaxts._Search(  # the loop's own object: what a real run checkpoints
        problem, proposer=None, lean=None,  # type: ignore[arg-type]  # neither is called
        budget=Budget(1, 10**9), rng=random.Random(0),
        concurrency=IN_FLIGHT, gamma=GAMMA, c=EXPLORATION,
        max_tokens=10**9, count_tokens=len, temperature=1.0, checkpoint=checkpoint,
        checkpoint_every=EVERY, trace=trace, resolve_probes=False, tactic_state_comment=True)
    search.root_goal = goal_text(random.Random(1))
    if hasattr(search, "_new_tree"):
        search._new_tree(first=True)
    else:  # the older code: a tree, no journal
        search.tree = Tree(search.root_goal)
    return search


def _save(search: Any, pending: list[Any]) -> None:
    if hasattr(search, "journal"):
        search._save(in_flight=[job.node for job in pending])
    else:
        search._save(in_flight=len(pending))


def grow(nodes: int, checkpoint: Path | None, *, trace: bool = True) -> tuple[Any, int, float]:
    """(search, expansions, seconds of the loop's own work) for a run to ``nodes`` nodes."""
    rng = random.Random(7)
    search = _search(checkpoint, trace=trace)
    # CPU time of the whole process (the writer thread's included): on this shared VM the
    # wall clock mostly measures the neighbours, and the journal's cost is CPU (encoding on
    # the loop, the writer's system calls), plus waits for a disk the writer never lets
    # the loop see except through a full queue.
    clock = time.process_time
    spent, expansions = 0.0, 0
    started = clock()
    pending = [search._launch() for _ in range(IN_FLIGHT)]
    spent += clock() - started
    while len(search.tree) < nodes:
        job = pending.pop(0)
        outcome = _Outcome(Status.ERROR, None, _segments(search.tree, job.node, rng))
        started = clock()
        search._complete(job, outcome)
        expansions += 1
        if expansions % EVERY == 0:
            _save(search, pending)
        pending.append(search._launch())
        spent += clock() - started
    started = clock()
    if hasattr(search, "abandoned"):  # the tree ends: what is in flight is abandoned
        search.abandoned = [job.node for job in pending]
    if hasattr(search.tree, "clear_running"):
        search.tree.clear_running()
    search.finished = True
    _save(search, [])
    if getattr(search, "journal", None) is not None:
        search.journal.close()  # the last write is part of the cost
    spent += clock() - started
    return search, expansions, spent


def cost_us(nodes: int, checkpoint: Path | None, repeats: int) -> float:
    """The minimum over ``repeats`` runs (this VM's CPU is noisy; see benchmarks.system)."""
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        _, expansions, spent = grow(nodes, checkpoint)
        best = min(best, spent / expansions * 1e6)
    return best


def peak_ratio(nodes: int, folder: Path) -> float:
    """Peak traced memory of a checkpointed run ÷ what the finished run still holds."""
    gc.collect()
    tracemalloc.start()
    search, _, _ = grow(nodes, folder / "mem.json", trace=False)
    gc.collect()
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del search
    return peak / held


def loop_cost_us(nodes: int, make_proposer: Callable[..., Any], checkpoint: Path | None,
                 repeats: int) -> float:
    """The whole loop (``benchmarks.system_loop``: prompts, segmentation, probes, the stand-in
    model and Lean) per expansion, checkpointing to a fresh ``checkpoint`` or not; minimum
    over ``repeats``."""
    from benchmarks.system_loop import loop_once

    best = float("inf")
    for _ in range(repeats):
        if checkpoint is not None:
            checkpoint.unlink(missing_ok=True)  # an existing one would be resumed
        gc.collect()
        run = loop_once(nodes, make_proposer, checkpoint=checkpoint)
        best = min(best, run["seconds"] / run["expansions"] * 1e6)
    return best


def checkpoint_figures(sizes: tuple[int, ...] = SIZES, *, memory_at: int | None = 10_000,
                       make_proposer: Callable[..., Any] | None = None) -> dict[str, Any]:
    """Cost per expansion with and without checkpoints at each size and their ratio: of the
    whole loop (``checkpoint_loop_*``, with ``make_proposer``; the issue's "same run") and of
    the search's own bookkeeping alone (``checkpoint_*``, a harsher ratio: the journal's
    cost over a much smaller base); and the peak memory ratio of a checkpointed run to
    ``memory_at`` nodes (the largest size measured when smaller)."""
    out: dict[str, Any] = {}
    if memory_at and sizes:
        memory_at = min(memory_at, max(sizes))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for n in sizes:
            repeats = 3 if n <= 10_000 else 1
            off = cost_us(n, None, repeats)
            on = cost_us(n, folder / f"tree-{n}.json", repeats)
            out[f"checkpoint_us_per_expansion_off_{n}"] = off
            out[f"checkpoint_us_per_expansion_on_{n}"] = on
            out[f"checkpoint_cost_ratio_{n}"] = on / off
            if make_proposer is not None:
                off = loop_cost_us(n, make_proposer, None, repeats)
                on = loop_cost_us(n, make_proposer, folder / f"loop-{n}.json", repeats)
                out[f"checkpoint_loop_us_per_expansion_off_{n}"] = off
                out[f"checkpoint_loop_us_per_expansion_on_{n}"] = on
                out[f"checkpoint_loop_cost_ratio_{n}"] = on / off
        if memory_at:
            out["checkpoint_peak_memory_ratio"] = peak_ratio(memory_at, folder)
            out["checkpoint_peak_memory_nodes"] = memory_at
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--memory-at", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = checkpoint_figures(tuple(int(s) for s in args.sizes.split(",")),
                                memory_at=args.memory_at)
    print(json.dumps(report, indent=None if args.json else 2))
