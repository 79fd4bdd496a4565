"""OTLP export requests (traces and logs), JSON-decoded dicts or protobuf bytes -> ParseResult.

Each span/log record is read independently: one bad record is rejected with its location and reason,
the rest of the request is kept.
"""
from __future__ import annotations

from typing import Any

from . import semconv as sc
from ..models import Rejected
from .normalize import Normalizer, event_message, genai_evaluation
from .result import MAX_VALUE_CHARS, LogMessage, ParseResult
from .validate import RecordError, check_ns, timestamp_ns
from .wire import SPAN_KIND_NAMES, STATUS_NAMES, WireError, any_value, attributes, norm_id, to_int
from ..errors import IngestError

#: What a malformed record can raise while being read; caught per record (RecursionError: absurd nesting,
#: OverflowError: numbers beyond float/int64), so the rest of the request is kept.
RECORD_ERRORS = (TypeError, AttributeError, ValueError, KeyError, IndexError, OverflowError, RecursionError)


def _warn(notes: list[str], where: str, result: ParseResult) -> None:
    for note in notes:
        result.warnings.append(Rejected(where, note))


def _truncate(attrs: dict[str, Any], where: str, result: ParseResult) -> None:
    for key, value in attrs.items():
        if type(value) is str and len(value) > MAX_VALUE_CHARS:
            attrs[key] = value[:MAX_VALUE_CHARS] + "…[truncated by tracedesk]"
            result.warnings.append(Rejected(where, f"attribute {key!r} has {len(value):,} characters; "
                                                   f"stored the first {MAX_VALUE_CHARS:,}"))


def _times(start: Any, end: Any) -> tuple[int, int]:
    start_ns = timestamp_ns(start, "startTimeUnixNano") or 0
    end_ns = timestamp_ns(end, "endTimeUnixNano") or 0
    if not start_ns:
        raise RecordError("span has no startTimeUnixNano")
    if not end_ns:
        end_ns = start_ns  # unfinished span: zero duration rather than a bogus one
    if end_ns < start_ns:
        raise RecordError(f"endTimeUnixNano {end_ns} is before startTimeUnixNano {start_ns}")
    return start_ns, end_ns


def _ids(trace: Any, span: Any, parent: Any) -> tuple[str, str, str | None]:
    try:
        trace_id = norm_id(trace, 16, "traceId")
        span_id = norm_id(span, 8, "spanId")
        parent_id = norm_id(parent, 8, "parentSpanId")
    except WireError as exc:
        raise RecordError(str(exc)) from None
    if trace_id is None:
        raise RecordError("span has no traceId")
    if span_id is None:
        raise RecordError("span has no spanId")
    if parent_id == span_id:
        parent_id = None  # a span cannot be its own parent; treat as a root
    return trace_id, span_id, parent_id


# ---------------------------------------------------------------------------------------------
# OTLP/JSON

def parse_traces_json(doc: dict[str, Any], where: str, normalizer: Normalizer, result: ParseResult) -> None:
    resource_spans = doc.get("resourceSpans", doc.get("resource_spans"))
    if not isinstance(resource_spans, list):
        raise RecordError("expected 'resourceSpans' to be a list")
    for ri, rs in enumerate(resource_spans):
        if not isinstance(rs, dict):
            result.rejected.append(Rejected(f"{where}#resourceSpans[{ri}]", "expected an object"))
            continue
        resource = attributes((rs.get("resource") or {}).get("attributes"))
        for si, ss in enumerate(rs.get("scopeSpans", rs.get("scope_spans", rs.get("instrumentationLibrarySpans")))
                                or ()):
            scope_obj = ss.get("scope", ss.get("instrumentationLibrary")) or {}
            scope = scope_obj.get("name") or None
            for pi, raw in enumerate(ss.get("spans") or ()):
                json_span_at(raw, resource, scope, f"{where}#resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]",
                             normalizer, result)


