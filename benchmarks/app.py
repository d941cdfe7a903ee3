"""The application a benchmark measures, found without importing it.

``benchmarks`` sits below ``prover`` (design.md §2): it must not import the application, yet a
few benchmarks measure the application itself (``pathological`` times ``prover check``,
``ray_throughput`` the local and Ray drivers, ``tiny_generation`` the hf backend, ``system`` the
portfolio proposer). Their functions receive those parts as arguments from their caller (``prover
bench-system`` passes its own proposer factory); only when a benchmark runs as a script
(``python -m benchmarks.…``), with no caller, does it look them up here. The application
registers them as entry points of the group ``lean_prover.application`` in ``pyproject.toml``:
dependency inversion through package metadata, so the import graph keeps one direction.
"""
from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

GROUP = "lean_prover.application"


class ApplicationMissing(LookupError):
    """No installed application provides the part a benchmark needs."""


def part(name: str) -> Any:
    """The application's part ``name`` (a function, class or module), loaded on first use."""
    found = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not found:
        raise ApplicationMissing(
            f"no installed application provides {name!r} (entry point group {GROUP}); "
            "install the prover package first: pip install -e .")
    return found[0].load()


__all__ = ["GROUP", "ApplicationMissing", "part"]
