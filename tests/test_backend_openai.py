"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1 started by the test.

The server (stdlib ``http.server``, one thread per connection) answers ``/v1/completions`` and
``/v1/chat/completions`` deterministically, records every body it receives, counts requests in
flight, and misbehaves on purpose according to the model name: ``flaky`` fails twice with 500,
``always-500`` always does, ``bad`` answers 400, ``sleepy`` answers after the client's timeout,
``rate`` answers 429 once, ``wait`` holds each request 0.1 s, ``nologprobs`` omits logprobs,
``lean-steps`` answers every completion with a two-line proof ending in ``sorry`` (a model
whose answers grow an RMaxTS tree: the fake REPL accepts the first line and reports the sorry),
``lean-steps-error`` the same first line then ``nlinarith [h₁]`` (for a rule to fail).
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

if not os.environ.get("CI"):
    pytest.importorskip("httpx")  # in CI a missing httpx is an install bug: fail, don't skip

from prover.policies.backends.errors import BackendError
from prover.policies.backends.factory import make_policy
from prover.policies.backends.openai import OpenAIPolicy, completions_body, parse_reply
from prover.policies.policy import ChatMessage, Completion, GenerationRequest


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[tuple[str, dict, str | None]] = []  # (path, body, authorization)
        self.counts: dict[str, int] = {}
        self.active = 0
        self.max_active = 0


LEAN_STEPS = "  have h₁ : x = 1 := by linarith\n  sorry\n```"
LEAN_STEPS_ERROR = "  have h₁ : x = 1 := by linarith\n  nlinarith [h₁]\n```"


def _reply(path: str, body: dict) -> dict:
    n = body.get("n", 1)
    if path.endswith("/chat/completions"):
        last = body["messages"][-1]["content"]
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": f"{last}|{i}"},
                "logprobs": {"content": [{"token": t, "logprob": lp} for t, lp in (("x", -1.0), ("y", -0.5), ("z", -0.25))]},
                "finish_reason": "stop",
            }
            for i in range(n)
        ]
    else:
        text = {"lean-steps": LEAN_STEPS, "lean-steps-error": LEAN_STEPS_ERROR}.get(body["model"])
        choices = [
            {
                "index": i,
                "text": text or f"{body['prompt']}|{i}",
                "logprobs": {"tokens": ["a", "b"], "token_logprobs": [-0.5, -0.25]},
                "finish_reason": "stop" if i % 2 == 0 else "length",
            }
            for i in range(n)
        ]
    if body["model"] == "nologprobs":
        for c in choices:
            c.pop("logprobs")
    # Reversed on purpose: the client must order choices by index.
    return {"choices": choices[::-1], "usage": {"completion_tokens": 7 if body["model"] == "nologprobs" else 2 * n}}


def _handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def _send(self, status: int, payload: dict | str, headers: dict[str, str] | None = None) -> None:
            data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            model = body.get("model")
            with state.lock:
                state.received.append((self.path, body, self.headers.get("Authorization")))
                state.counts[model] = count = state.counts.get(model, 0) + 1
                state.active += 1
                state.max_active = max(state.max_active, state.active)
            try:
                if self.path not in ("/v1/completions", "/v1/chat/completions"):
                    self._send(404, {"error": "no such route"})
                elif model == "flaky" and count <= 2:
                    self._send(500, {"error": "transient failure"})
                elif model == "always-500":
                    self._send(500, {"error": "internal kaboom"})
                elif model == "bad":
                    self._send(400, {"error": {"message": "unknown field frobnicate"}})
                elif model == "rate" and count == 1:
                    self._send(429, {"error": "slow down"}, {"Retry-After": "0"})
                else:
                    if model == "sleepy":
                        time.sleep(1.0)
                    elif model == "wait":
                        time.sleep(0.1)
                    self._send(200, _reply(self.path, body))
            finally:
                with state.lock:
                    state.active -= 1

    return Handler


