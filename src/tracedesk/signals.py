"""Signals: the one registry of named metrics every feature computes the same way.

A signal has a name, a label, a one-sentence definition, a unit, the direction that is bad, the level
its samples are taken at (a span, an LLM answer, a trace, an evaluation), its parameters, a default
aggregation and ONE reader producing its samples from the store: a frame of `t` (Unix ns), `v`,
one column per group-by dimension and `trace_id` (`tracedesk.store.samples`). A figure is an
aggregation of samples (`aggregate`), so the Cohorts matrix, the Overview KPIs, an alert window and a
drift window that hold the same samples give the same number.

Aggregations: mean, rate (share of non-zero samples), sum, count, min, max, p50/p90/p95/p99 (linear
interpolation, numpy's default). A count signal (trace_count) reads 0 for an empty window, not missing.

Two refusal signals, named for what they count: `refusal_rate_answer` is a share of LLM answers,
`refusal_rate_trace` a share of traces (a trace with one refused answer out of three counts once).
`refusal_rate`, the name v1 alert rules used, is the per-answer one.

Token signals read the stored counts, which mean the same thing whatever convention reported them
(docs/ingest.md, "Token usage"): input tokens include prompt-cache reads and writes (Anthropic's own
`input_tokens`, which leaves them out, is completed at ingest), output tokens include reasoning tokens, and
total = input + output. A prompt cache that stops hitting does not move `input_tokens`; it moves cost.

Other features register signals of their own (`register`, or `register_signal` with an alerts
SignalSpec); drift's windowed statistics are loaded on first use (SIGNAL_PROVIDERS).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlite_utils

from .errors import choices_hint
from .alerts.definition import SPAN_KINDS, SignalParam, SignalSpec, register_signal_spec
from .store import samples as _samples
from .store.samples import SampleQuery, query_samples

__all__ = ["Signal", "SIGNALS", "SampleQuery", "aggregate", "get", "markdown", "query_samples", "register",
           "register_signal", "samples", "samples_many", "cohort_values", "figures", "LEVELS", "AGGREGATIONS"]

SPAN, ANSWER, TRACE, EVALUATION = "span", "LLM answer", "trace", "evaluation"
LEVELS: tuple[str, ...] = (SPAN, ANSWER, TRACE, EVALUATION)
AGGREGATIONS: tuple[str, ...] = ("mean", "rate", "sum", "count", "min", "max", "p50", "p90", "p95", "p99")
_PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0}
#: The percentile aggregations.
PERCENTILES: tuple[str, ...] = tuple(_PERCENTILES)

Reader = Callable[[sqlite_utils.Database, dict[str, Any], SampleQuery], pd.DataFrame]


@dataclass(frozen=True)
class Signal:
    """One named signal. `read(db, params, query)` returns its samples (columns t, v, *group_by, trace_id)."""

    name: str
    label: str
    definition: str
    unit: str
    bad: str  # "up": higher is worse; "down": lower is worse
    level: str  # one of LEVELS
    read: Reader
    aggregation: str = "mean"
    params: tuple[SignalParam, ...] = ()
    threshold: float = 0.0  # what the alert builder proposes for a new condition
    #: a window without samples has the value 0 under count/sum (traffic that stopped is a value)
    zero_when_empty: bool = False
    #: the signal this name stands for (an old name kept so saved rules load)
    alias_of: str | None = None
    examples: dict[str, str] = field(default_factory=dict)  # representative parameters (docs, tests)

    @property
    def spec(self) -> SignalSpec:
        """What the alert validator and builder know about it."""
        return SignalSpec(self.name, self.label, self.params, self.aggregation, self.unit, self.definition,
                          ">" if self.bad == "up" else "<", self.threshold)

    @property
    def compute(self) -> Reader:  # the name the alerts registry used
        return self.read

    def display(self, params: dict[str, Any] | None = None) -> str:
        """Label with its parameters, e.g. 'Evaluator score (groundedness)'."""
        shown = [str(v) for k, v in (params or {}).items() if k != "type"]
        return f"{self.label} ({', '.join(shown)})" if shown else self.label


SIGNALS: dict[str, Signal] = {}


def register(signal: Signal) -> None:
    """Add (or replace) a signal: the alert validator, builder and evaluator, drift and the pages see it."""
    if signal.level not in LEVELS:
        raise ValueError(f"signal {signal.name!r}: level must be one of {', '.join(LEVELS)}, not {signal.level!r}")
    if signal.bad not in ("up", "down"):
        raise ValueError(f"signal {signal.name!r}: bad must be 'up' or 'down', not {signal.bad!r}")
    if signal.aggregation not in AGGREGATIONS:
        raise ValueError(f"signal {signal.name!r}: aggregation must be one of {', '.join(AGGREGATIONS)}")
    SIGNALS[signal.name] = signal
    register_signal_spec(signal.spec)


def register_signal(spec: SignalSpec, compute: Reader, *, level: str = SPAN) -> None:
    """Register from an alerts SignalSpec (the form drift and plugins used before the registry)."""
    bad = "down" if spec.default_comparator in ("<", "<=") else "up"
    register(Signal(spec.type, spec.label, spec.description, spec.unit, bad, level, compute,
                    spec.default_aggregation, spec.params, spec.default_threshold))


#: Modules that register more signals when imported (loaded on first use of the registry, so a rule
#: using a drift signal works in the CLI, the page and notebooks alike).
SIGNAL_PROVIDERS: list[str] = ["tracedesk.drift.alert_signals"]
_loaded: set[str] = set()


def load_providers() -> None:
    for name in SIGNAL_PROVIDERS:
        if name in _loaded:
            continue
        _loaded.add(name)
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the provider exists but is broken: say so
                raise


def get(name: str) -> Signal:
    load_providers()
    signal = SIGNALS.get(name)
    if signal is None:
        raise KeyError(f"unknown signal {name!r}; {choices_hint(name, sorted(SIGNALS))}")
    return signal


def samples(db: sqlite_utils.Database, signal: dict[str, Any], query: SampleQuery) -> pd.DataFrame:
    """The samples of one signal ({"type": name, **params}): columns t, v, *group_by, trace_id, sorted by t
    (with query.values_only: the column v alone, in no defined order)."""
    definition = get(signal["type"])
    params = {k: v for k, v in signal.items() if k != "type"}
    return _by_time(definition.read(db, params, query), query)


def _by_time(frame: pd.DataFrame, query: SampleQuery) -> pd.DataFrame:
    if query.values_only:  # values alone have no order to give them
        return frame
    return frame.sort_values("t", kind="stable").reset_index(drop=True)


def samples_many(db: sqlite_utils.Database, specs: "list[dict[str, Any]]", query: SampleQuery) -> list[pd.DataFrame]:
    """`samples` of several signals under one query; the signals whose samples are one column of the
    same table (store.samples.ColumnReader) are read in one pass over it (each frame equals its own
    `samples`)."""
    out: dict[int, pd.DataFrame] = {}
    shared: dict[str, list[tuple[int, _samples.ColumnRead]]] = {}
    for i, spec in enumerate(specs):
        definition = get(spec["type"])
        params = {k: v for k, v in spec.items() if k != "type"}
        if isinstance(definition.read, _samples.ColumnReader):
            if definition.read.prepare is not None:
                definition.read.prepare(db)
            read = definition.read.describe(params)
            shared.setdefault(read.source, []).append((i, read))
        else:
            out[i] = definition.read(db, params, query)
    for group in shared.values():
        for (i, _read), frame in zip(group, _samples.shared_samples(db, [r for _i, r in group], query)):
            out[i] = frame
    return [_by_time(out[i], query) for i in range(len(specs))]


def aggregate(values: np.ndarray | pd.Series, aggregation: str) -> float:
    """One figure from samples (as an alert window computes it); NaN when there are none (count: 0)."""
    v = np.asarray(values, dtype=np.float64)
    if aggregation == "count":
        return float(len(v))
    if not len(v):
        return float("nan")
    if aggregation == "sum":
        return float(v.sum())
    if aggregation == "mean":
        return float(v.mean())
    if aggregation == "rate":
        return float((v != 0).mean())
    if aggregation == "min":
        return float(v.min())
    if aggregation == "max":
        return float(v.max())
    if aggregation in _PERCENTILES:
        return float(np.percentile(v, _PERCENTILES[aggregation]))
    raise ValueError(f"unknown aggregation {aggregation!r}; valid choices: {', '.join(AGGREGATIONS)}")


def figures(frame: pd.DataFrame, aggregations: "list[str] | tuple[str, ...]", keys: Any = None) -> pd.DataFrame:
    """Aggregations (columns) of a sample frame's `v`, per value of `keys` (rows, sorted; a Series aligned
    to the frame) or in one row "(all)". Each equals `aggregate` over the cohort's samples."""
    v = frame["v"].astype(float)
    if keys is None:
        keys = pd.Series("(all)", index=frame.index)
    g = v.groupby(keys, sort=True)
    out = {}
    for agg in aggregations:
        if agg == "count":
            out[agg] = g.size().astype(float)
        elif agg == "sum":
            out[agg] = g.sum()
        elif agg == "mean":
            out[agg] = g.mean()
        elif agg == "rate":
            out[agg] = (v != 0).astype(float).groupby(keys, sort=True).mean()
        elif agg in ("min", "max"):
            out[agg] = getattr(g, agg)()
        elif agg in _PERCENTILES:
            out[agg] = g.quantile(_PERCENTILES[agg] / 100)  # linear interpolation, as numpy
        else:
            raise ValueError(f"unknown aggregation {agg!r}; valid choices: {', '.join(AGGREGATIONS)}")
    return pd.DataFrame(out, columns=list(aggregations))


