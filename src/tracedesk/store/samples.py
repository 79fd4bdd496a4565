"""Signal samples: the SQL behind every registered signal (`tracedesk.signals`).

Every reader returns a DataFrame with columns `t` (Unix ns), `v` (float), one column per group-by
dimension and `trace_id`, from ONE query. Samples are stamped with the span's start time; trace-level
samples and evaluations with their trace's start (when the traffic happened, not when the judge ran).
Cohort values follow `tracedesk.cohorts` (through `cohort_sql`): a span row reads its own value else
its trace's, an evaluation its judged span's for span-level dimensions (joining the wide span rows
costs ~10x on 1M spans, so only then), a trace its own; rows listing several values of a span-level
dimension count once in each (`cohort_sql.explode`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlite_utils

from .. import cohorts
from . import cohort_sql
from .llm_roles import ANSWER_SQL, CALL_SQL

if TYPE_CHECKING:
    from ..analysis.refusals import RefusalDetector
    from . import text_checks
    from .query import Filters


@dataclass(frozen=True)
class SampleQuery:
    """What to read besides the signal's own parameters: cohort scope and group-by (dimension names in
    any accepted spelling; frames keep the caller's spelling as column names), time bounds on the
    sample time, and optional trace Filters (the pages' sidebar)."""

    scope: dict[str, tuple[str, ...]]
    group_by: tuple[str, ...]
    since_ns: int | None = None  # samples with t > since_ns (None: no bound)
    until_ns: int | None = None  # samples with t <= until_ns
    filters: "Filters | None" = None
    #: split membership lists into one row per value (False: keep the lists, for a caller that reads
    #: several dimensions at once and explodes each on its own with cohort_sql.explode)
    explode: bool = True
    #: read the values alone: frames of the one column `v`, in no defined order, for figures that do
    #: not depend on the order or the time (counts, rates, percentiles). An index can then answer a read
    #: on its own (an LLM span's TTFT: idx_spans_kind_ttft instead of 100k row lookups at 1M spans).
    values_only: bool = False
    #: read the times and values alone: frames of the columns `t` and `v` (no trace id, no dimension),
    #: for figures that depend on the order of the samples (means, sums: the very floats of the whole
    #: frame, in its order) but not on their trace or cohort. Building a frame's trace-id column (text,
    #: Arrow-backed) cost the key figures' mean reads half their CPU at 1M spans. Readers that read one
    #: column of a table (ColumnReader) honour it; any other reader gives its whole frame.
    values_with_time: bool = False

    def __post_init__(self) -> None:
        if self.values_only and self.group_by:
            raise ValueError("values_only reads no group_by dimension; read the frame with its columns")
        if self.values_with_time and (self.group_by or self.values_only):
            raise ValueError("values_with_time reads no group_by dimension and is not values_only (which "
                             "drops the times too); read the frame with its columns")


def _dims(names: "tuple[str, ...] | list[str]") -> list[cohorts.Dimension]:
    return [cohorts.resolve(n, bare_mapped=True) for n in names]


def _dim_sql(source: str, dim: cohorts.Dimension, db: sqlite_utils.Database) -> str:
    if source == "trace":
        return cohort_sql.trace_value_sql(dim, "t", db)
    if source == "eval":
        return cohort_sql.eval_value_sql(dim, "s", "t", db=db)
    return cohort_sql.span_value_sql(dim, "s", "t", db=db)


def _scope_sql(source: str, scope: dict[str, tuple[str, ...]], db: sqlite_utils.Database) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    for name, values in scope.items():
        dim = cohorts.resolve(name, bare_mapped=True)
        if source == "trace":
            cond, cond_params = cohort_sql.trace_filter_sql(dim, values, "t", db)
        elif source == "eval":
            cond, cond_params = cohort_sql.eval_filter_sql(dim, values, "s", "t", db)
        else:
            cond, cond_params = cohort_sql.span_filter_sql(dim, values, "s", "t", db)
        where.append(cond)
        params.extend(cond_params)
    return where, params


def _empty(group_by: tuple[str, ...]) -> pd.DataFrame:
    names = ["t", "v", *group_by, "trace_id"]
    return pd.DataFrame({n: pd.Series(dtype="float64" if n == "v" else "int64" if n == "t" else "object")
                         for n in names})


def _fetch(db: sqlite_utils.Database, sql: str, params: list[Any], group_by: tuple[str, ...]) -> pd.DataFrame:
    rows = db.execute(sql, params).fetchall()
    if not rows:
        return _empty(group_by)
    cols = list(zip(*rows))
    data: dict[str, Any] = {
        "t": np.asarray(cols[0], dtype=np.int64),
        "v": np.asarray(cols[1], dtype=np.float64),
    }
    for i, dim in enumerate(group_by):
        data[dim] = np.asarray(cols[2 + i], dtype=object)
    data["trace_id"] = np.asarray(cols[-1], dtype=object)
    return pd.DataFrame(data)


def sample_sql(db: sqlite_utils.Database, source: str, value_sql: str, where: list[str],
               params: list[Any], query: SampleQuery) -> tuple[str, list[Any]]:
    """The SELECT `query_samples` runs (t, v, group dims, trace id; v alone for values_only) and its
    parameters."""
    frm, tcol, tid, clauses, all_params = _sample_from(db, source, where, params, query)
    clauses = [*clauses, f"({value_sql}) IS NOT NULL"]
    if query.values_only:
        return f"SELECT {value_sql} FROM {frm} WHERE {' AND '.join(clauses)}", all_params
    return f"SELECT {tcol}, {value_sql}{_group_cols(db, source, query)}, {tid} FROM {frm} WHERE " \
        f"{' AND '.join(clauses)}", all_params


def _all_timed(db: sqlite_utils.Database, source: str) -> bool:
    """Whether every row a sample of `source` comes from has its time (a probe of the start index)."""
    table = "spans" if source == "span" else "traces"
    return not db.execute(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE start_ns IS NULL)").fetchone()[0]


def _sample_from(db: sqlite_utils.Database, source: str, where: list[str], params: list[Any],
                 query: SampleQuery) -> tuple[str, str, str, list[str], list[Any]]:
    """(FROM clause, time column, trace id column, WHERE conditions but the value's, their parameters)."""
    dims = _dims([*query.scope, *query.group_by])
    if source == "span":
        # join the trace only when a dimension is read (it costs a lookup per span)
        frm = "spans s LEFT JOIN traces t ON t.trace_id = s.trace_id" if dims else "spans s"
        tcol, tid = "s.start_ns", "s.trace_id"
    elif source == "trace":
        frm, tcol, tid = "traces t", "t.start_ns", "t.trace_id"
    elif source == "eval":
        frm = "evaluations e JOIN traces t ON t.trace_id = e.trace_id"
        if cohort_sql.needs_span(dims):
            frm += " LEFT JOIN spans s ON s.trace_id = e.trace_id AND s.span_id = e.span_id"
        tcol, tid = "t.start_ns", "e.trace_id"
    else:  # pragma: no cover - programming error
        raise ValueError(source)
    scope_where, scope_params = _scope_sql(source, query.scope, db)
    # a sample has a time; when reading values alone and every row has one, saying so would only keep an
    # index from answering the read on its own
    timed = [] if query.values_only and _all_timed(db, source) else [f"{tcol} IS NOT NULL"]
    clauses = [*where, *scope_where, *timed]
    all_params = [*params, *scope_params]
    if query.filters is not None and not query.filters.is_empty():
        from .query import trace_ids_sql

        sub, sub_params = trace_ids_sql(query.filters)
        clauses.append(f"{tid} IN ({sub})")
        all_params.extend(sub_params)
    if query.since_ns is not None:
        clauses.append(f"{tcol} > ?")
        all_params.append(int(query.since_ns))
    if query.until_ns is not None:
        clauses.append(f"{tcol} <= ?")
        all_params.append(int(query.until_ns))
    return frm, tcol, tid, clauses, all_params


def _group_cols(db: sqlite_utils.Database, source: str, query: SampleQuery) -> str:
    return "".join(f", {_dim_sql(source, d, db)}" for d in _dims(query.group_by))


def query_samples(db: sqlite_utils.Database, source: str, value_sql: str, where: list[str],
                  params: list[Any], query: SampleQuery) -> pd.DataFrame:
    """One SELECT of (time, value, group dims, trace id) from spans ('span'), traces ('trace') or
    evaluations joined to their trace and judged span ('eval'), with the scope, filters and time
    bounds applied. Rows with a NULL value are not samples."""
    sql, all_params = sample_sql(db, source, value_sql, where, params, query)
    register_functions(db)
    if query.values_only:
        return _values(db.execute(sql, all_params).fetchall())
    frame = _fetch(db, sql, all_params, query.group_by)
    return _explode(frame, query)


def _values(rows: list[tuple[Any, ...]], column: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"v": np.asarray([r[column] for r in rows], dtype=np.float64)})