@pytest.fixture
def server():
    state = _State()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    httpd.block_on_close = False  # the sleepy handler may still be sleeping at teardown
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        yield url, state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _policy(url: str, model: str, **kwargs) -> OpenAIPolicy:
    kwargs.setdefault("backoff", 0.01)
    return OpenAIPolicy(url, model, **kwargs)


async def test_completions_endpoint_sends_sampling_fields(server):
    url, state = server
    policy = make_policy(f"openai:{url}#echo?backoff=0.01", api_key="sk-test")
    request = GenerationRequest(prompt="theorem t", n=3, temperature=0.6, top_p=0.9, max_tokens=64, stop=("\n\n",), seed=11)
    [completions] = await policy.generate([request])
    await policy.close()
    assert [c.text for c in completions] == ["theorem t|0", "theorem t|1", "theorem t|2"]
    assert completions[0] == Completion(text="theorem t|0", tokens=2, logprob=-0.75, finish_reason="stop")
    assert completions[1].finish_reason == "length"
    [(path, body, auth)] = state.received
    assert path == "/v1/completions"
    assert auth == "Bearer sk-test"
    assert body == {
        "model": "echo",
        "prompt": "theorem t",
        "n": 3,
        "temperature": 0.6,
        "top_p": 0.9,
        "max_tokens": 64,
        "stop": ["\n\n"],
        "seed": 11,
        "logprobs": 1,
    }


async def test_chat_endpoint(server, monkeypatch):
    url, state = server
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    policy = _policy(url, "echo")
    request = GenerationRequest(
        messages=(ChatMessage("system", "You are a prover."), ChatMessage("user", "prove 1 = 1")), n=2, seed=4
    )
    [completions] = await policy.generate([request])
    await policy.close()
    assert [c.text for c in completions] == ["prove 1 = 1|0", "prove 1 = 1|1"]
    assert completions[0].tokens == 3 and completions[0].logprob == pytest.approx(-1.75)
    [(path, body, auth)] = state.received
    assert path == "/v1/chat/completions" and auth == "Bearer sk-env"
    assert body["messages"] == [
        {"role": "system", "content": "You are a prover."},
        {"role": "user", "content": "prove 1 = 1"},
    ]
    assert body["logprobs"] is True and body["n"] == 2 and body["seed"] == 4
    assert "stop" not in body  # no stop strings: the field is left out


async def test_batch_keeps_request_order_and_mixes_endpoints(server):
    url, state = server
    policy = _policy(url, "echo")
    requests = [
        GenerationRequest(prompt="a"),
        GenerationRequest(messages=(ChatMessage("user", "b"),)),
        GenerationRequest(prompt="c", n=2),
    ]
    results = await policy.generate(requests)
    await policy.close()
    assert [[c.text for c in cs] for cs in results] == [["a|0"], ["b|0"], ["c|0", "c|1"]]
    assert sorted(p for p, _, _ in state.received) == ["/v1/chat/completions", "/v1/completions", "/v1/completions"]


async def test_without_logprobs_tokens_come_from_usage(server):
    url, _ = server
    policy = _policy(url, "nologprobs", logprobs=False)
    [completions] = await policy.generate([GenerationRequest(prompt="p", n=2)])
    await policy.close()
    assert [(c.tokens, c.logprob) for c in completions] == [(4, None), (3, None)]


async def test_500_is_retried_then_succeeds(server):
    url, state = server
    policy = _policy(url, "flaky", max_attempts=4)
    [completions] = await policy.generate([GenerationRequest(prompt="p")])
    await policy.close()
    assert completions[0].text == "p|0"
    assert state.counts["flaky"] == 3


async def test_429_is_retried(server):
    url, state = server
    policy = _policy(url, "rate")
    [completions] = await policy.generate([GenerationRequest(prompt="p")])
    await policy.close()
    assert completions[0].text == "p|0" and state.counts["rate"] == 2


