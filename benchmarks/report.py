"""``report.md`` (and PNG plots) for an evaluation run directory.

The report holds: what was run (from the manifest), the overall figures (pass rate, pass@k),
a per-category table, the cost curve (pass rate vs generations per problem), published
results at the same or nearest budget with their sources and comparability warnings, and,
for ``compare`` runs, the same figures side by side. Output is deterministic: the only time
in it is the manifest's ``created``.

Plots use matplotlib's Agg canvas directly (no pyplot, the global backend untouched), imported
only here; without matplotlib the report is written without plots and says how to get them.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from benchmarks.metrics import Summary, summary
from benchmarks.published import (
    SOURCES,
    Comparison,
    PublishedResult,
    comparable_rows,
    statement_set,
)
from benchmarks.rundir import load_run
from search.export import PLOT_HINT

REPORT = "report.md"
CURVE_PNG = "pass_rate_vs_budget.png"
CATEGORIES_PNG = "categories.png"
MAX_CURVE_ROWS = 20  # beyond this many distinct costs the table samples powers of 2


@dataclass(frozen=True)
class ReportFiles:
    report: Path  # report.md
    plots: tuple[Path, ...]  # the PNGs written (empty without matplotlib)
    plot_error: str | None = None  # why no plots were drawn


_NUMBER = re.compile(r"^-?\d[\d,]*(\.\d+)?%?$")


def _numeric(value: Any) -> bool:
    # Numbers and percentages (and a missing value among them) line up on the right.
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float)) or value is None or (
        isinstance(value, str) and (value == "—" or bool(_NUMBER.match(value))))


def format_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A markdown table; numeric columns are right-aligned, ``|`` in cells is escaped."""
    def cell(value: Any) -> str:
        return ("—" if value is None else str(value)).replace("|", "\\|").replace("\n", " ")

    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row has {len(row)} cells, headers {len(headers)}: {row!r}")
    numeric = [bool(rows) and all(_numeric(r[i]) for r in rows) for i in range(len(headers))]
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "|" + "|".join("---:" if num else "---" for num in numeric) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100.0 * x:.1f}%"


def _curve_at(curve: Sequence[tuple[int, float]], budget: int) -> float:
    # The cost curve is a step function sampled where it changes: take the last step <= budget.
    rate = 0.0
    for b, r in curve:
        if b <= budget:
            rate = r
    return rate


def _table_budgets(s: Summary) -> list[int]:
    points = [b for b, _ in s.cost_curve]
    if len(points) <= MAX_CURVE_ROWS:
        return points
    # Powers of 2 from the cheapest proof's down to the total: no run of empty leading rows.
    start = int(math.log2(max(points[0], 1)))
    grid = [2 ** i for i in range(start, int(math.log2(s.total_budget)) + 1)]
    return sorted(set(grid) | {s.total_budget})


# -- sections ---------------------------------------------------------------------------------

def _run_section(s: Summary) -> str:
    pkg = s.package
    version = pkg.get("version") or "?"
    commit = pkg.get("git_commit")
    rows = [
        ("run", s.run),
        ("benchmark", f"{s.benchmark} ({s.split})"),
        ("variant", json.dumps(s.variant, sort_keys=True) if s.variant else "default"),
        ("problems", s.problems),
        ("budget", f"{s.budget} ({s.attempts} attempts × {s.per_attempt} generations = "
                   f"{s.total_budget} per problem)"),
        ("search", s.search),
        ("policy", s.policy),
        ("model", s.model),
        ("seed", s.seed),
        ("prompt format", s.prompt_format),
        ("package", f"{version} (commit {commit}{', with local edits' if pkg.get('git_dirty') else ''})"
                    if commit else version),
        ("Lean toolchain", s.lean.get("toolchain")),
        ("Mathlib", s.lean.get("mathlib")),
        ("REPL", s.lean.get("repl")),
        ("created", s.created),
    ]
    if s.shards:
        rows.append(("shards", ", ".join(map(str, s.shards))))
    return "## Run\n\n" + format_table(rows, ["field", "value"])


