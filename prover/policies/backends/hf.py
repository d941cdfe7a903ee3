"""``hf:PATH_OR_ID``: a transformers causal LM as a ``Policy``.

Contract:

* The model and tokenizer load in the constructor (``AutoModelForCausalLM``/``AutoTokenizer``,
  ``trust_remote_code`` off unless asked). ``device`` is "cpu", "cuda" or "auto" (cuda when
  available, else cpu); ``dtype`` is "auto" (the checkpoint's dtype on cuda, float32 on cpu,
  where half-precision matmuls are slow or missing), "float32", "bfloat16" or "float16".
* A request with ``seed`` gives the same completions whatever else is in the batch: each seeded
  request is generated on its own (its ``n`` samples as one batch of ``n`` identical rows) right
  after ``torch.manual_seed(seed)``. Batching it with other prompts would change which random
  numbers each row draws (``torch.multinomial`` draws for the whole batch) and, through padding,
  the floating-point path, so the same seed could give different text. This costs throughput;
  vLLM (per-request generators) is the backend for throughput.
* Requests without a seed are batched (left padding) with the others that share their sampling
  parameters, under a seed drawn from the policy's own ``random.Random(seed)``: reproducible for
  the same sequence of calls, never taken from the clock. The global torch RNG is restored after
  every generation, so the policy neither disturbs nor depends on other users of it.
* ``temperature == 0`` is greedy decoding; otherwise sampling with ``temperature`` and ``top_p``
  (``top_k`` off, as in vLLM and the OpenAI API).
* Stop strings are passed to ``generate`` (``stop_strings``, which ends a row early) and the
  decoded text is cut at the earliest one with ``apply_stop``. ``tokens`` counts generated tokens
  up to the cut (the end-of-sequence token included when it ended the row); ``logprob`` is their
  summed log-probability under the model before temperature and top-p (vLLM's default), so it
  scores the text and not the sampling settings; ``finish_reason`` is "stop" (EOS or stop string)
  or "length".
* Generation runs in a worker thread (``asyncio.to_thread``) so the event loop keeps serving
  Lean; one generation at a time (a lock), since the model and the torch RNG are shared.
"""
from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from prover.policies.backends.errors import BackendUnavailable
from prover.policies.backends.spec import missing_model
from prover.policies.policy import (
    ChatMessage,
    Completion,
    GenerationRequest,
    apply_stop,
)

DEVICES = ("cpu", "cuda", "auto")
DTYPES = ("auto", "float32", "bfloat16", "float16")