def cohort_values(db: sqlite_utils.Database, signal: dict[str, Any], dimension: str | None, *,
                  aggregation: str | None = None, filters: Any = None, since_ns: int | None = None,
                  until_ns: int | None = None) -> pd.Series:
    """The signal's figure per cohort of `dimension` (index: the cohort value, "(none)" for rows
    without one), or one figure under the index "(all)" when dimension is None. Samples are those of
    the filtered traces with since < t <= until."""
    from .cohorts import NO_VALUE

    agg = aggregation or get(signal["type"]).aggregation
    group = (dimension,) if dimension else ()
    frame = samples(db, signal, SampleQuery({}, group, since_ns, until_ns, filters))
    keys = frame[dimension].fillna(NO_VALUE) if dimension else None
    return figures(frame, [agg], keys)[agg]


# ---------------------------------------------------------------------------------------------
# The built-in signals

_EVALUATOR = SignalParam("evaluator", help="an evaluator name, e.g. groundedness; all evaluators when omitted")
_ONE_EVALUATOR = SignalParam("evaluator", True, help="an evaluator name, e.g. groundedness")
_KIND = SignalParam("span_kind", choices=SPAN_KINDS, help="a span kind")
S = _samples

BUILTINS: tuple[Signal, ...] = (
    Signal("eval_score", "Evaluator score", "Score of one evaluator (0-1, higher is better), per evaluation.",
           "score", "down", EVALUATION, S.eval_scores, "mean", (_ONE_EVALUATOR,), 0.7,
           examples={"evaluator": "groundedness"}),
    Signal("quality", "Quality (mean evaluator score)",
           "Score of each evaluation of one evaluator, or of every evaluator when none is named (0-1).",
           "score", "down", EVALUATION, S.eval_scores, "mean", (_EVALUATOR,), 0.7),
    Signal("eval_pass_rate", "Eval pass rate", "1 per evaluation that passed, 0 per one that did not.",
           "share", "down", EVALUATION, S.eval_passed, "mean", (_EVALUATOR,), 0.8),
    Signal("eval_fail_rate", "Eval fail rate", "1 per evaluation that did not pass, 0 per pass.",
           "share", "up", EVALUATION, S.eval_failed, "rate",
           (SignalParam("evaluator", help="an evaluator name; all when omitted"),), 0.2),
    Signal("eval_coverage", "Evaluation coverage",
           "1 per trace with a score from the evaluator, 0 per trace without one (evaluations that errored "
           "are not scores). A judge that stops leaves no low score, only this share falling; traces judged "
           "after a delay read as unjudged until their evaluations are stored.",
           "share", "down", TRACE, S.eval_coverage, "rate", (_ONE_EVALUATOR,), 0.5,
           examples={"evaluator": "groundedness"}),
    Signal("thumbs_down_rate", "Thumbs-down rate",
           "1 per user_feedback evaluation labelled thumbs_down, 0 per other feedback.",
           "share", "up", EVALUATION, S.thumbs_down, "rate", (), 0.2),
    Signal("pii_rate", "PII in answers",
           "1 per trace whose answer (root span output) holds PII or a secret (email, phone, card, IBAN, SSN, "
           "API key), 0 otherwise.", "share", "up", TRACE, S.pii_answers, "rate", (), 0.01),
    Signal("refusal_rate_answer", "Refusal rate (share of LLM answers)",
           "1 per LLM answer that reads as a refusal, 0 otherwise (source=evaluation: per 'refusal' evaluation). "
           "One answer per provider request: the call's text, a wrapping LLM span's when no span below holds any.",
           "share", "up", ANSWER, S.refusal_answers, "rate",
           (SignalParam("source", choices=("output_text", "evaluation"),
                        help="output_text (text check on LLM answers, default) or evaluation ('refusal')"),), 0.1),
    Signal("refusal_rate_trace", "Refusal rate (share of traces)",
           "1 per trace with an answer that reads as a refusal or a failed 'refusal' evaluation, else 0.",
           "share", "up", TRACE, S.refusal_traces, "mean", (), 0.1),
    Signal("pii_rate", "PII in answers",
           "1 per trace whose answer (root span output) holds PII or a secret (email, phone, card, IBAN, SSN, "
           "API key), 0 otherwise.", "share", "up", TRACE, S.pii_answers, "rate", (), 0.01),
    Signal("duration", "Span duration", "Duration of each span (of one kind / name), ms. Of kind LLM: each LLM call (an LLM span "
           "wrapping another, a framework's around its provider call's, is not sampled again).",
           "ms", "up", SPAN, S.span_durations, "p95", (_KIND, SignalParam("span_name", help="a span name")), 1000,
           examples={"span_kind": "RETRIEVER"}),
    Signal("trace_duration", "Trace duration", "End-to-end duration of each trace (first span start to last "
           "span end), ms.", "ms", "up", TRACE, S.trace_value("duration_ms"), "p95", (), 5000),
    Signal("ttft", "Time to first token", "Time to first token of each LLM call that reports it, ms.",
           "ms", "up", ANSWER, S.llm_value("ttft_ms"), "p95", (), 2000),
    Signal("input_tokens", "Input tokens per LLM call", "Input tokens of each LLM call, prompt-cache reads and writes included (usage counted once).",
           "tokens", "up", ANSWER, S.llm_value("input_tokens"), "mean", (), 4000),
    Signal("output_tokens", "Output tokens per LLM call", "Output tokens of each LLM call (usage counted once).",
           "tokens", "up", ANSWER, S.llm_value("output_tokens"), "mean", (), 1000),
    Signal("input_tokens_per_trace", "Input tokens per trace",
           "Input tokens of each trace (de-duplicated usage, cache reads and writes included): the prompt and "
           "context every call of it sent.",
           "tokens", "up", TRACE, S.trace_value("input_tokens"), "mean", (), 15000),
    Signal("tokens_per_trace", "Tokens per trace", "Total tokens of each trace (de-duplicated usage).",
           "tokens", "up", TRACE, S.trace_value("total_tokens"), "mean", (), 20000),
    Signal("cost_per_trace", "Cost per trace", "Cost of each trace whose cost is known (USD; unknown is not 0).",
           "USD", "up", TRACE, S.trace_value("cost_usd"), "mean", (), 0.05),
    Signal("error_rate", "Error rate",
           "1 per trace with an error span (or per span of span_kind with status ERROR; of kind LLM, per LLM call), else 0.",
           "share", "up", TRACE, S.errors, "rate", (_KIND,), 0.05, examples={"span_kind": "TOOL"}),
    Signal("tool_calls_per_trace", "Tool calls per trace", "TOOL spans of each trace.",
           "calls", "up", TRACE, S.trace_value("tool_calls"), "mean", (), 5),
    Signal("llm_calls_per_trace", "LLM calls per trace",
           "LLM calls of each trace (an LLM span wrapping another, e.g. a framework's around its provider call's, "
           "is not a call of its own).",
           "calls", "up", TRACE, S.trace_value("llm_calls"), "mean", (), 6),
    Signal("spans_per_trace", "Spans per trace", "Spans of each trace.",
           "spans", "up", TRACE, S.trace_value("span_count"), "mean", (), 30),
    Signal("trace_count", "Traces", "1 per trace (its count is the traffic; an empty window counts 0).",
           "traces", "down", TRACE, S.trace_value("one"), "count", (), 1, zero_when_empty=True),
    Signal("retrieval_score", "Retrieval score", "Score of the first document of each retrieval.",
           "score", "down", SPAN, S.retrieval_top_scores, "mean", (), 0.5),
    Signal("input_length", "Input length", "Characters of each LLM call's input (text, else messages JSON).",
           "chars", "up", ANSWER, S.llm_value("input_length"), "mean", (), 8000),
    Signal("output_length", "Output length", "Characters of each LLM answer's text (one per provider request, as refusal_rate_answer reads them).",
           "chars", "down", ANSWER, S.llm_value("output_length"), "mean", (), 50),
)

