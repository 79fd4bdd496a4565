"""A tiny OpenAI-compatible chat server for tests and benchmarks (no network, no key).

Usage in a test module::

    from fake_llm_server import fake_llm  # noqa: F401  (pytest fixture; tests/ is on sys.path)

    def test_something(fake_llm):
        fake_llm.script("groundedness", '{"score": 0.9, "label": "grounded", "reason": "ok"}')
        fake_llm.script("toxicity", Reply(status=429), '{"score": 1}')   # 429 first, then success
        fake_llm.script("bias", Reply(delay=2.0, content="{...}"))          # slow reply (timeouts)
        litellm.completion(model="openai/fake", api_base=fake_llm.url, api_key="test", messages=[...])
        assert fake_llm.calls[0].status == 200

Replies are chosen per request: the first scripted key (a substring) found in the request's messages
picks a queue; each request pops the next reply, and the queue's LAST reply repeats once the rest are
used. No match -> `fake_llm.default`. `responder` (a callable request-json -> Reply) overrides all.
Every request is recorded in `calls` with perf_counter start/end times (to prove overlap).
The server can also be run directly: `python tests/fake_llm_server.py` prints its URL.

`response_format` is honoured the way the OpenAI API documents it: `{"type": "json_object"}` is refused
(400) unless the messages contain the word "json", `json_schema` needs a `json_schema.schema`; a request
in either mode gets `Reply.json_content` when the reply sets one (what a JSON-mode model returns, while
`content` is what the same model says unconstrained). `Reply(refuse_response_format=True)` plays a server
that rejects the parameter. Each call records its request headers (to check what a key reached).
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Reply:
    content: str = '{"score": 1.0, "label": "pass", "reason": "default reply"}'
    status: int = 200
    delay: float = 0.0  # seconds to sleep before answering (timeout tests, benchmarks)
    prompt_tokens: int = 100
    completion_tokens: int = 20
    json_content: str | None = None  # the reply in JSON mode (response_format), if it differs
    refuse_response_format: bool = False  # answer 400 to any request with response_format


@dataclass
class Call:
    path: str
    model: str
    messages: list[dict[str, Any]]
    status: int
    start: float  # time.perf_counter() when the request arrived
    end: float = 0.0  # ... and when the response was sent
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages)


class FakeLLM:
    """The server's state and controls; `url` is the api_base to give litellm / openai."""

    def __init__(self) -> None:
        self.default = Reply()
        self.responder: Callable[[dict[str, Any]], Reply] | None = None
        self.calls: list[Call] = []
        self._scripts: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        handler = _handler_for(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def script(self, key: str, *replies: "Reply | str") -> None:
        """Requests whose messages contain `key` get these replies in order (the last one repeats)."""
        with self._lock:
            self._scripts[key] = [r if isinstance(r, Reply) else Reply(content=r) for r in replies]

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self.calls.clear()
            self.default = Reply()
            self.responder = None

    def max_overlap(self) -> int:
        """The most requests that were in flight at the same moment."""
        edges = sorted([(c.start, 1) for c in self.calls] + [(c.end, -1) for c in self.calls],
                       key=lambda e: (e[0], e[1]))
        best = cur = 0
        for _, step in edges:
            cur += step
            best = max(best, cur)
        return best

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _choose(self, body: dict[str, Any]) -> Reply:
        if self.responder is not None:
            return self.responder(body)
        text = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        with self._lock:
            for key, queue in self._scripts.items():
                if key in text:
                    return queue.pop(0) if len(queue) > 1 else queue[0]
        return self.default


def _response_format_error(body: dict[str, Any], reply: Reply) -> str | None:
    """The 400 message OpenAI gives for a response_format it will not take, or None."""
    fmt = body.get("response_format")
    if fmt is None:
        return None
    if reply.refuse_response_format:
        return "Unrecognized request argument supplied: response_format"
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_object":
        text = json.dumps(body.get("messages", [])).lower()
        if "json" not in text:
            return ("'messages' must contain the word 'json' in some form, to use 'response_format' of type "
                    "'json_object'.")
        return None
    if kind == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        return None if isinstance(schema, dict) else "Missing required parameter: 'response_format.json_schema'."
    if kind == "text":
        return None
    return f"Invalid value: {kind!r}. Supported values are: 'json_object', 'json_schema', and 'text'."


def _handler_for(fake: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:  # noqa: N802
            start = time.perf_counter()
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                body = {}
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                return
            reply = fake._choose(body)
            call = Call(self.path, str(body.get("model", "")), list(body.get("messages", [])), reply.status,
                        start, body=body, headers={k.lower(): v for k, v in self.headers.items()})
            refusal = _response_format_error(body, reply)
            if refusal is not None:
                call.status = 400
                with fake._lock:
                    fake.calls.append(call)
                self._send(400, {"error": {"message": refusal, "type": "invalid_request_error",
                                           "param": "response_format", "code": None}})
                call.end = time.perf_counter()
                return
            fmt = (body.get("response_format") or {}).get("type")
            content = reply.json_content if fmt in ("json_object", "json_schema") and \
                reply.json_content is not None else reply.content
            with fake._lock:
                fake.calls.append(call)
            if reply.delay:
                time.sleep(reply.delay)
            if reply.status != 200:
                kind = "rate_limit_exceeded" if reply.status == 429 else "server_error"
                payload = {"error": {"message": f"scripted {reply.status}", "type": kind, "code": kind}}
            else:
                payload = {
                    "id": f"chatcmpl-fake{len(fake.calls)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", "fake"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": reply.prompt_tokens,
                              "completion_tokens": reply.completion_tokens,
                              "total_tokens": reply.prompt_tokens + reply.completion_tokens},
                }
            try:
                self._send(reply.status, payload)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                pass
            call.end = time.perf_counter()

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture
def fake_llm():
    """A running FakeLLM for one test; closed afterwards."""
    server = FakeLLM()
    try:
        yield server
    finally:
        server.close()


if __name__ == "__main__":  # pragma: no cover - manual use
    srv = FakeLLM()
    print(srv.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        srv.close()
