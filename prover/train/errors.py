"""What can stop a training run before it starts: bad input, or a missing library."""
from __future__ import annotations

import importlib
from types import ModuleType

INSTALL_HINT = 'pip install "lean-prover[train]"'


class TrainInputError(ValueError):
    """Unusable input: a missing data directory, no records, a model that cannot be loaded."""


class TrainDependencyError(ImportError):
    """A library that training needs is not installed."""


def require(*names: str) -> tuple[ModuleType, ...]:
    """Import the named modules, or say which one is missing and how to install it."""
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except ImportError as exc:
            raise TrainDependencyError(
                f"training needs {name.split('.')[0]} ({exc}): {INSTALL_HINT}") from exc
    return tuple(modules)
