"""``vllm:PATH_OR_ID``: a vLLM engine in this process as a ``Policy``, continuously batched.

Contract:

* ``vllm`` is imported when the policy is built; without it ``BackendUnavailable`` says to
  ``pip install "lean-prover[vllm]"`` (vLLM needs a CUDA GPU). The engine is vLLM's
  asynchronous one (``vllm.AsyncLLMEngine``, an alias of ``vllm.v1.engine.async_llm.AsyncLLM``
  in vLLM 0.32), built from ``vllm.AsyncEngineArgs`` with ``tensor_parallel_size``,
  ``max_model_len``, ``gpu_memory_utilization``, ``dtype`` and ``seed`` (the engine's seed, used
  by requests without one).
* Each request of a ``generate`` call is its own engine request
  (``engine.generate(prompt, sampling_params, request_id)``, an async generator): it joins the
  engine's running batch when it arrives and leaves it when it finishes, so a short proof does
  not wait for the longest of its batch, and a request arriving mid-batch starts at the next
  engine step instead of after the whole batch (``benchmarks/system_batching.py`` measures it).
* A cancelled ``generate`` (early stop: the search cancels what is in flight once a proof is
  found) aborts its requests in the engine (``engine.abort(request_id)``), so they stop using
  the accelerator.
* vLLM gives each seeded request its own generator, so a seed's completions do not depend on
  the rest of the batch (up to batch-dependent GPU numerics).
* ``logprobs=0`` is always asked for: vLLM then reports ``cumulative_logprob`` (the model's own
  log-probabilities, before temperature and top-p) without returning any top-k alternatives.
  Only the final output of a request is asked for (``RequestOutputKind.FINAL_ONLY``).
* Chat requests are rendered with the tokenizer's chat template and sent as token ids, so the
  engine does not add a second BOS to a template that already wrote one.
* vLLM logs to stdout by default; unless ``VLLM_LOGGING_STREAM`` is set, this backend sets it to
  stderr before the import (the engine's core process inherits it), so that a ``--json`` report
  on stdout stays one JSON document (the CLI also moves fd 1 to stderr while it runs).
* The engine's output handler is bound to the event loop of the first request: one policy
  serves one event loop.

``to_vllm_sampling_kwargs`` and ``from_vllm_output`` are pure, and tested without vLLM;
``VLLMPolicy.on_engine`` wraps an engine already built (a stand-in in tests and benchmarks).
"""
from __future__ import annotations

import asyncio
import gc
import itertools
import os
from typing import Any, Callable, Sequence

from prover.policies.backends.errors import BackendUnavailable
from prover.policies.backends.hf import render_chat
from prover.policies.policy import Completion, GenerationRequest, apply_stop

INSTALL_HINT = 'pip install "lean-prover[vllm]" (vLLM needs a CUDA GPU)'


def to_vllm_sampling_kwargs(request: GenerationRequest) -> dict[str, Any]:
    """Keyword arguments for ``vllm.SamplingParams`` that sample ``request``."""
    greedy = request.temperature == 0
    kwargs: dict[str, Any] = {
        "n": request.n,
        "temperature": request.temperature,
        # vLLM forces top_p=1 for greedy decoding (and warns): say it ourselves.
        "top_p": 1.0 if greedy else request.top_p,
        "max_tokens": request.max_tokens,
        "stop": list(request.stop),
        "seed": request.seed,
        "logprobs": 0,  # 0 alternatives: just enough for cumulative_logprob
    }
    if request.presence_penalty:
        kwargs["presence_penalty"] = request.presence_penalty
    return kwargs


def from_vllm_output(output: Any, stop: Sequence[str] = ()) -> list[Completion]:
    """The completions of one ``vllm.RequestOutput``, in sample order.

    vLLM already removes stop strings from ``text``; ``apply_stop`` is applied again so that a
    stop string the engine missed (e.g. across a detokenisation boundary) still cuts the text.
    """
    outs = list(output.outputs)
    if all(getattr(o, "index", None) is not None for o in outs):
        outs.sort(key=lambda o: o.index)
    completions = []
    for o in outs:
        text, cut = apply_stop(o.text, stop)
        reason = o.finish_reason if o.finish_reason in ("stop", "length") else None
        logprob = o.cumulative_logprob
        completions.append(
            Completion(
                text=text,
                tokens=len(o.token_ids),
                logprob=None if logprob is None else float(logprob),
                finish_reason="stop" if cut else reason,
            )
        )
    return completions


def _import_vllm() -> Any:
    # vLLM configures its logger at import, to VLLM_LOGGING_STREAM (stdout by default).
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    try:
        import vllm
    except ImportError as exc:
        raise BackendUnavailable(
            f"the vllm backend needs the vllm package, which is not installed ({exc}): "
            f"{INSTALL_HINT}"
        ) from exc
    return vllm


def _final_only(vllm: Any) -> Any:
    """``RequestOutputKind.FINAL_ONLY`` where this vLLM has it (0.6 and later), else None."""
    kinds = getattr(getattr(vllm, "sampling_params", None), "RequestOutputKind", None)
    return getattr(kinds, "FINAL_ONLY", None)


