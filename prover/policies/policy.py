"""The policy interface: prompts in, completions out, asynchronously and in batches.

A ``Policy`` is a generation backend (transformers, vLLM, an OpenAI-compatible server, the
automation portfolio). It knows nothing about Lean or search: ``generate`` takes a batch of
``GenerationRequest``s and returns, for each, ``n`` completions. Seeds are always passed in a
request, never taken from the clock, so the same request on the same backend gives the same
completions.

``BatchingPolicy`` wraps any policy so that requests made close together by many concurrent
callers (RMaxTS expansions, several problems) reach the backend as one call: GPU backends are
many times faster on a batch of 32-512 than on the same requests one by one.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence, runtime_checkable


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt and how to sample from it.

    ``prompt`` is raw text for completion models; ``messages``, when given, is a chat and the
    backend applies the model's chat template (``prompt`` is then ignored).
    """

    prompt: str = ""
    messages: tuple[ChatMessage, ...] | None = None
    n: int = 1
    temperature: float = 1.0
    top_p: float = 0.95
    max_tokens: int = 2048
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # OpenAI/vLLM presence penalty (Kimina-Prover's demo uses 0.2); 0 = none. Transformers
    # has no such setting: the hf backend ignores it.
    presence_penalty: float = 0.0

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError("n must be at least 1")
        if self.temperature < 0 or not 0 < self.top_p <= 1 or self.max_tokens < 1:
            raise ValueError(f"bad sampling parameters: {self}")


@dataclass(frozen=True)
class Completion:
    text: str
    tokens: int = 0
    logprob: float | None = None  # cumulative log-probability of the tokens, when known
    finish_reason: str | None = None  # "stop" | "length" | None


@runtime_checkable
class Policy(Protocol):
    # Read-only to its users, so a property (BatchingPolicy's) is a name too.
    @property
    def name(self) -> str: ...

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """For each request, ``request.n`` completions, in request order."""
        ...

    async def close(self) -> None:
        ...


async def policy_context_length(policy: object) -> int | None:
    """The served model's context in tokens (prompt + completion), when the policy knows it
    (an optional ``async context_length()`` method); None otherwise."""
    method = getattr(policy, "context_length", None)
    if not callable(method):
        return None
    try:
        value = await method()
    except Exception:  # knowing the context is a nicety; never fail a run on it
        return None
    return value if isinstance(value, int) and value > 0 else None


def apply_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` at the earliest stop string; whether one was found."""
    cut = min((i for s in stop if s and (i := text.find(s)) >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def batched(policy: Policy, window: float = 0.005) -> Policy:
    """``policy`` behind a ``BatchingPolicy``, unless it batches continuously itself
    (``continuous_batching = True``: vLLM's async engine, an OpenAI-compatible server). There a
    coalescing layer would do harm: its groups run one after another, each behind the longest
    member of the one before (a barrier), and a cancelled caller's request would run on, since
    cancelling a waiter does not cancel the group's call."""
    if getattr(policy, "continuous_batching", False):
        return policy
    return BatchingPolicy(policy, window=window)


@dataclass
class _Pending:
    request: GenerationRequest
    future: asyncio.Future[list[Completion]]


@dataclass
class BatchingPolicy:
    """Coalesce requests that arrive within ``window`` seconds into one backend call."""

    inner: Policy
    window: float = 0.005
    max_batch: int = 256
    calls: int = 0  # backend calls made: a measure of how well batching works
    _queue: list[_Pending] = field(default_factory=list)
    _flusher: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.inner.name

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        loop = asyncio.get_running_loop()
        pending = [_Pending(r, loop.create_future()) for r in requests]
        self._queue.extend(pending)
        if len(self._queue) >= self.max_batch:
            await self._flush()
        elif self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_later())
        return [await p.future for p in pending]

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.window)
        await self._flush()

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch:]
            self.calls += 1
            try:
                results = await self.inner.generate([p.request for p in batch])
            except Exception as exc:  # every waiter must hear about the failure
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            for p, result in zip(batch, results, strict=False):
                if not p.future.done():
                    p.future.set_result(result)

    def token_counter(self) -> Callable[[str], int] | None:
        """The inner policy's (``prover.policies.tokens``); None when it has none."""
        method = getattr(self.inner, "token_counter", None)
        return method() if callable(method) else None

    async def context_length(self) -> int | None:
        """The inner policy's (``policy_context_length``)."""
        return await policy_context_length(self.inner)

    async def close(self) -> None:
        await self._flush()
        await self.inner.close()
