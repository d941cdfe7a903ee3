"""Configuration precedence: flag > PROVER_* environment > prover.toml > default."""
from __future__ import annotations

import pytest

from prover.config import ConfigError, load_settings


def test_precedence(tmp_path):
    project = tmp_path / "prover.toml"
    user = tmp_path / "user.toml"
    project.write_text('timeout = 30\nrepl = "from-file"\n')
    user.write_text('[prover]\ntimeout = 5\nworkers = 4\n')
    s = load_settings({"timeout": None, "repl": "from-flag"}, environ={"PROVER_TIMEOUT": "12"},
                      files=[project, user])
    assert s["repl"] == "from-flag" and s.sources["repl"] == "command line"
    assert s["timeout"] == 12.0 and s.sources["timeout"] == "environment"
    assert s["workers"] == 4 and s.sources["workers"] == str(user)
    assert s["memory_gb"] == 16.0 and s.sources["memory_gb"] == "default"
    s2 = load_settings({}, environ={}, files=[project, user])
    assert s2["timeout"] == 30.0  # the project's file wins over the user's


def test_bad_values_and_keys_are_reported(tmp_path):
    bad = tmp_path / "prover.toml"
    bad.write_text("tiemout = 3\n")
    with pytest.raises(ConfigError, match="unknown keys"):
        load_settings({}, environ={}, files=[bad])
    with pytest.raises(ConfigError, match="PROVER_TIMEOUT=soon: must be a number"):
        load_settings({}, environ={"PROVER_TIMEOUT": "soon"}, files=[])
    broken = tmp_path / "broken.toml"
    broken.write_text("timeout = [\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings({}, environ={}, files=[broken])


# (key, a value no layer may give, what the message says)
BAD_VALUES = [
    ("workers", 0, "must be at least 1"),
    ("max_requests", 0, "must be at least 1"),
    ("timeout", 0, "must be a positive number"),
    ("header_timeout", -5, "must be a positive number"),
    ("memory_gb", 0, "must be a positive number"),
    ("repl", "", "empty command"),
    ("budget", "4", "ambiguous"),
    ("budget", "0x4", "at least 1x1"),
    ("search", "magic", "unknown search 'magic'; choose from sample, rmaxts, bestfirst, decompose"),
    ("policy", "hf:/nonexistent/model", "no such directory"),
    ("prompt_format", "nope", "nope"),
]


@pytest.mark.parametrize("key,value,why", BAD_VALUES)
def test_every_layer_is_checked_by_the_same_rule_and_named(tmp_path, key, value, why):
    toml = tmp_path / "prover.toml"
    toml.write_text(f"{key} = {value!r}\n".replace("'", '"'))
    flag = f"--{key.replace('_', '-')}"
    layers = {
        flag: dict(flags={key: value}, environ={}, files=[]),
        f"PROVER_{key.upper()}=": dict(flags={}, environ={f"PROVER_{key.upper()}": str(value)},
                                       files=[]),
        f"{toml}: {key} = ": dict(flags={}, environ={}, files=[toml]),
    }
    for named, layer in layers.items():
        with pytest.raises(ConfigError) as caught:
            load_settings(layer["flags"], environ=layer["environ"], files=layer["files"])
        assert str(caught.value).startswith(named) and why in str(caught.value), str(caught.value)


def test_toml_values_must_have_the_type_not_be_rounded(tmp_path):
    toml = tmp_path / "prover.toml"
    for text, why in (("workers = 2.5", "must be a whole number"),
                      ("timeout = true", "must be a number"), ("repl = 3", "must be a string")):
        toml.write_text(text + "\n")
        with pytest.raises(ConfigError, match=why):
            load_settings({}, environ={}, files=[toml])
    toml.write_text("workers = 3\ntimeout = 2\n")
    settings = load_settings({}, environ={}, files=[toml])
    assert settings["workers"] == 3 and settings["timeout"] == 2.0


def test_settings_are_one_frozen_typed_object_over_the_schema(tmp_path):
    import dataclasses

    from prover.config import SCHEMA, Settings, as_settings

    fields = [f.name for f in dataclasses.fields(Settings) if f.name != "sources"]
    assert fields == list(SCHEMA)  # every key an attribute, in the schema's order
    toml = tmp_path / "prover.toml"
    toml.write_text("workers = 3\n")
    settings = load_settings({"seed": "7"}, environ={"PROVER_TIMEOUT": "9"}, files=[toml])
    assert (settings.workers, settings.seed, settings.timeout) == (3, 7, 9.0)
    assert settings.sources["seed"] == "command line" and settings.sources["policy"] == "default"
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.workers = 4  # type: ignore[misc]
    # The plain mapping a manifest records and a Ray actor receives gives the same object back.
    assert as_settings(settings.values) == settings and as_settings(settings) is settings
    with pytest.raises(ConfigError, match="unknown settings"):
        Settings.of({"wrokers": 2})