def json_span_at(raw: Any, resource: dict[str, Any], scope: str | None, loc: str, normalizer: Normalizer,
                 result: ParseResult) -> None:
    """One OTLP/JSON span at `loc` into `result`, or its rejection there: the whole-document parser and the
    streamed one (ingest/stream.py) report a bad span alike."""
    result.records += 1
    try:
        _json_span(raw, resource, scope, loc, normalizer, result)
    except RecordError as exc:
        result.rejected.append(Rejected(loc, str(exc)))
    except RECORD_ERRORS as exc:
        result.rejected.append(Rejected(loc, f"malformed span: {type(exc).__name__}: {exc}"))


def _json_span(raw: dict[str, Any], resource: dict[str, Any], scope: str | None, loc: str,
               normalizer: Normalizer, result: ParseResult) -> None:
    if not isinstance(raw, dict):
        raise RecordError("expected a span object")
    get = raw.get
    # (the camelCase spelling first; the snake_case one is read only when it is absent)
    trace_id, span_id, parent_id = _ids(raw["traceId"] if "traceId" in raw else get("trace_id"),
                                        raw["spanId"] if "spanId" in raw else get("span_id"),
                                        raw["parentSpanId"] if "parentSpanId" in raw else get("parent_span_id"))
    start_ns, end_ns = _times(raw["startTimeUnixNano"] if "startTimeUnixNano" in raw else get("start_time_unix_nano"),
                              raw["endTimeUnixNano"] if "endTimeUnixNano" in raw else get("end_time_unix_nano"))
    attrs = attributes(raw.get("attributes"))
    _truncate(attrs, loc, result)
    events = []
    for ev in raw.get("events") or ():
        eattrs = attributes(ev.get("attributes"))
        _truncate(eattrs, loc, result)
        events.append({"name": ev.get("name"), "time_ns": to_int(ev.get("timeUnixNano")), "attributes": eattrs})
    status = raw.get("status") or {}
    notes: list[str] = []
    span, evals = normalizer.span(
        trace_id=trace_id, span_id=span_id, parent_span_id=parent_id, name=raw.get("name") or "",
        otel_kind=SPAN_KIND_NAMES.get(raw.get("kind")), start_ns=start_ns, end_ns=end_ns,
        status_code=STATUS_NAMES.get(status.get("code"), "UNSET"), status_message=status.get("message"),
        attrs=attrs, events=events, resource=resource, scope=scope, source=loc, notes=notes,
    )
    _warn(notes, loc, result)
    result.spans.append(span)
    if evals:
        result.evaluations.extend(evals)


def parse_logs_json(doc: dict[str, Any], where: str, normalizer: Normalizer, result: ParseResult) -> None:
    resource_logs = doc.get("resourceLogs", doc.get("resource_logs"))
    if not isinstance(resource_logs, list):
        raise RecordError("expected 'resourceLogs' to be a list")
    seq = 0
    for ri, rl in enumerate(resource_logs):
        for si, sl in enumerate((rl or {}).get("scopeLogs", (rl or {}).get("scope_logs")) or ()):
            for li, rec in enumerate(sl.get("logRecords", sl.get("log_records")) or ()):
                loc = f"{where}#resourceLogs[{ri}].scopeLogs[{si}].logRecords[{li}]"
                result.records += 1
                seq += 1
                try:
                    attrs = attributes(rec.get("attributes"))
                    _log_record(
                        event_name=rec.get("eventName") or attrs.get("event.name"),
                        attrs=attrs,
                        body=any_value(rec.get("body")) if rec.get("body") is not None else None,
                        trace=rec.get("traceId"), span=rec.get("spanId"),
                        time_ns=to_int(rec.get("timeUnixNano")) or to_int(rec.get("observedTimeUnixNano")) or 0,
                        seq=seq, loc=loc, result=result,
                    )
                except RecordError as exc:
                    result.rejected.append(Rejected(loc, str(exc)))
                except RECORD_ERRORS as exc:
                    result.rejected.append(Rejected(loc, f"malformed log record: {type(exc).__name__}: {exc}"))


