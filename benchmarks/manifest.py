"""A run's ``manifest.json``: what produced its results, so numbers can be trusted and redone.

The run id is a hash of everything that decides what a result line means (benchmark, split,
statement variant, search, budget, policy, prompt format, seed, search options, and the
sampling the user set: temperature, top_p, max_tokens; unset ones are the model family's,
which policy and prompt format already decide). A rerun into
the same directory must have the same id; anything else would mix two experiments in one
table. Which problems are selected (``--limit``, ``--names``, ``--shard``) is not part of the
id: a later run may extend the selection, and shards of one run share a directory.

Provenance is checked too, since a resumed run adds lines to the earlier ones: the data's
sha256 (``data.sha256``, and ``data.revisions.sha256`` for revised statements; downloaded data
is hashed like a local file) and the Lean that judges (``lean.version`` as the REPL itself
reports it, ``lean.toolchain`` and ``lean.mathlib`` as the workspace pins them) must be the
ones the directory records; a value unknown on either side (a ``--repl`` command has no pins)
is not compared. Another REPL command running the same Lean is fine: every command used is
kept in ``lean.repls``. A refused resume leaves the manifest as it was.
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

from lean_bridge.files import atomic_write

FORMAT = "prover-eval/1"
MANIFEST = "manifest.json"
# The keys of the identity (see the module docstring); all of them are in the manifest too.
IDENTITY_KEYS = ("kind", "benchmark", "split", "variant", "search", "budget", "policy",
                 "prompt_format", "seed", "options", "sampling")
# Keys added after runs were recorded without them: hashed only when set, so the id of such a
# run (and of a run that leaves them at their defaults) stays what it was and it still resumes.
LATER_KEYS = frozenset({"sampling"})


class ManifestError(ValueError):
    """The directory holds a different run, or its manifest cannot be read."""


def run_id(identity: Mapping[str, Any]) -> str:
    hashed = {k: identity.get(k) for k in IDENTITY_KEYS
              if k not in LATER_KEYS or identity.get(k) is not None}
    blob = json.dumps(hashed, sort_keys=True, ensure_ascii=False)
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


# (manifest field, its path) of the provenance a resume must match; see the module docstring.
PROVENANCE = (("data.sha256", ("data", "sha256")),
              ("data.revisions.sha256", ("data", "revisions", "sha256")),
              ("lean.version", ("lean", "version")),
              ("lean.toolchain", ("lean", "toolchain")),
              ("lean.mathlib", ("lean", "mathlib")))


def _field(data: Mapping[str, Any], path: Sequence[str]) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, Mapping) else None  # type: ignore[assignment]
    return data


def provenance_conflicts(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The provenance fields (``PROVENANCE``) known in both and different, for a message."""
    out = []
    for name, path in PROVENANCE:
        was, now_ = _field(old, path), _field(new, path)
        if was is not None and now_ is not None and was != now_:
            out.append(f"{name} is {was!r} there, {now_!r} now")
    return out


def check_resume(directory: Path, identity: Mapping[str, Any], extra: Mapping[str, Any],
                 manifest: Mapping[str, Any] | None = None) -> None:
    """Raise ``ManifestError`` unless a run with ``identity`` and the provenance in ``extra``
    may add lines to ``directory`` (empty, or the same run on the same data and Lean). Writes
    nothing; ``manifest`` is the directory's, when already read."""
    manifest = read_manifest(directory) if manifest is None else manifest
    if manifest is None:
        return
    if manifest.get("run") != run_id(identity):
        raise ManifestError(
            f"{directory} holds another run ({'; '.join(_differences(manifest, identity))}); "
            "use a new --out directory, or the same options to resume it")
    conflicts = provenance_conflicts(manifest, extra)
    if conflicts:
        what = " and ".join(w for w, key in (("on other data", "data."), ("with another Lean", "lean."))
                            if any(c.startswith(key) for c in conflicts))
        raise ManifestError(
            f"{directory} holds results obtained {what} ({'; '.join(conflicts)}); adding to "
            "them would mix the two in one table: resume with the same data and Lean, or use "
            "a new --out directory")


def data_identity(path: Path, revisions: Path | None = None) -> dict[str, Any]:
    """``manifest["data"]``: the benchmark file (and revisions file) with their sha256."""
    info: dict[str, Any] = {"path": str(path), "sha256": sha256_file(path)}
    if revisions is not None:
        info["revisions"] = {"path": str(revisions), "sha256": sha256_file(revisions)}
    return info


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _merged_lean(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """``new``'s Lean fields over the old ones (an unknown new value keeps the old), and every
    REPL command used so far in ``repls``."""
    old = dict(old or {})
    repls = list(old.get("repls") or ([old["repl"]] if old.get("repl") else []))
    if new.get("repl") and new["repl"] not in repls:
        repls.append(new["repl"])
    merged = {**old, **{k: v for k, v in new.items() if v is not None or k not in old}}
    merged["repls"] = repls
    return merged


def open_run(directory: Path, identity: Mapping[str, Any], *, problems: Sequence[str],
             categories: Mapping[str, str], extra: Mapping[str, Any], shard: str | None,
             order: Sequence[str]) -> dict[str, Any]:
    """Create or extend the manifest of the run in ``directory`` and return it.

    ``problems`` is this invocation's selection before sharding; the manifest keeps the union
    of all selections in benchmark ``order``. A directory holding another run, or this run
    on other data or another Lean (``check_resume``), is refused and left as it was."""
    directory.mkdir(parents=True, exist_ok=True)
    new_id = run_id(identity)
    with locked(directory):
        manifest = read_manifest(directory)
        check_resume(directory, identity, extra, manifest)
        if manifest is None:
            manifest = {"format": FORMAT, "run": new_id, "created": now(),
                        **{k: identity.get(k) for k in IDENTITY_KEYS}, "problems": [],
                        "categories": {}, "shards": []}
        lean = _merged_lean(manifest.get("lean"), extra.get("lean") or {})
        wanted = set(manifest["problems"]) | set(problems)
        manifest["problems"] = [name for name in order if name in wanted]
        manifest["categories"] = {**manifest.get("categories", {}),
                                  **{n: categories[n] for n in problems}}
        if shard and shard not in manifest["shards"]:
            manifest["shards"].append(shard)
        manifest.update(extra)
        manifest["lean"] = lean
        manifest["updated"] = now()
        _write(directory, manifest)
    return manifest


def _write(directory: Path, manifest: Mapping[str, Any]) -> None:
    atomic_write(directory / MANIFEST,
                 (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
