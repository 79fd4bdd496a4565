"""Filters -> SQL reads returning pandas DataFrames (read-only; the store owns every write).

A `Filters` value selects TRACES: a trace matches when its summary row (time, cohort dimensions,
cost, latency) matches and, for the span-level fields (model, kind, status, agent, text), when at least
one of its spans matches all of them at once ("a trace with an ERROR TOOL span"). Evaluator score
ranges match when the trace has an evaluation of that name inside the range.

Filters round-trip through URL query parameters so a filtered view can be shared as a link.
"""
from __future__ import annotations

import datetime as dt
import math
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import pandas as pd
import sqlite_utils

from .. import cohorts, timeutil
from ..errors import InputError, choices_hint
from . import cohort_sql, span_tags

#: Trace-table columns a caller may sort by (anything else is refused, so ORDER BY never takes input).
TRACE_SORT_COLUMNS: tuple[str, ...] = (
    "start_ns", "duration_ms", "span_count", "error_count", "llm_calls", "tool_calls", "input_tokens",
    "output_tokens", "total_tokens", "cost_usd", "root_name", "route", "tenant", "prompt_version",
    "environment", "session_id", "user_id",
)

#: Dimensions a URL names bare (route=billing); any other is written dim.NAME. model and agent are the
#: span-level list fields below.
_URL_DIMENSIONS = tuple(n for n in cohorts.names() if n not in ("model", "agent_name"))
#: Span attributes that carry a trace's tags (OpenInference, Langfuse, Logfire), each a list of strings.
TAG_ATTRIBUTES: tuple[str, ...] = span_tags.TAG_ATTRIBUTES  # the writer keeps them in span_tags (m507)
#: Span-level list filters: Filters field -> spans column.
_SPAN_LIST_FIELDS = {"models": "model", "kinds": "kind", "statuses": "status", "agents": "agent_name"}
#: span values whose count each trace summary keeps (store.summaries: llm_calls = the LLM calls of
#: store.llm_calls, > 0 exactly when the trace has a span of kind LLM; tool_calls = spans of kind TOOL;
#: error_count is left out: ERROR spans are few, their index (m514) finds them in milliseconds):
#: a filter on them alone reads the traces, not every matching span (TOOL at 1M spans: 0.34 s -> 0.02 s)
_SUMMARY_COUNTS = {("kinds", "LLM"): "llm_calls", ("kinds", "TOOL"): "tool_calls"}
#: The spans primary key (trace_id, span_id): SQLite names the index of a rowid table's first key this way.
SPANS_KEY_INDEX = "sqlite_autoindex_spans_1"
#: URL parameter name for each list field.
_LIST_PARAMS = {"models": "model", "kinds": "kind", "statuses": "status", "agents": "agent"}


class FilterError(InputError):
    """A filter value that cannot be read; the message names the parameter and the expected form."""


@dataclass
class Filters:
    """What to look at. Every field is optional; the empty Filters() selects everything."""

    start_ns: int | None = None  # trace start >= this (Unix ns)
    end_ns: int | None = None  # trace start < this
    #: cohort dimension (`tracedesk.cohorts`: route, tenant, ... or any mapped key) -> allowed values;
    #: a trace matches when it holds one of them (membership for span-level dimensions)
    dims: dict[str, list[str]] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)
    #: evaluator name -> (min, max) score, either bound may be None
    scores: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    min_cost: float | None = None  # per trace, USD
    max_cost: float | None = None
    min_latency_ms: float | None = None  # trace duration
    max_latency_ms: float | None = None
    text: str | None = None  # substring of a span's name, input or output (case-insensitive)
    #: a trace matches when one of its spans carries one of these tags (TAG_ATTRIBUTES)
    tags: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return self == Filters()

    def with_(self, **changes: Any) -> "Filters":
        """A copy with some fields changed (dims/scores are merged, not replaced, when given as dicts)."""
        merged = dict(changes)
        if "dims" in changes:
            merged["dims"] = {**self.dims, **changes["dims"]}
        if "scores" in changes:
            merged["scores"] = {**self.scores, **changes["scores"]}
        return replace(self, **merged)

    # -- URL query string -----------------------------------------------------------------------

    def to_query_params(self) -> dict[str, str]:
        """Flat string params for a URL (`st.query_params`), omitting empty fields."""
        out: dict[str, str] = {}
        if self.start_ns is not None:
            out["start"] = _ns_to_iso(self.start_ns)
        if self.end_ns is not None:
            out["end"] = _ns_to_iso(self.end_ns)
        for dim, values in sorted(self.dims.items()):
            if values:
                name = cohorts.canonical(dim)
                out[name if name in _URL_DIMENSIONS else f"dim.{name}"] = ",".join(values)
        for attr, param in _LIST_PARAMS.items():
            values = getattr(self, attr)
            if values:
                out[param] = ",".join(values)
        for name, (lo, hi) in sorted(self.scores.items()):
            out[f"score.{name}"] = _range_str(lo, hi)
        if self.min_cost is not None or self.max_cost is not None:
            out["cost"] = _range_str(self.min_cost, self.max_cost)
        if self.min_latency_ms is not None or self.max_latency_ms is not None:
            out["latency_ms"] = _range_str(self.min_latency_ms, self.max_latency_ms)
        if self.text:
            out["q"] = self.text
        if self.tags:
            out["tag"] = ",".join(self.tags)
        return out

    @classmethod
    def from_query_params(cls, params: Mapping[str, Any], *, strict: bool = False) -> "Filters":
        """Read filters back from URL params. Unknown keys are ignored (pages add their own, e.g.
        trace_id) unless `strict` (the CLI's --filter, where a mistyped key must not widen an export to
        every row); malformed values raise FilterError naming the parameter and the expected form."""
        f = cls()
        for key, raw in params.items():
            value = raw[-1] if isinstance(raw, (list, tuple)) else raw
            if value is None or str(value) == "":
                continue
            value = str(value)
            if key == "start":
                f.start_ns = _parse_time(key, value)
            elif key == "end":
                f.end_ns = _parse_time(key, value)
            elif key in _URL_DIMENSIONS:
                f.dims[key] = _split(value)
            elif key.startswith("dim.") and len(key) > 4:
                f.dims[cohorts.canonical(key)] = _split(value)
            elif key in _LIST_PARAMS.values():
                attr = next(a for a, p in _LIST_PARAMS.items() if p == key)
                values = _split(value)
                if attr in ("kinds", "statuses"):
                    values = [v.upper() for v in values]
                setattr(f, attr, values)
            elif key.startswith("score.") and len(key) > 6:
                f.scores[key[6:]] = _parse_range(key, value)
            elif key == "cost":
                f.min_cost, f.max_cost = _parse_range(key, value)
            elif key == "latency_ms":
                f.min_latency_ms, f.max_latency_ms = _parse_range(key, value)
            elif key == "q":
                f.text = value
            elif key == "tag":
                f.tags = _split(value)
            elif strict:
                raise FilterError(f"Unknown filter {key!r}; the keys are: {FILTER_PARAM_KEYS_HELP}")
        return f


