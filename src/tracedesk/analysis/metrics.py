"""KPIs, time series, cohort matrices, window comparisons and monitoring health (read-only).

Every KPI, time-series point and matrix cell is a registered signal (`tracedesk.signals`) under one
aggregation (KPI_SIGNALS, TIMESERIES_COLUMNS, MATRIX_COLUMNS), computed from the signal's samples, so an
alert or a notebook reading the same samples gets the same number. Units, so every figure can be
reproduced by hand:
- a *trace* is one row of `traces`; latency is the trace duration (first span start -> last span end);
- error rate = share of traces with at least one ERROR span; span error rate = ERROR spans / spans;
- tokens and cost are the de-duplicated trace totals (`usage_counted`); cost per trace is the mean over
  traces whose cost is known (unknown cost is never read as zero);
- quality = mean evaluator score (all evaluators, or one named); pass rate = share of evaluations passed;
- refusal rate = `refusal_rate_trace`, the share of TRACES with a refusal: an LLM output that
  `textchecks.is_refusal` flags, or a `refusal` evaluation that failed / is labelled "refused" (alerts
  and drift also offer `refusal_rate_answer`, the share of LLM answers);
- percentiles use linear interpolation (numpy's default).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import sqlite_utils

from .. import cohorts
from .. import signals as _signals
from ..store import cohort_sql
from ..store import metrics as _reads
from ..store import samples as _samples
from ..store.connect import data_version
from ..store.query import Filters, FilterError, dimension as _dimension

#: Dimensions the cohort views offer (`tracedesk.cohorts`). Span-level ones (model, agent_name...) are
#: trace membership: a trace belongs to every model and agent it used.
COHORT_DIMENSIONS: tuple[str, ...] = tuple(cohorts.browse_names())
MISSING = cohorts.NO_VALUE

#: Each column of the cohort matrix is a registered signal under one aggregation (tracedesk.signals), so
#: a cell is the number an alert over the same samples computes. quality / pass_rate take the chosen
#: evaluator (all evaluators when none).
MATRIX_COLUMNS: dict[str, tuple[str, str]] = {
    "traces": ("trace_count", "count"),
    "quality": ("quality", "mean"),
    "pass_rate": ("eval_pass_rate", "mean"),
    "error_rate": ("error_rate", "rate"),
    "refusal_rate": ("refusal_rate_trace", "mean"),
    "latency_p50_ms": ("trace_duration", "p50"),
    "latency_p95_ms": ("trace_duration", "p95"),
    "cost_per_trace": ("cost_per_trace", "mean"),
}
_EVALUATOR_SIGNALS = {"quality", "eval_pass_rate"}
#: Cohort metrics and whether a HIGHER value is WORSE (for ranking), from each signal's bad direction.
COHORT_METRICS: dict[str, bool] = {col: _signals.get(sig).bad == "up" for col, (sig, _agg) in MATRIX_COLUMNS.items()
                                   if col != "traces"}
#: Metrics compared in relative terms (a ratio to the global figure) rather than in points.
_RELATIVE = {"latency_p50_ms", "latency_p95_ms", "cost_per_trace"}


#: KPI -> (registered signal, aggregation). The other KPIs (spans, token totals, span error rate,
#: evaluations) are plain totals of the trace summaries.
KPI_SIGNALS: dict[str, tuple[str, str]] = {
    "traces": ("trace_count", "count"),
    "error_rate": ("error_rate", "rate"),
    "latency_p50_ms": ("trace_duration", "p50"),
    "latency_p95_ms": ("trace_duration", "p95"),
    "latency_p99_ms": ("trace_duration", "p99"),
    "ttft_p50_ms": ("ttft", "p50"),
    "ttft_p95_ms": ("ttft", "p95"),
    "cost_usd": ("cost_per_trace", "sum"),
    "cost_per_trace": ("cost_per_trace", "mean"),
    "traces_with_cost": ("cost_per_trace", "count"),
    "eval_pass_rate": ("eval_pass_rate", "mean"),
    "eval_mean_score": ("quality", "mean"),
}


#: Aggregations whose figure is the same whatever the order of the samples (a mean or a sum of floats
#: can differ in its last digit).
_ORDER_FREE = frozenset({"count", "rate", "min", "max", *_signals.PERCENTILES})


def _number(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def kpis(db: sqlite_utils.Database, filters: Filters | None = None) -> dict[str, Any]:
    """Headline figures for the filtered traces (see the module doc and KPI_SIGNALS for each definition)."""
    n_spans, n_err_spans, tin, tout, ttot, llm_calls = _reads.trace_totals(db, filters)
    by_signal: dict[str, list[tuple[str, str]]] = {}
    for kpi, (signal, agg) in KPI_SIGNALS.items():
        by_signal.setdefault(signal, []).append((kpi, agg))
    figs: dict[str, Any] = {}
    kept = _stored(db, filters)
    frames: dict[str, pd.DataFrame] = {}
    if kept is None:
        # a signal whose figures do not depend on the order of its samples is read as values alone (its
        # percentiles are the same numbers; the TTFT of every LLM span then comes from one index)
        loose = [s for s, wanted in by_signal.items() if all(agg in _ORDER_FREE for _k, agg in wanted)]
        frames = dict(zip(loose, signal_frames(db, [{"type": s} for s in loose], (), filters, values_only=True)))
        rest = [s for s in by_signal if s not in frames]
        # the others (means, sums) in their frames' order, as times and values alone (no trace-id column)
        frames.update(zip(rest, signal_frames(db, [{"type": s} for s in rest], (), filters, values_with_time=True)))
    for signal, wanted in by_signal.items():
        aggs = [agg for _k, agg in wanted]
        row = kept.figures(signal, aggs, None) if kept is not None else _signals.figures(frames[signal], aggs)
        for kpi, agg in wanted:
            figs[kpi] = _number(row[agg].iloc[0]) if len(row) else (0.0 if agg == "count" else None)
    n_evals = _reads.evaluation_count(db, filters)
    return {
        "traces": int(figs["traces"]),
        "spans": n_spans or 0,
        "llm_calls": llm_calls or 0,
        "error_rate": figs["error_rate"],
        "span_error_rate": (n_err_spans / n_spans) if n_spans else None,
        "latency_p50_ms": figs["latency_p50_ms"],
        "latency_p95_ms": figs["latency_p95_ms"],
        "latency_p99_ms": figs["latency_p99_ms"],
        "ttft_p50_ms": figs["ttft_p50_ms"],
        "ttft_p95_ms": figs["ttft_p95_ms"],
        "input_tokens": tin or 0,
        "output_tokens": tout or 0,
        "total_tokens": ttot or 0,
        "cost_usd": figs["cost_usd"],
        "cost_per_trace": figs["cost_per_trace"],
        "traces_with_cost": int(figs["traces_with_cost"]),
        "evaluations": n_evals or 0,
        "eval_pass_rate": figs["eval_pass_rate"],
        "eval_mean_score": figs["eval_mean_score"],
    }


def eval_summary(db: sqlite_utils.Database, filters: Filters | None = None) -> pd.DataFrame:
    """Per evaluator: evaluations, mean score, pass rate, errors (analysis.eval_summary: one definition).
    Unfiltered, or over a window of whole hours, from the per-hour aggregates; else from the filtered
    traces' evaluation rows grouped by evaluator and score."""
    from . import eval_summary as _summary

    return _summary.frame(eval_tallies(db, filters))