def _explode(frame: pd.DataFrame, query: SampleQuery) -> pd.DataFrame:
    if not query.explode:
        return frame
    # a trace (or a span falling back to its trace) that lists several models/agents counts in each
    return cohort_sql.explode(frame, dict(zip(query.group_by, _dims(query.group_by))))


# ---------------------------------------------------------------------------------------------
# Several signals of one table in one pass


@dataclass(frozen=True)
class ColumnRead:
    """What a column reader reads: a value of one source (see query_samples) under extra conditions."""

    source: str
    value_sql: str
    where: tuple[str, ...] = ()
    params: tuple[Any, ...] = ()
    #: parameters of value_sql's own marks (the value expression appears in the SELECT and in the WHERE)
    value_params: tuple[Any, ...] = ()


class ColumnReader:
    """A signal reader whose samples are one value column of one source (`describe(params)` says
    which). Its rows come in the canonical sample order (`shared_samples`), so several column reads of
    the same source can be one SELECT: the Overview's KPIs and worst cohorts read five trace-level and
    two evaluation signals."""

    def __init__(self, describe: Callable[[dict[str, Any]], ColumnRead],
                 prepare: Callable[[sqlite_utils.Database], None] | None = None) -> None:
        self.describe = describe
        self.prepare = prepare

    def __call__(self, db: sqlite_utils.Database, params: dict[str, Any], q: SampleQuery) -> pd.DataFrame:
        if self.prepare is not None:
            self.prepare(db)
        return shared_samples(db, [self.describe(params)], q)[0]


