"""The benchmarks there are, their splits, the error every loader raises, and reading their
JSON Lines files: what both the loaders (``benchmarks.datasets``) and the downloader
(``benchmarks.download``) stand on."""
from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from lean_bridge.jsonl import jsonl_objects

BENCHMARKS = ("minif2f", "proofnet", "putnambench")
SPLITS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "minif2f": ("valid", "test"),
    "proofnet": ("valid", "test"),
    "putnambench": ("test",),
})


class DatasetError(ValueError):
    """A benchmark cannot be loaded: unknown name or split, missing or malformed file,
    or a download that failed. The message says which and what to do."""


def read_jsonl(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(``file:line``, object) for each non-blank line of the file ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    return parse_jsonl(text, str(path))


def parse_jsonl(text: str, source: str) -> list[tuple[str, dict[str, Any]]]:
    """(``source:line``, object) for each non-blank line of ``text``."""
    return jsonl_objects(text, source, error=DatasetError)


__all__ = ["BENCHMARKS", "SPLITS", "DatasetError", "parse_jsonl", "read_jsonl"]