def eval_tallies(db: sqlite_utils.Database, filters: Filters | None = None, *, derived: bool = False) -> Any:
    """analysis.eval_summary.Tally per evaluator of the filtered traces' evaluations: from the per-hour
    aggregates when they answer (which count derived verdicts too), else from the rows grouped in SQLite
    (derived: count the derived verdicts there as well)."""
    from . import eval_summary as _summary

    tallies = _stored_eval_tallies(db, filters)
    if tallies is None:
        tallies = _summary.from_groups(_reads.eval_score_groups(db, filters, derived=derived))
    return tallies


def _stored_eval_tallies(db: sqlite_utils.Database, filters: Filters | None) -> Any:
    """analysis.cohort_hours.eval_tallies when they answer this read (no filter, or a window of whole
    hours: an evaluation is stamped at its trace's start, as the window selects traces), else None."""
    from . import cohort_hours

    hours = _whole_hours(filters)
    if hours is False:
        return None
    return cohort_hours.eval_tallies(db, hours)


# ---------------------------------------------------------------------------------------------
# Time series

_FREQS: tuple[tuple[str, int], ...] = (
    ("1min", 60), ("5min", 300), ("15min", 900), ("1h", 3600), ("6h", 21600), ("1D", 86400), ("7D", 604800),
)


def auto_freq(start_ns: int | None, end_ns: int | None, max_buckets: int = 200) -> str:
    """The finest bucket size giving at most `max_buckets` buckets over the range."""
    if start_ns is None or end_ns is None:
        return "1h"
    span_s = max(1, (end_ns - start_ns) / 1e9)
    for name, seconds in _FREQS:
        if span_s / seconds <= max_buckets:
            return name
    return _FREQS[-1][0]