#: The canonical order of each source's column reads. It ends with the sampled row's rowid (unique), so it
#: is total and no plan SQLite picks can change it; consumers sort by sample time (stably) on top of it.
#: Each is an order SQLite reads in anyway, so asking for it costs no sort: the traces table, the
#: evaluations of each trace in the order of their trace index (trace_id, name, score, passed), spans by
#: start (the kind index).
_ROW_ORDER = {"span": "s.start_ns, s.rowid", "trace": "t.rowid",
              "eval": "t.rowid, e.name, e.score, e.passed, e.rowid"}


def shared_samples(db: sqlite_utils.Database, reads: list[ColumnRead], query: SampleQuery) -> list[pd.DataFrame]:
    """The samples of each column read (the frame `query_samples` gives, its rows in the canonical order)
    for reads of ONE source in ONE SELECT: it lists every read's condition and value, and each frame takes the rows
    where its condition holds. The SELECT is in the canonical order (_ROW_ORDER), so the rows a read takes
    are its own query's rows in its own query's order whichever reads share the pass (a ColumnReader
    reading alone goes through here too)."""
    if not reads:
        return []
    source = reads[0].source
    if any(r.source != source for r in reads):
        raise ValueError("shared_samples reads one source; group the reads by source first")
    register_functions(db)
    frm, tcol, tid, clauses, base_params = _sample_from(db, source, [], [], query)
    conds = ["(" + " AND ".join([*r.where, f"({r.value_sql}) IS NOT NULL"]) + ")" for r in reads]
    cond_params = [p for r in reads for p in (*r.params, *r.value_params)]
    flags = "".join(f", {c}, {r.value_sql}" for c, r in zip(conds, reads))
    # the marks in SELECT order: each read's condition, then its value; then the WHERE's
    flag_params = [p for r in reads for p in (*r.params, *r.value_params, *r.value_params)]
    all_params = [*flag_params, *base_params, *cond_params]
    where_sql = " AND ".join([*clauses, "(" + " OR ".join(conds) + ")"])
    if query.values_only:
        rows = db.execute(f"SELECT 0{flags} FROM {frm} WHERE {where_sql}", all_params).fetchall()
        return [_values([r for r in rows if r[1 + 2 * i] == 1], 2 + 2 * i) for i in range(len(reads))]
    if query.values_with_time:  # the same rows in the same order, without the trace id (see SampleQuery)
        rows = db.execute(f"SELECT {tcol}{flags} FROM {frm} WHERE {where_sql} ORDER BY {_ROW_ORDER[source]}",
                          all_params).fetchall()
        return _timed_values(rows, len(reads))
    sql = (f"SELECT {tcol}{flags}{_group_cols(db, source, query)}, {tid} FROM {frm} WHERE {where_sql} "
           f"ORDER BY {_ROW_ORDER[source]}")
    rows = db.execute(sql, all_params).fetchall()
    n_dims = len(query.group_by)
    cols = list(zip(*rows)) if rows else [()] * (2 + 2 * len(reads) + n_dims)
    t = np.asarray(cols[0], dtype=np.int64)
    first_dim = 1 + 2 * len(reads)
    # each text column becomes a pandas column once; every frame takes its rows from it
    shared = _Columns([*cols[first_dim:first_dim + n_dims], cols[first_dim + n_dims]])
    frames = []
    for i in range(len(reads)):
        idx = np.flatnonzero(np.asarray(cols[1 + 2 * i], dtype=object) == 1)
        values = np.asarray(cols[2 + 2 * i], dtype=object)
        frames.append(_explode(_frame(t[idx], values[idx], shared, idx, query.group_by), query))
    return frames


