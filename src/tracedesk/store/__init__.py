"""The SQLite store: the only package that holds SQL.

- connect.py: opening a database by path or URL (migrated once per process), `open_existing`, `data_version`
- migrations.py: the one ordered list of schema steps
- this module: span/evaluation writes, trace summaries, settings, totals; ingest.py, evals.py, alerts.py,
  workbench.py, query.py...: each feature's reads and writes.

One file holds everything: `spans` (the normalized span, one row each), `traces` (a summary per trace,
recomputed for the traces a batch touched), `evaluations` (scores keyed to a span and its trace) and
`settings` (small JSON documents such as the cohort-dimension mapping).

Schema changes are named migrations applied in order and recorded in `_migrations` (see migrations.py).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import operator
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlite_utils

from ..models import Evaluation, Span
from . import blobs, llm_calls, llm_roles, span_insert, span_tags, summaries
from .open_traces import OpenTraces
from .connect import (DB_ENV_VAR, DEFAULT_DB_PATH, connect, data_version, database_files, default_db_path, ensure_migrated,
                      finish_bulk, is_tracedesk_db, open_bulk, open_database, open_existing, resolve_path,
                      with_database)
from .migrations import (APPLICATION_ID, MIGRATIONS, SPAN_COLUMN_NAMES, SPAN_COLUMNS, SPAN_COLUMNS_M501, SPAN_COLUMNS_M512,
                         applied_names, migrate)

# Columns the writer fills from a Span (usage_counted is derived afterwards).
# `source` then the content hash stay last (the hash covers everything before `source`).
_WRITE_COLUMNS: tuple[str, ...] = (
    tuple(c for c, _ in SPAN_COLUMNS if c not in ("usage_counted", "source", "content_hash"))
    + tuple(c for c, _ in SPAN_COLUMNS_M501) + tuple(c for c, _ in SPAN_COLUMNS_M512) + ("source", "content_hash"))

#: positions in a `span_row` tuple of what the ingest writer reads from rows a parse worker made
ROW_TRACE_ID, ROW_SPAN_ID, ROW_CONVENTION, ROW_SOURCE = (
    _WRITE_COLUMNS.index(c) for c in ("trace_id", "span_id", "convention", "source"))

__all__ = [
    "APPLICATION_ID", "DB_ENV_VAR", "DEFAULT_DB_PATH", "MIGRATIONS", "SPAN_COLUMNS", "SPAN_COLUMN_NAMES",
    "OpenTraces", "WriteResult", "applied_names", "connect", "data_version", "database_files", "default_db_path", "ensure_migrated",
    "evaluation_id", "evaluation_row", "finish_bulk", "get_setting", "is_tracedesk_db", "migrate", "open_bulk",
    "open_database",
    "open_existing", "refresh_stale", "refresh_traces", "resolve_path", "set_setting", "span_from_row", "span_row", "stats",
    "write_batch",
    "with_database", "write_evaluations",
]


# ---------------------------------------------------------------------------------------------
# Writes

_JSON_OPTS = orjson.OPT_NON_STR_KEYS


def _json(value: Any) -> str | None:
    if value is None or value == {} or value == []:
        return None
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
    except TypeError:  # e.g. integers beyond 64 bits
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


_SPAN_JSON_COLUMNS = frozenset({"dims", "input_messages", "output_messages", "documents", "attributes",
                                "resource", "events"})
_ROW_NAMES = tuple(c for c in _WRITE_COLUMNS if c != "content_hash")
# Read every column with one C-level getter; retrieved_doc_ids is derived from documents.
_ROW_GETTER = operator.attrgetter(*(("documents" if c == "retrieved_doc_ids" else c) for c in _ROW_NAMES))
_ROW_JSON_INDEXES = tuple(i for i, c in enumerate(_ROW_NAMES) if c in _SPAN_JSON_COLUMNS)
_ROW_DOC_IDS_INDEX = _ROW_NAMES.index("retrieved_doc_ids")
_ROW_CACHE_WRITE_INDEX = _ROW_NAMES.index("cache_write_tokens")
assert _ROW_CACHE_WRITE_INDEX == len(_ROW_NAMES) - 2  # just before `source`: see the hash in span_row


def span_row(span: Span) -> tuple[Any, ...]:
    """The row written for a span, in `_WRITE_COLUMNS` order, ending with its content hash."""
    values = list(_ROW_GETTER(span))
    for i in _ROW_JSON_INDEXES:
        value = values[i]
        if value:
            values[i] = _json(value)
        elif value is not None:
            values[i] = None
    docs = values[_ROW_DOC_IDS_INDEX]
    values[_ROW_DOC_IDS_INDEX] = _json(span.retrieved_doc_ids) if docs else None
    # `source` (last) is excluded from the hash: the same span read from a copy of a file is unchanged. So is
    # cache_write_tokens (just before it) when NULL: a span without cache writes hashes as it did before m512
    # added the column, and re-ingesting a file an earlier release stored finds it unchanged.
    hashed = values[:-2] if values[_ROW_CACHE_WRITE_INDEX] is None else values[:-1]
    try:
        payload = orjson.dumps(hashed, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        payload = repr(hashed).encode("utf-8", "surrogatepass")
    values.append(hashlib.blake2b(payload, digest_size=12).hexdigest())
    return tuple(values)


_ROW_EMPTY = {"dims": dict, "attributes": dict, "resource": dict, "events": list}


def span_from_row(row: Sequence[Any]) -> Span:
    """The Span a `span_row` tuple holds, JSON columns decoded: `span_row(span_from_row(r)) == r`.

    (The stdlib decoder on purpose: it gives back integers beyond 64 bits, which orjson would turn into
    floats, so the text re-encodes to the same bytes and the hash is the same.)"""
    values: dict[str, Any] = {}
    json_indexes = set(_ROW_JSON_INDEXES)
    for i, name in enumerate(_ROW_NAMES):
        if name == "retrieved_doc_ids":
            continue  # derived from documents
        value = row[i]
        if i in json_indexes:
            value = json.loads(value) if value is not None else (_ROW_EMPTY[name]() if name in _ROW_EMPTY else None)
        values[name] = value
    return Span(**values)


def evaluation_id(ev: Evaluation) -> str:
    """Stable identity: re-importing or re-running the same evaluator on a span replaces, not adds."""
    key = "\x1f".join(
        str(part or "")
        for part in (ev.trace_id, ev.span_id, ev.name, ev.source, ev.evaluator_version, ev.judge_model,
                     ev.metadata.get("key") if ev.metadata else None)
    )
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()


def evaluation_row(ev: Evaluation) -> dict[str, Any]:
    return {
        "id": evaluation_id(ev),
        "trace_id": ev.trace_id,
        "span_id": ev.span_id,
        "name": ev.name,
        "score": ev.score,
        "label": ev.label,
        "passed": None if ev.passed is None else int(bool(ev.passed)),
        "reason": ev.reason,
        "evaluator_version": ev.evaluator_version,
        "judge_model": ev.judge_model,
        "judge_cost_usd": ev.judge_cost_usd,
        "judge_latency_ms": ev.judge_latency_ms,
        "source": ev.source,
        "created_ns": ev.created_ns if ev.created_ns is not None else time.time_ns(),
        "error": ev.error,
        "raw": ev.raw,
        "metadata": _json(ev.metadata),
    }


@dataclass
class WriteResult:
    inserted: int = 0  # spans new to the database
    unchanged: int = 0  # spans already stored with identical content (re-ingest)
    replaced: int = 0  # spans already stored with different content: last write wins
    evaluations: int = 0  # evaluation rows written (new or replaced)
    traces: set[str] = field(default_factory=set)
    deferred: int = 0  # traces newly marked stale (defer_full): their summary waits for refresh_stale

    def add(self, other: "WriteResult") -> None:
        self.inserted += other.inserted
        self.unchanged += other.unchanged
        self.replaced += other.replaced
        self.evaluations += other.evaluations
        self.traces |= other.traces
        self.deferred += other.deferred


# usage_counted is written as 1 with the row; the summaries then clear it where a descendant reports usage.
_INSERT_COLUMNS: tuple[str, ...] = (*_WRITE_COLUMNS, "usage_counted")
_SPAN_INSERT = (
    f"INSERT INTO spans ({', '.join(_INSERT_COLUMNS)}) VALUES ({', '.join('?' for _ in _INSERT_COLUMNS)}) "
    f"ON CONFLICT(trace_id, span_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _INSERT_COLUMNS if c not in ("trace_id", "span_id"))
)
_SUMMARY_GETTER = operator.itemgetter(*(_WRITE_COLUMNS.index(c) for c in summaries.SUMMARY_COLUMNS))
_EVAL_COLUMNS = tuple(evaluation_row(Evaluation(trace_id="", span_id=None, name="")).keys())
_EVAL_INSERT = (
    f"INSERT OR REPLACE INTO evaluations ({', '.join(_EVAL_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _EVAL_COLUMNS)})"
)


def _chunks(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def write_batch(
    db: sqlite_utils.Database,
    spans: Sequence[Span] = (),
    evaluations: Sequence[Evaluation] = (),
    *,
    refresh: bool = True,
    also: Callable[[sqlite_utils.Database], None] | None = None,
    defer_full: bool = False,
    rows: Sequence[tuple[Any, ...]] = (),
    open_traces: OpenTraces | None = None,
) -> WriteResult:
    """Write spans and evaluations in ONE transaction, then refresh the touched trace summaries.

    Either the whole batch lands or none of it does. Re-writing identical spans changes nothing;
    a span id seen again with different content replaces the stored row (counted in `replaced`).
    `also(db)` runs inside the same transaction (ingest stores joined log messages with the batch).
    `defer_full`: traces that need the full recompute are marked stale (`traces_stale`, in the same
    transaction) instead of recomputed; `refresh_stale` recomputes them once. A file's agent traces are
    spread over all of its batches: recomputing them per batch repeated each one ~6 times.
    `rows`: spans already turned into `span_row` tuples (by a parse worker), written after `spans`.
    `open_traces` (with `defer_full`): keeps the rows of the traces this batch defers for `refresh_stale`
    (store.open_traces), updated once the transaction committed.
    """
    result = WriteResult()
    # Within one batch a duplicate id keeps the last occurrence, like across batches.
    latest: dict[tuple[str, str], tuple[Any, ...]] = {}
    for span in spans:
        key = (span.trace_id, span.span_id)
        if key in latest:
            result.replaced += 1
        latest[key] = span_row(span)
    for row in rows:
        key = (row[ROW_TRACE_ID], row[ROW_SPAN_ID])
        if key in latest:
            result.replaced += 1
        latest[key] = row
    trace_ids = {k[0] for k in latest} | {e.trace_id for e in evaluations}
    result.traces = trace_ids
    hash_index = _WRITE_COLUMNS.index("content_hash")
    codec = blobs.codec(db)
    staged: list[Any] = []
    if open_traces is not None:
        open_traces.sync(db)
        if not (refresh and defer_full):
            open_traces.drop_all()  # only a deferring write keeps them up to date
    before = dataclasses.replace(result)  # the counts _write_in_transaction adds to (it never changes `traces`)
    for triggers in (False, True):
        try:
            with db.conn:
                _write_in_transaction(db, codec, latest, evaluations, refresh, also, result, hash_index,
                                      defer_full, open_traces, staged, triggers)
        except span_insert.RedoWithTriggers:
            # rolled back whole (the with block): the same batch again, the span triggers on
            codec.rollback()
            result = dataclasses.replace(before)
            staged = []
            continue
        except BaseException:
            codec.rollback()
            raise
        break
    codec.commit()
    if staged and open_traces is not None:
        open_traces.apply(staged)
    return result


_ATTR_INDEX, _RESOURCE_INDEX = _WRITE_COLUMNS.index("attributes"), _WRITE_COLUMNS.index("resource")
_COMPRESSED_INDEXES = tuple(_WRITE_COLUMNS.index(c) for c in blobs.COMPRESSED_M502)
# issue 13 "smaller on disk" (migration m505): more deflated columns, coded source/scope, raw hash bytes
_COMPRESSED_M505_INDEXES = tuple(_WRITE_COLUMNS.index(c) for c in blobs.COMPRESSED_COLUMNS
                                 if c not in blobs.COMPRESSED_M502)
_SOURCE_INDEX, _SCOPE_INDEX = _WRITE_COLUMNS.index("source"), _WRITE_COLUMNS.index("scope")
#: deflated against the scope's message dictionary (events carry message content too)
_MSG_INDEXES = tuple(_WRITE_COLUMNS.index(c) for c in blobs.COMPRESSED_COLUMNS if blobs.GROUP_OF[c] == "m")
_HASH_INDEX = _WRITE_COLUMNS.index("content_hash")


_PACKED_INDEXES = tuple(_WRITE_COLUMNS.index(c) for c in blobs.COMPRESSED_COLUMNS)


def _keyed_samples(rows: list[tuple[Any, ...]]) -> list[tuple[tuple[str, Any], str]]:
    """Training samples for the per-(group, scope) dictionaries of a batch (store.blobs, m505)."""
    out: list[tuple[tuple[str, Any], str]] = []
    for row in rows:
        out.extend(blobs.keyed_samples(row[_SCOPE_INDEX], [row[i] for i in _PACKED_INDEXES]))
    return out


def _compact(codec: "blobs.Codec", row: tuple[Any, ...], coded: bool = False) -> tuple[Any, ...]:
    """The stored form of a span row: bulky JSON deflated, resource as an id (the hash is of the JSON);
    with `coded` (m505) also messages/documents deflated, source/scope coded and the hash as bytes."""
    values = list(row)
    encode = codec.encode
    if not coded:
        for i in _COMPRESSED_INDEXES:
            if values[i] is not None:
                values[i] = encode(values[i])
    values[_RESOURCE_INDEX] = codec.resource_id(values[_RESOURCE_INDEX])
    if coded:  # issue 13 (m505): deflated against the row's (group, scope) dictionary when it has one
        scope = values[_SCOPE_INDEX]
        attr_key, msg_key = ("a", scope), ("m", scope)
        if values[_ATTR_INDEX] is not None:
            values[_ATTR_INDEX] = encode(values[_ATTR_INDEX], attr_key)
        for i in _MSG_INDEXES:
            if values[i] is not None:
                values[i] = encode(values[i], msg_key)
        values[_SOURCE_INDEX] = codec.encode_source(values[_SOURCE_INDEX])
        values[_SCOPE_INDEX] = codec.encode_str(values[_SCOPE_INDEX])
        values[_HASH_INDEX] = bytes.fromhex(values[_HASH_INDEX])
    values.append(1)  # usage_counted: the summaries clear it where a descendant reports usage
    return tuple(values)


def _write_in_transaction(db: sqlite_utils.Database, codec: "blobs.Codec",
                          latest: dict[tuple[str, str], tuple[Any, ...]], evaluations: Sequence[Evaluation],
                          refresh: bool, also: Callable[[sqlite_utils.Database], None] | None,
                          result: WriteResult, hash_index: int, defer_full: bool = False,
                          open_traces: OpenTraces | None = None, staged: list[Any] | None = None,
                          triggers: bool = False) -> None:
    # Only traces that already have a summary (or are marked stale: stored, summary pending) can hold
    # stored spans: look those keys up by primary key (reading every span of a long trace per batch
    # made ingest quadratic in trace size).
    batch_traces = {k[0] for k in latest}
    stale = summaries.stale_among(db, batch_traces) if refresh and codec.schema()[2] else set()
    existing_traces = (_existing_traces(db, batch_traces) | stale) if refresh else batch_traces
    existing = _stored_hashes(db, [k for k in latest if k[0] in existing_traces])
    to_write: list[tuple[Any, ...]] = []
    new_by_trace: dict[str, list[Sequence[Any]]] = {}
    replaced_traces: set[str] = set()
    replaced_keys: list[tuple[str, str]] = []
    for key, row in latest.items():
        old = existing.get(key)
        if old is None:
            result.inserted += 1
            to_write.append(row)
            new_by_trace.setdefault(key[0], []).append(_SUMMARY_GETTER(row))
        elif old == row[hash_index]:
            result.unchanged += 1
        else:
            result.replaced += 1
            to_write.append(row)
            replaced_traces.add(key[0])
            replaced_keys.append(key)
    if to_write:
        coded = codec.coded
        codec.prepare([row[_ATTR_INDEX] for row in to_write if row[_ATTR_INDEX]],
                      _keyed_samples(to_write) if coded else None)  # issue 13: per-scope dictionaries
        stored_starts = summaries.fetch_by_keys(db, "spans.start_ns", replaced_keys) if replaced_keys else {}
        # issue 13 (ingest near the limit): the dirty hours marked per batch, not by a trigger per row
        span_insert.insert_spans(db.conn, _SPAN_INSERT, [_compact(codec, row, coded) for row in to_write],
                                 len(to_write) - len(replaced_keys),
                                 [(*k, v[0]) for k, v in stored_starts.items()], triggers=triggers)
        span_tags.record(db, to_write, replaced_keys, ROW_TRACE_ID, ROW_SPAN_ID, _ATTR_INDEX)  # issue 13: tags read by index
    if evaluations:
        from .evals import derive_passed

        evaluations = derive_passed(db, evaluations)  # score-only: the evaluator's pass rule decides
        rows = [tuple(evaluation_row(e).values()) for e in evaluations]
        db.conn.executemany(_EVAL_INSERT, rows)
        result.evaluations = len(rows)
    if also is not None:
        also(db)
    if refresh and to_write and not codec.schema()[1]:
        if open_traces is not None:
            open_traces.drop_all()
        refresh_traces_sql(db, new_by_trace.keys() | replaced_traces)  # a handle never migrated past m302
    elif refresh and to_write:
        # New spans read from the batch itself; stored ones by primary key (lookups skip the batch).
        # A stale trace's summary is not current: never merge into it, recompute (or leave it stale).
        flags, rows, steps, fallback = summaries.plan_batch(db, new_by_trace, existing_traces,
                                                            replaced_traces | (stale & new_by_trace.keys()))
        covered = [(0, t, s) for (t, s), flag in flags.items() if flag == 0]
        if covered:
            db.conn.executemany("UPDATE spans SET usage_counted = ? WHERE trace_id = ? AND span_id = ?", covered)
        deferring = defer_full and codec.schema()[2]
        deferred: set[str] = set()
        if deferring and fallback:
            deferred = set(fallback)
            summaries.mark_stale(db, fallback - stale)
            result.deferred = len(fallback - stale)
            if open_traces is not None and staged is not None:
                # traces wholly new in this batch start being kept; kept ones take this batch's rows (a
                # kept trace with new or replaced spans is stale, so in `fallback`)
                staged.extend(open_traces.staged(fallback - existing_traces, new_by_trace, replaced_keys,
                                                 latest, _ATTR_INDEX, _SUMMARY_GETTER))
            fallback = set()
        elif open_traces is not None and not deferring:
            open_traces.drop_all()  # this write recomputes now: what is kept may be out of date
        summaries.apply_batch(db, rows, steps, fallback)
        # which LLM spans are calls (a deferred trace's are kept by refresh_stale's recompute, a fallback's
        # by the recompute apply_batch just ran: each would read the trace again)
        llm_roles.refresh(db, (new_by_trace.keys() | replaced_traces) - fallback - deferred)


def _existing_traces(db: sqlite_utils.Database, trace_ids: set[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(sorted(trace_ids)):
        marks = ",".join("?" for _ in chunk)
        found.update(r[0] for r in db.execute(f"SELECT trace_id FROM traces WHERE trace_id IN ({marks})", list(chunk)))
    return found


def _stored_hashes(db: sqlite_utils.Database, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Stored content hashes as hex (m505 stores the raw bytes; rows of an unmigrated handle hold hex)."""
    return {k: v[0].hex() if type(v[0]) is bytes else v[0]
            for k, v in summaries.fetch_by_keys(db, "spans.content_hash", keys).items()}