FILTER_PARAM_KEYS_HELP = (
    f"start/end (ISO time or Unix ns), {'/'.join(_URL_DIMENSIONS)} or dim.NAME (comma list), "
    "model, kind, status, agent (comma lists), score.NAME / cost / latency_ms (LO..HI, either side optional), "
    "q (text), tag (comma list)"
)


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _fmt_num(x: float) -> str:
    return format(x, "g") if x != int(x) or abs(x) >= 1e15 else str(int(x))


def _range_str(lo: float | None, hi: float | None) -> str:
    return f"{'' if lo is None else _fmt_num(lo)}..{'' if hi is None else _fmt_num(hi)}"


def _parse_range(key: str, value: str) -> tuple[float | None, float | None]:
    if ".." not in value:
        raise FilterError(f"Filter {key}={value!r}: expected LO..HI, e.g. 0..0.5, ..0.5 or 0.5..")
    lo_s, hi_s = value.split("..", 1)
    try:
        lo = float(lo_s) if lo_s.strip() else None
        hi = float(hi_s) if hi_s.strip() else None
    except ValueError:
        raise FilterError(f"Filter {key}={value!r}: bounds must be numbers, e.g. 0..0.5") from None
    if any(b is not None and not math.isfinite(b) for b in (lo, hi)):
        raise FilterError(f"Filter {key}={value!r}: bounds must be finite numbers (leave a side empty for "
                          f"'no bound', e.g. 0.5..)")
    if lo is not None and hi is not None and lo > hi:
        raise FilterError(f"Filter {key}={value!r}: the low bound is above the high bound")
    return lo, hi


def _ns_to_iso(ns: int) -> str:
    return timeutil.format_time(ns, timespec="seconds")  # exact to the ns, so links round-trip


#: Unix ns the store can hold (SQLite INTEGER is int64); later "times" are typos, not filters.
_MAX_NS = 2**63 - 1


def _parse_time(key: str, value: str) -> int:
    try:
        ns = timeutil.parse_time(value)
    except timeutil.TimeParseError as exc:
        raise FilterError(f"Filter {key}={value!r}: expected an ISO time like 2026-11-20T00:00:00Z or a Unix "
                          f"time ({'; '.join(timeutil.TIME_FORMS)})") from exc
    if not 0 <= ns <= _MAX_NS:
        raise FilterError(f"Filter {key}={value[:40]!r}: outside 1970..2262, the times the store can hold; "
                          f"expected an ISO time like 2026-11-20T00:00:00Z or Unix seconds/ms/ns")
    return ns


def to_ns(value: "dt.datetime | dt.date | pd.Timestamp | str | int") -> int:
    """Unix ns from a datetime/date (UTC when naive), an ISO string, a Unix number (see tracedesk.timeutil)."""
    return timeutil.parse_time(value)


# ---------------------------------------------------------------------------------------------
# WHERE clauses


