"""Configuration with one precedence everywhere: flag > ``PROVER_*`` environment > file > default.

Files: ``./prover.toml`` (the project's), then ``~/.config/prover/prover.toml`` (the user's);
the first one found that sets a key wins over the later ones. Keys are flat
(``repl = "…"``, ``timeout = 60``) and may also sit under a ``[prover]`` table. The resolved
values and where each came from are kept, so a run can record them in its manifest and
``--verbose`` can print them.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


class ConfigError(ValueError):
    """A configuration file or value that cannot be used."""


# key -> (type converter, default). Every key is also PROVER_<KEY> in the environment.
SCHEMA: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "repl": (str, None),
    "workspace": (str, None),
    "timeout": (float, 60.0),
    "header_timeout": (float, 900.0),
    "memory_gb": (float, 16.0),
    "workers": (int, 1),
    "max_requests": (int, 1000),
    # `prover prove`
    "policy": (str, "portfolio"),
    "search": (str, "rmaxts"),
    "budget": (str, "1x32"),
    "seed": (int, 0),
    "prompt_format": (str, None),
}


@dataclass(frozen=True)
class Settings:
    values: Mapping[str, Any]
    sources: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def describe(self) -> list[str]:
        return [f"{k} = {self.values[k]!r}  ({self.sources[k]})" for k in sorted(self.values)]


def config_files(cwd: Path | None = None) -> list[Path]:
    home = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    return [(cwd or Path.cwd()) / "prover.toml", home / "prover" / "prover.toml"]


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    table = data.get("prover", {})
    merged = {**{k: v for k, v in data.items() if k != "prover"}, **table}
    unknown = sorted(set(merged) - set(SCHEMA))
    if unknown:
        raise ConfigError(f"{path}: unknown keys {unknown}; known keys: {sorted(SCHEMA)}")
    return merged


def _convert(key: str, raw: Any, source: str) -> Any:
    convert = SCHEMA[key][0]
    try:
        return convert(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key} from {source}: {raw!r} is not a valid {convert.__name__}") from exc


def load_settings(
    flags: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    files: list[Path] | None = None,
) -> Settings:
    """Resolve every key of SCHEMA; ``flags`` holds command-line values (None = not given)."""
    environ = os.environ if environ is None else environ
    layers: list[tuple[str, Mapping[str, Any]]] = [("command line", {k: v for k, v in flags.items() if v is not None})]
    layers.append(("environment", {
        k: environ[f"PROVER_{k.upper()}"] for k in SCHEMA if f"PROVER_{k.upper()}" in environ
    }))
    for path in files if files is not None else config_files():
        layers.append((str(path), _read_file(path)))
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, (_, default) in SCHEMA.items():
        for source, layer in layers:
            if key in layer:
                values[key] = _convert(key, layer[key], source)
                sources[key] = source
                break
        else:
            values[key] = default
            sources[key] = "default"
    return Settings(values, sources)