#: Time-series column -> (registered signal, aggregation), bucketed by sample time (trace start for
#: trace-level signals and evaluations).
TIMESERIES_COLUMNS: dict[str, tuple[str, str]] = {
    "traces": ("trace_count", "count"),
    "error_rate": ("error_rate", "rate"),
    "latency_p50_ms": ("trace_duration", "p50"),
    "latency_p95_ms": ("trace_duration", "p95"),
    "total_tokens": ("tokens_per_trace", "sum"),
    "cost_usd": ("cost_per_trace", "sum"),
    "cost_per_trace": ("cost_per_trace", "mean"),
    "eval_pass_rate": ("eval_pass_rate", "mean"),
}


def timeseries(db: sqlite_utils.Database, filters: Filters | None = None, freq: str | None = None) -> pd.DataFrame:
    """One row per time bucket (by trace start): traces, error_rate, latency p50/p95, total_tokens, cost,
    cost_per_trace, eval_pass_rate (TIMESERIES_COLUMNS names the signal behind each). Buckets are UTC,
    labelled by their start; empty buckets are left out."""
    cols = ["bucket", *TIMESERIES_COLUMNS]
    kept = _stored(db, filters)
    if kept is not None:
        if kept.t_min is None or kept.t_max is None:
            return pd.DataFrame(columns=cols)
        freq = freq or auto_freq(kept.t_min, kept.t_max)
        if pd.Timedelta(freq) % pd.Timedelta("1h") == pd.Timedelta(0):  # whole hours: sums of hours
            parts = {col: kept.by_bucket(signal, agg, freq) for col, (signal, agg) in TIMESERIES_COLUMNS.items()}
            index = parts["traces"].index
            out = pd.DataFrame({col: parts[col].reindex(index) for col in TIMESERIES_COLUMNS}, index=index)
            out["traces"] = out["traces"].astype(int)
            out.index.name = "bucket"
            return out.reset_index()[cols]
    names = list(dict.fromkeys(sig for sig, _agg in TIMESERIES_COLUMNS.values()))
    # times and values alone (the buckets need no trace id): the key figures' mean reads are the same frames
    frames = dict(zip(names, signal_frames(db, [{"type": sig} for sig in names], (), filters, values_with_time=True)))
    traces = frames["trace_count"]
    if traces.empty:
        return pd.DataFrame(columns=cols)
    freq = freq or auto_freq(int(traces["t"].min()), int(traces["t"].max()))
    parts = {}
    for col, (signal, agg) in TIMESERIES_COLUMNS.items():
        frame = frames[signal]
        keys = pd.to_datetime(frame["t"], unit="ns", utc=True).dt.floor(freq).rename("bucket")
        parts[col] = _signals.figures(frame, [agg], keys)[agg]
    index = parts["traces"].index
    out = pd.DataFrame({col: parts[col].reindex(index) for col in TIMESERIES_COLUMNS}, index=index)
    out["traces"] = out["traces"].astype(int)
    out.index.name = "bucket"
    return out.reset_index()[cols]


def refused_trace_ids(db: sqlite_utils.Database, filters: Filters | None = None) -> set[str]:
    """Traces with a refusal (the refusal_rate_trace signal's 1s): an LLM output flagged by is_refusal,
    or a failed/"refused" refusal evaluation; see store.samples.refused_trace_ids."""
    return _reads.matching_trace_ids(db, _samples.refused_trace_ids(db), filters)


# ---------------------------------------------------------------------------------------------
# Cohorts


def _check_dimension(dimension: str) -> str:
    """The one spelling of a dimension name ('agent' -> 'agent_name'); FilterError when empty or bad."""
    if not dimension:
        raise FilterError(f"Choose a cohort dimension: {', '.join(COHORT_DIMENSIONS)} or a mapped one")
    return _dimension(dimension).name


_FRAME_BASE = ("duration_ms", "errored", "cost_usd", "has_cost", "score_sum", "n_score", "passed_sum", "n_passed",
               "refused")


