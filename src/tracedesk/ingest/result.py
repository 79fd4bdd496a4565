"""What a parse returns, and what an ingest reports."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..models import Evaluation, Rejected, Span

#: Attribute/event string values longer than this are truncated before storage (reported as a warning).
MAX_VALUE_CHARS = 1_000_000


@dataclass(slots=True)
class LogMessage:
    """A GenAI message that arrived as an OTLP log record, to be joined to its span by ids."""

    trace_id: str
    span_id: str
    direction: str  # "input" | "output"
    time_ns: int
    seq: int  # position within its export request, for a stable order at equal times
    message: dict[str, Any]


@dataclass
class ParseResult:
    spans: list[Span] = field(default_factory=list)
    evaluations: list[Evaluation] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    #: records stored but altered (a value truncated, invalid UTF-8 replaced)
    warnings: list[Rejected] = field(default_factory=list)
    #: GenAI message events from OTLP logs, joined to their spans by the ingester / store
    log_messages: list[LogMessage] = field(default_factory=list)
    records: int = 0
    #: spans already turned into store rows (`store.span_row`) by a parse worker: cheap to ship between
    #: processes; only sent when nothing on the writing side needs the Span objects (redaction, log joins)
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def extend(self, other: "ParseResult") -> None:
        self.spans.extend(other.spans)
        self.rows.extend(other.rows)
        self.evaluations.extend(other.evaluations)
        self.rejected.extend(other.rejected)
        self.warnings.extend(other.warnings)
        self.log_messages.extend(other.log_messages)
        self.records += other.records


@dataclass
class IngestReport:
    files: int = 0
    traces: int = 0
    spans_inserted: int = 0
    spans_unchanged: int = 0
    spans_replaced: int = 0
    evaluations: int = 0
    log_messages: int = 0
    by_convention: Counter = field(default_factory=Counter)
    rejected: list[Rejected] = field(default_factory=list)
    warnings: list[Rejected] = field(default_factory=list)
    redactions: int = 0
    incomplete_traces: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    _trace_ids: set = field(default_factory=set, repr=False)

    @property
    def spans(self) -> int:
        """Spans read and stored (new + unchanged + replaced)."""
        return self.spans_inserted + self.spans_unchanged + self.spans_replaced

    @property
    def ok(self) -> bool:
        return not self.rejected

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "traces": self.traces,
            "spans": self.spans,
            "spans_inserted": self.spans_inserted,
            "spans_unchanged": self.spans_unchanged,
            "spans_replaced": self.spans_replaced,
            "by_convention": dict(sorted(self.by_convention.items())),
            "evaluations": self.evaluations,
            "log_messages": self.log_messages,
            "redactions": self.redactions,
            "incomplete_traces": self.incomplete_traces,
            "rejected": [str(r) for r in self.rejected],
            "warnings": [str(w) for w in self.warnings],
            "seconds": round(self.seconds, 3),
        }