#: page cache of a bulk-writing connection (KiB)
BULK_CACHE_KIB = 65536


def tune_for_bulk_writes(db: sqlite_utils.Database) -> None:
    """Random-key index inserts thrash SQLite's default 2 MB page cache (system time grew from 13% to
    29% of ingest CPU between 40k and 3M spans): give a bulk-writing connection 64 MB."""
    db.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
    from .feed_dirty import prepare_writer  # feedagg: the feed's dirty-hour triggers, see there

    prepare_writer(db)


def write_evaluations(db: sqlite_utils.Database, evaluations: Sequence[Evaluation]) -> int:
    """Store evaluation rows (new, or replacing the same evaluator's earlier row for that span)."""
    return write_batch(db, (), evaluations, refresh=False).evaluations


# ---------------------------------------------------------------------------------------------
# Trace summaries

def _usage_flags(rows: list[tuple[str, str, str | None, int]]) -> dict[tuple[str, str], int]:
    """For each span, 1 if it reports usage and no descendant does (its usage counts), else 0.

    A span without usage is marked 1 too: it contributes nothing either way. Parents outside the trace
    (orphans) are ignored. Cycles cannot loop forever: each span is visited once per ancestor walk.
    """
    has_usage = {(t, s): bool(u) for t, s, _p, u in rows}
    parent_of = {(t, s): (t, p) for t, s, p, _u in rows if p}
    covered: set[tuple[str, str]] = set()  # spans with a usage-reporting descendant
    for key, used in has_usage.items():
        if not used:
            continue
        seen = {key}
        cur = parent_of.get(key)
        while cur is not None and cur in has_usage and cur not in seen:
            if cur in covered:
                break  # its ancestors were already marked by another walk
            covered.add(cur)
            seen.add(cur)
            cur = parent_of.get(cur)
    return {key: 0 if (key in covered and has_usage[key]) else 1 for key in has_usage}


