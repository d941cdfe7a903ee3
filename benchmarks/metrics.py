"""Metrics of an evaluation run, as pure functions of its manifest and attempt lines.

* pass@k: the unbiased estimator of Chen et al. 2021 ("Evaluating Large Language Models
  Trained on Code", §2.1): with n attempts of which c succeeded,
  ``1 - C(n-c, k) / C(n, k)``, computed as a product so large n does not overflow.
* Cost curves: a problem's cost is the cumulative number of generations until its first
  success, earlier attempts counted in full (DeepSeek-Prover-V1.5 §3.4):
  ``min over proved attempts a of a.attempt * per_attempt + a.cost``. The pass rate at a
  budget B is the share of the benchmark's problems whose cost is at most B.
* Benchmark figures are means over the manifest's problem list; a problem with no attempt
  line yet counts as not proved (the summary says how many there are).
"""
from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

NO_CATEGORY = "(none)"


class AttemptStatus(str, enum.Enum):
    """What became of one attempt (the strings are the result lines' ``status``)."""

    PROVED = "proved"
    UNPROVED = "unproved"
    TIMEOUT = "timeout"  # the attempt's (or the problem's) wall-clock limit was reached
    ERROR = "error"  # infrastructure: no outcome, a rerun does the attempt again

    def __str__(self) -> str:
        return self.value


STATUSES = tuple(s.value for s in AttemptStatus)


@dataclass(frozen=True)
class ProblemStats:
    n: int  # attempt lines
    c: int  # of them proved
    first_cost: int | None  # cumulative generations until the first proof; None if unproved


@dataclass(frozen=True)
class CategoryRow:
    category: str
    solved: int  # problems proved by at least one attempt
    total: int  # problems of the category in the manifest
    rate: float  # solved / total
    pass_at_k: float  # mean pass@k over the category's problems (summaries use k = 1)


