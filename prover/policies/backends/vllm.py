"""``vllm:PATH_OR_ID``: a vLLM engine in this process as a ``Policy``.

Contract:

* ``vllm`` is imported when the policy is built; without it ``BackendUnavailable`` says to
  ``pip install "lean-prover[vllm]"`` (vLLM needs a CUDA GPU). The engine (``vllm.LLM``) loads in
  the constructor with ``tensor_parallel_size``, ``max_model_len``, ``gpu_memory_utilization``,
  ``dtype`` and ``seed`` (the engine's seed, used by requests without one).
* One ``generate`` is one engine call with one ``SamplingParams`` per request: vLLM schedules the
  whole batch itself and gives each seeded request its own generator, so a seed's completions do
  not depend on the rest of the batch (up to batch-dependent GPU numerics).
* ``logprobs=0`` is always asked for: vLLM then reports ``cumulative_logprob`` (the model's own
  log-probabilities, before temperature and top-p) without returning any top-k alternatives.
* Chat requests are rendered with the tokenizer's chat template and sent as token ids, so the
  engine does not add a second BOS to a template that already wrote one.
* The engine call blocks, so it runs in a worker thread, one at a time (``vllm.LLM`` is not
  thread-safe); the event loop keeps serving Lean meanwhile.

``to_vllm_sampling_kwargs`` and ``from_vllm_output`` are pure, and tested without vLLM.
"""
from __future__ import annotations

import asyncio
import gc
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


class VLLMPolicy:
    """A vLLM engine as a ``Policy`` (see the module docstring for the contract)."""

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
        try:
            import vllm
        except ImportError as exc:
            raise BackendUnavailable(
                f"the vllm backend needs the vllm package, which is not installed ({exc}): "
                f"{INSTALL_HINT}"
            ) from exc
        self.name = name or f"vllm:{model}"
        self._sampling_params = vllm.SamplingParams
        self._llm: Any = vllm.LLM(
            model=model,
            tensor_parallel_size=tensor_parallel_size,
            max_model_len=max_model_len,
            gpu_memory_utilization=gpu_memory_utilization,
            dtype=dtype,
            seed=seed,
            trust_remote_code=trust_remote_code,
        )
        self._tokenizer = self._llm.get_tokenizer()
        self._lock = asyncio.Lock()

    def _prompt(self, request: GenerationRequest) -> Any:
        if request.messages is None:
            return request.prompt
        text = render_chat(self._tokenizer, request.messages, backend=self.name)
        return {"prompt_token_ids": self._tokenizer.encode(text, add_special_tokens=False)}

    def token_counter(self) -> Callable[[str], int]:
        """Prompt tokens as this model counts them (RMaxTS's cap, ``prover.policies.tokens``)."""
        from prover.policies.tokens import tokenizer_counter

        return tokenizer_counter(self._tokenizer)

    async def context_length(self) -> int | None:
        """The engine's ``max_model_len`` (prompt + completion tokens)."""
        engine = getattr(self._llm, "llm_engine", None)
        config = getattr(engine, "model_config", None)
        value = getattr(config, "max_model_len", None)
        return value if isinstance(value, int) else None

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        requests = list(requests)
        if not requests:
            return []
        if self._llm is None:
            raise RuntimeError(f"{self.name}: generate after close")
        prompts = [self._prompt(r) for r in requests]
        params = [self._sampling_params(**to_vllm_sampling_kwargs(r)) for r in requests]
        async with self._lock:
            outputs = await asyncio.to_thread(self._llm.generate, prompts, params, use_tqdm=False)
        return [from_vllm_output(o, r.stop) for o, r in zip(outputs, requests, strict=False)]

    async def close(self) -> None:
        # vLLM has no stable public shutdown; dropping the last reference frees the engine.
        self._llm = None
        gc.collect()
