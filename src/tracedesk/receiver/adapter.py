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
    #: records stored with a field dropped or text replaced (OTLP allows partial_success to carry
    #: warnings with a rejected count of 0)
    warnings: list[Rejected] = field(default_factory=list)

    def rejection_message(self, limit: int = 3) -> str:
        """'2 rejected: <where>: <reason>; ...' — the first few reasons, enough to fix the exporter —
        then '1 warning(s): ...' for values dropped from records that were stored."""
        parts = []
        for items, label in ((self.rejected, "rejected"), (self.warnings, "warning(s)")):
            if not items:
                continue
            shown = "; ".join(str(r) for r in items[:limit])
            more = f" (and {len(items) - limit} more)" if len(items) > limit else ""
            parts.append(f"{len(items)} {label}: {shown}{more}")
        return " | ".join(parts)


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
            json_reader = otlp.parse_traces_json if signal == TRACES else otlp.parse_logs_json
            json_reader(doc, source, normalizer, result)
    except otlp.RecordError as exc:  # the whole body is unreadable (not one record)
        raise MalformedBody(str(exc)) from None
    for span in result.spans:
        span.source = source  # one value for everything that came in live (the Live page counts it)
    return Parsed(
        spans=result.spans,
        evaluations=result.evaluations,
        log_messages=result.log_messages,
        rejected=result.rejected,
        warnings=result.warnings,
    )


def _json_request(data: bytes, signal: str, source: str, result: Any) -> dict[str, Any]:
    """Decode an OTLP/JSON body and refuse anything that is not the request type the path names."""
    import orjson

    from ..ingest import textcodec

    try:
        data, _ = textcodec.to_utf8(data)
        # Keeps the good records of a body with a stray invalid byte or a lone surrogate escape, and says so.
        doc, note = textcodec.loads(data)
    except textcodec.UndecodableText as exc:
        raise MalformedBody(str(exc)) from None
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedBody("body is nested too deeply to be OTLP/JSON") from None
    if note:
        result.warnings.append(Rejected(source, note))
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

    def __init__(self, redact: bool = False, redact_keep: tuple[str, ...] = ()) -> None:
        self.redact = redact
        self.redact_keep = redact_keep
        self._writer: Any = None

    def __call__(self, db: Any, spans: list[Span], evaluations: list[Evaluation],
                 log_messages: list[Any]) -> list[tuple[Any, Rejected]]:
        """Returns (record, Rejected) for each record the store refused (a deterministic failure; the rest
        of the batch is stored). Transient failures (database locked) raise: nothing is acknowledged."""
        from ..ingest import BatchWriter, IngestReport, ParseResult

        if self._writer is None or self._writer.db is not db:
            self._writer = BatchWriter(db, IngestReport(), self.redact, batch_size=1 << 62,
                                       redact_keep=self.redact_keep)
        # A fresh report per batch: the receiver runs for days, the report's trace-id set must not grow.
        self._writer.report = IngestReport()
        self._writer.add(ParseResult(spans=list(spans), evaluations=list(evaluations),
                                     log_messages=list(log_messages)))
        self._writer.flush()
        return self._writer.last_failed