def _timed_values(rows: list[tuple[Any, ...]], n_reads: int) -> list[pd.DataFrame]:
    """Each read's (t, v) frame from the rows of a values_with_time pass (time, then a flag and a value
    per read): the rows `_frame` takes, without the other columns."""
    if not rows:
        return [pd.DataFrame({"t": pd.Series(dtype="int64"), "v": pd.Series(dtype="float64")})
                for _ in range(n_reads)]
    cols = list(zip(*rows))
    t = np.asarray(cols[0], dtype=np.int64)
    frames = []
    for i in range(n_reads):
        idx = np.flatnonzero(np.asarray(cols[1 + 2 * i], dtype=object) == 1)
        values = np.asarray(cols[2 + 2 * i], dtype=object)[idx]
        frames.append(pd.DataFrame({"t": t[idx], "v": np.asarray(values.tolist(), dtype=np.float64)}))
    return frames


class _Columns:
    """Object columns of a shared read, each made a pandas Series once (a text column becomes pandas'
    Arrow-backed str on construction: the costly part of building a frame)."""

    def __init__(self, columns: list[tuple[Any, ...]]) -> None:
        self.objects = [np.asarray(c, dtype=object) for c in columns]
        self.series = [pd.Series(o) for o in self.objects]

    def take(self, j: int, idx: np.ndarray) -> Any:
        """Column j at rows idx, with the dtype a frame built from those values alone infers: str when
        every present value is text and one is present, else object."""
        whole = self.series[j]
        if whole.dtype == object:
            return pd.Series(self.objects[j][idx])
        part = whole.take(idx).reset_index(drop=True)
        if len(part) and part.isna().all():
            return pd.Series(self.objects[j][idx])
        return part


