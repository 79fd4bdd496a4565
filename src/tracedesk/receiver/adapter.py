"""The receiver's thin adapter over `tracedesk.ingest`: one request body -> spans, evaluations, log messages.

The ingest package owns parsing and normalization; this module only maps an HTTP request (path + content
type) onto its OTLP readers, turns "this is not an OTLP body at all" into `MalformedBody` (-> HTTP 400),
and summarizes per-record rejections for the OTLP `partial_success` message.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..models import Evaluation, Rejected, Span
from .responses import PROTOBUF, TRACES
from ..errors import IngestError


class MalformedBody(IngestError):
    """The body is not a readable OTLP request; the message is sent back with HTTP 400."""


@dataclass
class Parsed:
    spans: list[Span] = field(default_factory=list)
    evaluations: list[Evaluation] = field(default_factory=list)
    log_messages: list[Any] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    def rejection_message(self, limit: int = 3) -> str:
        """'2 rejected: <where>: <reason>; ...' — the first few reasons, enough to fix the exporter."""
        if not self.rejected:
            return ""
        shown = "; ".join(str(r) for r in self.rejected[:limit])
        more = f" (and {len(self.rejected) - limit} more)" if len(self.rejected) > limit else ""
        return f"{len(self.rejected)} rejected: {shown}{more}"


def parse_request(data: bytes, signal: str, encoding: str, source: str,
                  normalizer: Any | None = None) -> Parsed:
    """Parse one OTLP/HTTP body (already decompressed) posted to /v1/traces or /v1/logs.

    The path says which request type the body is, so this calls the ingest package's OTLP readers for
    that type directly (`ingest.parse_bytes` would guess traces-vs-logs for protobuf by decoding the body
    twice, and would also accept file formats — JSON Lines, flat records — that an OTLP endpoint must not).
    """
    from ..ingest import otlp
    from ..ingest.parse import default_normalizer
    from ..ingest.result import ParseResult

    normalizer = normalizer or default_normalizer()
    result = ParseResult()
    try:
        if encoding == PROTOBUF:
            reader = otlp.parse_traces_proto if signal == TRACES else otlp.parse_logs_proto
            reader(data, source, normalizer, result)
        else:
            doc = _json_request(data, signal, source, result)
            reader = otlp.parse_traces_json if signal == TRACES else otlp.parse_logs_json
            reader(doc, source, normalizer, result)
    except otlp.RecordError as exc:  # the whole body is unreadable (not one record)
        raise MalformedBody(str(exc)) from None
    for span in result.spans:
        span.source = source  # one value for everything that came in live (the Live page counts it)
    return Parsed(
        spans=result.spans,
        evaluations=result.evaluations,
        log_messages=result.log_messages,
        rejected=result.rejected,
    )


def _json_request(data: bytes, signal: str, source: str, result: Any) -> dict[str, Any]:
    """Decode an OTLP/JSON body and refuse anything that is not the request type the path names."""
    import orjson

    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "utf-8" not in str(exc).lower():
            raise MalformedBody(f"body is not valid JSON: {exc}") from None
        try:  # keep the good records of a body with a stray invalid byte, and say so
            doc = orjson.loads(data.decode("utf-8", errors="replace"))
        except orjson.JSONDecodeError as exc2:
            raise MalformedBody(f"body is not valid JSON: {exc2}") from None
        result.warnings.append(Rejected(source, "invalid UTF-8 replaced with U+FFFD"))
    if not isinstance(doc, dict):
        raise MalformedBody(f"OTLP/JSON body must be an object, got {type(doc).__name__}")
    wanted, snake, other = (("resourceSpans", "resource_spans", "resourceLogs") if signal == TRACES
                            else ("resourceLogs", "resource_logs", "resourceSpans"))
    if other in doc and wanted not in doc:
        path = "/v1/logs" if signal == TRACES else "/v1/traces"
        raise MalformedBody(f"body holds {other}; post it to {path}")
    unknown = [k for k in doc if k not in (wanted, snake)]
    if unknown:
        raise MalformedBody(f"unexpected field(s) {unknown[:5]} in an OTLP {signal} request; "
                            f"expected {wanted!r}")
    if not isinstance(doc.get(wanted, doc.get(snake, [])), list):
        raise MalformedBody(f"{wanted!r} must be a list")
    return doc


class StoreWriter:
    """Writes one batch exactly as `tracedesk ingest` does: GenAI messages that arrived as log records are
    joined to their spans (stored, or patched into spans already stored), optional redaction, one
    transaction through `store.write_batch`. Runs only in the receiver's writer thread."""

    def __init__(self, redact: bool = False) -> None:
        self.redact = redact
        self._writer: Any = None

    def __call__(self, db: Any, spans: list[Span], evaluations: list[Evaluation], log_messages: list[Any]) -> None:
        from ..ingest import BatchWriter, IngestReport, ParseResult

        if self._writer is None or self._writer.db is not db:
            self._writer = BatchWriter(db, IngestReport(), self.redact, batch_size=1 << 62)
        # A fresh report per batch: the receiver runs for days, the report's trace-id set must not grow.
        self._writer.report = IngestReport()
        self._writer.add(ParseResult(spans=list(spans), evaluations=list(evaluations),
                                     log_messages=list(log_messages)))
        self._writer.flush()