async def test_persistent_500_reports_status_body_and_attempts(server):
    url, state = server
    policy = _policy(url, "always-500", max_attempts=3)
    with pytest.raises(BackendError) as info:
        await policy.generate([GenerationRequest(prompt="p")])
    await policy.close()
    message = str(info.value)
    assert "HTTP 500" in message and "internal kaboom" in message and "after 3 attempts" in message
    assert state.counts["always-500"] == 3


async def test_400_is_not_retried(server):
    url, state = server
    policy = _policy(url, "bad", max_attempts=4)
    with pytest.raises(BackendError) as info:
        await policy.generate([GenerationRequest(prompt="p")])
    await policy.close()
    message = str(info.value)
    assert "HTTP 400" in message and "unknown field frobnicate" in message and "not retried" in message
    assert state.counts["bad"] == 1


async def test_timeout_is_reported(server):
    url, state = server
    policy = _policy(url, "sleepy", timeout=0.3, max_attempts=2)
    start = time.monotonic()
    with pytest.raises(BackendError) as info:
        await policy.generate([GenerationRequest(prompt="p")])
    await policy.close()
    assert "timed out after 0.3 s" in str(info.value) and "after 2 attempts" in str(info.value)
    assert time.monotonic() - start < 3.0
    assert state.counts["sleepy"] == 2


async def test_connection_refused_is_retried_then_reported():
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    policy = _policy(f"http://127.0.0.1:{port}/v1", "m", max_attempts=2)
    with pytest.raises(BackendError, match="connection error.*|after 2 attempts"):
        await policy.generate([GenerationRequest(prompt="p")])
    await policy.close()


async def test_concurrency_limit(server):
    url, state = server
    policy = _policy(url, "wait", concurrency=3)
    results = await policy.generate([GenerationRequest(prompt=str(i)) for i in range(12)])
    await policy.close()
    assert [cs[0].text for cs in results] == [f"{i}|0" for i in range(12)]
    assert state.counts["wait"] == 12
    assert 2 <= state.max_active <= 3


async def test_backoff_is_seeded_not_clocked():
    a = OpenAIPolicy("http://127.0.0.1:9/v1", "m", backoff=1.0, seed=5)
    b = OpenAIPolicy("http://127.0.0.1:9/v1", "m", backoff=1.0, seed=5)
    delays = [a._delay(k, None) for k in (1, 2, 3)]
    assert delays == [b._delay(k, None) for k in (1, 2, 3)]
    assert 1.0 <= delays[0] <= 1.5 and 2.0 <= delays[1] <= 3.0 and 4.0 <= delays[2] <= 6.0
    assert a._delay(10, None) <= 30.0 * 1.5  # capped by max_backoff
    assert a._delay(1, 5.0) >= 5.0  # Retry-After is honoured


def test_pure_translation():
    request = GenerationRequest(prompt="p", n=2, stop=("x",))
    assert completions_body(request, "m", logprobs=False) == {
        "model": "m", "prompt": "p", "n": 2, "temperature": 1.0, "top_p": 0.95, "max_tokens": 2048, "stop": ["x"],
    }
    reply = {"choices": [{"index": 0, "text": "abxcd", "finish_reason": "length"}, {"index": 1, "text": "ok", "finish_reason": "eos"}]}
    first, second = parse_reply(reply, request, chat=False)
    assert first == Completion(text="ab", tokens=0, logprob=None, finish_reason="stop")  # cut client-side
    assert second.finish_reason is None
    with pytest.raises(ValueError, match="n=2"):
        parse_reply({"choices": reply["choices"][:1]}, request, chat=False)


async def test_generate_runs_on_any_event_loop(server):
    # The client and semaphore are per loop: a policy used from two asyncio.run calls works.
    url, _ = server
    policy = _policy(url, "echo")
    await policy.generate([GenerationRequest(prompt="a")])

    def other_loop():
        return asyncio.run(policy.generate([GenerationRequest(prompt="b")]))

    [[completion]] = await asyncio.to_thread(other_loop)
    assert completion.text == "b|0"
    [[completion]] = await policy.generate([GenerationRequest(prompt="c")])
    assert completion.text == "c|0"
    await policy.close()