def _frame(t: np.ndarray, v: np.ndarray, columns: _Columns, idx: np.ndarray,
           group_by: tuple[str, ...]) -> pd.DataFrame:
    """The frame `_fetch` builds from the same rows."""
    if not len(t):
        return _empty(group_by)
    data: dict[str, Any] = {"t": t, "v": np.asarray(v.tolist(), dtype=np.float64)}
    for j, dim in enumerate(group_by):
        data[dim] = columns.take(j, idx)
    data["trace_id"] = columns.take(len(group_by), idx)
    return pd.DataFrame(data)


def register_functions(db: sqlite_utils.Database) -> None:
    """SQL functions the sample queries call (the refusal check runs inside the one query). Verdicts
    are remembered per text (store.text_checks; `save_text_checks` keeps them in the database)."""
    from . import blobs, get_setting

    blobs.codec(db)  # td_json(): messages and documents are stored deflated
    phrases = get_setting(db, _PHRASES_SETTING)
    registered = getattr(db, "_td_text_functions", None)
    if registered is not None and registered[0] is db.conn and registered[1] == phrases:
        return
    # the detector's patterns take ~0.15 s to compile: made when a text is first checked, but phrase
    # lists the user stored are checked now (a bad one is an error naming the setting, as before)
    stored = refusal_detector(db) if phrases else None

    def refusal_check() -> "text_checks.Remembered":
        from ..analysis import refusals
        from . import text_checks

        detector = stored if stored is not None else refusals.detector_from_setting(phrases)
        return text_checks.Remembered(
            db, text_checks.checker_key("refusal", (refusals,), (detector.extra, detector.ignore)),
            lambda text: int(detector.is_refusal(_text(text))))

    def pii_check() -> "text_checks.Remembered":
        from ..ingest import redact  # the ingest package and its patterns (~0.2 s): when a text is checked
        from . import text_checks

        return text_checks.Remembered(db, text_checks.checker_key("pii", (redact,), ()),
                                      lambda text: int(redact.has_pii(text)))

    refusal = _OnFirstUse(refusal_check)
    db.conn.create_function("td_is_refusal", 1, refusal, deterministic=True)
    # the same detectors ingest masks with, so "leaks PII" and "would be redacted" agree
    pii = _OnFirstUse(pii_check)
    db.conn.create_function("td_has_pii", 1, pii, deterministic=True)
    try:
        db._td_text_functions = (db.conn, phrases, [refusal, pii])  # type: ignore[attr-defined]
    except AttributeError:  # an object that takes no attributes: registered again next time
        pass


class _OnFirstUse:
    """A remembered text check made when it first checks a text: loading its verdicts reads every one
    kept (~0.15 s for the two checks at 1M spans) and the PII check imports the ingest package, while
    most sample reads check no text."""

    def __init__(self, make: "Callable[[], text_checks.Remembered]") -> None:
        self.make = make
        self.checker: "text_checks.Remembered | None" = None

    def __call__(self, text: Any) -> int:
        if self.checker is None:
            self.checker = self.make()
        return self.checker(text)


def save_text_checks(db: sqlite_utils.Database) -> int:
    """Keep the text verdicts found on this connection in the database (see store.text_checks)."""
    from . import text_checks

    registered = getattr(db, "_td_text_functions", None)
    if registered is None:
        return 0
    return text_checks.save(db, [c.checker for c in registered[2] if c.checker is not None])


# ---------------------------------------------------------------------------------------------
# The built-in signals' reads (tracedesk.signals names which one each signal uses)

Reader = Callable[[sqlite_utils.Database, dict[str, Any], SampleQuery], pd.DataFrame]


def _eval_scores(params: dict[str, Any]) -> ColumnRead:
    if "evaluator" in params:
        return ColumnRead("eval", "e.score", ("e.name = ?",), (params["evaluator"],))
    return ColumnRead("eval", "e.score")


#: Score of each evaluation (of one evaluator, or of every evaluator when none is named).
eval_scores = ColumnReader(_eval_scores)


def _eval_passed(params: dict[str, Any], fail: bool = False) -> ColumnRead:
    where, args = ["e.passed IS NOT NULL"], []
    if "evaluator" in params:
        where.append("e.name = ?")
        args.append(params["evaluator"])
    return ColumnRead("eval", "1 - e.passed" if fail else "e.passed", tuple(where), tuple(args))


