"""Configuration with one precedence everywhere: flag > ``PROVER_*`` environment > file > default.

Files: ``./prover.toml`` (the project's), then ``~/.config/prover/prover.toml`` (the user's);
the first one found that sets a key wins over the later ones. Keys are flat
(``repl = "…"``, ``timeout = 60``) and may also sit under a ``[prover]`` table. The resolved
values and where each came from are kept, so a run can record them in its manifest and
``--verbose`` can print them.

Every value is checked here, whichever layer it comes from, by the same rule: a ``--workers 0``,
a ``PROVER_WORKERS=0`` and a ``workers = 0`` in a file are refused alike, and the message names
where the value came from (the flag, the variable, the file and key). Only values that were
given are checked: the defaults are known to be good.
"""
from __future__ import annotations

import importlib
import math
import os
import re
import shlex
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


COMMAND_LINE, ENVIRONMENT, DEFAULT = "command line", "environment", "default"

Check = Callable[[Any], "str | None"]  # why a converted value is unusable; None when it is fine


def _positive(value: float) -> str | None:
    return None if math.isfinite(value) and value > 0 else "must be a positive number"


def _at_least_one(value: int) -> str | None:
    return None if value >= 1 else "must be at least 1"


def _temperature(value: float) -> str | None:
    return None if math.isfinite(value) and value >= 0 else "must be a number >= 0"


def _top_p(value: float) -> str | None:
    return None if 0 < value <= 1 else "must be in (0, 1]"


def _not_negative_turns(value: int) -> str | None:
    return None if value >= 0 else ("must be 0 or more (the correction turns a refused "
                                    "candidate gets; 0 = none)")


def _not_empty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def _command(value: str) -> str | None:
    try:
        words = shlex.split(value)
    except ValueError as exc:
        return f"cannot be split into a command ({exc})"
    return None if words else "is an empty command (give the program that starts a Lean REPL)"


def _parses(parser: str) -> Check:
    """A check that ``parser`` (``module:attribute.path``, imported on first use so that reading
    settings stays light) accepts the value; its ValueError says why not."""
    def check(value: Any) -> str | None:
        module, _, attributes = parser.partition(":")
        parse: Any = importlib.import_module(module)
        for attribute in attributes.split("."):
            parse = getattr(parse, attribute)
        try:
            parse(value)
        except ValueError as exc:
            return str(exc)
        return None

    return check


def _no_check(value: Any) -> str | None:
    return None


@dataclass(frozen=True)
class Key:
    """One setting: the type its values have, its default, and what makes a value unusable."""

    kind: type  # str, int, float or bool
    default: Any
    check: Check = _no_check


# Every key is also PROVER_<KEY> in the environment, and a flag --<key> (underscores as dashes)
# on the commands that take it.
SCHEMA: dict[str, Key] = {
    "repl": Key(str, None, _command),
    "workspace": Key(str, None, _not_empty),
    "timeout": Key(float, 60.0, _positive),
    "header_timeout": Key(float, 900.0, _positive),
    "memory_gb": Key(float, 16.0, _positive),
    "workers": Key(int, 1, _at_least_one),
    "max_requests": Key(int, 1000, _at_least_one),
    # the searching commands (prove, eval, synth)
    "policy": Key(str, "portfolio", _parses("prover.policies.backends.spec:validate_spec")),
    "search": Key(str, "rmaxts", _parses("prover.drivers.prove:check_method")),
    "budget": Key(str, "1x32", _parses("search.budget:Budget.parse")),
    "seed": Key(int, 0),
    "prompt_format": Key(str, None, _parses("prover.policies.prompts:get_format")),
    # Sampling of a model policy; unset, the model family's published values apply
    # (prover.policies.families), else 1.0 / 0.95 / 2048.
    "temperature": Key(float, None, _temperature),
    "top_p": Key(float, None, _top_p),
    "max_tokens": Key(int, None, _at_least_one),
    # RMaxTS: give the model the tactic-state comment after the code prefix (upstream's
    # `tactic_state_comment`); off, prompts end at the prefix (flag --no-state-comment).
    "tactic_state_comment": Key(bool, True),
    # Whole-proof sampling: up to this many self-correction turns after a refused candidate,
    # each one generation of the budget (0 keeps budgets comparable with pass@k).
    "self_correct": Key(int, 0, _not_negative_turns),
}

_KIND_NAMES = {str: "a string", int: "a whole number", float: "a number",
               bool: "true or false"}
_BOOL_WORDS = {"true": True, "1": True, "yes": True, "on": True,
               "false": False, "0": False, "no": False, "off": False}


