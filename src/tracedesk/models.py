"""Plain data types shared by every part of tracedesk.

`Span` is the normalized span: the contract between ingest, the store and everything that reads it.
Ingest produces `Span` and `Evaluation` objects without touching the database; the store writes them.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class SpanKind(str, enum.Enum):
    LLM = "LLM"
    CHAIN = "CHAIN"
    RETRIEVER = "RETRIEVER"
    RERANKER = "RERANKER"
    TOOL = "TOOL"
    AGENT = "AGENT"
    EMBEDDING = "EMBEDDING"
    GUARDRAIL = "GUARDRAIL"
    EVALUATOR = "EVALUATOR"
    UNKNOWN = "UNKNOWN"


class SpanStatus(str, enum.Enum):
    UNSET = "UNSET"
    OK = "OK"
    ERROR = "ERROR"


class CostSource(str, enum.Enum):
    REPORTED = "reported"  # the span carried a cost attribute
    COMPUTED = "computed"  # tokens x the bundled price table
    UNKNOWN = "unknown"  # no cost reported and no price known: never silently zero


class EvaluationSource(str, enum.Enum):
    JUDGE = "judge"
    HEURISTIC = "heuristic"
    IMPORTED = "imported"
    HUMAN = "human"


#: Cohort dimensions that have their own indexed column in the spans table. Any other mapped
#: dimension lands in `Span.dims` (JSON) and is still filterable, just not indexed.
COLUMN_DIMENSIONS: tuple[str, ...] = ("route", "tenant", "prompt_version", "environment")


@dataclass(slots=True)
class Span:
    """One normalized span. Ids are lowercase hex; times are Unix nanoseconds."""

    trace_id: str
    span_id: str
    name: str = ""
    parent_span_id: str | None = None
    kind: str = SpanKind.UNKNOWN.value
    status: str = SpanStatus.UNSET.value
    status_message: str | None = None
    start_ns: int = 0
    end_ns: int = 0
    duration_ms: float = 0.0
    service: str | None = None
    #: the model the application asked for (one cohort per requested model); the snapshot that answered
    #: is `response_model` (a provider's silent snapshot change shows there, not as a new model)
    model: str | None = None
    response_model: str | None = None
    #: canonical lowercase provider (semconv.PROVIDER_ALIASES: `OpenAI`/`openai.responses` -> `openai`)
    provider: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    #: prompt-cache reads, inside input_tokens (ingest normalizes every convention to that meaning)
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    #: prompt-cache writes (Anthropic `cache_creation_input_tokens`), inside input_tokens like cache reads;
    #: billed at a premium (1.25x input for the 5-minute cache)
    cache_write_tokens: int | None = None
    cost_usd: float | None = None
    cost_source: str = CostSource.UNKNOWN.value
    ttft_ms: float | None = None
    agent_name: str | None = None
    tool_name: str | None = None
    #: a handoff between agents, from the SDK's own signal (a handoff span, an agent-graph parent, a
    #: LangGraph node transition); a side left None here is resolved per trace by the store
    handoff_from: str | None = None
    handoff_to: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    route: str | None = None
    tenant: str | None = None
    prompt_version: str | None = None
    environment: str | None = None
    #: other mapped cohort dimensions, name -> value
    dims: dict[str, str] = field(default_factory=dict)
    input_text: str | None = None
    output_text: str | None = None
    #: structured messages: [{"role": ..., "content": ..., "tool_calls": [...]}, ...]
    input_messages: list[dict[str, Any]] | None = None
    output_messages: list[dict[str, Any]] | None = None
    #: retrieved documents: [{"id": ..., "score": ..., "content": ...}, ...]
    documents: list[dict[str, Any]] | None = None
    #: tool call arguments / result, as text (JSON text where the source was structured)
    tool_arguments: str | None = None
    tool_result: str | None = None
    finish_reason: str | None = None
    #: the convention the span was read as (openinference, otel_genai, openllmetry, ...)
    convention: str = "unknown"
    otel_kind: str | None = None
    scope: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    #: where the span came from: "path/to/file.json.gz:12" or "otlp-http"
    source: str | None = None

    @property
    def retrieved_doc_ids(self) -> list[str]:
        return [str(d["id"]) for d in (self.documents or []) if d.get("id") is not None]


@dataclass(slots=True)
class Evaluation:
    """One score attached to a span (and its trace)."""

    trace_id: str
    span_id: str | None
    name: str
    score: float | None = None
    label: str | None = None
    passed: bool | None = None
    reason: str | None = None
    evaluator_version: str | None = None
    judge_model: str | None = None
    judge_cost_usd: float | None = None
    judge_latency_ms: float | None = None
    source: str = EvaluationSource.IMPORTED.value
    created_ns: int | None = None
    #: set when the evaluator could not produce a score (unreadable judge reply, timeout...)
    error: str | None = None
    #: raw judge reply or original attributes, kept for audit
    raw: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Rejected:
    """A record that could not be read. Reported to the user; never stored."""

    where: str  # "file.json:3" or "file.json#resourceSpans[0].scopeSpans[1].spans[4]"
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"