#: 1 per evaluation that passed (eval_failed: that did not), 0 otherwise; errors (passed NULL) are no sample.
eval_passed = ColumnReader(_eval_passed)
eval_failed = ColumnReader(lambda params: _eval_passed(params, fail=True))


def _eval_coverage(params: dict[str, Any]) -> ColumnRead:
    # probed through the (trace_id, name, score, passed) index (store.workbench): one seek per trace
    return ColumnRead("trace", "EXISTS (SELECT 1 FROM evaluations j WHERE j.trace_id = t.trace_id AND j.name = ? "
                      "AND j.score IS NOT NULL)", value_params=(params["evaluator"],))


#: 1 per trace with a score from the evaluator, 0 per trace without one: the share a judge covers. A judge
#: that stops (its key expired, its queue stalled) leaves no low score to see, only this share falling.
eval_coverage = ColumnReader(_eval_coverage)


def thumbs_down(db: sqlite_utils.Database, params: dict[str, Any], q: SampleQuery) -> pd.DataFrame:
    return query_samples(db, "eval", "CASE WHEN e.label = 'thumbs_down' THEN 1 ELSE 0 END",
                         ["e.name = 'user_feedback'"], [], q)


def refusal_answers(db: sqlite_utils.Database, params: dict[str, Any], q: SampleQuery) -> pd.DataFrame:
    """Per LLM answer: 1 when its text reads as a refusal; or per 'refusal' evaluation (source=evaluation)."""
    if params.get("source", "output_text") == "evaluation":
        # Scores are "higher is better": a refusal evaluation scores 1 when the answer is NOT a refusal.
        value = ("CASE WHEN e.label = 'refused' THEN 1 WHEN e.passed IS NOT NULL THEN 1 - e.passed "
                 "WHEN e.score IS NOT NULL THEN (e.score < 0.5) END")
        return query_samples(db, "eval", value, ["e.name = 'refusal'"], [], q)
    # one answer per provider request: the lowest LLM span of it holding text (store.llm_roles)
    return query_samples(db, "span", f"td_is_refusal({_REFUSAL_TEXT})",
                         ["s.kind = 'LLM'", "s.output_text IS NOT NULL", ANSWER_SQL], [], q)


def pii_answers(db: sqlite_utils.Database, params: dict[str, Any], q: SampleQuery) -> pd.DataFrame:
    """Per trace: 1 when the answer the user saw (the root span's output) holds PII or a secret."""
    return query_samples(db, "span", "td_has_pii(s.output_text)",
                         ["s.parent_span_id IS NULL", "s.output_text IS NOT NULL"], [], q)


def _define_refused(db: sqlite_utils.Database) -> None:
    refused = refused_trace_ids(db)
    # a function, not a bound list: the value expression appears twice in the query (SELECT and WHERE)
    db.conn.create_function("td_trace_refused", 1, lambda tid: int(tid in refused), deterministic=True)


#: Per trace: 1 when any of its answers reads as a refusal or a 'refusal' evaluation failed.
refusal_traces = ColumnReader(lambda params: ColumnRead("trace", "td_trace_refused(t.trace_id)"),
                              prepare=_define_refused)


def span_durations(db: sqlite_utils.Database, params: dict[str, Any], q: SampleQuery) -> pd.DataFrame:
    where, args = [], []
    if "span_kind" in params:
        where.append("s.kind = ?")
        args.append(params["span_kind"])
        if params["span_kind"] == "LLM":
            where.append(CALL_SQL)  # one sample per provider request: a wrapper's is its call's again
    if "span_name" in params:
        where.append("s.name = ?")
        args.append(params["span_name"])
    return query_samples(db, "span", "s.duration_ms", where, args, q)


