"""Build the policy a backend spec names (``prover.policies.backends.spec`` parses specs and
imports no backend; each backend module may use the parser, so the building lives here)."""
from __future__ import annotations

from typing import Any

from prover.policies.backends.spec import VALID_FORMS, BackendSpec, parse_spec
from prover.policies.policy import Policy


def make_policy(spec: str | BackendSpec, **overrides: Any) -> Policy:
    """Build the policy a spec names; ``overrides`` win over the spec's options.

    Heavy libraries are imported here, by the chosen backend only. A missing library raises
    ``prover.policies.backends.errors.BackendUnavailable`` saying what to install.
    """
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    options = {**parsed.options, **overrides}
    if parsed.kind == "hf":
        from prover.policies.backends.hf import HFPolicy

        return HFPolicy(parsed.target, **options)
    if parsed.kind == "vllm":
        from prover.policies.backends.vllm import VLLMPolicy

        return VLLMPolicy(parsed.target, **options)
    if parsed.kind == "openai":
        from prover.policies.backends.openai import OpenAIPolicy

        return OpenAIPolicy(parsed.target, parsed.model, **options)
    if parsed.kind == "portfolio":
        from prover.policies.portfolio import PortfolioPolicy

        return PortfolioPolicy(**options)
    if parsed.kind == "mix":
        raise ValueError("mix: is a proposer, use make_proposer")
    raise ValueError(f"unknown backend kind {parsed.kind!r}\n{VALID_FORMS}")


__all__ = ["make_policy"]
