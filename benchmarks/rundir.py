"""Reading an evaluation run directory (the issue #7 contract): ``manifest.json`` plus one
or more ``results*.jsonl`` files, one JSON line per attempt.

Shards written by ``--shard I/N`` runs merge. A process killed mid-write leaves at most a
partial last line in a file; that line is ignored. Anything else that does not parse is a
corrupt file and raises ``RunDirError`` naming the file and line, because silently dropping
attempts would change pass rates. Lines are deduplicated on ``(problem, attempt)`` keeping the
first one read (files in natural name order, lines in file order), so a resumed run that
wrote an attempt twice counts it once; an ``error`` line (which the runner redoes on the next
run) gives way to its redo. Every line must carry the manifest's run id: a
directory that mixes runs cannot be summarised.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from benchmarks.metrics import AttemptStatus
from benchmarks.resultlog import ResultLogError, numbered_lines

MANIFEST = "manifest.json"
RESULTS_GLOB = "results*.jsonl"
FORMAT = "prover-eval/1"


class RunDirError(ValueError):
    """A run directory that is missing, incomplete or inconsistent."""


def _natural_key(path: Path) -> list[Any]:
    # results.shard-10-of-12 sorts after results.shard-2-of-12.
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def result_files(run_dir: str | Path) -> list[Path]:
    """The results files of a run directory, in the order they are read."""
    return sorted(Path(run_dir).glob(RESULTS_GLOB), key=_natural_key)


def load_manifest(run_dir: str | Path) -> dict[str, Any]:
    """``run_dir/manifest.json`` as a dict; raises ``RunDirError`` when it is unusable."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"run directory not found: {run_dir}")
    path = run_dir / MANIFEST
    if not path.is_file():
        raise RunDirError(f"{run_dir} is not an evaluation run directory: no {MANIFEST} in it")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise RunDirError(f"{path}: expected a JSON object, got {type(manifest).__name__}")
    fmt = manifest.get("format", FORMAT)
    if fmt != FORMAT:
        raise RunDirError(f"{path}: unknown format {fmt!r} (this reader knows {FORMAT!r})")
    for key in ("run", "problems"):
        if key not in manifest:
            raise RunDirError(f"{path}: missing {key!r}")
    if not isinstance(manifest["problems"], list):
        raise RunDirError(f"{path}: 'problems' must be a list of item names")
    return manifest


def _read_lines(path: Path, run_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    try:
        for number, record in numbered_lines(path):
            where = f"{path}:{number}"
            for key in ("problem", "attempt"):
                if key not in record:
                    raise RunDirError(f"{where}: missing {key!r}")
            if record.get("run") != run_id:
                raise RunDirError(f"{where}: line of run {record.get('run')!r} in the directory "
                                  f"of run {run_id!r} (mixed runs; keep one run per directory)")
            out.append(record)
    except ResultLogError as exc:
        raise RunDirError(str(exc)) from None
    return out


def load_results(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every attempt line of a run directory, shards merged, deduplicated on (problem, attempt).

    The first line of a key wins, except that an ``error`` line gives way to a later line with
    another status: the runner records an infrastructure error and redoes that attempt on the
    next run, so the redone line is the attempt's result.
    """
    run_id = load_manifest(run_dir)["run"]
    index: dict[tuple[str, int], int] = {}
    results: list[dict[str, Any]] = []
    for path in result_files(run_dir):
        for record in _read_lines(path, run_id):
            key = (record["problem"], record["attempt"])
            if key not in index:
                index[key] = len(results)
                results.append(record)
            elif (results[index[key]].get("status") == AttemptStatus.ERROR
                  and record.get("status") != AttemptStatus.ERROR):
                results[index[key]] = record
    return results


def load_run(run_dir: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(manifest, results)`` of a run directory."""
    return load_manifest(run_dir), load_results(run_dir)


__all__ = ["MANIFEST", "RESULTS_GLOB", "RunDirError", "load_manifest",
           "load_results", "load_run", "result_files"]