#: LLM-span values: name -> (SQL value, extra condition)
#: (one sample per provider request: a wrapper LLM span repeats its call, store.llm_roles; tokens are
#: de-duplicated by usage_counted, which already counts one span of a request)
_LLM_VALUES: dict[str, tuple[str, str | None]] = {
    "ttft_ms": ("s.ttft_ms", CALL_SQL),
    "input_tokens": ("s.input_tokens", "s.usage_counted"),
    "output_tokens": ("s.output_tokens", "s.usage_counted"),
    "input_length": ("COALESCE(length(s.input_text), length(td_json(s.input_messages)))", CALL_SQL),
    "output_length": ("length(s.output_text)", ANSWER_SQL),
}


def llm_value(name: str) -> Reader:
    """A reader of one value of each LLM span (see _LLM_VALUES)."""
    value, extra = _LLM_VALUES[name]

    def read(db: sqlite_utils.Database, params: dict[str, Any], q: SampleQuery) -> pd.DataFrame:
        where = ["s.kind = 'LLM'"] + ([extra] if extra else [])
        return query_samples(db, "span", value, where, [], q)
    return read


#: Trace-summary values: name -> SQL value
_TRACE_VALUES: dict[str, str] = {
    "duration_ms": "t.duration_ms",
    "cost_usd": "t.cost_usd",
    "input_tokens": "t.input_tokens",
    "total_tokens": "t.total_tokens",
    "tool_calls": "t.tool_calls",
    "llm_calls": "t.llm_calls",
    "span_count": "t.span_count",
    "one": "1",
}


def trace_value(name: str) -> ColumnReader:
    """A reader of one value of each trace summary (see _TRACE_VALUES)."""
    read = ColumnRead("trace", _TRACE_VALUES[name])
    return ColumnReader(lambda params: read)


def _errors(params: dict[str, Any]) -> ColumnRead:
    if "span_kind" in params:
        calls = (CALL_SQL,) if params["span_kind"] == "LLM" else ()  # a wrapper's status repeats its call's
        return ColumnRead("span", "s.status = 'ERROR'", ("s.kind = ?", *calls), (params["span_kind"],))
    return ColumnRead("trace", "t.error_count > 0")


#: 1 per trace with an ERROR span (or per span of span_kind with status ERROR), else 0.
errors = ColumnReader(_errors)


def retrieval_top_scores(db: sqlite_utils.Database, params: dict[str, Any], q: SampleQuery) -> pd.DataFrame:
    """The score of each retrieval's first document (what drift compares: reading every score means
    parsing each documents JSON in full)."""
    return query_samples(db, "span", "json_extract(td_json(s.documents), '$[0].score')", ["s.kind = 'RETRIEVER'"], [], q)


def retrieval_doc_codes(db: sqlite_utils.Database, q: SampleQuery, encode: Callable[[str | None], int | None]) -> pd.DataFrame:
    """Per retrieval: `encode(retrieved_doc_ids JSON)` as the value (drift decodes it to document ids)."""
    db.conn.create_function("td_drift_doc_code", 1, encode, deterministic=True)
    return query_samples(db, "span", "td_drift_doc_code(s.retrieved_doc_ids)",
                         ["s.kind = 'RETRIEVER'", "s.retrieved_doc_ids IS NOT NULL"], [], q)


def first_span_ns(db: sqlite_utils.Database) -> int | None:
    return db.execute("SELECT MIN(start_ns) FROM spans").fetchone()[0]


def span_range(db: sqlite_utils.Database) -> tuple[int, int] | None:
    """(first, last) span start time in the store, or None when it is empty."""
    from .query import start_bounds

    lo, hi = start_bounds(db, "spans")
    return None if lo is None or hi is None else (int(lo), int(hi))


# ---------------------------------------------------------------------------------------------
# Refused traces (kept on the connection: the text check over every LLM output is the costly part)

# The detector reads the opening of an answer and, for "declined X, but here's how…", a little after it
# (refusals.OPENING_CHARS + 400 covers the pivot and PIVOT_MIN_CHARS): SQL hands over no more than that.
# As bytes: SQLite's text functions stop at a NUL character, which an answer may hold; 3,200 bytes hold
# at least 800 characters of UTF-8.
_REFUSAL_TEXT = "substr(CAST(s.output_text AS BLOB), 1, 3200)"


