"""A local OpenAI-compatible HTTP server for tests: it records every request it is sent and
answers with what the test says (a real server on 127.0.0.1, a free port, its own thread), so
the ``openai:`` backend runs for real, over HTTP, without a model.

``answer(path, body)`` gives the JSON a ``POST`` returns; ``GET`` (the backend's
``/v1/models`` probe for the served context) returns ``{"object": "list", "data": models}``.
"""
from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator, Sequence

Answer = Callable[[str, dict], dict]


@dataclass
class Recorder:
    """What the server was sent: ``(path, body)`` of each POST, the path of each GET."""

    posts: list[tuple[str, dict]] = field(default_factory=list)
    gets: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(rec: Recorder, answer: Answer, models: Sequence[dict]) -> type:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _send(self, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            with rec.lock:
                rec.gets.append(self.path)
            self._send({"object": "list", "data": list(models)})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with rec.lock:
                rec.posts.append((self.path, body))
            self._send(answer(self.path, body))

    return Handler


@contextlib.contextmanager
def openai_server(answer: Answer, models: Sequence[dict] = ()) -> Iterator[tuple[str, Recorder]]:
    """The server's base URL (``http://127.0.0.1:PORT/v1``) and its recorder, while in use."""
    rec = Recorder()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec, answer, models))
    httpd.daemon_threads = True  # a client still connected never holds the test up
    # a short poll, so that shutdown() (once per test) returns at once
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", rec
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def choices(path: str, body: dict, *, chat: str, text: str, tokens: int = 1) -> dict:
    """A completions reply with ``body["n"]`` copies of one answer: ``chat`` as the assistant
    message on ``/chat/completions``, else ``text``."""
    n = body.get("n", 1)
    if path.endswith("/chat/completions"):
        made = [{"index": i, "message": {"role": "assistant", "content": chat},
                 "finish_reason": "stop"} for i in range(n)]
    else:
        made = [{"index": i, "text": text, "finish_reason": "stop"} for i in range(n)]
    return {"choices": made, "usage": {"completion_tokens": tokens}}