# The root-first columns come from summaries.PRECEDENCE (the rule the incremental summaries use too).
# The root is chosen once per trace (window function), not once per span: a correlated root lookup
# per row made refreshing a 3,000-span trace take ~20 s.
_TRACE_SUMMARY_SQL = f"""
WITH s AS (SELECT * FROM spans WHERE trace_id IN ({{marks}})),
roots AS (
  SELECT x.trace_id, x.span_id,
         ROW_NUMBER() OVER (PARTITION BY x.trace_id
                            ORDER BY x.parent_span_id IS NOT NULL, x.start_ns, x.span_id) AS rn
  FROM s AS x
  WHERE x.parent_span_id IS NULL OR NOT EXISTS (
      SELECT 1 FROM spans y WHERE y.trace_id = x.trace_id AND y.span_id = x.parent_span_id)
),
root AS (SELECT trace_id, span_id FROM roots WHERE rn = 1)
INSERT OR REPLACE INTO traces
SELECT
  s.trace_id,
  r.span_id,
  r.name,
  {summaries.precedence_sql("service")},
  MIN(s.start_ns),
  MAX(s.end_ns),
  (MAX(s.end_ns) - MIN(s.start_ns)) / 1e6,
  COUNT(*),
  SUM(s.status = 'ERROR'),
  SUM(s.kind = 'LLM'),  -- every LLM span: _write_llm_calls then takes out the wrappers (store.llm_calls)
  SUM(s.kind = 'TOOL'),
  SUM(CASE WHEN s.usage_counted THEN s.input_tokens END),
  SUM(CASE WHEN s.usage_counted THEN s.output_tokens END),
  SUM(CASE WHEN s.usage_counted THEN COALESCE(s.total_tokens, s.input_tokens + s.output_tokens, s.input_tokens, s.output_tokens) END),
  SUM(CASE WHEN s.usage_counted THEN s.cost_usd END),
  (SELECT group_concat(m, ',') FROM (SELECT DISTINCT model AS m FROM spans
      WHERE trace_id = s.trace_id AND model IS NOT NULL ORDER BY model)),
  (SELECT group_concat(a, ',') FROM (SELECT DISTINCT agent_name AS a FROM spans
      WHERE trace_id = s.trace_id AND agent_name IS NOT NULL ORDER BY agent_name)),
  {summaries.precedence_sql("session_id")},
  {summaries.precedence_sql("user_id")},
  {summaries.precedence_sql("route")},
  {summaries.precedence_sql("tenant")},
  {summaries.precedence_sql("prompt_version")},
  {summaries.precedence_sql("environment")},
  {summaries.precedence_sql("dims")},
  SUM(s.parent_span_id IS NULL),
  SUM(s.parent_span_id IS NOT NULL AND NOT EXISTS (
      SELECT 1 FROM spans p WHERE p.trace_id = s.trace_id AND p.span_id = s.parent_span_id)),
  0
FROM s
LEFT JOIN root ON root.trace_id = s.trace_id
LEFT JOIN spans r ON r.trace_id = root.trace_id AND r.span_id = root.span_id
GROUP BY s.trace_id
"""


