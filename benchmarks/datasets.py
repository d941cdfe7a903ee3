"""Benchmark problems as typed items: miniF2F, ProofNet and PutnamBench, read from JSONL.

The JSONL schemas are those of the shared benchmark data (``shared/benchmarks/README.md``);
``benchmarks.download`` builds the same schema from the upstream repositories when no local
file is given. Contract of every item: ``problem.header + problem.statement + proof`` is a
Lean file whose last declaration is the one to prove, named ``problem.name`` (the name the
``#print axioms`` audit looks up), and ``problem.statement`` ends in ``":= by\\n"``.

Why every statement ends in ``:= by\\n``: the searches and prompt formats continue a tactic
block, so one shape for all benchmarks keeps them free of per-benchmark cases. ProofNet's
records end in a bare ``:=`` (kept verbatim in the data); a term proof is still reachable as
``exact …``. ProofNet's 14 ``def`` items keep their ``def`` (its value is then built by
tactics, which Lean accepts for any ``def``).

Variants: ``revised=True`` swaps in other upstreams' statements for flagged miniF2F problems
(the rule is at ``REVISION_PREFERENCE``); PutnamBench defaults to the with-answer statements
(the leaderboard's main track), ``no_answer=True`` gives the statements whose
``…_solution`` abbrev is still ``:= sorry`` for the prover to fill.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

from benchmarks.catalog import BENCHMARKS, SPLITS, DatasetError, parse_jsonl, read_jsonl
from benchmarks.download import download_benchmark
from search.problem import Problem

REVISIONS_FILE = "minif2f_revisions.jsonl"
# Which revision of a flagged miniF2F problem `revised=True` uses, best first. Goedel-Prover-V2's
# test set is Kimina-Prover's rectified set plus a few more fixes, written for the DeepSeek
# Lean 4.9 environment: the closest to what the revised-set numbers (Kimina, Goedel-V2,
# DeepSeek-V2) were measured on. DeepSeek-Prover-V2's statements (also Lean 4.9) fill in where
# Goedel-V2 has none, e.g. its own valid-split fixes. `yangky11_head` is never used: it is
# written for Lean/Mathlib v4.24, so it would not elaborate in the pinned v4.9 workspace.
REVISION_PREFERENCE = ("goedel_prover_v2_testset (Kimina-rectified lineage)", "deepseek_prover_v2")

_REQUIRED = {
    "minif2f": ("name", "split", "header", "formal_statement"),
    "proofnet": ("name", "theorem_name", "split", "header", "formal_statement"),
    "putnambench": ("name", "split", "header", "formal_statement", "formal_statement_with_answer"),
}
_REVISION_FIELDS = ("name", "split", "revision", "header", "formal_statement")
# miniF2F name prefixes, first match wins (so `mathd_` comes before anything shorter).
_MINIF2F_CATEGORIES = (
    ("mathd_", "mathd"), ("amc", "amc"), ("aime", "aime"), ("imo", "imo"),
    ("induction", "induction"), ("algebra", "algebra"), ("numbertheory", "numbertheory"),
)
_PUTNAM_YEAR = re.compile(r"putnam_(\d{4})_")
_TACTIC_BLOCK = ":= by\n"


@dataclass(frozen=True)
class BenchmarkItem:
    """One benchmark problem. ``name`` is its id, unique in the benchmark (ProofNet:
    ``Rudin_exercise_1_1a``); ``problem.name`` is the Lean declaration to prove (ProofNet:
    ``exercise_1_1a``, not unique across textbooks). ``record`` is the JSONL record as read,
    read-only; ``revision`` names the miniF2F revision whose statement ``problem`` carries
    (None: the record's own statement)."""

    benchmark: str
    name: str
    split: str
    category: str
    problem: Problem
    known_issue: str | None
    record: Mapping[str, Any]
    revision: str | None = None


Download = Callable[[str, Path | None], Path]  # (benchmark, cache_dir) -> local JSONL path


def category_of(benchmark: str, name: str) -> str:
    """The reporting category of a problem id: miniF2F competition family (``mathd``,
    ``amc``, ``aime``, ``imo``, ``induction``, ``algebra``, ``numbertheory``, else ``other``);
    ProofNet textbook as in the original ProofNet ids (``Dummit-Foote``); PutnamBench year."""
    _check_benchmark(benchmark)
    if benchmark == "minif2f":
        return next((cat for prefix, cat in _MINIF2F_CATEGORIES if name.startswith(prefix)),
                    "other")
    if benchmark == "proofnet":
        # Ids are `<Book>_exercise_…` with the book's `-` written `_` (Dummit_Foote); the
        # original ProofNet ids spell it `Dummit-Foote|exercise_…`, which is what we report.
        book, sep, _ = name.partition("_exercise")
        return book.replace("_", "-") if sep and book else "other"
    m = _PUTNAM_YEAR.match(name)
    return m.group(1) if m else "other"


def load_benchmark(benchmark: str, *, data: Path | None = None, split: str | None = None,
                   revised: bool = False, revisions: Path | None = None,
                   no_answer: bool = False, cache_dir: Path | None = None,
                   download: Download | None = None) -> list[BenchmarkItem]:
    """The problems of ``benchmark`` in file order, all splits unless ``split`` is given.

    ``data`` is the JSONL file, or a directory holding ``<benchmark>.jsonl``; without it the
    upstream data is downloaded once into ``cache_dir`` (``download(benchmark, cache_dir)``,
    by default ``benchmarks.download.download_benchmark``). ``revised`` (miniF2F) swaps in
    statements from ``revisions`` (default: ``minif2f_revisions.jsonl`` beside the data file).
    ``no_answer`` (PutnamBench) selects the statements without the answer filled in.
    Raises DatasetError.
    """
    _check_benchmark(benchmark)
    if split is not None and split not in SPLITS[benchmark]:
        raise DatasetError(f"{benchmark} has no split {split!r}; "
                           f"splits: {', '.join(SPLITS[benchmark])}")
    if revised and benchmark != "minif2f":
        raise DatasetError(f"revised statements exist for minif2f only, not {benchmark}")
    if no_answer and benchmark != "putnambench":
        raise DatasetError(f"no_answer applies to putnambench only, not {benchmark}")
    path = data_file(benchmark, data, cache_dir, download)
    records = [(where, _checked(benchmark, where, r)) for where, r in read_jsonl(path)]
    seen: dict[str, str] = {}
    for where, r in records:
        if r["name"] in seen:
            raise DatasetError(f"{where}: duplicate name {r['name']!r} "
                               f"(first at {seen[r['name']]})")
        seen[r["name"]] = where
    chosen: Mapping[str, Mapping[str, Any]] = {}
    if revised:
        rev_path = Path(revisions) if revisions is not None else path.parent / REVISIONS_FILE
        chosen = choose_revisions(rev_path, {r["name"]: r["split"] for _, r in records})
    return [_item(benchmark, where, r, chosen.get(r["name"]), no_answer)
            for where, r in records if split is None or r["split"] == split]


def choose_revisions(path: Path, splits: Mapping[str, str]) -> dict[str, Mapping[str, Any]]:
    """For each miniF2F problem with an accepted revision in ``path``, the revision row to
    use (``REVISION_PREFERENCE``). ``splits`` maps the benchmark's names to their splits; a
    row for an unknown name or another split means the two files do not belong together."""
    if not Path(path).is_file():
        raise DatasetError(
            f"revised miniF2F needs {REVISIONS_FILE}, not found at {path}; pass its path "
            "(it is not downloadable: it is assembled from several upstreams, see "
            "shared/benchmarks/README.md)")
    best: dict[str, tuple[int, Mapping[str, Any]]] = {}
    for where, row in read_jsonl(Path(path)):
        _require(where, row, _REVISION_FIELDS)
        if row["name"] not in splits or splits[row["name"]] != row["split"]:
            raise DatasetError(f"{where}: revision of {row['name']!r} ({row['split']}) matches "
                               "no problem of the miniF2F file")
        if row["revision"] not in REVISION_PREFERENCE:
            continue
        rank = REVISION_PREFERENCE.index(row["revision"])
        if row["name"] not in best or rank < best[row["name"]][0]:
            best[row["name"]] = (rank, row)
    return {name: row for name, (_, row) in best.items()}


def as_tactic_block(statement: str, where: str = "statement") -> str:
    """``statement`` ending in ``:= by\\n``: kept when it does, `` by\\n`` appended to a
    final bare ``:=`` (ProofNet). Anything else is not a statement awaiting its proof."""
    if statement.endswith(_TACTIC_BLOCK):
        return statement
    body = statement.rstrip()
    if body.endswith(":="):
        return body + " by\n"
    if body.endswith(":= by"):
        return body + "\n"
    raise DatasetError(f"{where}: formal statement does not end in ':=' or ':= by'")


# -- internals -----------------------------------------------------------------------------------

def _check_benchmark(benchmark: str) -> None:
    if benchmark not in BENCHMARKS:
        raise DatasetError(f"unknown benchmark {benchmark!r}; benchmarks: {', '.join(BENCHMARKS)}")


def data_file(benchmark: str, data: Path | None, cache_dir: Path | None = None,
              download: Download | None = None) -> Path:
    """The JSONL file ``load_benchmark`` reads for these arguments (downloaded first, when
    ``data`` is None and the cache has none); DatasetError when there is none."""
    if data is None:
        if download is None:
            download = download_benchmark
        return Path(download(benchmark, cache_dir))
    path = Path(data)
    if path.is_dir():
        path = path / f"{benchmark}.jsonl"
    if not path.is_file():
        raise DatasetError(f"{benchmark}: data file {path} does not exist")
    return path


def _require(where: str, record: Mapping[str, Any], fields: tuple[str, ...]) -> None:
    missing = [f for f in fields if not isinstance(record.get(f), str)]
    if missing:
        raise DatasetError(f"{where}: record lacks string field(s) {', '.join(missing)}")


def _checked(benchmark: str, where: str, record: dict[str, Any]) -> dict[str, Any]:
    _require(where, record, _REQUIRED[benchmark])
    if record["split"] not in SPLITS[benchmark]:
        raise DatasetError(f"{where}: split {record['split']!r} is not a {benchmark} split "
                           f"({', '.join(SPLITS[benchmark])})")
    return record


def _item(benchmark: str, where: str, record: dict[str, Any],
          revision: Mapping[str, Any] | None, no_answer: bool) -> BenchmarkItem:
    name = record["name"]
    header, statement, source = record["header"], record["formal_statement"], record.get("source")
    if benchmark == "putnambench" and not no_answer:
        statement = record["formal_statement_with_answer"]
    if revision is not None:
        header, statement = revision["header"], revision["formal_statement"]
        source = revision.get("source", source)
    # PutnamBench has no separate docstring field: its docstring is part of the statement.
    informal = record.get("informal_prefix") or None
    problem = Problem(name=record.get("theorem_name", name), header=header,
                      statement=as_tactic_block(statement, where), informal=informal,
                      source=source)
    return BenchmarkItem(benchmark=benchmark, name=name, split=record["split"],
                         category=category_of(benchmark, name), problem=problem,
                         known_issue=record.get("known_issue"),
                         record=MappingProxyType(record),
                         revision=revision["revision"] if revision is not None else None)


__all__ = [
    "BENCHMARKS", "BenchmarkItem", "DatasetError", "Download", "REVISION_PREFERENCE", "SPLITS",
    "as_tactic_block", "category_of", "choose_revisions", "load_benchmark", "parse_jsonl", "read_jsonl",
]
