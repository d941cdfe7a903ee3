"""Generation servers: the ``hf:``/``vllm:`` engines in actors of their own (``PolicyServer``,
one per GPU), how many of them a cluster gets (``plan_servers``), and the proposer a Lean
worker builds over them (``RemotePolicy``, ``build_proposer``)."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from prover.drivers.ray.runtime import get
from prover.policies.backends.spec import BackendSpec, parse_spec

GPU_KINDS = ("hf", "vllm")  # policies hosted on generation servers (one engine per GPU)
SERVER_RESTARTS = 3


class PolicyServer:
    """A generation engine in an actor (``num_gpus`` = what the engine needs). Many Lean
    workers call ``generate`` at once; the server-side ``BatchingPolicy`` turns calls that
    arrive together into one engine batch, as it does locally for concurrent searches (not for
    ``vllm:``, whose engine batches continuously: ``prover.policies.policy.batched``)."""

    def __init__(self, spec: str, *, batch_window: float = 0.005) -> None:
        self.spec, self.batch_window = spec, batch_window
        self.policy: Any = None

    def _policy(self) -> Any:
        # Built on first use, not in __init__: a backend that cannot load then reaches the
        # driver as its own exception, and a restarted actor rebuilds it on its next call.
        if self.policy is None:
            from prover.policies.backends.factory import make_policy
            from prover.policies.policy import batched

            self.policy = batched(make_policy(self.spec), window=self.batch_window)
        return self.policy

    async def load(self) -> str:
        return self._policy().name

    async def generate(self, requests: Sequence[Any]) -> list[list[Any]]:
        return await self._policy().generate(requests)

    async def context_length(self) -> int | None:
        """The engine's context in tokens (``policy_context_length``: hf's config, vLLM's
        ``max_model_len``, an openai server's ``GET /models``); None when unknown."""
        from prover.policies.policy import policy_context_length

        return await policy_context_length(self._policy())

    def batches(self) -> int:
        """Engine calls made so far (fewer than requests when batching works); 0 for an engine
        that batches continuously (each request is its own engine call there)."""
        return getattr(self.policy, "calls", 0)

    async def close(self) -> None:
        if self.policy is not None:
            await self.policy.close()


class RemotePolicy:
    """A ``Policy`` whose ``generate`` runs on generation servers: each call goes to the server
    this worker has the fewest calls in flight on (ties broken from a random start, so that
    workers do not all begin on the first server)."""

    def __init__(self, servers: Sequence[Any], name: str) -> None:
        if not servers:
            raise ValueError("a remote policy needs at least one generation server")
        self.servers, self.name = list(servers), name
        self.in_flight = [0] * len(self.servers)
        self._start = random.randrange(len(self.servers))

    async def generate(self, requests: Sequence[Any]) -> list[list[Any]]:
        count = len(self.servers)
        order = [(self._start + k) % count for k in range(count)]
        pick = min(order, key=lambda i: self.in_flight[i])
        self.in_flight[pick] += 1
        try:
            return await get(self.servers[pick].generate.remote(list(requests)))
        finally:
            self.in_flight[pick] -= 1

    async def context_length(self) -> int | None:
        """The served model's context, asked of one server (all of a part's servers run the
        same model), so that the worker's proposer cuts ``max_tokens`` to what a prompt
        leaves of it, as a local one does (``LMProposer._fit``, which asks once)."""
        return await get(self.servers[self._start].context_length.remote())

    async def close(self) -> None:  # the servers belong to the driver
        return None


def build_proposer(spec: str, *, prompt_format: str | None,
                   servers: Mapping[str, Sequence[Any]] | None = None,
                   batch_window: float = 0.005) -> Any:
    """``prover.policies.proposer.make_proposer``, except that each part of the spec found in
    ``servers`` (keyed by ``str(part)``) generates on those servers."""
    from prover.policies.proposer import make_proposer

    return make_proposer(spec, prompt_format=prompt_format, batch_window=batch_window,
                         policy_for=hosted_on(servers or {}))


def hosted_on(servers: Mapping[str, Sequence[Any]]) -> Callable[[BackendSpec], Any]:
    """``make_proposer``'s ``policy_for``: a ``RemotePolicy`` on the servers of each part found
    in ``servers`` (keyed by ``str(part)``), None (built locally) for the others."""
    def hosted(part: BackendSpec) -> Any:
        return RemotePolicy(servers[str(part)], str(part)) if str(part) in servers else None

    return hosted


def hosted_parts(spec: str, kinds: Sequence[str] = GPU_KINDS) -> list[BackendSpec]:
    """The parts of a policy spec that run on generation servers."""
    parsed = parse_spec(spec)
    parts = parsed.parts if parsed.kind == "mix" else (parsed,)
    return [p for p in dict.fromkeys(parts) if p.kind in kinds]


def gpus_per_engine(part: BackendSpec) -> int:
    return int(part.options.get("tensor_parallel_size", 1)) if part.kind == "vllm" else 1


@dataclass(frozen=True)
class ServerPlan:
    """How many generation servers a part gets, and the GPUs (0: on CPU) each holds."""
    part: BackendSpec
    count: int
    gpus: float


def plan_servers(parts: Sequence[BackendSpec], cluster_gpus: float, *,
                 gpus_per_server: float | None = None) -> list[ServerPlan]:
    """One engine per GPU (``tensor_parallel_size`` GPUs for vLLM), the cluster's GPUs split
    evenly between the parts; one CPU engine per part when there is no GPU (or
    ``gpus_per_server`` is 0)."""
    plans = []
    share = cluster_gpus / len(parts) if parts else 0
    for part in parts:
        need = gpus_per_engine(part) if gpus_per_server is None else gpus_per_server
        if need > 0 and share >= need:
            plans.append(ServerPlan(part, int(share // need), need))
        else:
            plans.append(ServerPlan(part, 1, 0))
    return plans


__all__ = [
    "GPU_KINDS", "SERVER_RESTARTS", "PolicyServer", "RemotePolicy", "ServerPlan",
    "build_proposer", "gpus_per_engine", "hosted_on", "hosted_parts", "plan_servers",
]