def _text(value: str | bytes | None) -> str | None:
    return value.decode("utf-8", errors="ignore") if isinstance(value, bytes) else value


#: analysis.refusals.SETTING_KEY (not imported for it: that module compiles its patterns on import)
_PHRASES_SETTING = "refusal_phrases"


def refusal_detector(db: sqlite_utils.Database) -> "RefusalDetector":
    """The refusal detector with this database's phrase lists (setting `refusal_phrases`)."""
    from ..analysis.refusals import SETTING_KEY, detector_from_setting
    from . import get_setting

    return detector_from_setting(get_setting(db, SETTING_KEY))


def save_refusal_phrases(db: sqlite_utils.Database, extra: list[str], ignore: list[str]) -> None:
    """Store the user's phrase lists; every refusal figure reads them from the next query on."""
    from ..analysis.refusals import SETTING_KEY, validate_phrases
    from . import set_setting

    set_setting(db, SETTING_KEY, {"extra": validate_phrases(extra), "ignore": validate_phrases(ignore)})


def refused_trace_ids(db: sqlite_utils.Database) -> set[str]:
    """Traces with a refusal: an LLM output flagged by is_refusal, or a failed/"refused" refusal evaluation.

    The text check's result is kept on the connection and only spans added since (higher rowid) are
    checked when the database changes. (A span re-written in place with new text keeps its rowid and is
    not re-checked until the connection is reopened.)
    """
    refused = set(_text_refusals(db))
    refused.update(r[0] for r in db.execute(
        "SELECT DISTINCT e.trace_id FROM evaluations e WHERE e.name = 'refusal' "
        "AND (e.passed = 0 OR e.label = 'refused')"))
    return refused


def _text_refusals(db: sqlite_utils.Database) -> set[str]:
    detector = refusal_detector(db)
    cache = getattr(db, "_td_refusals", None)
    version = (db.execute("PRAGMA data_version").fetchone()[0], db.conn.total_changes)
    if cache is not None and cache["version"] == version and cache["detector"] == detector:
        return cache["refused"]
    if cache is None or cache["detector"] != detector:  # new phrase lists: every answer again
        cache = {"upto": 0, "refused": set(), "detector": detector}
    top = db.execute("SELECT MAX(rowid) FROM spans").fetchone()[0] or 0
    if top < cache["upto"]:  # the table was rebuilt: start over
        cache = {"upto": 0, "refused": set(), "detector": detector}
    # `+s.kind`: read the table in rowid order (sequential) rather than through the kind index
    # td_is_refusal: the one detector, with verdicts remembered per text (store.text_checks), so a second
    # connection on the same data does not check every answer again
    register_functions(db)

    def scan(condition: str, params: list[Any]) -> set[str]:
        sql = (f"SELECT DISTINCT s.trace_id FROM spans s WHERE {condition} "
               f"AND +s.kind = 'LLM' AND s.output_text IS NOT NULL AND td_is_refusal({_REFUSAL_TEXT})")
        return {tid for (tid,) in db.execute(sql, params)}

    # kept in the database (store.refused_kept): a new connection checks only what was written since
    from ..analysis import refusals
    from . import refused_kept, text_checks

    kept = refused_kept.refused(db, text_checks.checker_key("refusal", (refusals,), (detector.extra, detector.ignore)),
                                scan)
    if kept is not None:
        cache["refused"] = kept
    else:
        cache["refused"].update(scan("s.rowid > ? AND s.rowid <= ?", [cache["upto"], top]))
    save_text_checks(db)
    cache["upto"] = top
    # after the save: keeping the verdicts is this connection's own write, not new data
    cache["version"] = (db.execute("PRAGMA data_version").fetchone()[0], db.conn.total_changes)
    try:
        db._td_refusals = cache  # type: ignore[attr-defined]
    except AttributeError:  # an object that takes no attributes: no cache, still correct
        pass
    return cache["refused"]