def _log_record(*, event_name: str | None, attrs: dict[str, Any], body: Any, trace: Any, span: Any,
                time_ns: int, seq: int, loc: str, result: ParseResult) -> None:
    """Evaluation results and GenAI message events; other log records are not traces and are skipped."""
    if event_name != sc.EVALUATION_EVENT and event_name not in sc.MESSAGE_EVENTS:
        return
    try:
        trace_id = norm_id(trace, 16, "traceId")
        span_id = norm_id(span, 8, "spanId")
    except WireError as exc:
        raise RecordError(str(exc)) from None
    if trace_id is None:
        raise RecordError(f"{event_name} log record has no traceId, so it cannot be joined to a span")
    check_ns(time_ns, "timeUnixNano")
    if event_name == sc.EVALUATION_EVENT:
        if isinstance(body, dict):
            attrs = {**body, **attrs}
        notes: list[str] = []
        ev = genai_evaluation(attrs, trace_id, span_id, time_ns or None, notes)
        _warn(notes, loc, result)
        if ev is None:
            raise RecordError("gen_ai.evaluation.result needs gen_ai.evaluation.name and a finite score or "
                              "a label")
        result.evaluations.append(ev)
        return
    if span_id is None:
        raise RecordError(f"{event_name} log record has no spanId, so it cannot be joined to a span")
    payload = body if body is not None else attrs
    msg = event_message(event_name, payload)
    if msg is None:
        raise RecordError(f"{event_name} log record has no message body")
    direction = sc.MESSAGE_EVENTS[event_name][0]
    result.log_messages.append(LogMessage(trace_id, span_id, direction, time_ns, seq, msg))


# ---------------------------------------------------------------------------------------------
# OTLP protobuf

def _pb_value(v: Any) -> Any:
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_pb_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, which)


def _pb_attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _pb_value(kv.value) for kv in kvs}


_PB_KIND = {0: None, 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_PB_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}


def parse_traces_proto(data: bytes, where: str, normalizer: Normalizer, result: ParseResult) -> None:
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    req = ExportTraceServiceRequest()
    try:
        req.ParseFromString(data)
    except DecodeError as exc:
        if not _traces_span_by_span(data, where, normalizer, result):
            raise RecordError(f"not a valid OTLP protobuf ExportTraceServiceRequest ({exc})") from None
        return
    for ri, rs in enumerate(req.resource_spans):
        resource = _pb_attrs(rs.resource.attributes)
        for si, ss in enumerate(rs.scope_spans):
            scope = ss.scope.name or None
            for pi, raw in enumerate(ss.spans):
                loc = f"{where}#resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]"
                _proto_span(raw, resource, scope, loc, normalizer, result)


def _traces_span_by_span(data: bytes, where: str, normalizer: Normalizer, result: ParseResult) -> bool:
    """The request as a whole did not decode: decode each span on its own (see protowire). Returns False
    when the envelope itself is not protobuf (then nothing was added to result)."""
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

    from .protowire import WireFormatError, length_fields

    # ExportTraceServiceRequest.resource_spans = 1; ResourceSpans.resource = 1, .scope_spans = 2;
    # ScopeSpans.scope = 1, .spans = 2.
    try:
        plan = []
        for ri, (n1, rs) in enumerate((f for f in length_fields(data) if f[0] == 1)):
            resource_bytes, scopes = b"", []
            for n2, part in length_fields(rs):
                if n2 == 1:
                    resource_bytes = part
                elif n2 == 2:
                    scope_bytes, spans = b"", []
                    for n3, item in length_fields(part):
                        if n3 == 1:
                            scope_bytes = item
                        elif n3 == 2:
                            spans.append(item)
                    scopes.append((scope_bytes, spans))
            plan.append((resource_bytes, scopes))
    except WireFormatError:
        return False
    for ri, (resource_bytes, scopes) in enumerate(plan):
        try:
            resource = _pb_attrs(Resource.FromString(resource_bytes).attributes)
        except DecodeError as exc:
            resource = {}
            result.warnings.append(Rejected(f"{where}#resourceSpans[{ri}].resource",
                                            f"resource does not decode ({exc}); its attributes are dropped"))
        for si, (scope_bytes, spans) in enumerate(scopes):
            try:
                scope = InstrumentationScope.FromString(scope_bytes).name or None
            except DecodeError:
                scope = None
            for pi, raw_bytes in enumerate(spans):
                loc = f"{where}#resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]"
                try:
                    raw = PbSpan.FromString(raw_bytes)
                except DecodeError as exc:
                    result.records += 1
                    result.rejected.append(Rejected(loc, f"not a valid protobuf Span ({exc}; attributes nested "
                                                         f"past the protobuf limit or invalid UTF-8 text?)"))
                    continue
                _proto_span(raw, resource, scope, loc, normalizer, result)
    return True