def trace_frame(db: sqlite_utils.Database, filters: Filters | None = None, *, evaluator: str | None = None,
                dimensions: Sequence[str] = (), extra_columns: Sequence[str] = ()) -> pd.DataFrame:
    """A per-trace computation of the matrix inputs, independent of the signal registry (the tests hold
    the registry's matrix to it). One row per filtered trace with what the cohort views aggregate: duration_ms, errored, cost_usd,
    has_cost, the trace's evaluation sums (score_sum, n_score, passed_sum, n_passed — of one evaluator or
    all), refused, plus the requested cohort `dimensions` (model/agent as the comma lists) and
    `extra_columns` of traces (start_ns, total_tokens). Computed in one SQL statement (no trace ids leave
    SQLite) and kept on the connection until the data changes."""
    dims = tuple(dict.fromkeys(_check_dimension(d) for d in dimensions))
    extra = tuple(dict.fromkeys(extra_columns))
    key = (repr(filters.to_query_params()) if filters else "", evaluator, dims, extra, data_version(db))
    cache = getattr(db, "_td_frames", None)
    if cache is not None and key in cache:
        return cache[key]
    names, rows = _reads.trace_matrix_rows(db, filters, refused=refused_trace_ids(db), evaluator=evaluator,
                                           dimensions=dims, extra_columns=extra)
    data = list(zip(*rows)) if rows else [()] * len(names)
    def column(name: str, values: Sequence[Any]) -> Any:
        if name in _FRAME_BASE or name == "total_tokens":
            return np.asarray([np.nan if v is None else v for v in values] if name in ("cost_usd", "duration_ms",
                              "total_tokens") else values, dtype=float)
        if name == "start_ns":
            return np.asarray(values, dtype=np.int64)
        return pd.Series(values, dtype=object)

    df = pd.DataFrame({n: column(n, col) for n, col in zip(names, data)})
    if cache is None:
        cache = {}
        try:
            db._td_frames = cache  # type: ignore[attr-defined]
        except AttributeError:
            return df
    if len(cache) >= 6:  # a few recent filter sets (one page's worth); drop the oldest
        cache.pop(next(iter(cache)))
    cache[key] = df
    return df


def _cohort_column(df: pd.DataFrame, dimension: str) -> pd.Series:
    """The cohort of each row (aligned to df's index; repeated index for model/agent, where a trace is in
    every cohort of a model or agent it used); missing values as "(none)"."""
    col = df[f"dim:{dimension}"]
    present = col.notna() & (col.astype(str) != "")
    if _dimension(dimension).membership:
        return col.where(present, MISSING).astype(str).str.split(",").explode().rename("cohort")
    return col.where(present, MISSING).astype(str).rename("cohort")


def _metrics_by(df: pd.DataFrame, keys: pd.Series) -> pd.DataFrame:
    """The cohort metrics of trace rows grouped by `keys` (aligned to df's index)."""
    g = df.groupby(keys, sort=True)
    sums = g[["errored", "refused", "cost_usd", "has_cost", "score_sum", "n_score", "passed_sum", "n_passed"]].sum()
    n = g.size()
    div = lambda a, b: a / b.where(b > 0)  # noqa: E731
    out = pd.DataFrame({
        "traces": n.astype(int),
        "quality": div(sums["score_sum"], sums["n_score"]),
        "pass_rate": div(sums["passed_sum"], sums["n_passed"]),
        "error_rate": div(sums["errored"], n),
        "refusal_rate": div(sums["refused"], n),
        "latency_p50_ms": g["duration_ms"].quantile(0.5),
        "latency_p95_ms": g["duration_ms"].quantile(0.95),
        "cost_per_trace": div(sums["cost_usd"], sums["has_cost"]),
    })
    out.index.name = "cohort"
    return out


def matrix_from_frame(df: pd.DataFrame, dimension: str, *, include_global: bool = True) -> pd.DataFrame:
    """cohort_matrix over an already fetched trace_frame (many dimensions, one fetch)."""
    cols = ["traces", *COHORT_METRICS]
    if df.empty:
        return pd.DataFrame(columns=cols).rename_axis("cohort")
    dimension = _check_dimension(dimension)
    members = _cohort_column(df, dimension)
    rows = df.loc[members.index].reset_index(drop=True) if _dimension(dimension).membership else df
    out = _metrics_by(rows, members.reset_index(drop=True) if rows is not df else members)
    out = out.sort_values("traces", ascending=False, kind="stable")
    if include_global:
        glob = _metrics_by(df, pd.Series("(all)", index=df.index))
        out = pd.concat([glob, out])
    out.index.name = "cohort"
    return out[cols]


def metric_label(column: str) -> str:
    """What a matrix / time-series column shows, from the registry: 'refusal_rate' -> 'Refusal rate
    (share of traces)', 'latency_p95_ms' -> 'Trace duration p95 (ms)', 'cost_usd' -> 'Total cost (USD)'."""
    signal, agg = {**TIMESERIES_COLUMNS, **MATRIX_COLUMNS}[column]
    s = _signals.get(signal)
    if signal == "trace_count":
        return s.label
    if agg == "sum":  # a per-trace signal summed over the bucket: its total
        shown = "Total " + s.label.replace(" per trace", "").lower()
    else:
        shown = f"{s.label} {agg}" if agg.startswith("p") else s.label
    return f"{shown} ({s.unit})" if s.unit in ("ms", "USD") else shown


