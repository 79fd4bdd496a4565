"""The schema: ONE ordered, append-only list of named migrations, and the code that applies them.

A shipped step is never edited or renamed (databases record the names they have seen in `_migrations`);
a schema change is a new step appended at the end. Feature tables keep their step in their store module
(store/ingest.py, store/evals.py, ...) and are listed here, so the order is visible in one place.

Applying is safe when several processes open a new file at once: the check and the steps run inside one
`BEGIN IMMEDIATE` transaction, so the second process waits, re-reads `_migrations` and finds nothing to do.
A database that is up to date is stamped in its header (`PRAGMA application_id` / `user_version`), so the
check after that is one header read.
"""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

import sqlite_utils

from . import alerts as _alerts
from . import blobs as _blobs
from . import evals as _evals
from . import cohort_hours as _cohort_hours
from . import feed_dirty as _feed_dirty
from . import ingest as _ingest
from . import llm_roles as _llm_roles
from . import span_tags as _span_tags
from . import summaries as _summaries
from . import workbench as _workbench

#: "TRDK": written to the file header once the schema is in place; marks a file as a tracedesk database.
APPLICATION_ID = 0x5452444B

SPAN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("trace_id", "TEXT NOT NULL"),
    ("span_id", "TEXT NOT NULL"),
    ("parent_span_id", "TEXT"),
    ("name", "TEXT"),
    ("kind", "TEXT"),
    ("status", "TEXT"),
    ("status_message", "TEXT"),
    ("start_ns", "INTEGER"),
    ("end_ns", "INTEGER"),
    ("duration_ms", "REAL"),
    ("service", "TEXT"),
    ("model", "TEXT"),
    ("provider", "TEXT"),
    ("input_tokens", "INTEGER"),
    ("output_tokens", "INTEGER"),
    ("total_tokens", "INTEGER"),
    ("cached_tokens", "INTEGER"),
    ("reasoning_tokens", "INTEGER"),
    ("cost_usd", "REAL"),
    ("cost_source", "TEXT"),
    ("ttft_ms", "REAL"),
    ("agent_name", "TEXT"),
    ("tool_name", "TEXT"),
    ("session_id", "TEXT"),
    ("user_id", "TEXT"),
    ("route", "TEXT"),
    ("tenant", "TEXT"),
    ("prompt_version", "TEXT"),
    ("environment", "TEXT"),
    ("dims", "TEXT"),
    ("input_text", "TEXT"),
    ("output_text", "TEXT"),
    ("input_messages", "TEXT"),
    ("output_messages", "TEXT"),
    ("documents", "TEXT"),
    ("retrieved_doc_ids", "TEXT"),
    ("tool_arguments", "TEXT"),
    ("tool_result", "TEXT"),
    ("finish_reason", "TEXT"),
    ("convention", "TEXT"),
    ("otel_kind", "TEXT"),
    ("scope", "TEXT"),
    ("attributes", "TEXT"),
    ("resource", "TEXT"),
    ("events", "TEXT"),
    ("source", "TEXT"),
    ("content_hash", "TEXT"),
    # 1 when this span's tokens/cost count toward trace totals: no descendant reports usage, so a
    # wrapper span that repeats its children's usage is not counted twice. Set by refresh_traces.
    ("usage_counted", "INTEGER DEFAULT 1"),
)
#: Added by m501_span_identity (model identity and first-class handoffs): not in m001's CREATE TABLE.
SPAN_COLUMNS_M501: tuple[tuple[str, str], ...] = (
    ("response_model", "TEXT"),
    ("handoff_from", "TEXT"),
    ("handoff_to", "TEXT"),
)
#: Added by m512_cache_write_tokens: prompt-cache writes (inside input_tokens, priced at the cache-write
#: rate). NULL on every span that reports none (most spans: tools, chains, calls without prompt caching),
#: so it costs 0-1 byte per span on disk.
SPAN_COLUMNS_M512: tuple[tuple[str, str], ...] = (
    ("cache_write_tokens", "INTEGER"),
)
SPAN_COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in SPAN_COLUMNS + SPAN_COLUMNS_M501 + SPAN_COLUMNS_M512)