def dimension(name: str) -> cohorts.Dimension:
    """The cohort Dimension a filter key names (any other key is a mapped one), as a FilterError if bad."""
    try:
        return cohorts.resolve(name, bare_mapped=True)
    except cohorts.CohortError as exc:
        raise FilterError(str(exc)) from None


_TEXT_COLUMNS = ("s.name", "s.input_text", "s.output_text")
#: Unicode-aware substring test (`école` finds `ÉCOLE`): the needle is casefolded once in Python. For
#: ASCII text SQLite's LIKE (case-insensitive for ASCII, exact for other characters) IS the case fold,
#: so LIKE answers in C without copying the text (instr(lower(x), ...) lowered a copy of every text:
#: 0.65 against 0.37 s CPU over 1M spans' name, input and output); only a row that holds non-ASCII
#: or a NUL character (its character length differs from its byte length: length() stops at a NUL, and
#: so does LIKE) and did not match that way asks td_fold, the Python casefold registered on every store
#: connection. A LIKE match is always a match in casefold(x) (the needle's non-ASCII characters are
#: already folded), so the two tests are exact. `%`, `_` and `\` of the search text are escaped: literal.
_TEXT_MATCH = ("({col} LIKE ? ESCAPE '\\' OR (length({col}) <> length(CAST({col} AS BLOB)) "
               "AND instr(td_fold({col}), ?)))")
#: SQLite refuses LIKE patterns above 50,000 bytes; a longer search text takes instr(lower()) instead
_LIKE_MAX_BYTES = 40_000
_TEXT_MATCH_LONG = ("(instr(lower({col}), ?) OR (length({col}) <> length(CAST({col} AS BLOB)) "
                    "AND instr(td_fold({col}), ?)))")


def _like_pattern(needle: str) -> str:
    return "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def text_condition(text: str) -> tuple[str, list[Any]]:
    """The span condition of the text filter (over spans `s`) and its parameters."""
    needle = text.casefold()
    # a NUL would end the LIKE pattern early (SQLite reads patterns as C strings)
    long = len(needle.encode("utf-8")) > _LIKE_MAX_BYTES or "\x00" in needle
    first = needle if long else _like_pattern(needle)
    match = _TEXT_MATCH_LONG if long else _TEXT_MATCH
    cond = "(" + " OR ".join(match.format(col=c) for c in _TEXT_COLUMNS) + ")"
    return cond, [first, needle] * len(_TEXT_COLUMNS)


def trace_where(f: Filters | None, alias: str = "t", *,
                text_traces: tuple[str, list[Any]] | None = None, span_probe: bool = False) -> tuple[str, list[Any]]:
    """SQL condition over `traces AS alias` (plus correlated sub-queries) and its parameters.

    `text_traces`: a sub-query (and its parameters) selecting exactly the traces with a span matching
    the text filter (store.text_index); the span conditions are then tested only on those traces' spans.
    `span_probe`: the span conditions are tested per trace, reading that trace's spans by the spans
    primary key (for a page walked in start order that stops after its rows: see `traces`)."""
    if f is None:
        return "1", []
    conds: list[str] = []
    params: list[Any] = []
    if f.start_ns is not None:
        conds.append(f"{alias}.start_ns >= ?")
        params.append(int(f.start_ns))
    if f.end_ns is not None:
        conds.append(f"{alias}.start_ns < ?")
        params.append(int(f.end_ns))
    for dim, values in f.dims.items():
        if values:
            cond, cond_params = cohort_sql.trace_filter_sql(dimension(dim), values, alias)
            conds.append(cond)
            params.extend(cond_params)
    for col, lo, hi in (("cost_usd", f.min_cost, f.max_cost), ("duration_ms", f.min_latency_ms, f.max_latency_ms)):
        if lo is not None:
            conds.append(f"{alias}.{col} >= ?")
            params.append(lo)
        if hi is not None:
            conds.append(f"{alias}.{col} <= ?")
            params.append(hi)
    span_conds: list[str] = []
    span_params: list[Any] = []  # in the order their marks appear in the span sub-query
    lists = _span_lists(f)
    if _counted_kinds(f, lists):
        # one span condition, every value counted per trace: "a span of this kind" = "a count above 0"
        # (with several, one span must meet them all: only the span sub-query below can say)
        conds.append("(" + " OR ".join(f"{alias}.{_SUMMARY_COUNTS[(lists[0][0], v)]} > 0"
                                       for v in dict.fromkeys(lists[0][1])) + ")")
        lists = []
    if f.text and text_traces is not None:
        if not lists:  # the index's answer is the whole span test
            conds.append(f"{alias}.trace_id IN ({text_traces[0]})")
            params.extend(text_traces[1])
        else:  # one span must meet every condition: test the text only on spans of the text's traces
            # (`+`: the list column's own index still drives, as without the index: at 10M spans, driving
            # from the text's 14k traces took sorry + status=ERROR 0.19 -> 3.5 s CPU)
            span_conds.append(f"+s.trace_id IN ({text_traces[0]})")
            span_params.extend(text_traces[1])
    for attr, values in lists:
        col = _SPAN_LIST_FIELDS[attr]
        if values:
            # the sub-query below runs once (uncorrelated), so the column's own index serves it: at 1M
            # spans status=ERROR takes 0.04 s through its index, 2.6 s scanning the table. One value is
            # written `= ?`: the partial ERROR index (migrations.ERROR_STATUS_INDEX) serves a bound value
            # that meets its WHERE, but never `IN (?)`
            values = list(dict.fromkeys(values))
            span_conds.append(f"s.{col} = ?" if len(values) == 1 else f"s.{col} IN ({','.join('?' for _ in values)})")
            span_params.extend(values)
    if f.text and (text_traces is None or lists):
        cond, text_params = text_condition(f.text)
        span_conds.append(cond)
        span_params.extend(text_params)
    # Span and score conditions are uncorrelated `IN (SELECT trace_id ...)` sub-queries: SQLite runs each
    # once into a temporary set and probes it per trace. A correlated EXISTS lets the planner walk a
    # non-trace index (model, kind) once per trace when no ANALYZE statistics exist: quadratic.
    # `span_probe` asks for the one correlated form that is not: the trace id is bound, so the spans
    # primary key (trace_id, span_id) finds that trace's spans and only they are tested. INDEXED BY, as
    # the planner would otherwise walk the model or kind index once per trace without statistics
    # (quadratic), and with them skip-scan (model, trace_id) once per distinct model.
    if span_conds and span_probe:
        conds.append(f"EXISTS (SELECT 1 FROM spans s INDEXED BY {SPANS_KEY_INDEX} WHERE s.trace_id = {alias}.trace_id "
                     f"AND {' AND '.join(span_conds)})")
        params.extend(span_params)
    elif span_conds:
        conds.append(f"{alias}.trace_id IN (SELECT s.trace_id FROM spans s WHERE {' AND '.join(span_conds)})")
        params.extend(span_params)
    if f.tags:
        cond, tag_params = tag_condition(f.tags, alias)
        conds.append(cond)
        params.extend(tag_params)
    for name, (lo, hi) in f.scores.items():
        cond = f"{alias}.trace_id IN (SELECT e.trace_id FROM evaluations e WHERE e.name = ?"
        params.append(name)
        if lo is not None:
            cond += " AND e.score >= ?"
            params.append(lo)
        if hi is not None:
            cond += " AND e.score <= ?"
            params.append(hi)
        conds.append(cond + ")")
    return (" AND ".join(conds) or "1"), params