def _matrix_signals(evaluator: str | None) -> dict[str, dict[str, Any]]:
    """Signal (with params) per distinct registry signal the matrix reads."""
    out = {}
    for signal, _agg in MATRIX_COLUMNS.values():
        params = {"evaluator": evaluator} if evaluator and signal in _EVALUATOR_SIGNALS else {}
        out[signal] = {"type": signal, **params}
    return out


def signal_frame(db: sqlite_utils.Database, signal: dict[str, Any], dimensions: Sequence[str],
                 filters: Filters | None = None) -> pd.DataFrame:
    """A signal's samples for the filtered traces with one (unexploded) column per dimension, kept on the
    connection until the data changes (the Cohorts page reads the same samples several times)."""
    return signal_frames(db, [signal], dimensions, filters)[0]


def signal_frames(db: sqlite_utils.Database, specs: Sequence[dict[str, Any]], dimensions: Sequence[str],
                  filters: Filters | None = None, *, values_only: bool = False,
                  values_with_time: bool = False) -> list[pd.DataFrame]:
    """signal_frame of several signals: those not kept yet are read together (`signals.samples_many`:
    one pass over the traces table for the trace-level ones, one over the evaluations for the others).
    values_only: each frame is the column v alone, unordered (SampleQuery.values_only; no dimensions);
    values_with_time: the columns t and v alone, in the frame's order (SampleQuery.values_with_time)."""
    version = data_version(db)
    fkey = repr(filters.to_query_params()) if filters else ""
    keys = [(repr(sorted(spec.items())), tuple(dimensions), fkey, values_only, values_with_time, version)
            for spec in specs]
    cache = getattr(db, "_td_signal_frames", None)
    if cache is None:
        cache = {}
        try:
            db._td_signal_frames = cache  # type: ignore[attr-defined]
        except AttributeError:
            pass
    missing = [i for i, key in enumerate(keys) if key not in cache]
    found = {i: cache[key] for i, key in enumerate(keys) if key in cache}
    if missing:
        query = _signals.SampleQuery({}, tuple(dimensions), filters=filters, explode=False, values_only=values_only,
                                     values_with_time=values_with_time)
        for i, frame in zip(missing, _signals.samples_many(db, [specs[i] for i in missing], query)):
            found[i] = frame
            while len(cache) >= 32:  # a few pages' worth; drop the oldest
                cache.pop(next(iter(cache)))
            cache[keys[i]] = frame
    return [found[i] for i in range(len(specs))]


def _cohort_rows(column: pd.Series, dim: cohorts.Dimension) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """The rows and cohorts `cohort_sql.explode` gives a sample frame's `column`, without building the
    exploded frame: (frame row of each exploded sample, in explode's order; its cohort as a code;
    the cohort labels, sorted, that the codes index). Each distinct cell is split and mapped once
    (a store holds few model/agent combinations), then numpy repeats the rows. None when a cohort
    value is not a string (the general path sorts such labels as pandas does)."""
    # a text column is factorized as it is (pyarrow's dictionary encoding, first appearance order as
    # for objects) rather than converted to Python objects first
    text = isinstance(column.dtype, pd.StringDtype)
    codes, uniques = pd.factorize(column if text else column.to_numpy(dtype=object), use_na_sentinel=True)
    codes = np.asarray(codes)
    split = dim.membership and not dim.mapped and any(isinstance(u, str) and "," in u for u in uniques)
    members: list[list[Any]] = []
    for u in [*uniques, None]:  # the last stands for the missing cells (code -1)
        items: list[Any] = (cohorts.split_members(u) if isinstance(u, str) else [None]) if split else [u]
        labels = []
        for x in items:
            if x is None or (isinstance(x, float) and x != x) or x == "":
                labels.append(MISSING)
            else:
                labels.append(cohorts.model_family(str(x)) if dim.derived_from == "model" else x)
        members.append(labels)
    names = sorted({x for m in members for x in m}) if all(isinstance(x, str) for m in members for x in m) else None
    if names is None:
        return None
    number = {name: i for i, name in enumerate(names)}
    lens = np.asarray([len(m) for m in members], dtype=np.int64)
    flat = np.asarray([number[x] for m in members for x in m], dtype=np.int64)
    first = np.cumsum(lens) - lens
    codes = np.where(codes < 0, len(uniques), codes)
    row_lens = lens[codes]
    rows = np.repeat(np.arange(len(codes), dtype=np.int64), row_lens)
    within = np.arange(len(rows), dtype=np.int64) - np.repeat(np.cumsum(row_lens) - row_lens, row_lens)
    return rows, flat[np.repeat(first[codes], row_lens) + within], names


