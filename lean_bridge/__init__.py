"""Everything the project knows about talking to Lean.

The REPL wire protocol (``protocol``), one REPL process (``process``), a pool of warm
processes keyed by import header (``pool``), verdicts (``outcome``), the checker the rest of
the project calls (``checker``), Lean text utilities (``text``) and the Lean workspace
(``workspace``, ``setup``). Nothing here knows about models or search.
"""
from .checker import LeanChecker, ProofSession, TacticStep, TheoremCheck
from .errors import (
    BridgeError,
    HeaderError,
    NoAvailableRepl,
    ReplCrashed,
    ReplTimeout,
    ReplUnavailable,
)
from .outcome import CheckResult, Status
from .pool import PoolConfig, ReplPool
from .process import ProcessLimits, ReplProcess, ReplSpec

__all__ = [
    "BridgeError",
    "CheckResult",
    "HeaderError",
    "LeanChecker",
    "NoAvailableRepl",
    "PoolConfig",
    "ProcessLimits",
    "ProofSession",
    "ReplCrashed",
    "ReplPool",
    "ReplProcess",
    "ReplSpec",
    "ReplTimeout",
    "ReplUnavailable",
    "Status",
    "TacticStep",
    "TheoremCheck",
]