def render_chat(tokenizer: Any, messages: Sequence[ChatMessage], *, backend: str = "hf") -> str:
    """A chat rendered to prompt text with the tokenizer's template (generation prompt added)."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            f"{backend}: this model's tokenizer has no chat template, so chat requests "
            "(GenerationRequest.messages) cannot be rendered; send a plain prompt instead"
        )
    return tokenizer.apply_chat_template(
        [{"role": m.role, "content": m.content} for m in messages],
        tokenize=False,
        add_generation_prompt=True,
    )


@dataclass(frozen=True)
class _Sampling:
    """What must be equal for requests to share one ``generate`` call."""

    temperature: float
    top_p: float
    max_tokens: int
    stop: tuple[str, ...]

    @staticmethod
    def of(request: GenerationRequest) -> _Sampling:
        return _Sampling(request.temperature, request.top_p, request.max_tokens, request.stop)


@dataclass(frozen=True)
class _Group:
    indices: tuple[int, ...]  # positions in the caller's request list
    sampling: _Sampling
    seed: int


class _LogprobRecorder:
    """A logits processor that records the log-probability of each chosen token.

    ``generate`` calls it with the scores for step t and, at step t+1, with ``input_ids`` ending
    in the token chosen at step t, so it keeps one step of log-softmax (rows x vocab) instead of
    every step's scores (``output_scores`` holds steps x rows x vocab: tens of GB for a real
    vocabulary and 2048 tokens). transformers places user processors before the temperature and
    top-p warpers, so these are the model's own probabilities.
    """

    def __init__(self, torch: Any) -> None:
        self._torch = torch
        self._last: Any = None
        self._steps: list[Any] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self._last is not None:
            self._steps.append(self._last.gather(1, input_ids[:, -1:]).squeeze(1))
        self._last = self._torch.log_softmax(scores.float(), dim=-1)
        return scores

    def finish(self, sequences: Any) -> list[list[float]]:
        if self._last is not None:
            self._steps.append(self._last.gather(1, sequences[:, -1:]).squeeze(1))
            self._last = None
        if not self._steps:
            return [[] for _ in range(sequences.shape[0])]
        return self._torch.stack(self._steps, dim=1).cpu().tolist()


class HFPolicy:
    """A transformers model as a ``Policy`` (see the module docstring for the contract)."""

    def __init__(
        self,
        model: str,
        *,
        device: str = "auto",
        dtype: str = "auto",
        trust_remote_code: bool = False,
        seed: int = 0,
        max_batch_rows: int = 64,
        name: str | None = None,
    ) -> None:
        if device not in DEVICES:
            raise ValueError(f"hf: device must be one of {DEVICES}, not {device!r}")
        if dtype not in DTYPES:
            raise ValueError(f"hf: dtype must be one of {DTYPES}, not {dtype!r}")
        if max_batch_rows < 1:
            raise ValueError("hf: max_batch_rows must be at least 1")
        missing = missing_model(model)
        if missing is not None:  # before a library turns it into a hub-id complaint
            raise ValueError(f"hf: {missing}")
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise BackendUnavailable(
                f'the hf backend needs torch and transformers ({exc}): pip install "lean-prover[hf]"'
            ) from exc
        self.name = name or f"hf:{model}"
        self.max_batch_rows = max_batch_rows
        self._torch = torch
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        elif device == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable("hf: device=cuda asked for, but torch sees no CUDA device")
        self.device = device
        if dtype == "auto":
            torch_dtype: Any = "auto" if device == "cuda" else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)

        tokenizer = transformers.AutoTokenizer.from_pretrained(
            model, trust_remote_code=trust_remote_code
        )
        if tokenizer.pad_token_id is None:
            if tokenizer.eos_token is None:
                raise ValueError(f"hf: tokenizer of {model} has neither a pad nor an eos token")
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"  # decoder-only: generated text must follow the prompt
        # Any: the Auto* classes load whatever class the checkpoint names, and transformers'
        # own annotations of them change from release to release.
        self.tokenizer: Any = tokenizer
        # transformers renamed `torch_dtype` to `dtype` in 4.56; older versions read `dtype` as
        # a config attribute and silently ignore it.
        major_minor = tuple(int(p) for p in transformers.__version__.split(".")[:2])
        dtype_kw = "dtype" if major_minor >= (4, 56) else "torch_dtype"
        lm: Any = transformers.AutoModelForCausalLM.from_pretrained(
            model, trust_remote_code=trust_remote_code, **{dtype_kw: torch_dtype}
        )
        lm.to(device)
        lm.eval()
        self.model: Any = lm
        self._stop_strings = hasattr(transformers, "StopStringCriteria")
        self._processors = transformers.LogitsProcessorList
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        self._eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        self._seeds = random.Random(seed)  # seeds for unseeded requests: never the clock
        self._lock = threading.Lock()

    # -- Policy ---------------------------------------------------------------------------

    def token_counter(self) -> Callable[[str], int]:
        """Prompt tokens as this model counts them (RMaxTS's cap, ``prover.policies.tokens``)."""
        from prover.policies.tokens import tokenizer_counter

        return tokenizer_counter(self.tokenizer)

    async def context_length(self) -> int | None:
        """The model config's ``max_position_embeddings`` (or ``n_positions``); None if absent."""
        config = getattr(self.model, "config", None)
        value = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        return value if isinstance(value, int) else None

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        requests = list(requests)
        if not requests:
            return []
        groups = self._plan(requests)
        results = await asyncio.to_thread(self._run, requests, groups)
        return results

    async def close(self) -> None:
        # Drop the weights so a caller that swaps policies gets the memory back.
        self.model = None
        if self.device == "cuda":
            self._torch.cuda.empty_cache()

    # -- planning ---------------------------------------------------------------------------

    def _plan(self, requests: list[GenerationRequest]) -> list[_Group]:
        """Seeded requests alone; unseeded ones grouped by sampling parameters."""
        groups: list[_Group] = []
        unseeded: dict[_Sampling, list[int]] = {}
        for i, r in enumerate(requests):
            if r.seed is not None:
                groups.append(_Group((i,), _Sampling.of(r), r.seed))
            else:
                unseeded.setdefault(_Sampling.of(r), []).append(i)
        # Seeds are drawn here, on the event loop, in request order, so the same sequence of
        # calls draws the same seeds whatever the thread scheduling.
        for sampling, indices in unseeded.items():
            groups.append(_Group(tuple(indices), sampling, self._seeds.getrandbits(63)))
        return groups

    def _run(self, requests: list[GenerationRequest], groups: list[_Group]) -> list[list[Completion]]:
        if self.model is None:
            raise RuntimeError(f"{self.name}: generate after close")
        results: list[list[Completion]] = [[] for _ in requests]
        with self._lock:
            for group in groups:
                prompts = [self._prompt_ids(requests[i]) for i in group.indices]
                ns = [requests[i].n for i in group.indices]
                completions = self._generate_group(prompts, ns, group.sampling, group.seed)
                for i, c in zip(group.indices, completions, strict=True):
                    results[i] = c
        return results

    def _prompt_ids(self, request: GenerationRequest) -> list[int]:
        if request.messages is not None:
            # The template already writes any BOS it wants: don't let encode add another.
            text = render_chat(self.tokenizer, request.messages, backend=self.name)
            ids = self.tokenizer.encode(text, add_special_tokens=False)
        else:
            ids = self.tokenizer.encode(request.prompt, add_special_tokens=True)
        if not ids:
            bos = self.tokenizer.bos_token_id
            if bos is None:
                raise ValueError(f"{self.name}: empty prompt and the tokenizer has no BOS token")
            ids = [bos]
        return ids

    # -- generation -------------------------------------------------------------------------

    def _generate_group(
        self, prompts: list[list[int]], ns: list[int], sampling: _Sampling, seed: int
    ) -> list[list[Completion]]:
        torch = self._torch
        rows = [p for p, n in zip(prompts, ns, strict=True) for _ in range(n)]
        finished: list[Completion] = []
        cuda_devices = list(range(torch.cuda.device_count())) if self.device == "cuda" else []
        # fork_rng restores the global RNG afterwards; the seed is set once per group, so the
        # chunks of a large group draw a fixed sequence of random numbers too.
        with torch.random.fork_rng(devices=cuda_devices), torch.inference_mode():
            torch.manual_seed(seed)
            for start in range(0, len(rows), self.max_batch_rows):
                finished.extend(self._generate_rows(rows[start : start + self.max_batch_rows], sampling))
        out: list[list[Completion]] = []
        pos = 0
        for n in ns:
            out.append(finished[pos : pos + n])
            pos += n
        return out

    def _generate_rows(self, rows: list[list[int]], sampling: _Sampling) -> list[Completion]:
        torch = self._torch
        pad = self.tokenizer.pad_token_id
        width = max(len(r) for r in rows)
        input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=self.device)
        attention_mask = torch.tensor(
            [[0] * (width - len(r)) + [1] * len(r) for r in rows], device=self.device
        )
        recorder = _LogprobRecorder(torch)
        # A model with absolute positions cannot go past its context: generating beyond it
        # fails inside the model (an IndexError), so the request is clamped to what fits.
        context = getattr(self.model.config, "max_position_embeddings", None) or getattr(
            self.model.config, "n_positions", None)
        max_new = sampling.max_tokens if not context else max(1, min(sampling.max_tokens, context - width))
        kwargs: dict[str, Any] = dict(
            input_ids=input_ids,
            attention_mask=attention_mask,
            max_new_tokens=max_new,
            pad_token_id=pad,
            return_dict_in_generate=True,
            logits_processor=self._processors([recorder]),
        )
        if sampling.temperature > 0:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
        else:
            # Neutral values, so a checkpoint's sampling defaults don't leak into greedy decoding.
            kwargs.update(do_sample=False, temperature=1.0, top_p=1.0)
        if sampling.stop and self._stop_strings:
            kwargs.update(stop_strings=list(sampling.stop), tokenizer=self.tokenizer)
        output = self.model.generate(**kwargs)
        sequences = output.sequences
        logprobs = recorder.finish(sequences)
        generated = sequences[:, width:].cpu().tolist()
        return [self._completion(g, lp, sampling)
                for g, lp in zip(generated, logprobs, strict=True)]

    def _completion(self, gen: list[int], logprobs: list[float], sampling: _Sampling) -> Completion:
        pad = self.tokenizer.pad_token_id
        end, by_eos = len(gen), False
        for i, t in enumerate(gen):
            if t in self._eos_ids:
                end, by_eos = i + 1, True
                break
        if not by_eos and pad not in self._eos_ids:
            while end and gen[end - 1] == pad:  # rows that stopped early are padded
                end -= 1
        content = end - 1 if by_eos else end
        text, cut = apply_stop(self._decode(gen[:content]), sampling.stop)
        if cut:
            end = self._tokens_to_stop(gen[:content], sampling.stop)
            reason = "stop"
        elif by_eos or end < sampling.max_tokens:
            reason = "stop"  # EOS, or a stop string spanning the prompt boundary ended the row
        else:
            reason = "length"
        return Completion(text=text, tokens=end, logprob=float(sum(logprobs[:end])), finish_reason=reason)

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def _tokens_to_stop(self, ids: list[int], stop: tuple[str, ...]) -> int:
        """The fewest leading tokens whose text contains a stop string (binary search)."""
        lo, hi = 1, len(ids)
        while lo < hi:
            mid = (lo + hi) // 2
            if apply_stop(self._decode(ids[:mid]), stop)[1]:
                hi = mid
            else:
                lo = mid + 1
        return lo
