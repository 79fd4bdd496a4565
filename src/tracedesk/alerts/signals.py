"""Signals: what an alert condition measures, read from the store as time-stamped samples.

A signal's compute function runs ONE query and returns a DataFrame with columns `t` (Unix ns),
`v` (float) and one column per group-by dimension. The evaluator windows and aggregates the samples
in numpy; nothing here runs per step. The registry is a table (type -> spec + compute function) so
other features (drift) can `register_signal` their own types.

Samples are stamped with the span's start time; trace-level signals and evaluations with their trace's
start (when the traffic happened, not when the judge ran). Evaluations read their cohort from the
trace, and from the judged span only for span-level dimensions (model, agent_name, service): joining
the wide span rows costs ~10x on 1M spans, so it happens only when needed.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlite_utils

from ..analysis.textchecks import is_refusal
from ..ingest.redact import find_pii
from .definition import SPAN_KINDS, SignalParam, SignalSpec, register_signal_spec


@dataclass(frozen=True)
class SampleQuery:
    """What every compute function receives besides the signal's parameters."""

    scope: dict[str, tuple[str, ...]]
    group_by: tuple[str, ...]
    since_ns: int | None = None  # samples with t > since_ns (None: no bound)
    until_ns: int | None = None  # samples with t <= until_ns


ComputeFn = Callable[[sqlite_utils.Database, dict[str, Any], SampleQuery], pd.DataFrame]


@dataclass(frozen=True)
class SignalDef:
    spec: SignalSpec
    compute: ComputeFn


SIGNALS: dict[str, SignalDef] = {}


def register_signal(spec: SignalSpec, compute: ComputeFn) -> None:
    """Add (or replace) a signal type: the validator, the builder and the evaluator all see it."""
    SIGNALS[spec.type] = SignalDef(spec, compute)
    register_signal_spec(spec)


#: Modules that register more signal types when imported (loaded on first use of the registry, so a
#: rule using a drift signal works in the CLI, the page and notebooks alike).
SIGNAL_PROVIDERS: list[str] = ["tracedesk.drift.alert_signals"]
_loaded: set[str] = set()


def load_providers() -> None:
    import importlib

    for name in SIGNAL_PROVIDERS:
        if name in _loaded:
            continue
        _loaded.add(name)
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the provider exists but is broken: say so
                raise