def refresh_traces(db: sqlite_utils.Database, trace_ids: Iterable[str]) -> None:
    """Recompute usage flags, summary rows and orphan state of these traces from their stored spans
    (call inside a write transaction). Writes keep summaries current incrementally; this is the repair."""
    summaries.recompute(db, trace_ids)


def refresh_stale(db: sqlite_utils.Database, open_traces: OpenTraces | None = None) -> int:
    """Recompute the summaries `write_batch(defer_full=True)` left stale; returns how many traces.
    `open_traces`: the rows the deferring writer kept of them (read back where missing or out of date)."""
    return summaries.refresh_stale(db, open_traces)


def refresh_traces_sql(db: sqlite_utils.Database, trace_ids: Iterable[str]) -> None:
    """The full recompute (usage flags with cross-trace wrappers and reported-cost preference, workflow
    wrappers demoted, handoffs filled, the summary in SQL): what incremental summaries must equal, and
    what they fall back to. Does not maintain `trace_orphans` (refresh_traces does)."""
    from .links import cross_trace_wrappers, refine_usage_flags, resolve_trace_links

    blobs.codec(db)  # links read attributes through td_json()

    ids = sorted(set(trace_ids))
    # a wrapper span in another trace whose provider call just arrived must be recounted too
    ids = sorted(set(ids) | cross_trace_wrappers(db, ids))
    for chunk in _chunks(ids):
        marks = ",".join("?" for _ in chunk)
        rows = db.execute(
            f"SELECT trace_id, span_id, parent_span_id, "
            f"(input_tokens IS NOT NULL OR output_tokens IS NOT NULL OR total_tokens IS NOT NULL "
            f" OR cost_usd IS NOT NULL), usage_counted, kind FROM spans WHERE trace_id IN ({marks})",
            list(chunk),
        ).fetchall()
        current = {(r[0], r[1]): r[4] for r in rows}
        flags = _usage_flags([r[:4] for r in rows])
        flags = refine_usage_flags(db, chunk, flags)
        resolve_trace_links(db, chunk)
        # Only rows whose flag changes are written (most spans keep the default 1).
        db.conn.executemany(
            "UPDATE spans SET usage_counted = ? WHERE trace_id = ? AND span_id = ?",
            [(flag, t, s) for (t, s), flag in flags.items() if current.get((t, s)) != flag],
        )
        db.execute(_TRACE_SUMMARY_SQL.format(marks=marks), list(chunk))
        llm_roles.refresh(db, chunk, nested=_write_llm_calls(db, rows))
        db.execute(
            f"UPDATE traces SET complete = (root_count = 1 AND orphan_count = 0) WHERE trace_id IN ({marks})",
            list(chunk),
        )


