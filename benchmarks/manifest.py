"""A run's ``manifest.json``: what produced its results, so numbers can be trusted and redone.

The run id is a hash of everything that decides what a result line means (benchmark, split,
statement variant, search, budget, policy, prompt format, seed, search options). A rerun into
the same directory must have the same id; anything else would mix two experiments in one
table. Which problems are selected (``--limit``, ``--names``, ``--shard``) is not part of the
id: a later run may extend the selection, and shards of one run share a directory.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from prover.files import atomic_write

FORMAT = "prover-eval/1"
MANIFEST = "manifest.json"
# The keys of the identity (see the module docstring); all of them are in the manifest too.
IDENTITY_KEYS = ("kind", "benchmark", "split", "variant", "search", "budget", "policy",
                 "prompt_format", "seed", "options")


class ManifestError(ValueError):
    """The directory holds a different run, or its manifest cannot be read."""


def run_id(identity: Mapping[str, Any]) -> str:
    blob = json.dumps({k: identity.get(k) for k in IDENTITY_KEYS}, sort_keys=True,
                      ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def package_info(repo: Path | None = None) -> dict[str, Any]:
    """The package version and, from a checkout, its git commit (and whether it has edits)."""
    from importlib import metadata

    try:
        version = metadata.version("lean-prover")
    except metadata.PackageNotFoundError:
        version = None
    repo = repo or Path(__file__).resolve().parents[1]
    commit = dirty = None
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
        if commit:
            dirty = bool(subprocess.run(["git", "-C", str(repo), "status", "--porcelain",
                                         "--untracked-files=no"], capture_output=True, text=True,
                                        timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return {"version": version, "git_commit": commit, "git_dirty": dirty}


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Serialise manifest updates of shards that share ``directory``."""
    with open(directory / ".manifest.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def read_manifest(directory: Path) -> dict[str, Any] | None:
    path = Path(directory) / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{path} cannot be read: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ManifestError(f"{path} is not a prover run manifest ({FORMAT})")
    return data


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return [f"{k}: {old.get(k)!r} there, {new.get(k)!r} now" for k in IDENTITY_KEYS
            if old.get(k) != new.get(k)]


def open_run(directory: Path, identity: Mapping[str, Any], *, problems: Sequence[str],
             categories: Mapping[str, str], extra: Mapping[str, Any], shard: str | None,
             order: Sequence[str]) -> dict[str, Any]:
    """Create or extend the manifest of the run in ``directory`` and return it.

    ``problems`` is this invocation's selection before sharding; the manifest keeps the union
    of all selections in benchmark ``order``. A directory holding another run is refused."""
    directory.mkdir(parents=True, exist_ok=True)
    new_id = run_id(identity)
    with locked(directory):
        manifest = read_manifest(directory)
        if manifest is None:
            manifest = {"format": FORMAT, "run": new_id, "created": now(),
                        **{k: identity.get(k) for k in IDENTITY_KEYS}, "problems": [],
                        "categories": {}, "shards": []}
        elif manifest.get("run") != new_id:
            raise ManifestError(
                f"{directory} holds another run ({'; '.join(_differences(manifest, identity))}); "
                "use a new --out directory, or the same options to resume it")
        wanted = set(manifest["problems"]) | set(problems)
        manifest["problems"] = [name for name in order if name in wanted]
        manifest["categories"] = {**manifest.get("categories", {}),
                                  **{n: categories[n] for n in problems}}
        if shard and shard not in manifest["shards"]:
            manifest["shards"].append(shard)
        manifest.update(extra)
        manifest["updated"] = now()
        _write(directory, manifest)
    return manifest


def update_manifest(directory: Path, **fields: Any) -> None:
    """Merge ``fields`` into the manifest (e.g. the Lean version once a REPL has answered)."""
    with locked(directory):
        manifest = read_manifest(directory) or {}
        for key, value in fields.items():
            if isinstance(value, dict) and isinstance(manifest.get(key), dict):
                manifest[key] = {**manifest[key], **{k: v for k, v in value.items() if v is not None}}
            else:
                manifest[key] = value
        _write(directory, manifest)


def _write(directory: Path, manifest: Mapping[str, Any]) -> None:
    atomic_write(directory / MANIFEST,
                 (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