@dataclass(frozen=True)
class Summary:
    """Everything a report shows about one run."""
    run: str
    benchmark: str
    split: str
    variant: Mapping[str, Any]
    budget: str  # "NxT"
    attempts: int  # N
    per_attempt: int  # T
    search: str
    policy: str
    model: str | None
    seed: int | None
    prompt_format: str | None
    package: Mapping[str, Any]
    lean: Mapping[str, Any]
    created: str | None
    shards: tuple[Any, ...]
    problems: int  # in the manifest
    attempted: int  # problems with at least one attempt line
    complete: int  # problems with all N attempts
    not_attempted: int
    proved: int  # problems proved by some attempt
    pass_rate: float  # proved / problems
    pass_at_k: tuple[tuple[int, float], ...]  # (k, benchmark pass@k), k in default_ks
    ks_dropped: tuple[int, ...]  # ks of default_ks(N) not computable yet (incomplete problems)
    status_counts: Mapping[str, int]  # attempt lines per status
    categories: tuple[CategoryRow, ...]
    cost_curve: tuple[tuple[int, float], ...]
    generations: int  # summed over attempt lines
    lean_calls: int
    seconds: float
    unknown_problems: int  # attempt lines naming a problem outside the manifest
    lean_timeouts: int = 0  # candidate checks that hit Lean's time limit (the lines' `timeouts`)
    distinct: int = 0  # distinct candidates judged, over the lines that count them

    @property
    def total_budget(self) -> int:
        return self.attempts * self.per_attempt

    @property
    def timeouts(self) -> int:
        return self.status_counts.get(AttemptStatus.TIMEOUT.value, 0)

    @property
    def errors(self) -> int:
        return self.status_counts.get(AttemptStatus.ERROR.value, 0)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that k of the n attempts, drawn without replacement, hold a success.

    Raises ``ValueError`` unless ``0 <= c <= n`` and ``1 <= k <= n``: with fewer than k
    attempts the estimator is undefined, and guessing would bias the figure.
    """
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"pass@{k} needs 1 <= k <= n attempts, got n={n}")
    if n - c < k:
        return 1.0
    # C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i): no huge binomials.
    miss = 1.0
    for i in range(n - c + 1, n + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss


def _cost(line: Mapping[str, Any]) -> int:
    # A proved line should carry its cost; where a writer left it out, count the whole attempt
    # (an upper bound), so the curve never claims a proof earlier than it can be sure of.
    per_attempt = int(line.get("per_attempt") or 0)
    cost = line.get("cost")
    if cost is None:
        cost = per_attempt or line.get("generations") or 0
    return int(line["attempt"]) * per_attempt + int(cost)


def per_problem(results: Iterable[Mapping[str, Any]]) -> dict[str, ProblemStats]:
    """Attempt lines grouped by problem: n, c and the cumulative cost of the first proof."""
    n: Counter[str] = Counter()
    c: Counter[str] = Counter()
    first: dict[str, int] = {}
    for line in results:
        name = line["problem"]
        n[name] += 1
        if line.get("proved"):
            c[name] += 1
            cost = _cost(line)
            first[name] = min(cost, first.get(name, cost))
    return {name: ProblemStats(n[name], c[name], first.get(name)) for name in n}


def benchmark_pass_at_k(stats: Mapping[str, ProblemStats], problems: Sequence[str], k: int) -> float:
    """Mean pass@k over ``problems``; unattempted problems count 0, no problems gives 0.0.

    Raises ``ValueError`` when an attempted problem has fewer than k attempts.
    """
    if not problems:
        return 0.0
    total = 0.0
    for name in problems:
        s = stats.get(name)
        if s is None or s.n == 0:
            continue
        if s.n < k:
            raise ValueError(f"pass@{k}: problem {name!r} has only {s.n} attempts")
        total += pass_at_k(s.n, s.c, k)
    return total / len(problems)


def max_k(stats: Mapping[str, ProblemStats], problems: Sequence[str]) -> int:
    """The largest k for which benchmark pass@k is defined (min attempts over attempted problems)."""
    ns = [stats[p].n for p in problems if p in stats and stats[p].n > 0]
    return min(ns) if ns else 0


def default_ks(n: int) -> list[int]:
    """1, then powers of 2 up to n, then n itself."""
    ks = [1]
    while ks[-1] * 2 <= n:
        ks.append(ks[-1] * 2)
    if n > ks[-1]:
        ks.append(n)
    return ks if n >= 1 else []


def default_budgets(stats: Mapping[str, ProblemStats], problems: Sequence[str],
                    total_budget: int) -> list[int]:
    """Budget points where the cost curve changes (each first-success cost), plus the total."""
    costs = {stats[p].first_cost for p in problems if p in stats}
    return sorted({int(x) for x in costs if x is not None} | {int(total_budget)})


def cost_curve(stats: Mapping[str, ProblemStats], problems: Sequence[str],
               budgets: Iterable[int]) -> list[tuple[int, float]]:
    """(budget, pass rate) for each budget: share of ``problems`` proved within it."""
    costs = [stats[p].first_cost for p in problems if p in stats]
    proved = sorted(x for x in costs if x is not None)
    out = []
    for b in budgets:
        solved = sum(1 for x in proved if x <= b)
        out.append((b, solved / len(problems) if problems else 0.0))
    return out


def category_table(stats: Mapping[str, ProblemStats], categories: Mapping[str, str],
                   problems: Sequence[str], k: int = 1) -> list[CategoryRow]:
    """One row per category (sorted by name); problems without one fall under ``(none)``."""
    groups: dict[str, list[str]] = {}
    for name in problems:
        groups.setdefault(categories.get(name) or NO_CATEGORY, []).append(name)
    rows = []
    for category in sorted(groups):
        names = groups[category]
        solved = sum(1 for p in names if p in stats and stats[p].c > 0)
        rows.append(CategoryRow(category, solved, len(names), solved / len(names),
                                benchmark_pass_at_k(stats, names, k)))
    return rows


def _attempts_of(manifest: Mapping[str, Any]) -> tuple[int, int]:
    if "attempts" in manifest and "per_attempt" in manifest:
        return int(manifest["attempts"]), int(manifest["per_attempt"])
    n, _, t = str(manifest.get("budget", "1x1")).lower().replace("×", "x").partition("x")
    return int(n), int(t or 1)


def summary(manifest: Mapping[str, Any], results: Sequence[Mapping[str, Any]]) -> Summary:
    """The figures of one run: counts, pass@k, categories and the cost curve."""
    problems = list(manifest["problems"])
    known = set(problems)
    attempts, per_attempt = _attempts_of(manifest)
    stats = per_problem(r for r in results if r["problem"] in known)
    attempted = sum(1 for p in problems if p in stats)
    proved = sum(1 for p in problems if p in stats and stats[p].c > 0)
    top = max_k(stats, problems)
    wanted = default_ks(attempts)
    ks = [k for k in wanted if k <= top]
    status_counts = Counter(str(r.get("status", AttemptStatus.PROVED if r.get("proved") else
                                      AttemptStatus.UNPROVED))
                            for r in results if r["problem"] in known)
    categories = manifest.get("categories") or {}
    return Summary(
        run=str(manifest["run"]),
        benchmark=str(manifest.get("benchmark", "?")),
        split=str(manifest.get("split") or "all"),  # the runner writes None for all splits
        variant=dict(manifest.get("variant") or {}),
        budget=f"{attempts}x{per_attempt}",
        attempts=attempts,
        per_attempt=per_attempt,
        search=str(manifest.get("search", "?")),
        policy=str(manifest.get("policy", "?")),
        model=manifest.get("model"),
        seed=manifest.get("seed"),
        prompt_format=manifest.get("prompt_format"),
        package=dict(manifest.get("package") or {}),
        lean=dict(manifest.get("lean") or {}),
        created=manifest.get("created"),
        shards=tuple(manifest.get("shards") or ()),
        problems=len(problems),
        attempted=attempted,
        complete=sum(1 for p in problems if p in stats and stats[p].n >= attempts),
        not_attempted=len(problems) - attempted,
        proved=proved,
        pass_rate=proved / len(problems) if problems else 0.0,
        pass_at_k=tuple((k, benchmark_pass_at_k(stats, problems, k)) for k in ks),
        ks_dropped=tuple(k for k in wanted if k > top),
        status_counts={s: status_counts.get(s, 0) for s in (*STATUSES, *sorted(status_counts))},
        categories=tuple(category_table(stats, categories, problems, 1)),
        cost_curve=tuple(cost_curve(stats, problems,
                                    default_budgets(stats, problems, attempts * per_attempt))),
        generations=sum(int(r.get("generations") or 0) for r in results if r["problem"] in known),
        lean_calls=sum(int(r.get("lean_calls") or 0) for r in results if r["problem"] in known),
        seconds=sum(float(r.get("seconds") or 0.0) for r in results if r["problem"] in known),
        unknown_problems=sum(1 for r in results if r["problem"] not in known),
        lean_timeouts=sum(int(r.get("timeouts") or 0) for r in results if r["problem"] in known),
        distinct=sum(int(r.get("distinct") or 0) for r in results if r["problem"] in known),
    )


__all__ = ["CategoryRow", "NO_CATEGORY", "ProblemStats", "Summary", "benchmark_pass_at_k",
           "category_table", "cost_curve", "default_budgets", "default_ks", "max_k",
           "pass_at_k", "per_problem", "summary"]