def _m001_spans(db: sqlite_utils.Database) -> None:
    cols = ",\n  ".join(f"{name} {decl}" for name, decl in SPAN_COLUMNS)
    db.execute(f"CREATE TABLE spans (\n  {cols},\n  PRIMARY KEY (trace_id, span_id)\n)")
    for name, columns in {
        "idx_spans_start": "start_ns",
        "idx_spans_kind_start": "kind, start_ns",
        "idx_spans_model": "model",
        "idx_spans_route": "route",
        "idx_spans_tenant": "tenant",
        "idx_spans_prompt_version": "prompt_version",
        "idx_spans_agent": "agent_name",
        "idx_spans_session": "session_id",
        "idx_spans_status": "status",
    }.items():
        db.execute(f"CREATE INDEX {name} ON spans ({columns})")


def _m002_traces(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE traces (
          trace_id TEXT PRIMARY KEY,
          root_span_id TEXT,
          root_name TEXT,
          service TEXT,
          start_ns INTEGER,
          end_ns INTEGER,
          duration_ms REAL,
          span_count INTEGER,
          error_count INTEGER,
          llm_calls INTEGER,
          tool_calls INTEGER,
          input_tokens INTEGER,
          output_tokens INTEGER,
          total_tokens INTEGER,
          cost_usd REAL,
          models TEXT,
          agents TEXT,
          session_id TEXT,
          user_id TEXT,
          route TEXT,
          tenant TEXT,
          prompt_version TEXT,
          environment TEXT,
          dims TEXT,
          root_count INTEGER,
          orphan_count INTEGER,
          complete INTEGER
        )
        """
    )
    for name, columns in {
        "idx_traces_start": "start_ns",
        "idx_traces_route": "route",
        "idx_traces_tenant": "tenant",
        "idx_traces_prompt_version": "prompt_version",
        "idx_traces_session": "session_id",
    }.items():
        db.execute(f"CREATE INDEX {name} ON traces ({columns})")


def _m003_evaluations(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE evaluations (
          id TEXT PRIMARY KEY,
          trace_id TEXT NOT NULL,
          span_id TEXT,
          name TEXT NOT NULL,
          score REAL,
          label TEXT,
          passed INTEGER,
          reason TEXT,
          evaluator_version TEXT,
          judge_model TEXT,
          judge_cost_usd REAL,
          judge_latency_ms REAL,
          source TEXT,
          created_ns INTEGER,
          error TEXT,
          raw TEXT,
          metadata TEXT
        )
        """
    )
    db.execute("CREATE INDEX idx_evaluations_span ON evaluations (trace_id, span_id)")
    db.execute("CREATE INDEX idx_evaluations_name_score ON evaluations (name, score)")