def _span_lists(f: Filters) -> list[tuple[str, list[str]]]:
    """The span-level list fields the filters set, as (Filters field, values)."""
    return [(attr, getattr(f, attr)) for attr in _SPAN_LIST_FIELDS if getattr(f, attr)]


def _counted_kinds(f: Filters, lists: list[tuple[str, list[str]]]) -> bool:
    """Whether the span lists are one list of kinds the trace summary counts (no span read needed)."""
    return len(lists) == 1 and not f.text and all((lists[0][0], v) in _SUMMARY_COUNTS for v in lists[0][1])


def _tag_rows_sql() -> str:
    """(trace_id, tag) for every tag in a TAG_ATTRIBUTES list: ONE pass over the spans (a lone string counts)."""
    keys = ", ".join(f"'{k}'" for k in TAG_ATTRIBUTES)
    # Attributes may be stored deflated (store.blobs): read through td_json(), the one text per row.
    return ("SELECT s.trace_id AS trace_id, j.value AS tag FROM "
            "(SELECT trace_id, td_json(attributes) AS attrs FROM spans) s, json_each(s.attrs) a, "
            "json_each(CASE WHEN a.type = 'array' THEN a.value ELSE json_array(a.value) END) j "
            f"WHERE instr(s.attrs, 'tags\"') > 0 AND a.key IN ({keys}) AND j.type = 'text'")


def tag_condition(tags: Sequence[str], alias: str = "t", db: sqlite_utils.Database | None = None
                  ) -> tuple[str, list[Any]]:
    """Traces with a span carrying one of `tags` in any TAG_ATTRIBUTES list: from span_tags (an index
    lookup) unless `db` is given and lacks it (never migrated past m507: every span's attributes read)."""
    if db is None or span_tags.present(db):
        return span_tags.condition_sql(len(tags), alias), list(tags)
    marks = ",".join("?" for _ in tags)
    return f"{alias}.trace_id IN (SELECT trace_id FROM ({_tag_rows_sql()}) WHERE tag IN ({marks}))", list(tags)


def tag_values(db: sqlite_utils.Database, limit: int = 500) -> list[str]:
    """Tags the stored spans carry, most traces first."""
    sql = (span_tags.values_sql() if span_tags.present(db) else
           f"SELECT tag FROM ({_tag_rows_sql()}) GROUP BY tag ORDER BY COUNT(DISTINCT trace_id) DESC, tag LIMIT ?")
    return [str(r[0]) for r in db.execute(sql, [limit]).fetchall()]