def _proto_span(raw: Any, resource: dict[str, Any], scope: str | None, loc: str, normalizer: Normalizer,
                result: ParseResult) -> None:
    result.records += 1
    notes: list[str] = []
    try:
        trace_id, span_id, parent_id = _ids(raw.trace_id, raw.span_id, raw.parent_span_id)
        start_ns, end_ns = _times(raw.start_time_unix_nano, raw.end_time_unix_nano)
        attrs = _pb_attrs(raw.attributes)
        _truncate(attrs, loc, result)
        events = [{"name": e.name, "time_ns": e.time_unix_nano, "attributes": _pb_attrs(e.attributes)}
                  for e in raw.events]
        span, evals = normalizer.span(
            trace_id=trace_id, span_id=span_id, parent_span_id=parent_id, name=raw.name,
            otel_kind=_PB_KIND.get(raw.kind), start_ns=start_ns, end_ns=end_ns,
            status_code=_PB_STATUS.get(raw.status.code, "UNSET"),
            status_message=raw.status.message or None, attrs=attrs, events=events,
            resource=resource, scope=scope, source=loc, notes=notes,
        )
    except RecordError as exc:
        result.rejected.append(Rejected(loc, str(exc)))
        return
    except RECORD_ERRORS as exc:
        result.rejected.append(Rejected(loc, f"malformed span: {type(exc).__name__}: {exc}"))
        return
    _warn(notes, loc, result)
    result.spans.append(span)
    result.evaluations.extend(evals)


def parse_logs_proto(data: bytes, where: str, normalizer: Normalizer, result: ParseResult) -> None:
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    req = ExportLogsServiceRequest()
    try:
        req.ParseFromString(data)
    except DecodeError as exc:
        raise RecordError(f"not a valid OTLP protobuf ExportLogsServiceRequest ({exc})") from None
    seq = 0
    for ri, rl in enumerate(req.resource_logs):
        for si, sl in enumerate(rl.scope_logs):
            for li, rec in enumerate(sl.log_records):
                loc = f"{where}#resourceLogs[{ri}].scopeLogs[{si}].logRecords[{li}]"
                result.records += 1
                seq += 1
                attrs = _pb_attrs(rec.attributes)
                event_name = getattr(rec, "event_name", "") or attrs.get("event.name")
                try:
                    _log_record(
                        event_name=event_name, attrs=attrs,
                        body=_pb_value(rec.body) if rec.HasField("body") else None,
                        trace=rec.trace_id, span=rec.span_id,
                        time_ns=rec.time_unix_nano or rec.observed_time_unix_nano, seq=seq, loc=loc,
                        result=result,
                    )
                except RecordError as exc:
                    result.rejected.append(Rejected(loc, str(exc)))
                except RECORD_ERRORS as exc:
                    result.rejected.append(Rejected(loc, f"malformed log record: {type(exc).__name__}: {exc}"))


def proto_kind(data: bytes) -> str:
    """Tell a protobuf traces request from a logs request: try traces first, check it has spans."""
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    req = ExportTraceServiceRequest()
    try:
        req.ParseFromString(data)
    except DecodeError:
        # A traces request with one undecodable span fails here too; it is logs only if logs decode.
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

        try:
            ExportLogsServiceRequest.FromString(data)
        except DecodeError:
            return "traces"
        return "logs"
    # A logs request parses as traces with unknown fields; spans would be missing.
    # (a log record's fields have other wire types, so its "span" has no 16-byte trace id).
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                return "traces" if len(span.trace_id) == 16 or len(span.span_id) == 8 else "logs"
    for rs in req.resource_spans:
        if rs.scope_spans:
            return "traces"
    return "logs"