def _m004_settings(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


def _m501_span_identity(db: sqlite_utils.Database) -> None:
    """response_model (the snapshot that answered; `model` is the requested one) and handoff_from/handoff_to."""
    for name, decl in SPAN_COLUMNS_M501:
        db.execute(f"ALTER TABLE spans ADD COLUMN {name} {decl}")
    db.execute("CREATE INDEX idx_spans_handoff ON spans (handoff_to) WHERE handoff_to IS NOT NULL")


#: Span indexes no query reads: route, tenant, prompt version and session filters go through the traces
#: table's columns (cohort_sql.trace_filter_sql), and span-level reads take COALESCE(span value, trace
#: value), which no index serves. Checked with EXPLAIN QUERY PLAN over the 472 distinct statements the
#: workbench, pages, sessions, changes, drift, alerts, signals and notebook tests run. Together they were
#: 59 bytes per span on disk and 4 of the 12 index inserts per span.
UNUSED_SPAN_INDEXES: tuple[str, ...] = ("idx_spans_route", "idx_spans_tenant", "idx_spans_prompt_version",
                                        "idx_spans_session")


def _m504_drop_unused_span_indexes(db: sqlite_utils.Database) -> None:
    for name in UNUSED_SPAN_INDEXES:
        db.execute(f"DROP INDEX IF EXISTS {name}")


#: m505: most spans name no model (tools, chains, agents) and no agent; every read of these indexes names a
#: value (`model IN (...)`, `v IS NOT NULL AND v != ''`, which imply IS NOT NULL), so they index only those.
PARTIAL_SPAN_INDEXES: dict[str, str] = {"idx_spans_model": "model", "idx_spans_agent": "agent_name"}
#: TTFT is reported by few LLM calls (11% of spans carry one); its reads ask `ttft_ms IS NOT NULL`.
PARTIAL_TTFT_INDEX = ("idx_spans_kind_ttft", "kind, ttft_ms", "ttft_ms IS NOT NULL")


def _m505_smaller_spans(db: sqlite_utils.Database) -> None:
    """Issue 13, "smaller on disk": see store/blobs.py for the stored forms (messages and documents
    deflated, source and scope dictionary-coded, content hash as bytes) and partial model/agent indexes."""
    _blobs.m505_span_strings(db)
    _blobs.m505_recode_spans(db)
    for name, column in PARTIAL_SPAN_INDEXES.items():
        db.execute(f"DROP INDEX IF EXISTS {name}")
        db.execute(f"CREATE INDEX {name} ON spans ({column}) WHERE {column} IS NOT NULL")
    name, columns, where = PARTIAL_TTFT_INDEX
    db.execute(f"DROP INDEX IF EXISTS {name}")
    db.execute(f"CREATE INDEX {name} ON spans ({columns}) WHERE {where}")


#: m508: the model and agent filters ask `trace_id IN (SELECT s.trace_id FROM spans s WHERE s.model IN (...))`;
#: with the index on the value alone, each matching span was a lookup into the table for its trace id
#: (10M spans: 4.25 s CPU for model, 3.23 s for agent, count and first page). With the trace id in the
#: index the sub-query reads the index alone (1.03 s and 0.86 s), for 97 MB + 66 MB more index (16 B/span).
COVERING_SPAN_INDEXES: dict[str, str] = {name: f"{column}, trace_id" for name, column in PARTIAL_SPAN_INDEXES.items()}


def _m508_covering_filter_indexes(db: sqlite_utils.Database) -> None:
    for name, column in PARTIAL_SPAN_INDEXES.items():
        db.execute(f"DROP INDEX IF EXISTS {name}")
        db.execute(f"CREATE INDEX {name} ON spans ({COVERING_SPAN_INDEXES[name]}) WHERE {column} IS NOT NULL")


#: m510: idx_spans_handoff (m501) serves no query: handoffs are read per trace through the primary key (store/links.py
#: asks `trace_id IN (...) AND (kind = 'AGENT' OR handoff_from IS NOT NULL OR handoff_to IS NOT NULL)`, planned on
#: sqlite_autoindex_spans_1 alone) and nothing filters or sorts on handoff_to. It held every span with a handoff
#: (22% of the benchmark's spans): 6.0 bytes per span on disk, and one index insert more per such span.
UNUSED_HANDOFF_INDEX = "idx_spans_handoff"


def _m510_drop_unused_handoff_index(db: sqlite_utils.Database) -> None:
    db.execute(f"DROP INDEX IF EXISTS {UNUSED_HANDOFF_INDEX}")


#: m514: the status filter asks for one status; ERROR is the one worth an index. Every span has a status
#: (OTel's default UNSET, OK where the instrumentation sets it), so the index on the value held every span
#: (15.8 B/span on the benchmark's 100k, 1.9% of the file) while the spans a user looks for by status are
#: the failed ones, few in any traffic worth monitoring (0.1% there). OK or UNSET select the bulk of the
#: spans, where a scan reads no more than lookups would (status=OK at 100k: 0.011 s CPU through the old
#: index, 0.021 s scanning). With the trace id in it the ERROR filter reads the index alone (as m508).
#: The filter writes one value as `status = ?`: SQLite uses a partial index for a bound value that meets
#: its WHERE (the statement is re-planned when the value bound changes), not for `IN (?)`.
ERROR_STATUS_INDEX = ("idx_spans_error", "status, trace_id", "status = 'ERROR'")
STATUS_VALUE_INDEX = "idx_spans_status"


def _m514_error_status_index(db: sqlite_utils.Database) -> None:
    name, columns, where = ERROR_STATUS_INDEX
    db.execute(f"DROP INDEX IF EXISTS {STATUS_VALUE_INDEX}")
    db.execute(f"CREATE INDEX IF NOT EXISTS {name} ON spans ({columns}) WHERE {where}")


def _m512_cache_write_tokens(db: sqlite_utils.Database) -> None:
    for name, decl in SPAN_COLUMNS_M512:
        db.execute(f"ALTER TABLE spans ADD COLUMN {name} {decl}")


Step = Callable[[sqlite_utils.Database], None]

#: Named, ordered, append-only. The list order (not the name) is the order of application.
MIGRATIONS: list[tuple[str, Step]] = [
    ("m001_spans", _m001_spans),
    ("m002_traces", _m002_traces),
    ("m003_evaluations", _m003_evaluations),
    ("m004_settings", _m004_settings),
    ("m101_ingest_log_messages", _ingest.m101_ingest_log_messages),
    ("m201_eval_cache", _evals.m201_eval_cache),
    ("m301_alert_rules", _alerts.m301_alert_rules),
    ("m401_workbench_indexes", _workbench.m401_workbench_indexes),
    ("m302_alerts_eval_index", _alerts.m302_alerts_eval_index),
    ("m501_span_identity", _m501_span_identity),
    ("m501_trace_orphans", _summaries.m501_trace_orphans),
    ("m502_compact_columns", _blobs.m502_compact_columns),
    ("m503_traces_stale", _summaries.m503_traces_stale),
    ("m504_drop_unused_span_indexes", _m504_drop_unused_span_indexes),
    ("m505_smaller_spans", _m505_smaller_spans),
    ("m506_feed_samples", _feed_dirty.m506_feed_samples),
    ("m507_span_tags", _span_tags.m507_span_tags),
    ("m508_covering_filter_indexes", _m508_covering_filter_indexes),
    ("m509_feed_frames", _feed_dirty.m509_feed_frames),
    ("m510_drop_unused_handoff_index", _m510_drop_unused_handoff_index),
    ("m511_cohort_hours", _cohort_hours.m511_cohort_hours),
    ("m514_error_status_index", _m514_error_status_index),
    # (m512 lands after m514: numbered when it was planned, appended when it was merged)
    ("m512_cache_write_tokens", _m512_cache_write_tokens),
    ("m515_llm_calls", _summaries.m515_llm_calls),
    ("m516_llm_wrapper", _llm_roles.m516_llm_wrapper),
]


def schema_version() -> int:
    """The header stamp of an up-to-date database: how many steps this release knows."""
    return len(MIGRATIONS)


def is_current(db: sqlite_utils.Database) -> bool:
    """Whether the file header says every migration of this release is applied (two header reads)."""
    conn = db.conn
    app_id: int = conn.execute("PRAGMA application_id").fetchone()[0]
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return app_id == APPLICATION_ID and version == schema_version()


def applied_names(db: sqlite_utils.Database) -> list[str]:
    """Names recorded in `_migrations`, in the order applied ([] when the table does not exist)."""
    try:
        return [r[0] for r in db.conn.execute("SELECT name FROM _migrations ORDER BY rowid")]
    except sqlite3.OperationalError:
        return []


def _refuse_foreign(conn: sqlite3.Connection) -> None:
    """A database with tables but no `_migrations` belongs to another application: never migrate it."""
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    if names and "_migrations" not in names:
        from ..errors import NotATracedeskDatabase

        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise NotATracedeskDatabase(
            f"This SQLite database was not created by tracedesk (it holds {shown}), so it was left untouched. "
            "Pass the file `tracedesk ingest --db` created, or a new path to start one."
        )


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply every migration the database has not seen yet; returns the names applied (often none).

    All missing steps run in one IMMEDIATE transaction (the write lock is taken before `_migrations` is
    read), so concurrent openers of a new file serialise and each step is applied and recorded once.
    """
    if is_current(db):
        return []
    conn = db.conn
    if conn.in_transaction:
        # BEGIN inside an open transaction fails; the caller's pending work must land (or not) first.
        raise RuntimeError("migrate() needs a connection without an open transaction: commit or roll back first")
    conn.execute("BEGIN IMMEDIATE")
    try:
        _refuse_foreign(conn)
        conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_ns INTEGER)")
        done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
        applied: list[str] = []
        for name, step in MIGRATIONS:
            if name in done:
                continue
            step(db)
            conn.execute("INSERT INTO _migrations VALUES (?, ?)", [name, time.time_ns()])
            applied.append(name)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {schema_version()}")
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return applied