def _cohort_figures(frame: pd.DataFrame, dimension: str, dim: cohorts.Dimension, aggs: list[str]) -> pd.DataFrame:
    """`signals.figures` per cohort of `dimension` over the exploded samples (membership: a sample counts
    once in each model/agent its row lists; missing: "(none)"), grouped by integer cohort codes: the
    same samples in the same order as grouping the exploded frame by its labels, so the same figures."""
    found = _cohort_rows(frame[dimension], dim)
    if found is None:
        exploded = cohort_sql.explode(frame[["v", dimension]], {dimension: dim})
        keys = exploded[dimension].astype(object).where(exploded[dimension].notna(), MISSING)
        return _signals.figures(exploded, aggs, keys)
    rows, codes, names = found
    figs = _signals.figures(pd.DataFrame({"v": frame["v"].to_numpy()[rows]}), aggs, pd.Series(codes))
    figs.index = pd.Index([names[i] for i in figs.index], name=dimension)  # labels as pandas infers them
    return figs


def _stored(db: sqlite_utils.Database, filters: Filters | None, evaluator: str | None = None,
            dimensions: Sequence[str] = (), *, windowed: bool = False) -> Any:
    """The per-hour aggregates (analysis.cohort_hours) when they answer this read: no filter (windowed:
    or only a time window on whole hours, whose traces are the samples of those hours for the matrix
    signals, all stamped at their trace's start), every evaluator, browse dimensions only; else None
    (the samples are read)."""
    from . import cohort_hours

    if evaluator is not None or any(d not in cohort_hours.DIMENSIONS for d in dimensions):
        return None
    if filters is None or filters.is_empty():
        return cohort_hours.stored(db, clean_only=not windowed)
    hours = _whole_hours(filters) if windowed else False
    if not hours:
        return None
    return cohort_hours.stored(db, hours)


