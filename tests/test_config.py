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
    with pytest.raises(ConfigError, match="not a valid float"):
        load_settings({}, environ={"PROVER_TIMEOUT": "soon"}, files=[])
    broken = tmp_path / "broken.toml"
    broken.write_text("timeout = [\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings({}, environ={}, files=[broken])
