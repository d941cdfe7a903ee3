"""Published results on miniF2F-test, ProofNet-test and PutnamBench, for side-by-side tables.

A small curated set of facts (system, size, budget, result, source), kept in the package so a
report made on a user's machine can cite them. Each row names its source as a key of
``SOURCES`` plus the table or section; the numbers were not reproduced here.

Budgets use our notation: ``pass@K`` is K independent whole-proof samples, the same total as
our ``1xK``; tree search is ``NxT`` (N trees, T generations each). ``budget_total`` is the
number of generations, which is what ``comparable_rows`` matches on. A generation is not the
same amount of compute in every method (a whole proof vs an RMaxTS continuation), so equal
budgets mean equal numbers of model calls, nothing more.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

# Citation keys as used by the team's leaderboard notes.
SOURCES: dict[str, str] = {
    "V1.5": "DeepSeek-Prover-V1.5 paper, deepseek-ai/DeepSeek-Prover-V1.5@2c4ba91 "
            "(arXiv 2408.08152)",
    "V2": "DeepSeek-Prover-V2 paper, deepseek-ai/DeepSeek-Prover-V2@e598a57 (arXiv 2504.21801)",
    "KIM": "Kimina-Prover Preview technical report, MoonshotAI/Kimina-Prover-Preview@7abd61a "
           "(arXiv 2504.11354)",
    "G1": "Goedel-Prover README, Goedel-LM/Goedel-Prover@d80349d (arXiv 2502.07640)",
    "G2": "Goedel-Prover-V2 README, Goedel-LM/Goedel-Prover-V2@2e9036e (arXiv 2508.03613)",
    "PB": "PutnamBench leaderboard data, trishullab/PutnamBench@3c9b926 docs/results.json",
}

# Which statements a result was measured on. Ours: benchmarks data = DeepSeek-V1.5 ports.
STATEMENT_SETS: dict[str, str] = {
    "deepseek-v1.5": "DeepSeek-Prover-V1.5 Lean 4 statements",
    "kimina-revised": "DeepSeek-V1.5 statements with Kimina's 8 fixes",
    "deepseek-v2": "Kimina's revision plus DeepSeek-Prover-V2's own fixes",
    "goedel-v2": "Goedel-Prover-V2 test set (15 changes from DeepSeek-V1.5)",
    "yangky11-v4.24": "yangky11/miniF2F-lean4 HEAD (Lean v4.24)",
    "putnambench-head": "PutnamBench with-answer statements, at the commit each entry used",
    "putnambench-no-answer": "PutnamBench statements without the answer filled in",
}

# Full split sizes of the statement files the loaders read (a run on fewer is a subset).
SPLIT_SIZES: dict[tuple[str, str], int] = {
    ("minif2f", "test"): 244, ("minif2f", "valid"): 244,
    ("proofnet", "test"): 186, ("proofnet", "valid"): 185,
    ("putnambench", "test"): 672,
}


@dataclass(frozen=True)
class PublishedResult:
    benchmark: str  # "minif2f" | "proofnet" | "putnambench"
    split: str  # "test" for every row here
    system: str
    size: str
    method: str  # "whole-proof" | "rmaxts"
    budget: str  # "pass@K" or "NxT"
    budget_total: int  # generations per problem
    result: float | None  # percent of the problems proved; None when the count is unknown
    source: str  # "[KEY] Table n"; KEY in SOURCES
    statements: str  # key of STATEMENT_SETS
    solved: int | None = None  # PutnamBench: problems solved ...
    out_of: int | None = None  # ... of this many (None: not stated in the source)
    note: str = ""

    @property
    def citation(self) -> str:
        key = self.source[1:self.source.index("]")]
        return f"{self.source} — {SOURCES[key]}"


def _p(bench: str, system: str, size: str, method: str, budget: str, result: float,
       source: str, statements: str = "deepseek-v1.5", note: str = "") -> PublishedResult:
    return PublishedResult(bench, "test", system, size, method, budget, _total(budget), result,
                           source, statements, note=note)


def _putnam(system: str, size: str, budget: str, solved: int, out_of: int | None,
            source: str, note: str = "") -> PublishedResult:
    result = round(100.0 * solved / out_of, 2) if out_of else None
    return PublishedResult("putnambench", "test", system, size, "whole-proof", budget,
                           _total(budget), result, source, "putnambench-head", solved, out_of, note)


def _total(budget: str) -> int:
    if budget.startswith("pass@"):
        return int(budget[5:])
    n, _, t = budget.partition("x")
    return int(n) * int(t)


_V15RL, _V2 = "DeepSeek-Prover-V1.5-RL", "DeepSeek-Prover-V2 (CoT)"

PUBLISHED: tuple[PublishedResult, ...] = (
    # miniF2F-test, 244 problems.
    _p("minif2f", _V15RL, "7B", "whole-proof", "pass@32", 50.0, "[V1.5] Table 1"),
    _p("minif2f", _V15RL, "7B", "whole-proof", "pass@3200", 54.9, "[V1.5] Table 1"),
    _p("minif2f", _V15RL + " + RMaxTS", "7B", "rmaxts", "1x3200", 55.0, "[V1.5] Table 1"),
    _p("minif2f", _V15RL + " + RMaxTS", "7B", "rmaxts", "4x6400", 59.6, "[V1.5] Table 1"),
    _p("minif2f", _V15RL + " + RMaxTS", "7B", "rmaxts", "16x6400", 62.7, "[V1.5] Table 1"),
    _p("minif2f", _V15RL + " + RMaxTS (CoT/non-CoT mixture)", "7B", "rmaxts", "32x6400", 63.5,
       "[V1.5] Table 1", note="16 CoT + 16 non-CoT trees"),
    _p("minif2f", "Goedel-Prover-SFT", "7B", "whole-proof", "pass@32", 57.6, "[G1] README"),
    _p("minif2f", "Goedel-Prover-SFT", "7B", "whole-proof", "pass@3200", 62.7, "[G1] README"),
    _p("minif2f", "Kimina-Prover-Preview-Distill-7B", "7B", "whole-proof", "pass@32", 63.1,
       "[KIM] Table 1"),
    _p("minif2f", "Kimina-Prover-Preview", "72B", "whole-proof", "pass@8192", 80.74,
       "[KIM] Table 1"),
    _p("minif2f", _V2, "7B", "whole-proof", "pass@32", 75.6, "[V2] Table 1", "deepseek-v2",
       "mean of several runs (±0.5)"),
    _p("minif2f", _V2, "671B MoE", "whole-proof", "pass@32", 82.4, "[V2] Table 1",
       "deepseek-v2", "mean of several runs (±0.6)"),
    _p("minif2f", _V2, "671B MoE", "whole-proof", "pass@8192", 88.9, "[V2] Table 1",
       "deepseek-v2"),
    _p("minif2f", "Goedel-Prover-V2", "8B", "whole-proof", "pass@32", 84.6, "[G2] README",
       "goedel-v2"),
    _p("minif2f", "Goedel-Prover-V2", "32B", "whole-proof", "pass@32", 88.1, "[G2] README",
       "goedel-v2", "arXiv abstract; the README says 88.0%"),
    # ProofNet-test, 186 problems.
    _p("proofnet", _V15RL, "7B", "whole-proof", "pass@3200", 22.0, "[V1.5] Table 2"),
    _p("proofnet", _V15RL + " + RMaxTS", "7B", "rmaxts", "1x3200", 21.5, "[V1.5] Table 2"),
    _p("proofnet", _V15RL + " + RMaxTS", "7B", "rmaxts", "4x6400", 25.3, "[V1.5] Table 2"),
    _p("proofnet", "Goedel-Prover-SFT", "7B", "whole-proof", "pass@32", 15.6, "[V2] Table 4"),
    _p("proofnet", _V2, "7B", "whole-proof", "pass@32", 23.0, "[V2] Table 4"),
    _p("proofnet", _V2, "671B MoE", "whole-proof", "pass@32", 30.5, "[V2] Table 4"),
    _p("proofnet", _V2, "671B MoE", "whole-proof", "pass@1024", 37.1, "[V2] Table 4"),
    # PutnamBench, Lean 4, solved of the problems at the time.
    _putnam(_V2, "671B MoE", "pass@32", 22, 658, "[V2] Table 4", "649 of 658 runnable on Lean 4.9"),
    _putnam(_V2, "671B MoE", "pass@1024", 47, 658, "[V2] Table 4", "649 of 658 runnable on Lean 4.9"),
    _putnam(_V2, "7B", "pass@1024", 11, 658, "[V2] Table 4"),
    _putnam("Goedel-Prover-SFT", "7B", "pass@512", 7, 644, "[PB] results.json"),
    _putnam("Goedel-Prover-V2", "32B", "pass@32", 43, None, "[G2] README",
            "standard mode, Lean 4.9; problem count at that commit not stated in the source"),
    _putnam("Kimina-Prover-Preview-Distill-7B", "7B", "pass@192", 10, None, "[PB] results.json",
            "problem count at that commit not stated in the source"),
)


@dataclass(frozen=True)
class Comparison:
    rows: tuple[PublishedResult, ...]  # one per system, at the same or nearest budget
    warnings: tuple[str, ...]  # why the rows may not compare with the run


def statement_set(benchmark: str, variant: Mapping[str, Any] | None) -> str:
    """The statement set a run used, from its manifest ``variant`` (empty: our default port).

    ``{"revised": true}`` (miniF2F) is the revised set the benchmark loader builds: Goedel-
    Prover-V2's test statements (Kimina's rectified set plus further fixes).
    ``{"no_answer": true}`` (PutnamBench) is the track without answers filled in. A string under
    ``statements``/``revision`` names a set directly; other variant keys do not change it.
    """
    bench = benchmark.lower()
    variant = variant or {}
    if bench == "putnambench":
        return "putnambench-no-answer" if variant.get("no_answer") else "putnambench-head"
    named = " ".join(str(variant[k]) for k in ("statements", "revision") if variant.get(k))
    if not named:
        return "goedel-v2" if bench == "minif2f" and variant.get("revised") else "deepseek-v1.5"
    text = named.lower()
    for needle, name in (("goedel", "goedel-v2"), ("deepseek_prover_v2", "deepseek-v2"),
                         ("deepseek-v2", "deepseek-v2"), ("kimina", "kimina-revised"),
                         ("yangky11", "yangky11-v4.24"), ("deepseek", "deepseek-v1.5")):
        if needle in text:
            return name
    return named


def _distance(row: PublishedResult, budget_total: int) -> tuple[float, int]:
    # Nearest on a log scale (3200 is nearer 6400 than 128); ties go to the smaller budget.
    return abs(math.log(row.budget_total / budget_total)), row.budget_total


def comparable_rows(benchmark: str, split: str, budget_total: int, *,
                    statements: str | None = None, problems: int | None = None) -> Comparison:
    """Published rows for ``benchmark``: per system, the same or nearest budget, with warnings.

    ``statements`` is the run's statement set (see ``statement_set``; default our port),
    ``problems`` the number of problems the run covers.
    """
    bench = benchmark.lower()
    if budget_total < 1:
        raise ValueError(f"budget_total must be at least 1, got {budget_total}")
    candidates = [r for r in PUBLISHED if r.benchmark == bench]
    best: dict[tuple[str, str, str], PublishedResult] = {}
    for row in candidates:
        key = (row.system, row.size, row.method)
        if key not in best or _distance(row, budget_total) < _distance(best[key], budget_total):
            best[key] = row
    # Best first: by percentage, or by problems solved where the total is not always known.
    rows = tuple(sorted(best.values(), key=lambda r: (
        -(r.solved if r.solved is not None else r.result or 0.0), r.system, r.size)))
    statements = statements or statement_set(bench, None)
    warnings: list[str] = []
    if rows and split != "test":
        warnings.append(f"published {bench} results are on the test split; this run is on "
                        f"{split!r}, so the numbers do not compare"
                        + (" (ProofNet-valid variants are in public training data)"
                           if bench == "proofnet" else ""))
    full = SPLIT_SIZES.get((bench, split))
    if rows and problems is not None and full is not None and problems < full:
        warnings.append(f"this run covers {problems} of the {full} {split} problems; "
                        f"published results are on the whole split")
    if bench == "minif2f":
        other = sorted({r.statements for r in rows if r.statements != statements})
        for s in other:
            names = ", ".join(sorted({f"{r.system} {r.size}" for r in rows if r.statements == s}))
            warnings.append(f"statement sets differ: this run uses {statements!r}, "
                            f"{names} used {s!r} ({STATEMENT_SETS.get(s, s)}); at 80–90% a few "
                            f"fixed statements move pass rates by 1–3 points")
    if bench == "putnambench" and rows and statements != "putnambench-head":
        warnings.append(f"published PutnamBench rows are on the with-answer track; this run "
                        f"uses {statements!r} ({STATEMENT_SETS.get(statements, statements)})")
    if bench == "putnambench":
        sizes = sorted({r.out_of for r in rows if r.out_of is not None})
        if any(s != problems for s in sizes) or any(r.out_of is None for r in rows):
            warnings.append(f"PutnamBench changed size over time (640 → 672 problems); published "
                            f"counts are out of {', '.join(map(str, sizes)) or '?'} problems "
                            f"(some unstated), this run has {problems if problems is not None else '?'}")
    off = [r for r in rows if r.budget_total != budget_total]
    if off:
        warnings.append(f"{len(off)} of {len(rows)} rows are at the nearest published budget, "
                        f"not this run's {budget_total} generations")
    return Comparison(rows, tuple(warnings))


__all__ = ["Comparison", "PUBLISHED", "PublishedResult", "SOURCES", "SPLIT_SIZES",
           "STATEMENT_SETS", "comparable_rows", "statement_set"]