def _whole_hours(filters: Filters | None) -> tuple[int, int] | None | Literal[False]:
    """None: no filter; (lo, hi): only a time window on whole hours, the hours lo <= hour < hi; False:
    any other filter (the aggregates do not answer it)."""
    from ..store.feed_dirty import NS_PER_HOUR

    if filters is None or filters.is_empty():
        return None
    if filters.with_(start_ns=None, end_ns=None) != Filters():
        return False
    lo, hi = filters.start_ns, filters.end_ns
    if any(x is not None and x % NS_PER_HOUR for x in (lo, hi)):
        return False
    return (-(2**62) if lo is None else lo // NS_PER_HOUR, 2**62 if hi is None else hi // NS_PER_HOUR)


def _matrix(frames: dict[str, pd.DataFrame], evaluator: str | None, dimension: str | None,
            kept: Any = None) -> pd.DataFrame:
    """The matrix columns from each signal's samples (or the kept aggregates), per cohort of `dimension`
    (None: one row "(all)")."""
    parts: dict[str, pd.Series] = {}
    dim = _dimension(dimension) if dimension else None
    by_signal: dict[str, list[tuple[str, str]]] = {}
    for col, (signal, agg) in MATRIX_COLUMNS.items():
        by_signal.setdefault(signal, []).append((col, agg))
    for signal, wanted in by_signal.items():
        frame = frames.get(signal, pd.DataFrame())
        aggs = [agg for _c, agg in wanted]
        if kept is not None:
            figs = kept.figures(signal, aggs, dimension)
        elif dim is None or dimension is None:
            figs = _signals.figures(frame, aggs)
        else:
            figs = _cohort_figures(frame, dimension, dim, aggs)
        for col, agg in wanted:
            parts[col] = figs[agg]
    index = parts["traces"].index
    return pd.DataFrame({col: parts[col].reindex(index) for col in MATRIX_COLUMNS}, index=index)


def matrices(db: sqlite_utils.Database, dimensions: Sequence[str], filters: Filters | None = None, *,
             evaluator: str | None = None, include_global: bool = True) -> dict[str, pd.DataFrame]:
    """cohort_matrix for several dimensions from one read per signal."""
    names = [_check_dimension(d) for d in dimensions]
    dims = tuple(dict.fromkeys(names))
    wanted = _matrix_signals(evaluator)
    kept = _stored(db, filters, evaluator, dims, windowed=True)
    frames = {} if kept is not None else dict(zip(wanted, signal_frames(db, list(wanted.values()), dims, filters)))
    cols = list(MATRIX_COLUMNS)
    glob = _matrix(frames, evaluator, None, kept) if include_global else None
    out = {}
    for dim in dims:
        body = _matrix(frames, evaluator, dim, kept)
        if body.empty:
            out[dim] = pd.DataFrame(columns=cols).rename_axis("cohort")
            continue
        body = body.sort_index().sort_values("traces", ascending=False, kind="stable")
        table = pd.concat([glob, body]) if glob is not None else body
        table["traces"] = table["traces"].astype(int)
        table.index.name = "cohort"
        out[dim] = table[cols]
    return out


def cohort_matrix(
    db: sqlite_utils.Database,
    dimension: str,
    filters: Filters | None = None,
    *,
    evaluator: str | None = None,
    include_global: bool = True,
) -> pd.DataFrame:
    """Metrics (rows = cohorts of `dimension`, most traces first) for the filtered traces; the first row
    "(all)" is the global figure when include_global. Columns (see MATRIX_COLUMNS for the signal behind
    each): traces, quality, pass_rate, error_rate, refusal_rate (share of traces), latency_p50_ms,
    latency_p95_ms, cost_per_trace. Span-level dimensions are trace membership (tracedesk.cohorts)."""
    dimension = _check_dimension(dimension)
    return matrices(db, [dimension], filters, evaluator=evaluator, include_global=include_global)[dimension]


def rank_cohorts(matrix: pd.DataFrame, *, min_traces: int = 5, side: str = "both") -> pd.DataFrame:
    """Cohorts of a cohort_matrix (with its "(all)" row) ranked by how far they sit from the global figure.

    Distance per metric is in points for rates/scores and relative (cohort / global - 1) for latency and
    cost, signed so positive = worse; a cohort's distance is its largest |distance| (side="both") or its
    largest worse-side distance (side="worse"), named in worst_metric.
    """
    if side not in ("both", "worse"):
        raise ValueError(f"side must be 'both' or 'worse', not {side!r}")
    cols = ["cohort", "traces", "distance", "direction", "worst_metric", "cohort_value", "global_value"]
    if "(all)" not in matrix.index or len(matrix) < 2:
        return pd.DataFrame(columns=cols)
    glob = matrix.loc["(all)"]
    rows = []
    for cohort, r in matrix.drop(index="(all)").iterrows():
        if r["traces"] < min_traces:
            continue
        best: tuple[float, str] | None = None
        for metric, higher_worse in COHORT_METRICS.items():
            c, g = r[metric], glob[metric]
            if pd.isna(c) or pd.isna(g):
                continue
            if metric in _RELATIVE:
                if g == 0:
                    continue
                d = c / g - 1
            else:
                d = c - g
            d = d if higher_worse else -d
            if abs(d) < 1e-9:  # equal up to float rounding: not a difference
                continue
            if side == "worse" and d <= 0:
                continue
            if best is None or abs(d) > abs(best[0]):
                best = (float(d), metric)
        if best is None:
            continue
        rows.append({"cohort": cohort, "traces": int(r["traces"]), "distance": abs(best[0]),
                     "direction": "worse" if best[0] > 0 else "better", "worst_metric": best[1],
                     "cohort_value": float(r[best[1]]), "global_value": float(glob[best[1]])})
    if not rows:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame(rows, columns=cols).sort_values(["distance", "cohort"], ascending=[False, True],
                                                        kind="stable").reset_index(drop=True)


def ranked_cohorts(db: sqlite_utils.Database, dimension: str, filters: Filters | None = None, *,
                   min_traces: int = 5, evaluator: str | None = None, side: str = "both") -> pd.DataFrame:
    return rank_cohorts(cohort_matrix(db, dimension, filters, evaluator=evaluator), min_traces=min_traces,
                        side=side)


def worst_cohorts(
    db: sqlite_utils.Database,
    filters: Filters | None = None,
    dimensions: Sequence[str] = COHORT_DIMENSIONS,
    *,
    top: int = 5,
    min_traces: int = 5,
) -> pd.DataFrame:
    """The cohorts (over several dimensions) that sit furthest on the WORSE side of the global figure.

    Cohorts that are the same traffic (a route served by one prompt version, one model and one agent) have
    the same row in every matrix: they are one row here, named by the first of `dimensions`, the others in
    `same_traffic` ("dim=value"), so the top `top` are distinct cohorts rather than one listed four times."""
    parts = []
    for dim, matrix in matrices(db, dimensions, filters).items():
        ranked = rank_cohorts(matrix, min_traces=min_traces, side="worse")
        ranked = ranked[ranked["cohort"] != MISSING]
        if not ranked.empty:
            rows = matrix.loc[ranked["cohort"]]
            # every figure of the cohort's matrix row, rounded: equal rows are the same traces
            keys = [tuple(_same_figure(v) for v in row) for row in rows.itertuples(index=False)]
            parts.append(ranked.assign(dimension=dim, _key=keys))
    cols = ["dimension", "cohort", "traces", "worst_metric", "cohort_value", "global_value", "distance",
            "same_traffic"]
    if not parts:
        return pd.DataFrame(columns=cols)
    out = pd.concat(parts, ignore_index=True)
    order = {d: i for i, d in enumerate(dimensions)}
    out["_dim_order"] = out["dimension"].map(order)
    out = out.sort_values(["distance", "_dim_order", "cohort"], ascending=[False, True, True], kind="stable")
    heads: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in out.to_dict("records"):
        head = heads.get(row["_key"])
        if head is None:
            heads[row["_key"]] = {**row, "same_traffic": []}
        else:
            head["same_traffic"].append(f"{row['dimension']}={row['cohort']}")
    folded = pd.DataFrame(list(heads.values()))
    return folded.head(top)[cols].reset_index(drop=True)


def _same_figure(v: Any) -> Any:
    """A matrix figure rounded to 9 significant digits (sums in another order differ in the last bits);
    NaN as None so that two missing figures compare equal."""
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) else float(f"{float(v):.9g}")
    return v


