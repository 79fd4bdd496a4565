"""JSON Lines records that are not OTLP requests: one OTLP span object, or one FLAT record.

The flat record is for apps that log LLM calls without OpenTelemetry (docs/ingest.md, "Flat JSONL format"):

    {"trace_id" | "conversation_id": "...", "span_id"?, "parent_id"?, "name"?, "kind"?,
     "start_time"?, "end_time"? | "duration_ms"? | "latency_ms"?, "model"?, "provider"?,
     "input"? (text or messages), "output"? (text or message(s)), "input_tokens"?, "output_tokens"?,
     "total_tokens"?, "cached_tokens"?, "cache_write_tokens"?, "reasoning_tokens"?, "cost"? | "cost_usd"?,
     "session_id"?,
     "user_id"?, "agent"?, "tool"?, "status"?, "error"?, "tags"?, "metadata"?, "scores"?: [...]}

Ids that are not hex of the right length are hashed into one, so any string id works; a record without
span_id gets one derived from its content, so re-ingesting the same file stores nothing twice.
"""
from __future__ import annotations

import hashlib
import math
from datetime import datetime
from typing import Any

import orjson

from ..models import Evaluation, EvaluationSource, SpanKind
from .messages import normalize_messages
from .normalize import Normalizer, evaluation_name
from . import validate
from .otlp import RecordError, _ids, _times, _warn
from .result import ParseResult
from .wire import SPAN_KIND_NAMES, STATUS_NAMES, attributes, to_float, to_int

_HEX = frozenset("0123456789abcdef")


def is_otlp_span(obj: dict[str, Any]) -> bool:
    return ("traceId" in obj or "trace_id" in obj) and ("spanId" in obj or "span_id" in obj) and (
        "startTimeUnixNano" in obj or "start_time_unix_nano" in obj)


def parse_span_object(obj: dict[str, Any], where: str, normalizer: Normalizer, result: ParseResult) -> None:
    """One OTLP/JSON span object per line (attributes as OTLP key/value list or a plain object)."""
    trace_id, span_id, parent_id = _ids(obj.get("traceId", obj.get("trace_id")), obj.get("spanId", obj.get("span_id")),
                                        obj.get("parentSpanId", obj.get("parent_span_id")))
    start_ns, end_ns = _times(obj.get("startTimeUnixNano", obj.get("start_time_unix_nano")),
                              obj.get("endTimeUnixNano", obj.get("end_time_unix_nano")))
    raw_attrs = obj.get("attributes")
    attrs = dict(raw_attrs) if isinstance(raw_attrs, dict) else attributes(raw_attrs)
    res = obj.get("resource") or {}
    resource = res if isinstance(res, dict) and "attributes" not in res else attributes(res.get("attributes"))
    events = []
    for ev in obj.get("events") or ():
        eattrs = ev.get("attributes")
        events.append({"name": ev.get("name"), "time_ns": to_int(ev.get("timeUnixNano")),
                       "attributes": dict(eattrs) if isinstance(eattrs, dict) else attributes(eattrs)})
    status = obj.get("status") or {}
    scope = obj.get("scope")
    notes: list[str] = []
    span, evals = normalizer.span(
        trace_id=trace_id, span_id=span_id, parent_span_id=parent_id, name=obj.get("name") or "",
        otel_kind=SPAN_KIND_NAMES.get(obj.get("kind")), start_ns=start_ns, end_ns=end_ns,
        status_code=STATUS_NAMES.get(status.get("code"), "UNSET"), status_message=status.get("message"),
        attrs=attrs, events=events, resource=resource,
        scope=scope.get("name") if isinstance(scope, dict) else scope, source=where, notes=notes,
    )
    _warn(notes, where, result)
    result.spans.append(span)
    result.evaluations.extend(evals)


def _hex_id(value: Any, nbytes: int) -> str | None:
    if value is None or value == "":
        return None
    text = str(value)
    low = text.lower()
    if len(low) == 2 * nbytes and _HEX.issuperset(low):
        return low
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=nbytes).hexdigest()


def _time_ns(value: Any, field: str) -> int | None:
    ns = _time_ns_unchecked(value, field)
    if ns is not None:
        validate.check_ns(ns, field, value)
    return ns


def _time_ns_unchecked(value: Any, field: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RecordError(f"{field} is a boolean; use ISO 8601 or Unix seconds/ms/ns")
    if isinstance(value, str):
        try:
            return _iso_ns(value)
        except (ValueError, OverflowError, OSError):
            number = to_float(value)
            if number is None:
                raise RecordError(f"cannot read {field} {value[:40]!r}: use ISO 8601 or Unix seconds/ms/ns") \
                    from None
            value = number
    if isinstance(value, float) and not math.isfinite(value):
        raise RecordError(f"{field} is {value}; use ISO 8601 or a finite number of Unix seconds/ms/ns")
    if isinstance(value, (int, float)):
        # Guess the unit from the magnitude: seconds, milliseconds, microseconds or nanoseconds.
        v = float(value)
        if v > 1e17:
            return int(value)
        if v > 1e14:
            return int(v * 1e3)
        if v > 1e11:
            return int(v * 1e6)
        return int(v * 1e9)
    raise RecordError(f"cannot read {field}: expected ISO 8601 text or a number, got {type(value).__name__}")


def _iso_ns(text: str) -> int:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        from datetime import timezone

        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1_000_000) * 1000