@dataclass(frozen=True)
class Settings:
    """The resolved value of every key of SCHEMA, typed, and where each came from.

    Built once per command by ``load_settings``; the drivers read attributes. ``values`` is
    the plain mapping a manifest records and a Ray actor receives."""

    repl: str | None
    workspace: str | None
    timeout: float
    header_timeout: float
    memory_gb: float
    workers: int
    max_requests: int
    policy: str
    search: str
    budget: str
    seed: int
    prompt_format: str | None
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    tactic_state_comment: bool
    self_correct: int
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, values: Mapping[str, Any], sources: Mapping[str, str] | None = None) -> Settings:
        """From a mapping of keys (a manifest's, a Ray actor's): missing keys take SCHEMA's
        defaults, unknown keys are refused."""
        unknown = sorted(set(values) - set(SCHEMA))
        if unknown:
            raise ConfigError(f"unknown settings {unknown}; known: {sorted(SCHEMA)}")
        resolved = {k: values.get(k, spec.default) for k, spec in SCHEMA.items()}
        return cls(**resolved, sources=dict(sources or {k: DEFAULT for k in resolved}))

    @property
    def values(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in SCHEMA}

    def __getitem__(self, key: str) -> Any:
        if key not in SCHEMA:
            raise KeyError(key)
        return getattr(self, key)

    def describe(self) -> list[str]:
        return [f"{k} = {getattr(self, k)!r}  ({self.sources[k]})" for k in sorted(SCHEMA)]


def as_settings(settings: Settings | Mapping[str, Any]) -> Settings:
    """``settings`` itself, or the Settings of a plain mapping of keys (what a benchmark script
    or a test builds with ``load_settings(...).values``)."""
    return settings if isinstance(settings, Settings) else Settings.of(settings)


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


def _shown(raw: Any) -> str:
    text = str(raw)
    return text if re.fullmatch(r"[\w@%+=:,./~-]+", text) else repr(text)


def where(key: str, raw: Any, source: str) -> str:
    """How the user wrote a value: ``--workers 0``, ``PROVER_WORKERS=0``, ``FILE: workers = 0``."""
    if source == COMMAND_LINE:
        return f"--{key.replace('_', '-')} {_shown(raw)}"
    if source == ENVIRONMENT:
        return f"PROVER_{key.upper()}={_shown(raw)}"
    shown = f'"{raw}"' if isinstance(raw, str) else str(raw).lower() if isinstance(raw, bool) else raw
    return f"{source}: {key} = {shown}"


def _typed(kind: type, raw: Any) -> Any:
    """``raw`` as a value of ``kind``; ValueError when it is not one. Strings (flags, the
    environment) are parsed; a TOML value must already have the type (a ``workers = 2.5`` or
    ``timeout = true`` is a mistake, not something to round). A bool is a TOML bool, a flag's
    bool, or one of true/false, 1/0, yes/no, on/off in the environment."""
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _BOOL_WORDS:
            return _BOOL_WORDS[raw.strip().lower()]
        raise ValueError
    if isinstance(raw, bool) or (kind is str and not isinstance(raw, str)):
        raise ValueError
    if isinstance(raw, str):
        return kind(raw.strip()) if kind is not str else raw
    if kind is int and isinstance(raw, int):
        return raw
    if kind is float and isinstance(raw, (int, float)):
        return float(raw)
    raise ValueError


def convert(key: str, raw: Any, source: str) -> Any:
    """The value of ``key`` given as ``raw`` by ``source``, checked; ConfigError naming the
    source when it cannot be used."""
    spec = SCHEMA[key]
    try:
        value = _typed(spec.kind, raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{where(key, raw, source)}: must be {_KIND_NAMES[spec.kind]}") from None
    why = spec.check(value)
    if why is not None:
        raise ConfigError(f"{where(key, raw, source)}: {why}")
    return value


def load_settings(
    flags: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    files: list[Path] | None = None,
) -> Settings:
    """Resolve every key of SCHEMA; ``flags`` holds command-line values (None = not given)."""
    environ = os.environ if environ is None else environ
    given = {k: v for k, v in flags.items() if v is not None}
    layers: list[tuple[str, Mapping[str, Any]]] = [(COMMAND_LINE, given)]
    layers.append((ENVIRONMENT, {
        k: environ[f"PROVER_{k.upper()}"] for k in SCHEMA if f"PROVER_{k.upper()}" in environ
    }))
    for path in files if files is not None else config_files():
        layers.append((str(path), _read_file(path)))
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, spec in SCHEMA.items():
        for source, layer in layers:
            if key in layer:
                values[key] = convert(key, layer[key], source)
                sources[key] = source
                break
        else:
            values[key] = spec.default
            sources[key] = DEFAULT
    return Settings.of(values, sources)
