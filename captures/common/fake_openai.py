"""A scripted OpenAI-compatible server for capture scripts (stdlib only: it runs in every capture venv).

It answers only shapes the OpenAI API documents:
- POST /v1/chat/completions: a `chat.completion` object, or (stream=true) `chat.completion.chunk` SSE events
  ending with a usage-only chunk when `stream_options.include_usage` is set, then `data: [DONE]`;
  assistant tool calls in both modes.
- POST /v1/responses: a `response` object (message or function_call output items), non-streaming.
- POST /v1/embeddings: a `list` of `embedding` objects.
- Errors: `{"error": {"message", "type", "param", "code"}}` with a 4xx status (no retry by the clients).

Usage always carries `prompt_tokens_details.cached_tokens` and `completion_tokens_details.reasoning_tokens`
(Responses API: `input_tokens_details` / `output_tokens_details`) so captures show how each library reports
them. Every answer is recorded in `calls` (what the server returned), which the harness writes into
tests/captures/manifest.json.

Replies are chosen by `rules`, first match wins (see `Rule`); tokens come from the rule or, by default,
from the call's ordinal so each call in a capture has distinct, checkable figures.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Rule:
    """When `when` is found in the request text ("model=<name>" + messages/input + tool results; "" always
    matches) and, for
    tool calls, the named tool is offered and was not called yet in this conversation: answer with
    `tool_call` (name) + `arguments`, else `content`. `status` != 200 answers an error."""
    when: str = ""
    content: str = "OK."
    tool_call: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    response_model: str | None = None  # the snapshot name the server reports (default: requested + date)
    tokens: tuple[int, int, int, int] | None = None  # prompt, completion, cached, reasoning
    only_once: bool = False


SNAPSHOTS = {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4o": "gpt-4o-2024-08-06",
             "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14", "text-embedding-3-small": "text-embedding-3-small"}


def default_tokens(n: int) -> tuple[int, int, int, int]:
    """Tokens of the n-th call (1-based): distinct per call so a misattributed span is visible."""
    return 100 * n + 20, 10 * n + 5, 64 if n % 2 else 0, 4 * n


class FakeOpenAI:
    def __init__(self, rules: list[Rule] | None = None) -> None:
        self.rules = rules or [Rule()]
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._used: set[int] = set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- choosing -------------------------------------------------------------------------------------
    def choose(self, body: dict[str, Any], path: str) -> tuple[Rule, int, tuple[int, int, int, int]]:
        text = _request_text(body)
        offered = _offered_tools(body)
        called = _called_tools(body)
        with self._lock:
            n = len(self.calls) + 1
            for i, rule in enumerate(self.rules):
                if rule.only_once and i in self._used:
                    continue
                if rule.when and rule.when not in text:
                    continue
                if rule.tool_call and (rule.tool_call not in offered or rule.tool_call in called):
                    continue
                self._used.add(i)
                return rule, n, rule.tokens or default_tokens(n)
            return Rule(), n, default_tokens(n)

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.calls.append(entry)


def _request_text(body: dict[str, Any]) -> str:
    parts: list[str] = [f"model={body.get('model')}"]
    for m in body.get("messages") or []:
        parts.append(json.dumps(m.get("content")) if not isinstance(m.get("content"), str) else m["content"])
    inp = body.get("input")
    if isinstance(inp, str):
        parts.append(inp)
    elif isinstance(inp, list):
        parts.append(json.dumps(inp))
    if isinstance(body.get("instructions"), str):
        parts.append(body["instructions"])
    return "\n".join(parts)


def _offered_tools(body: dict[str, Any]) -> set[str]:
    names = set()
    for t in body.get("tools") or []:
        fn = t.get("function") if isinstance(t.get("function"), dict) else t
        if isinstance(fn, dict) and fn.get("name"):
            names.add(fn["name"])
    return names


def _called_tools(body: dict[str, Any]) -> set[str]:
    """Tools the model already called in this conversation (a tool rule fires once per conversation)."""
    names = set()
    for m in body.get("messages") or []:
        for tc in m.get("tool_calls") or []:
            names.add((tc.get("function") or {}).get("name"))
    inp = body.get("input")
    for item in inp if isinstance(inp, list) else []:
        if isinstance(item, dict) and item.get("type") == "function_call":
            names.add(item.get("name"))
    return names


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - some SDKs list models
            self._json(200, {"object": "list", "data": [{"id": m, "object": "model", "created": 0,
                                                         "owned_by": "system"} for m in SNAPSHOTS]})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                body = {}
            path = self.path.split("?")[0].rstrip("/")
            if path.endswith("/embeddings"):
                return self._embeddings(body)
            if path.endswith("/converse"):
                return self._bedrock_converse(body, path)
            if not (path.endswith("/chat/completions") or path.endswith("/responses")):
                return self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error",
                                                  "param": None, "code": "not_found"}})
            rule, n, (pt, ct, cached, reasoning) = fake.choose(body, path)
            model = str(body.get("model", "gpt-4o-mini"))
            rmodel = rule.response_model or SNAPSHOTS.get(model, model)
            entry: dict[str, Any] = {"n": n, "endpoint": path.rsplit("/v1", 1)[-1], "model": model,
                                     "stream": bool(body.get("stream"))}
            if rule.status != 200:
                entry.update(status=rule.status, error=rule.content)
                fake.record(entry)
                code = "model_not_found" if rule.status == 404 else "invalid_request_error"
                return self._json(rule.status, {"error": {"message": rule.content, "type": "invalid_request_error",
                                                          "param": None, "code": code}})
            tool = rule.tool_call
            entry.update(status=200, response_model=rmodel, prompt_tokens=pt, completion_tokens=ct,
                         cached_tokens=cached, reasoning_tokens=reasoning)
            if tool:
                entry.update(tool_call=tool, arguments=rule.arguments)
            else:
                entry["content"] = rule.content
            fake.record(entry)
            if path.endswith("/responses"):
                return self._responses(body, n, rmodel, rule, (pt, ct, cached, reasoning))
            usage = {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct,
                     "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                     "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                                   "accepted_prediction_tokens": 0,
                                                   "rejected_prediction_tokens": 0}}
            cid = f"chatcmpl-capture{n:03d}"
            calls = [{"index": 0, "id": f"call_{n:03d}", "type": "function",
                      "function": {"name": tool, "arguments": json.dumps(rule.arguments)}}] if tool else None
            if body.get("stream"):
                return self._stream(body, cid, rmodel, rule.content, calls, usage)
            message: dict[str, Any] = {"role": "assistant", "content": None if tool else rule.content,
                                       "refusal": None}
            if calls:
                message["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in calls]
            self._json(200, {"id": cid, "object": "chat.completion", "created": 1764000000 + n, "model": rmodel,
                             "system_fingerprint": "fp_capture", "service_tier": "default",
                             "choices": [{"index": 0, "message": message, "logprobs": None,
                                          "finish_reason": "tool_calls" if tool else "stop"}],
                             "usage": usage})

        def _stream(self, body: dict[str, Any], cid: str, model: str, content: str,
                    calls: list[dict[str, Any]] | None, usage: dict[str, Any]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

            def chunk(delta: dict[str, Any], finish: str | None = None, with_usage: bool = False) -> None:
                obj: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": 1764000000,
                                       "model": model, "system_fingerprint": "fp_capture",
                                       "choices": [] if with_usage else
                                       [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
                if include_usage:
                    obj["usage"] = usage if with_usage else None
                self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
                self.wfile.flush()

            chunk({"role": "assistant", "content": "" if not calls else None, "refusal": None})
            if calls:
                chunk({"tool_calls": calls})
                chunk({}, "tool_calls")
            else:
                words = content.split(" ")
                for i, w in enumerate(words):
                    time.sleep(0.01)  # a measurable time to first token
                    chunk({"content": w if i == 0 else " " + w})
                chunk({}, "stop")
            if include_usage:
                chunk({}, with_usage=True)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

        def _responses(self, body: dict[str, Any], n: int, model: str, rule: Rule,
                       tokens: tuple[int, int, int, int]) -> None:
            pt, ct, cached, reasoning = tokens
            if rule.tool_call:
                output: list[dict[str, Any]] = [{"type": "function_call", "id": f"fc_{n:03d}",
                                                 "call_id": f"call_{n:03d}", "name": rule.tool_call,
                                                 "arguments": json.dumps(rule.arguments), "status": "completed"}]
            else:
                output = [{"type": "message", "id": f"msg_{n:03d}", "status": "completed", "role": "assistant",
                           "content": [{"type": "output_text", "text": rule.content, "annotations": []}]}]
            self._json(200, {
                "id": f"resp_capture{n:03d}", "object": "response", "created_at": 1764000000 + n,
                "status": "completed", "error": None, "incomplete_details": None,
                "instructions": body.get("instructions"), "model": model, "output": output,
                "parallel_tool_calls": True, "temperature": 1.0, "tool_choice": "auto",
                "tools": body.get("tools") or [], "top_p": 1.0, "truncation": "disabled",
                "max_output_tokens": None, "previous_response_id": None, "reasoning": {"effort": None},
                "text": {"format": {"type": "text"}}, "metadata": {},
                "usage": {"input_tokens": pt, "input_tokens_details": {"cached_tokens": cached},
                          "output_tokens": ct, "output_tokens_details": {"reasoning_tokens": reasoning},
                          "total_tokens": pt + ct}})

        def _bedrock_converse(self, body: dict[str, Any], path: str) -> None:
            """AWS Bedrock Converse (`POST /model/{modelId}/converse`), for SDKs with a Bedrock provider."""
            from urllib.parse import unquote

            model = unquote(path.split("/model/", 1)[1].rsplit("/converse", 1)[0])
            text = json.dumps(body.get("messages"))
            rule, n, (pt, ct, cached, _reasoning) = fake.choose({"model": model, "input": text}, path)
            fake.record({"n": n, "endpoint": "/bedrock/converse", "model": model, "stream": False, "status": 200,
                         "response_model": model, "prompt_tokens": pt, "completion_tokens": ct,
                         "cached_tokens": cached, "reasoning_tokens": 0, "content": rule.content})
            self._json(200, {"output": {"message": {"role": "assistant", "content": [{"text": rule.content}]}},
                             "stopReason": "end_turn", "metrics": {"latencyMs": 12},
                             "usage": {"inputTokens": pt - cached, "outputTokens": ct, "totalTokens": pt + ct,
                                       "cacheReadInputTokens": cached, "cacheWriteInputTokens": 0}})

        def _embeddings(self, body: dict[str, Any]) -> None:
            inputs = body.get("input")
            items = inputs if isinstance(inputs, list) else [inputs]
            n = len(fake.calls) + 1
            tokens = 8 * len(items)
            fake.record({"n": n, "endpoint": "/embeddings", "model": body.get("model"), "status": 200,
                         "inputs": len(items), "prompt_tokens": tokens})
            data = [{"object": "embedding", "index": i, "embedding": [round(0.001 * (i + j), 6) for j in range(64)]}
                    for i in range(len(items))]
            if body.get("encoding_format") == "base64":
                import base64
                import struct
                for d in data:
                    d["embedding"] = base64.b64encode(struct.pack(f"<{len(d['embedding'])}f",
                                                                  *d["embedding"])).decode()
            self._json(200, {"object": "list", "data": data, "model": body.get("model"),
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
