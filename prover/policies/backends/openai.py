"""``openai:URL#MODEL``: any OpenAI-compatible server as a ``Policy``.

For ``vllm serve``, sglang, or a hosted API, e.g. ``openai:http://127.0.0.1:8000/v1#deepseek-prover``.

Contract:

* One HTTP request per ``GenerationRequest``, all of a batch in flight together, at most
  ``concurrency`` at a time (the server batches them itself). Plain prompts go to
  ``URL/completions``; chat requests (``messages``) to ``URL/chat/completions``. ``n``,
  ``temperature``, ``top_p``, ``max_tokens``, ``stop``, ``seed`` and a non-zero
  ``presence_penalty`` are sent as given.
* ``context_length()`` is the ``max_model_len`` that ``GET URL/models`` gives for the model
  (vLLM's server says it), asked once; None when the server does not say.
* Log-probabilities are asked for (``logprobs: 1`` for completions, ``logprobs: true`` for
  chat; ``logprobs=False`` turns that off for servers that refuse it) and summed into
  ``Completion.logprob`` when the reply has them, else ``None``. ``tokens`` is the number of
  logprob entries, or else ``usage.completion_tokens`` split evenly over the choices.
* Prompt tokens (RMaxTS's cap) are counted with the served model's tokenizer when a local
  copy loads: the ``tokenizer`` option (a path or cached hub id), else the model name; never
  downloaded (``prover.policies.tokens``).
* The API key is the ``api_key`` option, else ``$OPENAI_API_KEY``, else none is sent.
* Each attempt has ``timeout`` seconds. Timeouts, connection errors, 408, 429 and 5xx are retried
  up to ``max_attempts`` in all, waiting ``backoff * 2**k`` seconds (capped at ``max_backoff``,
  or the server's ``Retry-After``) plus up to 50% jitter drawn from ``random.Random(seed)``, not
  from the clock, so a run's waits are reproducible. Other 4xx are not retried: the request
  itself is wrong. A final failure raises ``BackendError`` with the URL, the status code and a
  body excerpt (or the timeout) and the number of attempts.
"""
from __future__ import annotations

import asyncio
import os
import random
from typing import Any, Callable, Sequence

from prover.policies.backends.errors import BackendError, BackendUnavailable
from prover.policies.policy import Completion, GenerationRequest, apply_stop

_RETRY_STATUS = {408, 429}
_EXCERPT = 500


def completions_body(request: GenerationRequest, model: str, *, logprobs: bool = True) -> dict[str, Any]:
    """The JSON body of ``POST /completions`` for a plain-prompt request."""
    body = _sampling_body(request, model)
    body["prompt"] = request.prompt
    if logprobs:
        body["logprobs"] = 1
    return body