def _write_llm_calls(db: sqlite_utils.Database, rows: Sequence[Sequence[Any]]) -> list[str]:
    """`traces.llm_calls` by store.llm_calls's rule, for the traces of `rows` (trace, span, parent, _, _, kind)
    holding two LLM spans or more (the SQL summary counted every LLM span: fewer cannot hold a wrapper).
    Returns those traces (the ones whose LLM spans may wrap one another)."""
    parents: dict[str, dict[str, str | None]] = {}
    kinds: dict[str, dict[str, str | None]] = {}
    for r in rows:
        parents.setdefault(r[0], {})[r[1]] = r[2]
        kinds.setdefault(r[0], {})[r[1]] = r[5]
    fixed = [(llm_calls.count(parents[t], k), t) for t, k in kinds.items()
             if sum(v == llm_calls.LLM for v in k.values()) > 1]
    if fixed:
        db.conn.executemany("UPDATE traces SET llm_calls = ? WHERE trace_id = ?", fixed)
    return [t for _n, t in fixed]


# ---------------------------------------------------------------------------------------------
# Settings (small JSON documents)

def get_setting(db: sqlite_utils.Database, key: str, default: Any = None) -> Any:
    row = db.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
    return json.loads(row[0]) if row else default


def set_setting(db: sqlite_utils.Database, key: str, value: Any) -> None:
    with db.conn:
        db.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", [key, json.dumps(value)])