def _overall_section(s: Summary) -> str:
    headers = ["problems", "attempted", "complete", "proved", "pass rate",
               *(f"pass@{k}" for k, _ in s.pass_at_k)]
    row = [s.problems, s.attempted, s.complete, s.proved, _pct(s.pass_rate),
           *(_pct(v) for _, v in s.pass_at_k)]
    notes = [f"pass rate = problems proved by any of the {s.attempts} attempts; pass@k is the "
             f"unbiased estimator of Chen et al. 2021 over attempts (n = attempts made, "
             f"c = attempts that proved)."]
    if s.not_attempted:
        notes.append(f"{s.not_attempted} of {s.problems} problems not attempted yet "
                     f"(counted as not proved).")
    incomplete = s.attempted - s.complete
    if incomplete:
        notes.append(f"{incomplete} problems have fewer than {s.attempts} attempts so far.")
    if s.ks_dropped:
        notes.append("pass@" + ", pass@".join(map(str, s.ks_dropped)) +
                     " not shown: some attempted problems have fewer attempts than that.")
    counts = ", ".join(f"{k} {v}" for k, v in s.status_counts.items())
    notes.append(f"attempts by status: {counts}.")
    notes.append(f"spent: {s.generations} generations, {s.lean_calls} Lean calls "
                 f"({s.distinct} distinct candidates judged), "
                 f"{s.seconds:.1f} s (summed over attempts).")
    notes.append(f"Lean timeouts: {s.lean_timeouts} candidate checks hit Lean's time limit "
                 "(honest failures of those candidates; attempts whose checks crashed the REPL "
                 "are `error` lines instead, redone by a rerun).")
    if s.unknown_problems:
        notes.append(f"{s.unknown_problems} attempt lines name problems outside the manifest "
                     f"and were ignored.")
    return ("## Overall\n\n" + format_table([row], headers) + "\n" +
            "".join(f"- {n}\n" for n in notes))


def _category_section(s: Summary, plot: str | None) -> str:
    rows = [(c.category, c.solved, c.total, _pct(c.rate), _pct(c.pass_at_k)) for c in s.categories]
    rows.append(("**all**", s.proved, s.problems, _pct(s.pass_rate),
                 _pct(dict(s.pass_at_k).get(1)) if s.pass_at_k else _pct(0.0)))
    text = "## Per category\n\n" + format_table(rows, ["category", "solved", "total", "rate",
                                                        "pass@1"])
    return text + (f"\n![pass rate per category]({plot})\n" if plot else "")


def _curve_section(s: Summary, plot: str | None) -> str:
    rows = []
    for b in _table_budgets(s):
        rate = _curve_at(s.cost_curve, b)
        rows.append((b, round(rate * s.problems), _pct(rate)))
    text = ("## Pass rate vs budget\n\nCumulative generations per problem until its first proof, "
            "earlier attempts counted in full (DeepSeek-Prover-V1.5 §3.4).\n\n" +
            format_table(rows, ["generations", "proved", "pass rate"]))
    return text + (f"\n![pass rate vs generations]({plot})\n" if plot else "")


def _published_result(r: PublishedResult) -> str:
    if r.solved is not None:
        if r.out_of:
            return f"{r.solved}/{r.out_of} ({100.0 * r.solved / r.out_of:.1f}%)"
        return f"{r.solved} (total not stated)"
    return f"{r.result:.1f}%" if r.result is not None else "—"