def chat_body(request: GenerationRequest, model: str, *, logprobs: bool = True) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for a chat request."""
    assert request.messages is not None
    body = _sampling_body(request, model)
    body["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
    if logprobs:
        body["logprobs"] = True
    return body


def _sampling_body(request: GenerationRequest, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "n": request.n,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
    }
    if request.stop:  # some servers reject an empty list
        body["stop"] = list(request.stop)
    if request.seed is not None:
        body["seed"] = request.seed
    if request.presence_penalty:
        body["presence_penalty"] = request.presence_penalty
    return body


def parse_reply(reply: dict[str, Any], request: GenerationRequest, *, chat: bool) -> list[Completion]:
    """The completions in a ``/completions`` or ``/chat/completions`` reply, in choice order.

    Raises ``ValueError`` when the reply is not shaped like one.
    """
    choices = reply.get("choices")
    if not isinstance(choices, list):
        raise ValueError("reply has no 'choices' list")
    if len(choices) != request.n:
        raise ValueError(f"asked for n={request.n} choices, got {len(choices)}")
    choices = sorted(choices, key=lambda c: c.get("index", 0))
    usage = (reply.get("usage") or {}).get("completion_tokens")
    shares = _split(usage, len(choices)) if isinstance(usage, int) else [0] * len(choices)
    completions = []
    for choice, share in zip(choices, shares, strict=True):
        if chat:
            text = (choice.get("message") or {}).get("content") or ""
            entries = (choice.get("logprobs") or {}).get("content")
            token_logprobs = [e.get("logprob") for e in entries] if entries else None
        else:
            text = choice.get("text") or ""
            token_logprobs = (choice.get("logprobs") or {}).get("token_logprobs")
        logprob = None
        tokens = share
        if token_logprobs:
            # The first entry may be None on servers that echo the prompt.
            logprob = float(sum(x for x in token_logprobs if x is not None))
            tokens = len(token_logprobs)
        # The server removes stop strings itself; cutting again costs nothing and protects
        # against one that doesn't.
        text, cut = apply_stop(text, request.stop)
        reason = choice.get("finish_reason")
        reason = "stop" if cut else (reason if reason in ("stop", "length") else None)
        completions.append(Completion(text=text, tokens=tokens, logprob=logprob, finish_reason=reason))
    return completions


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "..."


class OpenAIPolicy:
    """An OpenAI-compatible server as a ``Policy`` (see the module docstring for the contract)."""

    # Every request is its own HTTP call and the server (vLLM, SGLang, ...) batches them as they
    # come: no coalescing layer in front (``prover.policies.policy.batched``).
    continuous_batching = True

    def __init__(
        self,
        url: str,
        model: str,
        *,
        api_key: str | None = None,
        concurrency: int = 16,
        timeout: float = 600.0,
        max_attempts: int = 4,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        logprobs: bool = True,
        seed: int = 0,
        name: str | None = None,
        tokenizer: str | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"openai: URL must start with http:// or https://, not {url!r}")
        if concurrency < 1 or max_attempts < 1 or timeout <= 0 or backoff < 0:
            raise ValueError("openai: concurrency and max_attempts must be >= 1, timeout > 0, backoff >= 0")
        self.url = url.rstrip("/")
        self.model = model
        self.name = name or f"openai:{self.url}#{model}"
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.logprobs = logprobs
        self._jitter = random.Random(seed)
        # The served model's tokenizer, for counting prompt tokens: loaded on first use.
        self.tokenizer_source = tokenizer or model
        self._counter: Any = None
        self._context: int | None = None  # max_model_len from GET /models (0: unknown)
        # The client and semaphore belong to one event loop; made on first use in that loop.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._semaphore: asyncio.Semaphore | None = None

    def token_counter(self) -> Callable[[str], int] | None:
        """The served model's token count from a local tokenizer (``prover.policies.tokens``),
        loaded once; None (code points) when it cannot be loaded."""
        if self._counter is None:
            from prover.policies.tokens import load_local_tokenizer, tokenizer_counter

            tok = load_local_tokenizer(self.tokenizer_source, who=self.name)
            self._counter = False if tok is None else tokenizer_counter(tok)
        return self._counter or None

    async def context_length(self) -> int | None:
        """``max_model_len`` of this model in ``GET URL/models`` (asked once); None when the
        server does not give it or cannot be asked."""
        if self._context is None:
            self._context = 0
            try:
                httpx, client, _ = self._ensure_client()
                response = await asyncio.wait_for(client.get(self.url + "/models"), self.timeout)
                entries = response.json().get("data", []) if response.is_success else []
                for entry in entries:
                    if isinstance(entry, dict) and entry.get("id") == self.model:
                        value = entry.get("max_model_len")
                        self._context = value if isinstance(value, int) and value > 0 else 0
            except Exception:  # an old server, a proxy without /models: the context is unknown
                self._context = 0
        return self._context or None

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        tasks = [asyncio.ensure_future(self._one(r)) for r in requests]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for t in tasks:  # one failure fails the batch: don't leave the rest running
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        self._client = self._semaphore = self._loop = None

    async def _one(self, request: GenerationRequest) -> list[Completion]:
        chat = request.messages is not None
        if chat:
            path, body = "/chat/completions", chat_body(request, self.model, logprobs=self.logprobs)
        else:
            path, body = "/completions", completions_body(request, self.model, logprobs=self.logprobs)
        reply = await self._post(path, body)
        try:
            return parse_reply(reply, request, chat=chat)
        except (ValueError, TypeError, AttributeError) as exc:
            raise BackendError(
                f"{self.name}: unexpected reply from POST {self.url}{path}: {exc}: {_excerpt(str(reply))}"
            ) from exc

    def _ensure_client(self) -> tuple[Any, Any, asyncio.Semaphore]:
        try:
            import httpx
        except ImportError as exc:
            raise BackendUnavailable(f"the openai backend needs httpx ({exc}): pip install httpx") from exc
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._client is None or self._semaphore is None:
            self._loop = loop
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.AsyncClient(
                headers=headers,
                timeout=httpx.Timeout(self.timeout),
                limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
            )
            self._semaphore = asyncio.Semaphore(self.concurrency)
        return httpx, self._client, self._semaphore

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        httpx, client, semaphore = self._ensure_client()
        url = self.url + path
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            retry_after: float | None = None
            try:
                async with semaphore:  # the wait for a slot is not part of the timeout
                    response = await asyncio.wait_for(client.post(url, json=body), self.timeout)
            except (asyncio.TimeoutError, httpx.TimeoutException):
                last = f"timed out after {self.timeout:g} s"
            except httpx.TransportError as exc:
                last = f"connection error ({type(exc).__name__}: {exc})"
            else:
                if response.is_success:
                    try:
                        return response.json()
                    except ValueError:
                        raise BackendError(
                            f"{self.name}: POST {url} returned HTTP {response.status_code} "
                            f"with a body that is not JSON: {_excerpt(response.text)}"
                        ) from None
                last = f"HTTP {response.status_code}: {_excerpt(response.text)}"
                if response.status_code not in _RETRY_STATUS and response.status_code < 500:
                    raise BackendError(
                        f"{self.name}: POST {url} failed with {last} "
                        f"(a client error, not retried; attempt {attempt})"
                    )
                retry_after = _retry_after(response.headers.get("retry-after"))
            if attempt < self.max_attempts:
                await asyncio.sleep(self._delay(attempt, retry_after))
        raise BackendError(
            f"{self.name}: POST {url} failed after {self.max_attempts} attempts; last error: {last}"
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        base = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        if retry_after is not None:
            base = min(self.max_backoff, max(base, retry_after))
        return base * (1 + 0.5 * self._jitter.random())


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds; the HTTP-date form is ignored (it would need the clock)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