_refusal = next(s for s in BUILTINS if s.name == "refusal_rate_answer")
#: v1 alert files wrote `refusal_rate`: the per-answer signal under its old name.
ALIASES: dict[str, Signal] = {
    "refusal_rate": Signal("refusal_rate", "Refusal rate (share of LLM answers; v1 name)",
                           _refusal.definition + " The v1 name of refusal_rate_answer.", _refusal.unit,
                           _refusal.bad, _refusal.level, _refusal.read, _refusal.aggregation, _refusal.params,
                           _refusal.threshold, alias_of="refusal_rate_answer"),
}

#: The signal types alert rule v1 shipped with (their samples must not change).
V1_TYPES: tuple[str, ...] = ("eval_score", "eval_fail_rate", "thumbs_down_rate", "refusal_rate", "duration",
                             "trace_duration", "ttft", "input_tokens", "output_tokens", "cost_per_trace",
                             "error_rate", "tool_calls_per_trace", "llm_calls_per_trace", "spans_per_trace")

for _signal in (*BUILTINS, *ALIASES.values()):
    register(_signal)


def canonical(name: str) -> str:
    """The registry name a signal type stands for ('refusal_rate' -> 'refusal_rate_answer')."""
    signal = SIGNALS.get(name)
    return signal.alias_of if signal is not None and signal.alias_of else name


def markdown() -> str:
    """The signal list as Markdown, under docs/signals.md's title (tracedesk.docgen writes the page)."""
    load_providers()
    lines = [(__doc__ or "").split("\n\n", 1)[1].strip(), "",
             "| name | label | level | unit | bad | aggregation | parameters | definition |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in sorted(SIGNALS):
        s = SIGNALS[name]
        params = ", ".join(f"`{p.name}`" + (" (required)" if p.required else "") for p in s.params) or "—"
        lines.append(f"| `{s.name}` | {s.label} | {s.level} | {s.unit or '—'} | {s.bad} | {s.aggregation} | "
                     f"{params} | {s.definition} |")
    lines.append("")
    return "\n".join(lines)