# ---------------------------------------------------------------------------------------------
# Reads used by the CLI and tests (the workbench's richer queries live in query.py)

def stats(db: sqlite_utils.Database) -> dict[str, Any]:
    """Totals for `tracedesk stats`. Token totals count each LLM call once (see usage_counted)."""
    one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
    by_kind = dict(db.execute("SELECT kind, COUNT(*) FROM spans GROUP BY kind ORDER BY kind").fetchall())
    by_model: dict[str, dict[str, Any]] = {}
    for model, n, inp, out, cost in db.execute(
        "SELECT model, COUNT(*), SUM(CASE WHEN usage_counted THEN input_tokens END), "
        "SUM(CASE WHEN usage_counted THEN output_tokens END), SUM(CASE WHEN usage_counted THEN cost_usd END) "
        "FROM spans WHERE model IS NOT NULL GROUP BY model ORDER BY model"
    ):
        by_model[model] = {
            "spans": n,
            "input_tokens": inp or 0,
            "output_tokens": out or 0,
            "cost_usd": round(cost, 10) if cost is not None else None,
        }
    by_convention = dict(
        db.execute("SELECT convention, COUNT(*) FROM spans GROUP BY convention ORDER BY convention").fetchall()
    )
    cost = one("SELECT SUM(cost_usd) FROM spans WHERE usage_counted")
    return {
        "traces": one("SELECT COUNT(*) FROM traces"),
        "spans": one("SELECT COUNT(*) FROM spans"),
        "by_kind": by_kind,
        "by_model": by_model,
        "by_convention": by_convention,
        "input_tokens": one("SELECT COALESCE(SUM(input_tokens), 0) FROM spans WHERE usage_counted"),
        "output_tokens": one("SELECT COALESCE(SUM(output_tokens), 0) FROM spans WHERE usage_counted"),
        "cost_usd": round(cost, 10) if cost is not None else None,
        "evaluations": one("SELECT COUNT(*) FROM evaluations"),
        "error_spans": one("SELECT COUNT(*) FROM spans WHERE status = 'ERROR'"),
    }