def samples(db: sqlite_utils.Database, signal: dict[str, Any], query: SampleQuery) -> pd.DataFrame:
    """The samples of one signal (columns t, v, *group_by), sorted by t."""
    load_providers()
    definition = SIGNALS.get(signal["type"])
    if definition is None:
        raise KeyError(f"unknown signal type {signal['type']!r}; known: {', '.join(sorted(SIGNALS))}")
    params = {k: v for k, v in signal.items() if k != "type"}
    frame = definition.compute(db, params, query)
    return frame.sort_values("t", kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Query helpers shared by the built-in signals (and usable by registered ones)

#: Cohort attributes often sit on the root span only (route, tenant...), so a span's dimension is its
#: own column, else its trace's. Trace rows hold comma lists of models and agents.
_TRACE_DIM = {"route": "t.route", "tenant": "t.tenant", "prompt_version": "t.prompt_version",
              "environment": "t.environment", "service": "t.service", "model": "t.models",
              "agent_name": "t.agents"}
_LIST_DIMS = {"model", "agent_name"}
#: dimensions an evaluation reads from its judged span (the rest come from its trace)
_SPAN_LEVEL = {"model", "agent_name", "service"}


def _dim_sql(source: str, dim: str) -> str:
    """The SQL value of a dimension for one sample (used for group-by keys)."""
    if dim.startswith("dims."):
        key = dim[5:].replace('"', '""').replace("'", "''")
        trace = f"json_extract(t.dims, '$.\"{key}\"')"
        return trace if source in ("trace", "eval") else f"COALESCE(json_extract(s.dims, '$.\"{key}\"'), {trace})"
    if dim == "tool_name":  # a span's own tool only: traces and their evaluations have none
        return "s.tool_name" if source == "span" else "NULL"
    if source == "trace" or (source == "eval" and dim not in _SPAN_LEVEL):
        return _TRACE_DIM[dim]
    return f"COALESCE(s.{dim}, {_TRACE_DIM[dim]})"


def _scope_sql(source: str, scope: dict[str, tuple[str, ...]]) -> tuple[list[str], list[Any]]:
    where, params = [], []
    for dim, values in scope.items():
        marks = ",".join("?" for _ in values)
        if dim in _LIST_DIMS:
            # a trace matches when any of its models/agents is listed; a span by its own value if it has one
            in_list = " OR ".join(f"instr(',' || {_TRACE_DIM[dim]} || ',', ?) > 0" for _ in values)
            list_params = [f",{v}," for v in values]
            if source == "trace":
                where.append(f"({in_list})")
                params.extend(list_params)
            else:
                where.append(f"(s.{dim} IN ({marks}) OR (s.{dim} IS NULL AND ({in_list})))")
                params.extend([*values, *list_params])
        else:
            where.append(f"{_dim_sql(source, dim)} IN ({marks})")
            params.extend(values)
    return where, params


def _fetch(db: sqlite_utils.Database, sql: str, params: list[Any], group_by: tuple[str, ...]) -> pd.DataFrame:
    rows = db.execute(sql, params).fetchall()
    names = ["t", "v", *group_by]
    if not rows:
        frame = pd.DataFrame({n: pd.Series(dtype="float64" if n == "v" else "int64" if n == "t" else "object")
                              for n in names})
        return frame
    cols = list(zip(*rows))
    data: dict[str, Any] = {
        "t": np.asarray(cols[0], dtype=np.int64),
        "v": np.asarray(cols[1], dtype=np.float64),
    }
    for i, dim in enumerate(group_by):
        data[dim] = np.asarray(cols[2 + i], dtype=object)
    return pd.DataFrame(data)


def query_samples(db: sqlite_utils.Database, source: str, value_sql: str, where: list[str],
                  params: list[Any], query: SampleQuery) -> pd.DataFrame:
    """One SELECT of (time, value, group dims) from spans ('span'), traces ('trace') or evaluations
    joined to their span and trace ('eval'), with the rule's scope and time bounds applied."""
    if source == "span":
        # join the trace only when a dimension is read (it costs a lookup per span)
        frm = "spans s LEFT JOIN traces t ON t.trace_id = s.trace_id" if (query.scope or query.group_by) else "spans s"
        tcol = "s.start_ns"
    elif source == "trace":
        frm, tcol = "traces t", "t.start_ns"
    elif source == "eval":
        frm = "evaluations e JOIN traces t ON t.trace_id = e.trace_id"
        if any(d in _SPAN_LEVEL for d in (*query.scope, *query.group_by)):
            frm += " LEFT JOIN spans s ON s.trace_id = e.trace_id AND s.span_id = e.span_id"
        tcol = "t.start_ns"
    else:  # pragma: no cover - programming error
        raise ValueError(source)
    scope_where, scope_params = _scope_sql(source, query.scope)
    clauses = [*where, *scope_where, f"{tcol} IS NOT NULL", f"({value_sql}) IS NOT NULL"]
    all_params = [*params, *scope_params]
    if query.since_ns is not None:
        clauses.append(f"{tcol} > ?")
        all_params.append(int(query.since_ns))
    if query.until_ns is not None:
        clauses.append(f"{tcol} <= ?")
        all_params.append(int(query.until_ns))
    dims = "".join(f", {_dim_sql(source, d)}" for d in query.group_by)
    sql = f"SELECT {tcol}, {value_sql}{dims} FROM {frm} WHERE {' AND '.join(clauses)}"
    _register_functions(db)
    return _fetch(db, sql, all_params, query.group_by)


def _register_functions(db: sqlite_utils.Database) -> None:
    # A SQL function so the refusal check runs inside the one query (no second pass in Python).
    db.conn.create_function("td_is_refusal", 1, lambda text: int(is_refusal(text)), deterministic=True)
    # the same detectors ingest masks with, so "leaks PII" and "would be redacted" agree
    db.conn.create_function("td_has_pii", 1, lambda text: int(bool(text) and bool(find_pii(text))),
                            deterministic=True)


# ---------------------------------------------------------------------------------------------
# Built-in signals

_KIND = SignalParam("span_kind", choices=SPAN_KINDS, help="a span kind")


def _eval_score(db, params, q):
    return query_samples(db, "eval", "e.score", ["e.name = ?"], [params["evaluator"]], q)


def _eval_fail(db, params, q):
    where, args = ["e.passed IS NOT NULL"], []  # an evaluator error leaves passed NULL
    if "evaluator" in params:
        where.append("e.name = ?")
        args.append(params["evaluator"])
    return query_samples(db, "eval", "1 - e.passed", where, args, q)


def _thumbs_down(db, params, q):
    return query_samples(db, "eval", "CASE WHEN e.label = 'thumbs_down' THEN 1 ELSE 0 END",
                         ["e.name = 'user_feedback'"], [], q)


def _refusal(db, params, q):
    if params.get("source", "output_text") == "evaluation":
        # Scores are "higher is better": a refusal evaluation scores 1 when the answer is NOT a refusal.
        value = ("CASE WHEN e.label = 'refused' THEN 1 WHEN e.passed IS NOT NULL THEN 1 - e.passed "
                 "WHEN e.score IS NOT NULL THEN (e.score < 0.5) END")
        return query_samples(db, "eval", value, ["e.name = 'refusal'"], [], q)
    return query_samples(db, "span", "td_is_refusal(s.output_text)",
                         ["s.kind = 'LLM'", "s.output_text IS NOT NULL"], [], q)


def _pii(db, params, q):
    # the answer the user saw: the root span's output (an agent's scratch work is not a leak yet)
    return query_samples(db, "span", "td_has_pii(s.output_text)",
                         ["s.parent_span_id IS NULL", "s.output_text IS NOT NULL"], [], q)


def _duration(db, params, q):
    where, args = [], []
    if "span_kind" in params:
        where.append("s.kind = ?")
        args.append(params["span_kind"])
    if "span_name" in params:
        where.append("s.name = ?")
        args.append(params["span_name"])
    return query_samples(db, "span", "s.duration_ms", where, args, q)


def _span_column(column: str, llm_only: bool = True, usage: bool = False) -> ComputeFn:
    def compute(db, params, q):
        where = ["s.kind = 'LLM'"] if llm_only else []
        if usage:
            where.append("s.usage_counted")
        return query_samples(db, "span", f"s.{column}", where, [], q)
    return compute


def _trace_column(value_sql: str) -> ComputeFn:
    def compute(db, params, q):
        return query_samples(db, "trace", value_sql, [], [], q)
    return compute


def _error_rate(db, params, q):
    if "span_kind" in params:
        return query_samples(db, "span", "s.status = 'ERROR'", ["s.kind = ?"], [params["span_kind"]], q)
    return query_samples(db, "trace", "t.error_count > 0", [], [], q)


_BUILTINS: list[tuple[SignalSpec, ComputeFn]] = [
    (SignalSpec("eval_score", "Evaluator score", (SignalParam("evaluator", True, help="an evaluator name, e.g. groundedness"),),
                "mean", "score", "Score of one evaluator (0-1, higher is better), per evaluated span."),
     _eval_score),
    (SignalSpec("eval_fail_rate", "Eval fail rate", (SignalParam("evaluator", help="an evaluator name; all when omitted"),),
                "rate", "", "1 per evaluation that did not pass, 0 per pass."), _eval_fail),
    (SignalSpec("thumbs_down_rate", "Thumbs-down rate", (), "rate", "",
                "1 per user_feedback evaluation labelled thumbs_down, 0 per other feedback."), _thumbs_down),
    (SignalSpec("refusal_rate", "Refusal rate",
                (SignalParam("source", choices=("output_text", "evaluation"),
                             help="output_text (text check on LLM answers, default) or evaluation ('refusal')"),),
                "rate", "", "1 per LLM answer that reads as a refusal, 0 otherwise."), _refusal),
    (SignalSpec("pii_rate", "PII in answers", (), "rate", "",
                "1 per trace whose answer (root span output) holds PII or a secret (email, phone, card, IBAN, "
                "SSN, API key), 0 otherwise."),
     _pii),
    (SignalSpec("duration", "Span duration", (_KIND, SignalParam("span_name", help="a span name")), "p95", "ms",
                "Duration of spans (of one kind / name), ms."), _duration),
    (SignalSpec("trace_duration", "Trace duration", (), "p95", "ms", "End-to-end trace duration, ms."),
     _trace_column("t.duration_ms")),
    (SignalSpec("ttft", "Time to first token", (), "p95", "ms", "LLM time to first token, ms."),
     _span_column("ttft_ms")),
    (SignalSpec("input_tokens", "Input tokens per LLM call", (), "mean", "tokens", "Input tokens of each LLM call."),
     _span_column("input_tokens", usage=True)),
    (SignalSpec("output_tokens", "Output tokens per LLM call", (), "mean", "tokens", "Output tokens of each LLM call."),
     _span_column("output_tokens", usage=True)),
    (SignalSpec("cost_per_trace", "Cost per trace", (), "mean", "USD", "Cost of each trace (USD)."),
     _trace_column("t.cost_usd")),
    (SignalSpec("error_rate", "Error rate", (_KIND,), "rate", "",
                "1 per trace with an error span (or per span of span_kind with status ERROR), else 0."),
     _error_rate),
    (SignalSpec("tool_calls_per_trace", "Tool calls per trace", (), "mean", "calls", "TOOL spans per trace."),
     _trace_column("t.tool_calls")),
    (SignalSpec("llm_calls_per_trace", "LLM calls per trace", (), "mean", "calls", "LLM spans per trace."),
     _trace_column("t.llm_calls")),
    (SignalSpec("spans_per_trace", "Spans per trace", (), "mean", "spans", "Spans per trace."),
     _trace_column("t.span_count")),
]

for _spec, _fn in _BUILTINS:
    register_signal(_spec, _fn)
