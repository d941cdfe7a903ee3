"""A simulated vLLM asynchronous engine on a simulated clock, continuous or barrier-batched.

It has the interface the ``vllm:`` backend uses of vLLM's ``AsyncLLM`` (0.32):
``generate(prompt, sampling_params, request_id)`` is an async generator of ``RequestOutput``-
shaped objects, ``abort(request_id)``, ``get_tokenizer()``, ``shutdown()`` and
``model_config.max_model_len``. It stands in for vLLM where vLLM cannot run (tests, CI, the
system benchmark), so it schedules the way vLLM's scheduler does at the level that matters
here: every engine step gives one token to every running sequence, a request with ``n``
samples runs ``n`` sequences, at most ``max_batch`` sequences run at once, and the rest wait.

* ``continuous=True`` (vLLM's engine): a sequence leaves the batch the step it finishes, and
  a waiting one takes its place at the next step.
* ``continuous=False`` (the offline ``LLM.generate`` under a lock, which the backend used
  before): a batch is admitted only when the previous one has wholly finished, so finished
  sequences hold their slot until the batch's longest is done, and arrivals wait for it.

Time is simulated: a step costs ``step_s + per_sequence_s * running`` simulated seconds, and
nothing sleeps. A sample's length is ``length_of(prompt_text, params, index)`` tokens (default:
``max_tokens``), its text ``text_of(prompt_text, index)``; a request may have an ``arrival`` time (``arrival_of``), before which it is not
scheduled, so a stream of arrivals can be submitted at once and replayed exactly.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, AsyncIterator, Callable


@dataclass
class SimCompletionOutput:  # the fields of vllm.outputs.CompletionOutput the backend reads
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    finish_reason: str | None


@dataclass
class SimRequestOutput:  # vllm.outputs.RequestOutput
    request_id: str
    outputs: list[SimCompletionOutput]
    finished: bool = True


@dataclass
class SimRequest:
    """One request as the engine sees it; its times are simulated seconds."""

    request_id: str
    prompt: str
    lengths: list[int]
    arrival: float
    sent: Any = None  # the prompt and sampling parameters as the engine received them
    params: Any = None
    produced: list[int] = field(default_factory=list)
    started: float | None = None
    finished: float | None = None
    done: asyncio.Future[SimRequestOutput] | None = None


def prompt_text(prompt: Any) -> str:
    """The text of a prompt as the backend sends it (a string, ``{"prompt": ...}`` or
    ``{"prompt_token_ids": [...]}``, shown as the token ids)."""
    if isinstance(prompt, str):
        return prompt
    if "prompt" in prompt:
        return str(prompt["prompt"])
    return " ".join(str(t) for t in prompt["prompt_token_ids"])


def _param(params: Any, key: str, default: Any = None) -> Any:
    return params.get(key, default) if isinstance(params, dict) else getattr(params, key, default)


class SimEngine:
    """See the module docstring. ``events`` records ``(time, "start"|"finish"|"abort", id)``."""

    def __init__(self, *, continuous: bool = True, max_batch: int = 16, step_s: float = 0.02,
                 per_sequence_s: float = 0.0, max_model_len: int | None = 4096,
                 length_of: Callable[[str, Any, int], int] | None = None,
                 arrival_of: Callable[[str], float] | None = None,
                 text_of: Callable[[str, int], str] | None = None,
                 tokenizer: Any = None, paused: bool = False) -> None:
        self.continuous = continuous
        self.max_batch = max_batch
        self.step_s = step_s
        self.per_sequence_s = per_sequence_s
        self.model_config = SimpleNamespace(max_model_len=max_model_len)
        self._length_of = length_of or (lambda _text, params, _i: int(_param(params, "max_tokens")))
        self._arrival_of = arrival_of or (lambda _text: 0.0)
        # By default a sample's text names its prompt, so a test sees outputs map back.
        self._text_of = text_of or (lambda text, i: f"<{text}>#{i}")
        self._tokenizer = tokenizer
        self.now = 0.0
        self.steps = 0
        self.tokens = 0
        self.events: list[tuple[float, str, str]] = []
        self.aborted: list[str] = []
        self.requests: dict[str, SimRequest] = {}
        self._waiting: list[SimRequest] = []
        self._running: list[SimRequest] = []
        self._loop_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event() if not paused else None
        self._resumed = not paused
        self._step_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.closed = False

    # -- the AsyncLLM interface -------------------------------------------------------------
    def get_tokenizer(self) -> Any:
        return self._tokenizer

    def shutdown(self) -> None:
        self.closed = True
        if self._loop_task is not None:
            self._loop_task.cancel()

    async def abort(self, request_id: str) -> None:
        self.aborted.append(request_id)
        self._drop(request_id, "abort")

    async def generate(self, prompt: Any, sampling_params: Any,
                       request_id: str) -> AsyncIterator[SimRequestOutput]:
        if self.closed:
            raise RuntimeError("engine is shut down")
        if request_id in self.requests and self.requests[request_id].finished is None:
            raise ValueError(f"request id {request_id} is already running")
        text = prompt_text(prompt)
        n = int(_param(sampling_params, "n", 1))
        request = SimRequest(request_id, text, [self._length_of(text, sampling_params, i)
                                                for i in range(n)],
                             arrival=self._arrival_of(text), sent=prompt,
                             params=sampling_params)
        request.done = asyncio.get_running_loop().create_future()
        self.requests[request_id] = request
        self._waiting.append(request)
        self._ensure_loop()
        try:
            yield await request.done
        except (asyncio.CancelledError, GeneratorExit):
            # Dropped from the schedule, but not recorded in ``aborted``: only an explicit
            # ``abort`` is, so a test sees whether the backend itself aborted.
            self._drop(request_id, "cancelled")
            raise

    # -- driving the simulation -------------------------------------------------------------
    def resume(self) -> None:
        """Start stepping an engine built with ``paused=True`` (every request submitted)."""
        self._resumed = True
        self._ensure_loop()

    async def wait_steps(self, steps: int) -> None:
        """Return once the engine has run ``steps`` steps."""
        if self.steps >= steps:
            return
        future = asyncio.get_running_loop().create_future()
        self._step_waiters.append((steps, future))
        await future

    def _ensure_loop(self) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.set()
        if self._resumed and (self._loop_task is None or self._loop_task.done()):
            self._loop_task = asyncio.get_running_loop().create_task(self._loop())

    def _drop(self, request_id: str, why: str) -> None:
        request = self.requests.get(request_id)
        if request is None or request.finished is not None:
            return
        request.finished = self.now
        self.events.append((self.now, why, request_id))
        if request in self._waiting:
            self._waiting.remove(request)
        if request in self._running:
            self._running.remove(request)

    def _sequences(self) -> int:
        return sum(len(r.lengths) for r in self._running)

    def _admit(self) -> None:
        if not self.continuous and self._running:
            return  # the barrier: nothing joins a batch that is still running
        arrived = [r for r in self._waiting if r.arrival <= self.now + 1e-12]
        for request in sorted(arrived, key=lambda r: r.arrival):
            if self._running and self._sequences() + len(request.lengths) > self.max_batch:
                break
            self._waiting.remove(request)
            request.started = self.now
            request.produced = [0] * len(request.lengths)
            self._running.append(request)
            self.events.append((self.now, "start", request.request_id))

    def _finish(self, request: SimRequest) -> None:
        request.finished = self.now
        self.events.append((self.now, "finish", request.request_id))
        outputs = [SimCompletionOutput(i, self._text_of(request.prompt, i), [7] * length,
                                       -0.5 * length, "length")
                   for i, length in enumerate(request.lengths)]
        assert request.done is not None
        if not request.done.done():
            request.done.set_result(SimRequestOutput(request.request_id, outputs))

    async def _loop(self) -> None:
        while not self.closed:
            await asyncio.sleep(0)  # one engine step: submissions and consumers run between
            self._admit()
            if not self._running:
                future = [r.arrival for r in self._waiting]
                if future:
                    self.now = max(self.now, min(future))  # idle: jump to the next arrival
                    continue
                assert self._wake is not None
                self._wake.clear()
                await self._wake.wait()
                continue
            self.now += self.step_s + self.per_sequence_s * self._sequences()
            self.steps += 1
            for request in self._running:
                pairs = zip(request.produced, request.lengths, strict=True)
                advanced = [min(p + 1, n) for p, n in pairs]
                self.tokens += sum(advanced) - sum(request.produced)
                request.produced = advanced
            batch_done = all(p == n for r in self._running
                             for p, n in zip(r.produced, r.lengths, strict=True))
            for request in list(self._running):
                if request.produced == request.lengths and (self.continuous or batch_done):
                    self._running.remove(request)
                    self._finish(request)
            for steps, waiter in list(self._step_waiters):
                if self.steps >= steps and not waiter.done():
                    waiter.set_result(None)
                    self._step_waiters.remove((steps, waiter))