def trace_ids_sql(f: Filters | None) -> tuple[str, list[Any]]:
    """A sub-query selecting the trace ids the filters match (for `trace_id IN (...)`)."""
    where, params = trace_where(f)
    return f"SELECT t.trace_id FROM traces t WHERE {where}", params


FRAME_CHUNK_ROWS = 50_000


def frame(db: sqlite_utils.Database, sql: str, params: Sequence[Any] = (), *,
          chunk_rows: int = FRAME_CHUNK_ROWS) -> pd.DataFrame:
    """A query's rows as a DataFrame, built chunk by chunk: peak memory stays near twice the frame's
    own size (all rows as Python tuples first took 5-6x: 1.9 GB for 1M spans)."""
    from .blobs import codec

    codec(db)  # td_json() for compacted columns, also on handles not opened by store.connect()
    cur = db.execute(sql, list(params))
    cols = [d[0] for d in cur.description]
    chunks = []
    while True:
        rows = cur.fetchmany(chunk_rows)
        if not rows:
            break
        chunks.append(pd.DataFrame.from_records(rows, columns=cols))
        del rows
    return concat_frames(chunks, cols)


def iter_frames(db: sqlite_utils.Database, sql: str, params: Sequence[Any] = (), *,
                chunk_rows: int = FRAME_CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The same rows as `frame`, as DataFrames of at most `chunk_rows` rows (bounded memory for exports).

    Each chunk infers its own dtypes (a column with no value in a chunk is object there)."""
    from .blobs import codec

    codec(db)
    cur = db.execute(sql, list(params))
    cols = [d[0] for d in cur.description]
    while True:
        rows = cur.fetchmany(chunk_rows)
        if not rows:
            return
        yield pd.DataFrame.from_records(rows, columns=cols)


def concat_frames(chunks: list[pd.DataFrame], cols: Sequence[str]) -> pd.DataFrame:
    """Chunk frames -> the frame `from_records` of all rows would give (same dtypes per column)."""
    if not chunks:
        return pd.DataFrame.from_records([], columns=list(cols))
    if len(chunks) == 1:
        return chunks[0]
    for i, col in enumerate(cols):
        kinds = [c.iloc[:, i].dtype for c in chunks]
        if all(k == kinds[0] for k in kinds):
            continue
        # Chunks disagree (a chunk without any value in this column, ints here and floats there): the
        # dtype of the whole column is what pandas infers from all its values together.
        values: list[Any] = []
        for c in chunks:
            values.extend(c.iloc[:, i].tolist())
        target = pd.Series(values).dtype
        del values
        for c in chunks:
            c.isetitem(i, c.iloc[:, i].astype(target))
    return pd.concat(chunks, ignore_index=True)


def _add_time(df: pd.DataFrame, col: str = "start_ns", out: str = "start") -> pd.DataFrame:
    if col in df.columns:
        df.insert(0, out, pd.to_datetime(df[col], unit="ns", utc=True))
    return df


# ---------------------------------------------------------------------------------------------
# Reads

TRACE_COLUMNS = (
    "trace_id", "root_name", "start_ns", "duration_ms", "span_count", "error_count", "llm_calls", "tool_calls",
    "input_tokens", "output_tokens", "total_tokens", "cost_usd", "models", "agents", "route", "tenant",
    "prompt_version", "environment", "session_id", "user_id", "complete",
)


def traces(
    db: sqlite_utils.Database,
    filters: Filters | None = None,
    *,
    sort: str = "start_ns",
    descending: bool = True,
    limit: int | None = None,
    offset: int = 0,
    columns: Sequence[str] = TRACE_COLUMNS,
) -> pd.DataFrame:
    """Trace summaries matching the filters, one row each, with a `start` datetime column (UTC)."""
    if sort not in TRACE_SORT_COLUMNS:
        raise FilterError(f"Cannot sort by {sort!r}; {choices_hint(sort, TRACE_SORT_COLUMNS)}")
    bad = [c for c in columns if c not in TRACE_COLUMNS and c != "dims"]
    if bad:
        raise FilterError(f"Unknown trace column(s) {bad}; choose from: {', '.join(TRACE_COLUMNS)}")
    direction = "DESC" if descending else "ASC"
    if (sort == "start_ns" and limit is not None and filters is not None
            and _walk_in_start_order(db, filters, direction, int(limit) + int(offset))):
        df = _walked_page(db, filters, columns, direction, int(limit), int(offset))
    else:
        df = _sorted_page(db, filters, sort, direction, limit, offset, columns)
    if "complete" in df.columns:
        df["complete"] = df["complete"].astype(bool)
    return _add_time(df)


def _sorted_page(db: sqlite_utils.Database, filters: Filters | None, sort: str, direction: str,
                 limit: int | None, offset: int, columns: Sequence[str]) -> pd.DataFrame:
    """The page as one query: span conditions as uncorrelated sub-queries (each matching set built once)."""
    where, params = resolved_where(db, filters)
    descending = direction == "DESC"
    # NULLs last whichever the direction, then a stable tie-break so pages never overlap. Descending,
    # SQLite sorts NULL last by itself (the smallest value): without the `IS NULL` term the column's index
    # serves the order and a page stops after its rows (1M spans, no filter: 0.018 -> 0.0003 s CPU)
    nulls_last = f"t.{sort} IS NULL, " if not descending else ""
    sql = (f"SELECT {', '.join('t.' + c for c in columns)} FROM traces t WHERE {where} "
           f"ORDER BY {nulls_last}t.{sort} {direction}, t.trace_id {direction}")
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params = [*params, int(limit), int(offset)]
    return frame(db, sql, params)


#: Traces sampled in the page's start order to estimate a span filter's share of traces (no ANALYZE
#: needed): 64 probes cost 0.2 ms CPU at 100k spans (256: 1.0 ms) and put the share within about
#: 1/sqrt(64) = 12% of the traces, enough for a choice between costs that differ by the share squared.
_PROBE_TRACES = 64


def _walk_in_start_order(db: sqlite_utils.Database, f: Filters, direction: str, need: int) -> bool:
    """Whether the first `need` matching traces in start order are found faster by walking the traces in
    that order, testing each one's spans, than by building every matching trace's set and sorting it.

    Walking reads about need / share traces; the sets read every matching trace (share x all traces). The
    share is measured on the first _PROBE_TRACES traces the page would walk (the trace-level conditions
    applied), each tested the walk's way. Text searches keep their own matches (_text_matches)."""
    lists = _span_lists(f)
    if f.text or not lists or _counted_kinds(f, lists):
        return False
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", [SPANS_KEY_INDEX]).fetchone() is None:
        return False  # a spans table keyed otherwise (the walk names its key's index): the sets still answer
    base_where, base_params = trace_where(replace(f, models=[], kinds=[], statuses=[], agents=[]))
    span_where, span_params = trace_where(
        Filters(models=f.models, kinds=f.kinds, statuses=f.statuses, agents=f.agents), "p", span_probe=True)
    seen, hits = db.execute(
        f"SELECT COUNT(*), COALESCE(SUM({span_where}), 0) FROM (SELECT t.trace_id FROM traces t "
        f"WHERE {base_where} AND t.start_ns IS NOT NULL ORDER BY t.start_ns {direction} LIMIT ?) p",
        [*span_params, *base_params, _PROBE_TRACES]).fetchone()
    if seen < _PROBE_TRACES:  # every trace a walk could read was just read
        return True
    if hits == 0:
        return False
    total = int(db.execute("SELECT COUNT(*) FROM traces").fetchone()[0])
    return need * seen / hits <= total * hits / seen


def walked_page_sql(f: Filters, columns: Sequence[str], direction: str) -> tuple[str, str, list[Any]]:
    """The walked page's two reads (traces with a start, then those without), each ending `LIMIT ?`,
    and the parameters before that limit."""
    where, params = trace_where(f, span_probe=True)
    select = f"SELECT {', '.join('t.' + c for c in columns)} FROM traces t WHERE {where}"
    return (f"{select} AND t.start_ns IS NOT NULL ORDER BY t.start_ns {direction}, t.trace_id {direction} LIMIT ?",
            f"{select} AND t.start_ns IS NULL ORDER BY t.trace_id {direction} LIMIT ?", params)


def _walked_page(db: sqlite_utils.Database, f: Filters, columns: Sequence[str], direction: str,
                 limit: int, offset: int) -> pd.DataFrame:
    """The rows of `_sorted_page` ordered by start, read walking the start index and testing each trace's
    spans by the spans primary key: it stops after the page's rows. NULL starts come last (as there), read
    apart: `start_ns IS NULL` in the ORDER BY would keep the index from serving the order."""
    started, unstarted, params = walked_page_sql(f, columns, direction)
    need = limit + offset
    rows = db.execute(started, [*params, need]).fetchall()
    if len(rows) < need:
        rows += db.execute(unstarted, [*params, need - len(rows)]).fetchall()
    # the frame of the page's rows alone (as `frame` builds it): its dtypes are the page's, not its neighbours'
    page = rows[offset:]
    return concat_frames([pd.DataFrame.from_records(page[i:i + FRAME_CHUNK_ROWS], columns=list(columns))
                          for i in range(0, len(page), FRAME_CHUNK_ROWS)], columns)


def count_traces(db: sqlite_utils.Database, filters: Filters | None = None) -> int:
    if filters is not None and filters.text:
        return len(_text_matches(db, filters))
    where, params = trace_where(filters)
    return int(db.execute(f"SELECT COUNT(*) FROM traces t WHERE {where}", params).fetchone()[0])


#: filter sets whose matching traces a connection keeps (text filters: see _text_matches)
_TEXT_MATCHES_KEPT = 4


def _text_matches(db: sqlite_utils.Database, f: Filters) -> list[str]:
    """The trace ids a filter with a text search matches, kept on the connection until the data changes.

    Without a text index the search reads every span's name, input and output (10M spans: ~7.8 s CPU);
    with one (store.text_index, `tracedesk index text`) it reads the index, and directly only the spans
    not folded into it yet. The Traces page asks for the count and then a page of the same filters, which
    read them twice. Kept per filter set (every field) and data version (store.connect.data_version)."""
    from . import text_index
    from .connect import data_version

    indexed = f.text is not None and text_index.answers(f.text.casefold()) and text_index.usable(db)
    if indexed:
        text_index.refresh(db, wait_ms=250)  # new rows folded in first (when the file can be written now)
    key = (repr(f), data_version(db))  # the dataclass repr: every field, times to the nanosecond
    kept = getattr(db, "_td_text_matches", None)
    if kept is None:
        kept = {}
        try:
            db._td_text_matches = kept  # type: ignore[attr-defined]
        except AttributeError:  # an object that takes no attributes: read each time
            pass
    if key not in kept:
        text_traces = None
        if indexed and f.text is not None:
            cond, cond_params = text_condition(f.text)
            text_traces = text_index.matching_sql(db, f.text.casefold(), cond, cond_params)
        where, params = trace_where(f, text_traces=text_traces)
        ids = [r[0] for r in db.execute(f"SELECT t.trace_id FROM traces t WHERE {where}", params)]
        while len(kept) >= _TEXT_MATCHES_KEPT:
            kept.pop(next(iter(kept)))
        kept[key] = ids
    return kept[key]


def forget_text_matches(db: sqlite_utils.Database) -> None:
    """Drop the text-search matches this connection keeps (a benchmark timing the search itself)."""
    getattr(db, "_td_text_matches", {}).clear()


def resolved_where(db: sqlite_utils.Database, f: Filters | None) -> tuple[str, list[Any]]:
    """trace_where, with a text search answered from the kept matches (_text_matches)."""
    if f is None or not f.text:
        return trace_where(f)
    return "t.trace_id IN (SELECT value FROM json_each(?))", [json.dumps(_text_matches(db, f))]


SPAN_LIGHT_COLUMNS = (
    "trace_id", "span_id", "parent_span_id", "name", "kind", "status", "status_message", "start_ns", "end_ns",
    "duration_ms", "model", "provider", "input_tokens", "output_tokens", "total_tokens", "cost_usd",
    "cost_source", "ttft_ms", "agent_name", "tool_name", "route", "tenant", "prompt_version", "environment",
    "usage_counted",
)


def _spans_sql(filters: Filters | None, columns: Sequence[str], kinds: Sequence[str] | None,
               limit: int | None) -> tuple[str, list[Any]]:
    from . import SPAN_COLUMN_NAMES
    from .blobs import column_sql

    bad = [c for c in columns if c not in SPAN_COLUMN_NAMES]
    if bad:
        raise FilterError(f"Unknown span column(s) {bad}")
    conds, params = [], []
    if filters is not None and not filters.is_empty():
        sub, sub_params = trace_ids_sql(filters)
        conds.append(f"s.trace_id IN ({sub})")
        params.extend(sub_params)
    if kinds:
        conds.append(f"s.kind IN ({','.join('?' for _ in kinds)})")
        params.extend(kinds)
    select = ", ".join(f"{column_sql(c)} AS {c}" for c in columns)
    sql = f"SELECT {select} FROM spans s WHERE {' AND '.join(conds) or '1'}"
    sql += " ORDER BY s.start_ns"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return sql, params


def spans(
    db: sqlite_utils.Database,
    filters: Filters | None = None,
    *,
    columns: Sequence[str] = SPAN_LIGHT_COLUMNS,
    kinds: Sequence[str] | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Spans of the matching traces (all their spans), optionally only some kinds, in start order."""
    sql, params = _spans_sql(filters, columns, kinds, limit)
    return _add_time(frame(db, sql, params))


def iter_spans(
    db: sqlite_utils.Database,
    filters: Filters | None = None,
    *,
    columns: Sequence[str] = SPAN_LIGHT_COLUMNS,
    kinds: Sequence[str] | None = None,
    chunk_size: int = FRAME_CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """The rows of `spans(...)` as frames of at most `chunk_size` rows: exports of any size in bounded memory."""
    if chunk_size < 1:
        raise FilterError(f"chunk_size must be at least 1 (got {chunk_size})")
    sql, params = _spans_sql(filters, columns, kinds, None)
    for chunk in iter_frames(db, sql, params, chunk_rows=chunk_size):
        yield _add_time(chunk)


def trace_spans(db: sqlite_utils.Database, trace_id: str) -> pd.DataFrame:
    """Every column of one trace's spans, JSON columns decoded, in start order."""
    from . import SPAN_COLUMN_NAMES
    from .blobs import column_sql

    select = ", ".join(f"{column_sql(c)} AS {c}" for c in SPAN_COLUMN_NAMES)
    df = frame(db, f"SELECT {select} FROM spans s WHERE s.trace_id = ? ORDER BY s.start_ns, s.span_id", [trace_id])
    for col in ("dims", "input_messages", "output_messages", "documents", "retrieved_doc_ids", "attributes",
                "resource", "events"):
        if col in df.columns:
            df[col] = [json.loads(v) if isinstance(v, str) and v else None for v in df[col]]
    return _add_time(df)


EVAL_COLUMNS = ("trace_id", "span_id", "name", "score", "label", "passed", "reason", "source",
                "evaluator_version", "judge_model", "created_ns", "error")


def evaluations(
    db: sqlite_utils.Database,
    filters: Filters | None = None,
    *,
    trace_id: str | None = None,
    names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Evaluation rows of the matching traces (or of one trace)."""
    conds, params = [], []
    if trace_id is not None:
        conds.append("e.trace_id = ?")
        params.append(trace_id)
    elif filters is not None and not filters.is_empty():
        sub, sub_params = trace_ids_sql(filters)
        conds.append(f"e.trace_id IN ({sub})")
        params.extend(sub_params)
    if names:
        conds.append(f"e.name IN ({','.join('?' for _ in names)})")
        params.extend(names)
    df = frame(db, f"SELECT {', '.join('e.' + c for c in EVAL_COLUMNS)} FROM evaluations e "
                   f"WHERE {' AND '.join(conds) or '1'} ORDER BY e.trace_id, e.span_id, e.name", params)
    df["passed"] = df["passed"].map(lambda v: None if v is None or pd.isna(v) else bool(v)).astype(object)
    return df


def trace_eval_summary(db: sqlite_utils.Database, trace_ids: Sequence[str]) -> pd.DataFrame:
    """Per trace: evaluations count, pass rate and the lowest score (for the rows of a table page)."""
    if not len(trace_ids):
        return pd.DataFrame(columns=["trace_id", "evals", "eval_pass_rate", "min_score"])
    parts = []
    ids = list(trace_ids)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        parts.append(frame(
            db,
            f"SELECT trace_id, COUNT(*) AS evals, AVG(passed) AS eval_pass_rate, MIN(score) AS min_score "
            f"FROM evaluations WHERE trace_id IN ({','.join('?' for _ in chunk)}) GROUP BY trace_id",
            chunk,
        ))
    return pd.concat(parts, ignore_index=True)


# ---------------------------------------------------------------------------------------------
# What is there to filter on


def distinct_values(db: sqlite_utils.Database, dimension_name: str, limit: int = 500) -> list[str]:
    """Values a cohort dimension (or span kind / status) takes, most frequent first."""
    if dimension_name in ("tag", "tags"):
        return tag_values(db, limit)
    if dimension_name in ("kind", "status"):
        sql = (f"SELECT {dimension_name} FROM spans WHERE {dimension_name} IS NOT NULL AND {dimension_name} != '' "
               f"GROUP BY {dimension_name} ORDER BY COUNT(*) DESC LIMIT ?")
        return [str(r[0]) for r in db.execute(sql, [limit]).fetchall()]
    return cohort_sql.distinct_values(db, dimension(dimension_name), limit)


def has_values(db: sqlite_utils.Database, dimension_name: str) -> bool:
    """Whether `distinct_values(db, dimension_name)` holds any value (kind / status / tag: by listing one)."""
    if dimension_name in ("tag", "tags", "kind", "status"):
        return bool(distinct_values(db, dimension_name, 1))
    return cohort_sql.has_values(db, dimension(dimension_name))


def extra_dimensions(db: sqlite_utils.Database, sample: int = 2000) -> list[str]:
    """Mapped cohort dimensions kept in the `dims` JSON (beyond the built-in ones), by sampling traces."""
    return cohort_sql.mapped_keys(db, sample)


def evaluator_names(db: sqlite_utils.Database, *, scored: bool = False) -> list[str]:
    """Evaluator names in the store (scored: only those with at least one score)."""
    where = " WHERE score IS NOT NULL" if scored else ""
    return [r[0] for r in db.execute(f"SELECT DISTINCT name FROM evaluations{where} ORDER BY name").fetchall()]


def start_bounds(db: sqlite_utils.Database, table: str) -> tuple[int | None, int | None]:
    """First and last start (ns) of the rows of `table` (spans or traces), (None, None) when it holds none.

    Two sub-queries: SQLite answers a MIN or a MAX alone with one seek in the start index, but both in one
    SELECT by reading the whole index (10M spans: 2 s of CPU on every backtest and drift report)."""
    if table not in ("spans", "traces"):
        raise ValueError(f"start_bounds reads spans or traces, not {table!r}")
    lo, hi = db.execute(f"SELECT (SELECT MIN(start_ns) FROM {table}), (SELECT MAX(start_ns) FROM {table})").fetchone()
    return lo, hi


def time_bounds(db: sqlite_utils.Database) -> tuple[int | None, int | None]:
    """First and last trace start (ns), or (None, None) on an empty store."""
    return start_bounds(db, "traces")


def filter_fields() -> list[str]:
    return [f.name for f in fields(Filters)]
