"""Bad values real exporters send (issue 14), as mutations of a good OTLP span / flat record.

Each case says what tracedesk must do with the record: "rejected" (it cannot exist without the value:
reported in `rejected` with its location) or "warned" (stored without the bad field: reported in
`warnings` with its location), and a phrase the report must contain.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

T0 = 1_700_000_000_000_000_000
Y9999_NS = 253_402_214_400 * 10**9  # 9999-12-31T00:00:00Z in ns: beyond int64


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def otlp_nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"intValue": "1"}
    for _ in range(depth):
        value = {"kvlistValue": {"values": [{"key": "a", "value": value}]}}
    return value


@dataclass(frozen=True)
class Case:
    name: str
    outcome: str  # "rejected" | "warned"
    phrase: str  # must appear in the reason
    mutate: Callable[[dict[str, Any]], None]


def _set_attr(key: str, value: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(span: dict[str, Any]) -> None:
        span["attributes"] = [*span["attributes"], {"key": key, "value": value}]
    return mutate


def _set(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(span: dict[str, Any]) -> None:
        span[field] = value
    return mutate


#: Mutations of an OTLP/JSON span (used for files and for the receiver's JSON bodies).
OTLP_JSON_CASES = [
    Case("start 9999-12-31", "rejected", "outside 1970-01-01..2200", _set("startTimeUnixNano", str(Y9999_NS))),
    Case("start 1e30", "rejected", "outside 1970-01-01..2200", _set("startTimeUnixNano", 1e30)),
    Case("start NaN", "rejected", "startTimeUnixNano is 'NaN'", _set("startTimeUnixNano", "NaN")),
    Case("end 2^64-1", "rejected", "outside 1970-01-01..2200", _set("endTimeUnixNano", str(2**64 - 1))),
    Case("start negative", "rejected", "outside 1970-01-01..2200", _set("startTimeUnixNano", "-5")),
    Case("tokens Infinity", "warned", "input tokens inf is not a finite non-negative integer",
         _set_attr("gen_ai.usage.input_tokens", {"doubleValue": "Infinity"})),
    Case("tokens 1e308", "warned", "input tokens 1e+308 is not a finite non-negative integer",
         _set_attr("gen_ai.usage.input_tokens", {"doubleValue": 1e308})),
    Case("tokens negative", "warned", "output tokens -7 is not a finite non-negative integer",
         _set_attr("gen_ai.usage.output_tokens", {"intValue": "-7"})),
    Case("cost Infinity", "warned", "reported cost inf must be finite and >= 0",
         _set_attr("gen_ai.usage.cost", {"doubleValue": "Infinity"})),
    Case("cost NaN", "warned", "reported cost nan must be finite and >= 0",
         _set_attr("gen_ai.usage.cost", {"doubleValue": "NaN"})),
    Case("cost negative", "warned", "reported cost -2.5 must be finite and >= 0",
         _set_attr("gen_ai.usage.cost", {"doubleValue": -2.5})),
    Case("score NaN", "warned", "score nan is not finite",
         lambda s: s.update(attributes=[*s["attributes"],
                                        {"key": "gen_ai.evaluation.name", "value": {"stringValue": "q"}},
                                        {"key": "gen_ai.evaluation.score.value", "value": {"doubleValue": "NaN"}}])),
    Case("attribute nested 80 deep", "warned", "nested more than 64 levels deep; dropped",
         _set_attr("deep", otlp_nested(80))),
    Case("attribute nested 150 deep", "warned", "nested more than 64 levels deep; dropped",
         _set_attr("deep", otlp_nested(150))),
    Case("integer beyond 64 bits", "warned", "outside 64 bits; stored as text",
         _set_attr("big", {"intValue": "99999999999999999999999"})),
    Case("attributes of the wrong type", "rejected", "malformed span", _set("attributes", "oops")),
    Case("events of the wrong type", "rejected", "malformed span", _set("events", [1, 2])),
]


def good_otlp_span(i: int, trace: str = "ab" * 16) -> dict[str, Any]:
    start = T0 + i * 1_000_000
    return {
        "traceId": trace, "spanId": f"{i + 1:016x}", "name": f"good-{i}", "kind": 3,
        "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 5_000_000),
        "attributes": [{"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                       {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}],
        "status": {},
    }


def bad_otlp_span(i: int, case: Case, trace: str = "ab" * 16) -> dict[str, Any]:
    span = good_otlp_span(i, trace)
    span["name"] = f"bad-{i}"
    case.mutate(span)
    return span


#: Flat JSONL records: (name, outcome, phrase, record-builder from a good record)
def good_flat(i: int) -> dict[str, Any]:
    return {"trace_id": f"conv-{i}", "span_id": f"call-{i}", "name": f"good-{i}",
            "start_time": "2025-03-01T10:00:00Z", "duration_ms": 20, "model": "gpt-4o-mini",
            "input_tokens": 10, "output_tokens": 5, "input": "hello", "output": "hi"}


FLAT_CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("start 9999-12-31", "rejected", "start_time '9999-12-31' is outside 1970-01-01..2200",
     {"start_time": "9999-12-31"}),
    ("start 1e30", "rejected", "start_time 1e+30 is outside", {"start_time": 1e30}),
    ("start NaN", "rejected", "start_time is nan", {"start_time": "NaN"}),
    ("end before 1970", "rejected", "end_time -1 is outside", {"end_time": -1, "start_time": None}),
    ("duration Infinity", "rejected", "duration_ms inf must be a finite", {"duration_ms": "Infinity"}),
    ("tokens 1e308", "warned", "input tokens 1e+308 is not a finite non-negative integer", {"input_tokens": 1e308}),
    ("tokens 'Infinity'", "warned", "output tokens 'Infinity' is not a finite", {"output_tokens": "Infinity"}),
    ("cost negative", "warned", "reported cost -1.0 must be finite and >= 0", {"cost": -1.0}),
    ("cost 'NaN'", "warned", "reported cost nan must be finite", {"cost_usd": "NaN"}),
    ("metadata 300 deep", "warned", "metadata 'x' is nested more than 64 levels deep", {"metadata": {"x": nested(300)}}),
    ("score Infinity", "warned", "value inf is not finite; score dropped",
     {"scores": [{"name": "q", "score": "Infinity"}]}),
    ("time of the wrong type", "rejected", "cannot read start_time", {"start_time": {"a": 1}}),
    ("trace id missing", "rejected", "needs 'trace_id'", {"trace_id": ""}),
]


def bad_flat(i: int, changes: dict[str, Any]) -> dict[str, Any]:
    record = good_flat(i)
    record["name"] = f"bad-{i}"
    record.update(changes)
    return {k: v for k, v in record.items() if v is not None}
