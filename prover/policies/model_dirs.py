"""What a local model directory says it is, for finding its family when its name says
nothing (``/models/ckpt-1200``, an ``iterate`` round's ``model/``).

Read, in this order, the fields that hold the id or path a checkpoint came from:

* ``config.json``'s ``_name_or_path`` (transformers 4.x writes the id or path the weights were
  loaded from, so a fine-tune of ``deepseek-ai/DeepSeek-Prover-V1.5-RL`` names it; 5.x leaves
  the field out);
* ``train_manifest.json``'s ``base_model`` (this project's ``train sft`` / ``train grpo``);
* ``tokenizer_config.json``'s ``name_or_path``.

A value that is itself a local directory is read in turn (a round of ``iterate`` names the
round before it), at most ``MAX_HOPS`` directories, each once. ``architectures`` and
``model_type`` name the network, which several families share (DeepSeek-Prover-V1.5 and
Goedel-Prover-SFT are both Llama networks), so they never pick a family: they only go into
the warning about a model no family matches (``describe``). Unreadable or malformed files
are skipped: knowing the family is a convenience, a missing one is warned about later.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MAX_HOPS = 8
# (file, field) holding the id or path the checkpoint came from, in the order they are tried
ORIGIN_FIELDS = (("config.json", "_name_or_path"), ("train_manifest.json", "base_model"),
                 ("tokenizer_config.json", "name_or_path"))


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def local_dir(model_id: str) -> Path | None:
    """``model_id`` as an existing local directory, else None (a hub id, a served name)."""
    try:
        path = Path(model_id).expanduser()
        return path if path.is_dir() else None
    except (OSError, ValueError):
        return None


def declared_origins(model_id: str) -> list[str]:
    """The ids and paths ``model_id``'s directory (and the local directories they name) say
    it came from, nearest first, without repeats; [] for anything but a local directory."""
    start = local_dir(model_id)
    if start is None:
        return []
    found: list[str] = []
    queue: list[Path] = [start]
    seen: set[Path] = set()
    while queue and len(seen) < MAX_HOPS:
        directory = queue.pop(0)
        key = directory.resolve()
        if key in seen:
            continue
        seen.add(key)
        for filename, key_name in ORIGIN_FIELDS:
            value = _json(directory / filename).get(key_name)
            if not isinstance(value, str) or not value.strip() or value in found:
                continue
            found.append(value)
            nested = local_dir(value)
            if nested is not None:
                queue.append(nested)
    return found


def describe(model_id: str) -> str | None:
    """For the unknown-model warning: what the directory's ``config.json`` says (network and
    origins), or None when there is no such file."""
    directory = local_dir(model_id)
    if directory is None or not (directory / "config.json").is_file():
        return None
    config = _json(directory / "config.json")
    parts = []
    architectures = config.get("architectures")
    if isinstance(architectures, list) and architectures:
        parts.append("architectures " + ", ".join(map(str, architectures)))
    if isinstance(config.get("model_type"), str):
        parts.append(f"model_type {config['model_type']}")
    origins = declared_origins(model_id)
    parts.append("came from " + ", ".join(map(repr, origins)) if origins
                 else "no origin recorded (_name_or_path, base_model)")
    return "its config.json: " + "; ".join(parts)


__all__ = ["MAX_HOPS", "ORIGIN_FIELDS", "declared_origins", "describe", "local_dir"]