_FLAT_ATTRS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("model",), "gen_ai.request.model"),
    (("provider",), "gen_ai.provider.name"),
    (("input_tokens", "prompt_tokens"), "gen_ai.usage.input_tokens"),
    (("output_tokens", "completion_tokens"), "gen_ai.usage.output_tokens"),
    (("total_tokens",), "gen_ai.usage.total_tokens"),
    (("cached_tokens",), "gen_ai.usage.cache_read.input_tokens"),
    (("cache_write_tokens",), "gen_ai.usage.cache_write.input_tokens"),
    (("reasoning_tokens",), "gen_ai.usage.reasoning.output_tokens"),
    (("cost_usd", "cost"), "gen_ai.cost.total"),
    (("session_id",), "session.id"),
    (("user_id",), "user.id"),
    (("agent", "agent_name"), "gen_ai.agent.name"),
    (("tool", "tool_name"), "gen_ai.tool.name"),
    (("ttft_ms",), "ai.response.msToFirstChunk"),
)


def parse_flat(obj: dict[str, Any], where: str, normalizer: Normalizer, result: ParseResult) -> None:
    trace_id = _hex_id(obj.get("trace_id", obj.get("conversation_id", obj.get("thread_id"))), 16)
    if trace_id is None:
        raise RecordError("flat record needs 'trace_id' or 'conversation_id' (or use OTLP/JSON)")
    parent_id = _hex_id(obj.get("parent_id", obj.get("parent_span_id")), 8)
    span_id = _hex_id(obj.get("span_id", obj.get("id")), 8) or hashlib.blake2b(
        orjson.dumps(obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS), digest_size=8).hexdigest()
    start = _time_ns(obj.get("start_time", obj.get("timestamp", obj.get("start"))), "start_time")
    end = _time_ns(obj.get("end_time", obj.get("end")), "end_time")
    duration = to_float(obj.get("duration_ms", obj.get("latency_ms")))
    if duration is not None and not (math.isfinite(duration) and 0 <= duration < validate.MAX_NS / 1e6):
        raise RecordError(f"duration_ms {duration} must be a finite number of milliseconds >= 0")
    if start is None and end is None:
        raise RecordError("flat record needs 'start_time' (or 'timestamp') or 'end_time'")
    if start is None:
        assert end is not None
        start = end - int((duration or 0) * 1e6)
        validate.check_ns(start, "start_time (end_time - duration_ms)")
    if end is None:
        end = start + int((duration or 0) * 1e6)
        validate.check_ns(end, "end_time (start_time + duration_ms)")
    if end < start:
        raise RecordError("end_time is before start_time")
    notes: list[str] = []
    attrs: dict[str, Any] = {}
    for names, key in _FLAT_ATTRS:
        for name in names:
            if obj.get(name) is not None:
                attrs[key] = obj[name]
                break
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        for k, v in metadata.items():
            if validate.depth_over(v):
                notes.append(f"metadata {k!r} is nested more than {validate.MAX_DEPTH} levels deep; dropped")
                continue
            try:
                attrs[f"metadata.{k}"] = v if isinstance(v, (str, int, float, bool)) else orjson.dumps(
                    v, option=orjson.OPT_NON_STR_KEYS).decode()
            except TypeError as exc:  # e.g. integers beyond 64 bits
                notes.append(f"metadata {k!r} cannot be stored as JSON ({exc}); dropped")
                continue
            attrs.setdefault(k, attrs[f"metadata.{k}"])
    tags = obj.get("tags")
    if isinstance(tags, dict):
        for k, v in tags.items():
            attrs.setdefault(k, v)
            attrs[f"tag.{k}"] = v
    elif isinstance(tags, list):
        attrs["tag.tags"] = [str(t) for t in tags]
    for direction, key in (("input", "gen_ai.input.messages"), ("output", "gen_ai.output.messages")):
        value = obj.get(direction)
        if value is None:
            continue
        msgs = normalize_messages(value, "assistant" if direction == "output" else None) if not isinstance(
            value, str) else None
        if msgs:
            attrs[key] = msgs
        else:
            attrs["input.value" if direction == "input" else "output.value"] = value
    status_text = str(obj.get("status") or "").upper()
    error = obj.get("error")
    status = "ERROR" if error or status_text in ("ERROR", "FAILED", "FAIL") else (
        "OK" if status_text in ("OK", "SUCCESS") else "UNSET")
    span, evals = normalizer.span(
        trace_id=trace_id, span_id=span_id, parent_span_id=parent_id,
        name=str(obj.get("name") or ("llm" if obj.get("model") else "record")), otel_kind=None,
        start_ns=start, end_ns=end, status_code=status, status_message=str(error) if error else None,
        attrs=attrs, events=[], resource={"service.name": obj["service"]} if obj.get("service") else {},
        scope=None, source=where, notes=notes,
    )
    span.convention = "flat"
    kind = str(obj.get("kind") or "").upper()
    if kind in SpanKind.__members__:
        span.kind = kind
    elif span.kind == SpanKind.UNKNOWN.value:
        span.kind = SpanKind.LLM.value if obj.get("model") else SpanKind.CHAIN.value
    result.spans.append(span)
    result.evaluations.extend(evals)
    for score in obj.get("scores") or obj.get("feedback") or ():
        if not isinstance(score, dict) or not score.get("name"):
            continue
        value = score.get("score", score.get("value"))
        passed = score.get("passed")
        if isinstance(value, bool):
            passed, value = value, float(value)
        number = to_float(value)
        if number is not None and not math.isfinite(number):
            notes.append(f"score {str(score['name'])[:40]!r} value {number} is not finite; score dropped")
            number = None
            if passed is None and score.get("label") is None:
                continue
        result.evaluations.append(Evaluation(
            trace_id=trace_id, span_id=span_id, name=evaluation_name(score["name"]), score=number,
            label=score.get("label"), passed=passed, reason=score.get("reason", score.get("comment")),
            source=str(score["source"]) if score.get("source") in {s.value for s in EvaluationSource}
            else EvaluationSource.IMPORTED.value, created_ns=end,
        ))
    _warn(notes, where, result)