def _published_section(s: Summary, comparison: Comparison) -> str:
    title = "## Published results\n\n"
    if not comparison.rows:
        return title + f"No published results on file for {s.benchmark}.\n"
    ours = (f"{s.proved}/{s.problems} ({_pct(s.pass_rate)})" if s.benchmark == "putnambench"
            else _pct(s.pass_rate))
    rows = [(f"**this run** ({s.split})", s.model or s.policy, s.search, s.budget, ours, "", "")]
    for r in comparison.rows:
        budget = f"{r.budget} (1x{r.budget_total})" if r.budget.startswith("pass@") else r.budget
        same = "same" if r.budget_total == s.total_budget else "nearest"
        rows.append((r.system, r.size, r.method, budget, _published_result(r),
                     f"{same} budget", r.source))
    text = title + format_table(rows, ["system", "size", "method", "budget", "result",
                                       "vs this run", "source"])
    notes = [r.note for r in comparison.rows if r.note]
    if notes:
        text += "\nRow notes: " + "; ".join(
            f"{r.system} {r.size} {r.budget}: {r.note}" for r in comparison.rows if r.note) + ".\n"
    if comparison.warnings:
        text += "\n" + "".join(f"- **Warning:** {w}\n" for w in comparison.warnings)
    keys = sorted({r.source[1:r.source.index("]")] for r in comparison.rows})
    text += "\nSources:\n\n" + "".join(f"- [{k}] {SOURCES[k]}\n" for k in keys)
    return text


def _labels(summaries: Sequence[Summary], dirs: Sequence[Path]) -> list[str]:
    ids = [s.run for s in summaries]
    return [s.run if ids.count(s.run) == 1 else f"{s.run} ({d.name})"
            for s, d in zip(summaries, dirs, strict=True)]


def _compare_section(summaries: Sequence[Summary], labels: Sequence[str],
                     problem_sets: Sequence[frozenset[str]]) -> str:
    common = min(s.total_budget for s in summaries)
    ks = sorted({k for s in summaries for k, _ in s.pass_at_k})
    metrics: list[tuple[str, Any]] = [
        ("benchmark", lambda s: f"{s.benchmark} ({s.split})"),
        ("problems", lambda s: s.problems),
        ("budget", lambda s: s.budget),
        ("search", lambda s: s.search),
        ("policy", lambda s: s.model or s.policy),
        ("attempted", lambda s: s.attempted),
        ("proved", lambda s: s.proved),
        ("pass rate", lambda s: _pct(s.pass_rate)),
        *((f"pass@{k}", lambda s, k=k: _pct(dict(s.pass_at_k).get(k))) for k in ks),
        (f"pass rate within {common} generations",
         lambda s: _pct(_curve_at(s.cost_curve, common))),
        ("timeouts / errors", lambda s: f"{s.timeouts} / {s.errors}"),
        ("Lean timeouts (candidates)", lambda s: s.lean_timeouts),
    ]
    rows = [(name, *(f(s) for s in summaries)) for name, f in metrics]
    text = "## Compared runs\n\n" + format_table(rows, ["metric", *labels])
    warnings = []
    first = summaries[0]
    for s, label in zip(summaries[1:], labels[1:], strict=True):
        if (s.benchmark, s.split) != (first.benchmark, first.split):
            warnings.append(f"{label} is on {s.benchmark} ({s.split}), this run on "
                            f"{first.benchmark} ({first.split}): the figures do not compare")
    for ps, label in zip(problem_sets[1:], labels[1:], strict=True):
        if ps != problem_sets[0]:
            warnings.append(f"{label} has a different problem list "
                            f"({len(ps & problem_sets[0])} problems in common)")
    if warnings:
        text += "\n" + "".join(f"- **Warning:** {w}\n" for w in warnings)
    return text


# -- plots ------------------------------------------------------------------------------------

def _import_matplotlib():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    return Figure, FigureCanvasAgg


def _plot_curves(path: Path, summaries: Sequence[Summary], labels: Sequence[str]) -> None:
    Figure, FigureCanvasAgg = _import_matplotlib()
    fig = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    lo, hi = math.inf, 1
    for s, label in zip(summaries, labels, strict=True):
        curve = list(s.cost_curve)
        if curve and curve[0][0] > 1:
            curve.insert(0, (1, 0.0))  # below the cheapest proof nothing is proved
        xs = [b for b, _ in curve]
        ys = [100.0 * r for _, r in curve]
        ax.step(xs, ys, where="post", marker="o" if len(xs) <= 40 else None, markersize=3,
                label=f"{label} ({s.benchmark} {s.split}, {s.budget})")
        lo, hi = min(lo, min(xs, default=1)), max(hi, max(xs, default=1))
    if hi / max(lo, 1) >= 100:
        ax.set_xscale("log")
    ax.set_ylim(0, 103)  # a curve at 100% would hide under the frame
    ax.set_xlabel("generations per problem")
    ax.set_ylabel("pass rate (%)")
    ax.set_title("Pass rate vs budget")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)