def compare_windows(
    db: sqlite_utils.Database,
    dimension: str,
    window_a: tuple[int, int],
    window_b: tuple[int, int],
    filters: Filters | None = None,
    *,
    metrics: Sequence[str] = tuple(COHORT_METRICS),
    evaluator: str | None = None,
) -> pd.DataFrame:
    """Cohort metrics in window A (before) and window B (after), and B - A. Windows are (start_ns, end_ns),
    applied on top of the filters' other fields. Columns: traces_a, traces_b, then {metric}_a/_b/_delta."""
    base = filters or Filters()
    a = cohort_matrix(db, dimension, base.with_(start_ns=window_a[0], end_ns=window_a[1]), evaluator=evaluator)
    b = cohort_matrix(db, dimension, base.with_(start_ns=window_b[0], end_ns=window_b[1]), evaluator=evaluator)
    index = list(dict.fromkeys([*a.index, *b.index]))
    out = pd.DataFrame(index=pd.Index(index, name="cohort"))
    out["traces_a"] = a["traces"].reindex(index).fillna(0).astype(int)
    out["traces_b"] = b["traces"].reindex(index).fillna(0).astype(int)
    for m in metrics:
        out[f"{m}_a"] = a[m].reindex(index) if m in a else np.nan
        out[f"{m}_b"] = b[m].reindex(index) if m in b else np.nan
        out[f"{m}_delta"] = out[f"{m}_b"] - out[f"{m}_a"]
    return out


# ---------------------------------------------------------------------------------------------
# Health of the monitoring itself


def monitoring_health(db: sqlite_utils.Database, filters: Filters | None = None) -> dict[str, Any]:
    """How trustworthy the data is:
    - trace coverage: share of traces with a complete tree (one root, no orphan spans);
    - span completeness: share of LLM-call spans with a model, token counts, a positive duration, a status
      and the kind LLM. LLM-call spans are those of kind LLM plus spans carrying a model with no kind
      (UNKNOWN) — an LLM call the instrumentation did not type. (UNSET is a status: OpenTelemetry's
      default for a span that did not fail.) `llm_span_fields` gives the share per field;
    - the share of traces with a prompt version."""
    n, complete, with_pv = _reads.trace_health_counts(db, filters)
    kept = _stored(db, filters)  # the LLM spans' field counts per hour (a scan of every span at 10M: 8 s CPU)
    counts = kept.health_counts(db) if kept is not None else _reads.llm_span_field_counts(db, filters)
    m, f_model, f_tokens, f_duration, f_status, f_kind, m_complete = counts
    share = lambda part, whole: (part or 0) / whole if whole else None  # noqa: E731
    return {
        "traces": n or 0,
        "trace_coverage": share(complete, n),
        "llm_spans": m or 0,
        "span_completeness": share(m_complete, m),
        "llm_span_fields": {
            "model": share(f_model, m),
            "tokens": share(f_tokens, m),
            "duration": share(f_duration, m),
            "status": share(f_status, m),
            "kind": share(f_kind, m),
        },
        "prompt_version_share": share(with_pv, n),
    }