class VLLMPolicy:
    """A vLLM engine as a ``Policy`` (see the module docstring for the contract)."""

    # The engine schedules every request itself: no coalescing layer in front of it
    # (``prover.policies.policy.batched``), whose groups would wait for one another.
    continuous_batching = True

    def __init__(
        self,
        model: str,
        *,
        tensor_parallel_size: int = 1,
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.9,
        dtype: str = "auto",
        seed: int = 0,
        trust_remote_code: bool = False,
        name: str | None = None,
    ) -> None:
        vllm = _import_vllm()
        args = vllm.AsyncEngineArgs(
            model=model,
            tensor_parallel_size=tensor_parallel_size,
            max_model_len=max_model_len,
            gpu_memory_utilization=gpu_memory_utilization,
            dtype=dtype,
            seed=seed,
            trust_remote_code=trust_remote_code,
            disable_log_stats=True,  # periodic throughput lines: noise in a prover's log
        )
        # No local names the engine: something in vLLM keeps this frame alive after start-up,
        # and a local would keep the engine from being freed in ``close``.
        self._setup(vllm.AsyncLLMEngine.from_engine_args(args), vllm.SamplingParams,
                    name or f"vllm:{model}", output_kind=_final_only(vllm))

    @classmethod
    def on_engine(cls, engine: Any, sampling_params: Callable[..., Any], *, name: str,
                  output_kind: Any = None) -> VLLMPolicy:
        """A policy over an engine already built: anything with vLLM's async-engine interface
        (``generate(prompt, params, request_id)``, ``abort``, ``get_tokenizer``, ``shutdown``),
        and ``sampling_params`` building its sampling parameters from keyword arguments."""
        policy = cls.__new__(cls)
        policy._setup(engine, sampling_params, name, output_kind=output_kind)
        return policy

    def _setup(self, engine: Any, sampling_params: Callable[..., Any], name: str, *,
               output_kind: Any) -> None:
        self.name = name
        self._engine: Any = engine
        self._sampling_params = sampling_params
        self._output_kind = output_kind
        # vLLM 0.32: the renderer's tokenizer (a property), else get_tokenizer().
        self._tokenizer = getattr(engine, "tokenizer", None) or engine.get_tokenizer()
        # Request ids must be unique among the engine's live requests; one engine per policy.
        self._ids = itertools.count()

    def _prompt(self, request: GenerationRequest) -> Any:
        if request.messages is None:
            return {"prompt": request.prompt}
        text = render_chat(self._tokenizer, request.messages, backend=self.name)
        return {"prompt_token_ids": self._tokenizer.encode(text, add_special_tokens=False)}

    def _params(self, request: GenerationRequest) -> Any:
        kwargs = to_vllm_sampling_kwargs(request)
        if self._output_kind is not None:
            kwargs["output_kind"] = self._output_kind
        return self._sampling_params(**kwargs)

    def token_counter(self) -> Callable[[str], int]:
        """Prompt tokens as this model counts them (RMaxTS's cap, ``prover.policies.tokens``)."""
        from prover.policies.tokens import tokenizer_counter

        return tokenizer_counter(self._tokenizer)

    async def context_length(self) -> int | None:
        """The engine's ``max_model_len`` (prompt + completion tokens)."""
        config = getattr(self._engine, "model_config", None)
        value = getattr(config, "max_model_len", None)
        return value if isinstance(value, int) else None

    async def _run(self, request: GenerationRequest) -> list[Completion]:
        request_id = f"prover-{next(self._ids)}"
        last = None
        try:
            async for output in self._engine.generate(self._prompt(request),
                                                      self._params(request), request_id):
                last = output  # FINAL_ONLY: the one output; otherwise the latest is cumulative
        except asyncio.CancelledError:
            # vLLM's generate aborts on cancellation too; saying it here keeps the contract for
            # any engine with this interface, and a second abort of an id is a no-op.
            await self._engine.abort(request_id)
            raise
        if last is None:
            raise RuntimeError(f"{self.name}: the engine returned no output for {request_id}")
        return from_vllm_output(last, request.stop)

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        requests = list(requests)
        if not requests:
            return []
        if self._engine is None:
            raise RuntimeError(f"{self.name}: generate after close")
        # One task per request: each joins the engine's batch now and leaves it when done;
        # cancelling this call cancels (and so aborts) every one still running.
        tasks = [asyncio.ensure_future(self._run(r)) for r in requests]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            # A failed request (or our own cancellation) ends the call: the others stop too,
            # rather than run on in the engine for nobody.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.shutdown()  # stops the engine core process
        # The last reference goes now, while the interpreter is whole: vLLM's __del__ shuts down
        # again, and at interpreter exit it fails on torn-down globals (a traceback on stderr).
        del engine
        gc.collect()


def on_simulated_engine(engine: Any) -> VLLMPolicy:
    """The policy over a simulated engine (``benchmarks.sim_engine``), whose sampling parameters
    are plain keyword dicts: what ``bench-system`` drives (entry point ``vllm_on_engine``)."""
    return VLLMPolicy.on_engine(engine, dict, name="vllm:simulated")