def _plot_categories(path: Path, summaries: Sequence[Summary], labels: Sequence[str]) -> None:
    Figure, FigureCanvasAgg = _import_matplotlib()
    # Only runs on the main run's benchmark share its categories.
    runs = [(s, l) for s, l in zip(summaries, labels, strict=True)
            if s.benchmark == summaries[0].benchmark]
    cats = sorted({c.category for s, _ in runs for c in s.categories})
    fig = Figure(figsize=(max(6.0, 0.6 * len(cats) * len(runs) + 2), 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 0.8 / len(runs)
    for j, (s, label) in enumerate(runs):
        rates = {c.category: c for c in s.categories}
        xs = [i + (j - (len(runs) - 1) / 2) * width for i in range(len(cats))]
        ys = [100.0 * rates[c].rate if c in rates else 0.0 for c in cats]
        bars = ax.bar(xs, ys, width=width, label=label)
        for bar, c in zip(bars, cats, strict=True):
            if c in rates:
                ax.annotate(f"{rates[c].solved}/{rates[c].total}",
                            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(cats)))
    ax.set_xticklabels(cats, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("problems proved (%)")
    ax.set_title("Pass rate per category")
    if len(runs) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)


# -- entry point ------------------------------------------------------------------------------

def write_report(run_dir: Path, compare: Sequence[Path] = (), out: Path | None = None) -> ReportFiles:
    """Write ``report.md`` and its plots into ``out`` (default ``run_dir``).

    Raises ``RunDirError`` (a ``ValueError``) for an unreadable run directory.
    """
    dirs = [Path(run_dir), *map(Path, compare)]
    runs = [load_run(d) for d in dirs]
    summaries = [summary(m, r) for m, r in runs]
    labels = _labels(summaries, dirs)
    out_dir = Path(out) if out is not None else dirs[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    main = summaries[0]

    plots: list[Path] = []
    plot_error = None
    try:
        _import_matplotlib()
    except ImportError as exc:
        plot_error = f"matplotlib is not installed ({exc})"
    if plot_error is None:
        _plot_curves(out_dir / CURVE_PNG, summaries, labels)
        plots.append(out_dir / CURVE_PNG)
        if main.categories:
            _plot_categories(out_dir / CATEGORIES_PNG, summaries, labels)
            plots.append(out_dir / CATEGORIES_PNG)
    names = {p.name for p in plots}

    comparison = comparable_rows(main.benchmark, main.split, max(main.total_budget, 1),
                                 statements=statement_set(main.benchmark, main.variant),
                                 problems=main.problems)
    parts = [f"# Evaluation report: {main.benchmark} ({main.split}), run {main.run}\n",
             _run_section(main), _overall_section(main),
             _category_section(main, CATEGORIES_PNG if CATEGORIES_PNG in names else None),
             _curve_section(main, CURVE_PNG if CURVE_PNG in names else None),
             _published_section(main, comparison)]
    if len(summaries) > 1:
        problem_sets = [frozenset(m["problems"]) for m, _ in runs]
        parts.append(_compare_section(summaries, labels, problem_sets))
    if plot_error:
        parts.append(f"## Plots\n\nPlots were not drawn: {plot_error}. To get them: "
                     f"`{PLOT_HINT}`, then write the report again.\n")
    path = out_dir / REPORT
    path.write_text("\n".join(parts), encoding="utf-8")
    return ReportFiles(path, tuple(plots), plot_error)


__all__ = ["CATEGORIES_PNG", "CURVE_PNG", "REPORT", "ReportFiles", "format_table", "write_report"]
