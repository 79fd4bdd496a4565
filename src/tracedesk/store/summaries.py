"""Trace summaries (`traces` rows and `spans.usage_counted`), maintained incrementally at write time.

A batch used to re-summarise every trace it touched from all of that trace's stored spans, so a trace
whose spans arrive over many batches (a 100k-span agent run, a file grouped by service) cost
O(batch x trace size) and ingested at ~2,600 spans/s. Here a batch's new spans are folded into the
stored summary instead; only what cannot be merged exactly falls back to the full recompute of that
one trace (a span replaced with different content, a stored span whose usage becomes covered by a new
descendant, the root changing to a new span while the old root had dimension values, a trace whose
root was adopted by a newly arrived parent).

`trace_orphans` keeps, per trace, the spans whose parent has not arrived (yet), with whether their
subtree reports usage and whether it holds an LLM span: that is all the state needed to merge orphan
counts, roots, usage flags and LLM calls (store.llm_calls) without reading the trace's other spans. A test checks incremental == full recompute on random
batch splits. Traces the full refresh must see whole (agents, handoffs, Vercel AI SDK wrappers, covered
usage) always take the full path.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import sqlite_utils

from . import llm_calls

if TYPE_CHECKING:
    from .open_traces import OpenTraces

#: Columns a summary reads from a span, in this order (the same names as in the spans table).
SUMMARY_COLUMNS: tuple[str, ...] = (
    "span_id", "parent_span_id", "name", "service", "start_ns", "end_ns", "status", "kind",
    "input_tokens", "output_tokens", "total_tokens", "cost_usd", "model", "agent_name",
    "session_id", "user_id", "route", "tenant", "prompt_version", "environment", "dims",
    "convention", "handoff_from", "handoff_to", "cost_source",
)
(_SID, _PARENT, _NAME, _SERVICE, _START, _END, _STATUS, _KIND, _IN, _OUT, _TOTAL, _COST, _MODEL, _AGENT,
 _SESSION, _USER, _ROUTE, _TENANT, _PV, _ENV, _DIMS, _CONVENTION, _HANDOFF_FROM, _HANDOFF_TO, _COST_SOURCE) = range(
    len(SUMMARY_COLUMNS))
#: Root-first fields: the root span's value, else the largest value over the trace's spans.
_COALESCED = (_SERVICE, _SESSION, _USER, _ROUTE, _TENANT, _PV, _ENV, _DIMS)
#: Of those, the cohort dimensions (the dimension mapping's): when the root span carries no LLM convention
#: (`unknown`: a web framework's server span, e.g. Next.js's `POST /api/support/chat` with its http.route),
#: the value the trace's LLM-instrumented spans state (the AI SDK's ai.telemetry.metadata.route) wins over
#: the root's; the root's stays the fallback. The application states its cohorts in its LLM telemetry; a
#: server span's route is the transport's path template, not the use case.
_STATED = (_ROUTE, _TENANT, _PV, _ENV, _DIMS)
#: A span's convention when no LLM instrumentation wrote it.
_NO_CONVENTION = "unknown"


#: Where each root-first field's trace value comes from: the first source with a value wins. The one
#: definition of the rule: `summarize` and `_merge` walk it in Python, `precedence_sql` writes it as the
#: SQL recompute's expression (store._TRACE_SUMMARY_SQL), so the three cannot disagree.
#: "stated": the largest value over LLM-instrumented spans, consulted only under a plain root;
#: "root": the root span's value; "any": the largest value over all of the trace's spans.
PRECEDENCE: dict[int, tuple[str, ...]] = {
    col: (("stated",) if col in _STATED else ()) + ("root", "any") for col in _COALESCED}


#: PRECEDENCE without "stated": the sources under a root an instrumentation wrote, or with no root. Both
#: forms are built once: summarize and _merge ask for every column of every trace an ingest writes.
_UNDER_PLAIN_ROOT = PRECEDENCE
_UNDER_OTHER_ROOT = {col: tuple(s for s in sources if s != "stated") for col, sources in PRECEDENCE.items()}


def _sources(col: int, root: Sequence[Any] | None) -> tuple[str, ...]:
    """PRECEDENCE[col] as it applies under this root (no root: no convention, so no "stated")."""
    plain = root is not None and root[_CONVENTION] == _NO_CONVENTION
    return (_UNDER_PLAIN_ROOT if plain else _UNDER_OTHER_ROOT)[col]


def precedence_sql(column: str) -> str:
    """PRECEDENCE for one trace column as SQL over the trace's spans `s` and its root span `r`."""
    col = SUMMARY_COLUMNS.index(column)
    parts = {
        "stated": f"CASE WHEN r.convention = '{_NO_CONVENTION}' THEN MAX(CASE WHEN s.convention <> "
                  f"'{_NO_CONVENTION}' THEN s.{column} END) END",
        "root": f"r.{column}",
        "any": f"MAX(s.{column})",
    }
    return f"COALESCE({', '.join(parts[source] for source in PRECEDENCE[col])})"


def _stated(r: Sequence[Any]) -> bool:
    """A span an LLM instrumentation wrote (SQL: convention <> 'unknown', so NULL is not)."""
    return r[_CONVENTION] is not None and r[_CONVENTION] != _NO_CONVENTION

TRACE_COLUMNS: tuple[str, ...] = (
    "trace_id", "root_span_id", "root_name", "service", "start_ns", "end_ns", "duration_ms", "span_count",
    "error_count", "llm_calls", "tool_calls", "input_tokens", "output_tokens", "total_tokens", "cost_usd",
    "models", "agents", "session_id", "user_id", "route", "tenant", "prompt_version", "environment", "dims",
    "root_count", "orphan_count", "complete",
)
_T = {name: i for i, name in enumerate(TRACE_COLUMNS)}
_TRACE_INSERT = f"INSERT OR REPLACE INTO traces ({', '.join(TRACE_COLUMNS)}) VALUES ({', '.join('?' * len(TRACE_COLUMNS))})"
_SPAN_SELECT = ", ".join(SUMMARY_COLUMNS)
_TRACE_FIELD_OF = {_SERVICE: "service", _SESSION: "session_id", _USER: "user_id", _ROUTE: "route",
                   _TENANT: "tenant", _PV: "prompt_version", _ENV: "environment", _DIMS: "dims"}


def m501_trace_orphans(db: sqlite_utils.Database) -> None:
    """Registered in store.MIGRATIONS as "m501_trace_orphans": orphan state for incremental summaries."""
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS trace_orphans (
          trace_id TEXT NOT NULL,
          span_id TEXT NOT NULL,
          parent_span_id TEXT NOT NULL,
          subtree_usage INTEGER NOT NULL,
          subtree_llm INTEGER NOT NULL DEFAULT 0,
          PRIMARY KEY (trace_id, span_id)
        )
        """
    )
    db.execute("CREATE INDEX IF NOT EXISTS idx_trace_orphans_parent ON trace_orphans (trace_id, parent_span_id)")
    # Existing databases: derive the orphan state of every incomplete trace from its stored spans.
    ids = [r[0] for r in db.execute("SELECT trace_id FROM traces WHERE orphan_count > 0")]
    for trace_id in ids:
        _write_orphans(db, trace_id, summarize(trace_id, _stored_spans(db, trace_id))[2], replace=True)


def m515_llm_calls(db: sqlite_utils.Database) -> None:
    """Registered in store.MIGRATIONS as "m515_llm_calls": `traces.llm_calls` counts LLM calls (store.llm_calls:
    an LLM span with an LLM span below it is not a call of its own; it counted every LLM span before), and
    each orphan records whether its subtree holds an LLM span (the state the incremental count merges with)."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "trace_orphans" in tables and "subtree_llm" not in {
            r[1] for r in db.execute("PRAGMA table_info(trace_orphans)")}:
        # (m501 creates the table with the column: a database that ran m501 before this release has none)
        db.execute("ALTER TABLE trace_orphans ADD COLUMN subtree_llm INTEGER NOT NULL DEFAULT 0")
    if not {"spans", "traces"} <= tables:
        return
    # only a trace with two LLM spans can hold a wrapper; only one with an LLM span an LLM orphan subtree
    nested = [r[0] for r in db.execute(
        "SELECT trace_id FROM spans WHERE kind = 'LLM' GROUP BY trace_id HAVING COUNT(*) > 1")]
    for i in range(0, len(nested), 500):
        part = nested[i : i + 500]
        parents: dict[str, dict[str, str | None]] = {}
        kinds: dict[str, dict[str, str | None]] = {}
        for t, sid, parent, kind in db.execute(
                f"SELECT trace_id, span_id, parent_span_id, kind FROM spans WHERE trace_id IN ({','.join('?' * len(part))})",
                part):
            parents.setdefault(t, {})[sid] = parent
            kinds.setdefault(t, {})[sid] = kind
        db.conn.executemany("UPDATE traces SET llm_calls = ? WHERE trace_id = ? AND llm_calls IS NOT ?",
                            [(n, t, n) for t in part for n in [llm_calls.count(parents[t], kinds[t])]])
    if "trace_orphans" in tables:
        for (trace_id,) in db.execute(
                "SELECT trace_id FROM traces WHERE orphan_count > 0 AND trace_id IN "
                "(SELECT trace_id FROM spans WHERE kind = 'LLM')").fetchall():
            _write_orphans(db, trace_id, summarize(trace_id, _stored_spans(db, trace_id))[2], replace=True)


def m503_traces_stale(db: sqlite_utils.Database) -> None:
    """Registered in store.MIGRATIONS as "m503_traces_stale": traces whose stored summary waits for the
    full recompute (file ingest defers it to the end of each file; see `refresh_stale`)."""
    db.execute("CREATE TABLE IF NOT EXISTS traces_stale (trace_id TEXT PRIMARY KEY)")


def stale_among(db: sqlite_utils.Database, trace_ids: Iterable[str]) -> set[str]:
    """Which of these traces are marked stale."""
    if db.execute("SELECT NOT EXISTS (SELECT 1 FROM traces_stale)").fetchone()[0]:
        return set()  # the usual case: nothing deferred
    return {r[0] for r in _by_trace(db, "SELECT trace_id FROM traces_stale WHERE trace_id IN ({marks})",
                                    sorted(trace_ids))}


def mark_stale(db: sqlite_utils.Database, trace_ids: Iterable[str]) -> None:
    """Inside the write transaction that stored these traces' spans: their summary waits for refresh_stale."""
    db.conn.executemany("INSERT OR IGNORE INTO traces_stale VALUES (?)", [(t,) for t in trace_ids])


#: traces recomputed per transaction by refresh_stale
STALE_CHUNK = 2000


def refresh_stale(db: sqlite_utils.Database, open_traces: OpenTraces | None = None) -> int:
    """Recompute every trace marked stale (each once, whatever the number of batches that touched it),
    in transactions of STALE_CHUNK traces. Returns how many were recomputed. Safe to call any time: a run
    that died between a deferring batch and this call leaves its traces marked, and the next ingest
    finishes them. `open_traces`: the rows the deferring writer kept of these traces (store.open_traces),
    taken instead of reading them back; empty afterwards."""
    try:
        return _refresh_stale(db, open_traces)
    finally:
        if open_traces is not None:
            open_traces.clear()  # a new file starts with nothing kept


def _refresh_stale(db: sqlite_utils.Database, open_traces: OpenTraces | None) -> int:
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "traces_stale" not in tables:
        return 0
    done = 0
    while True:
        ids = [r[0] for r in db.execute("SELECT trace_id FROM traces_stale ORDER BY trace_id LIMIT ?",
                                        [STALE_CHUNK])]
        if not ids:
            return done
        with db.conn:
            if open_traces is not None and open_traces.traces and not db.conn.in_transaction:
                # no other writer from here to the commit, and none since the last look: the kept rows
                # are the stored ones (a commit by another connection drops them)
                db.conn.execute("BEGIN IMMEDIATE")
                open_traces.sync(db)
            recompute(db, ids, open_traces)  # clears their marks
        done += len(ids)


def _has_usage(r: Sequence[Any]) -> bool:
    return r[_IN] is not None or r[_OUT] is not None or r[_TOTAL] is not None or r[_COST] is not None


def _reported(r: Sequence[Any]) -> bool:
    return bool(r[_COST_SOURCE] == "reported" and _has_usage(r))


def _total(r: Sequence[Any]) -> Any:
    if r[_TOTAL] is not None:
        return r[_TOTAL]
    if r[_IN] is not None and r[_OUT] is not None:
        return r[_IN] + r[_OUT]
    return r[_IN] if r[_IN] is not None else r[_OUT]


def _sum(values: Iterable[Any]) -> Any:
    """SQL SUM: NULL when no value is present; integers stay integers."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(type(v) is int for v in present):
        return sum(present)
    return math.fsum(float(v) for v in present)


def _max(values: Iterable[Any]) -> Any:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _max_text(values: Iterable[Any]) -> Any:
    """The largest value of a TEXT column as SQL's MAX sees it: SQLite stores a number written to a TEXT
    column as its text ('4217'), so a tenant sent as 4217 by one service and "acme" by another compares as
    text here too (Python's max would raise TypeError, and the incremental summary must equal the SQL one)."""
    present = [v for v in values if v is not None]
    return max(present, key=_stored_text) if present else None


def _stored_text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _root_key(r: Sequence[Any]) -> tuple[bool, int, str]:
    return (r[_PARENT] is not None, r[_START] if r[_START] is not None else -(1 << 63), r[_SID])


def summarize(trace_id: str, rows: Sequence[Sequence[Any]], counted_flags: dict[str, int] | None = None
              ) -> tuple[tuple[Any, ...], dict[str, int], list[Orphan]]:
    """All of one trace's spans -> (traces row, span_id -> usage_counted, orphans (span, parent, subtree
    usage, subtree LLM span)).

    `counted_flags` (span id -> usage_counted) replaces the derived flags in the totals (the full
    recompute refines them with the reported-cost preference first).

    The same result the SQL recompute gives: a span's usage counts when no descendant reports usage
    (a wrapper repeating its children's usage is not counted twice); the root is the first span
    without a (present) parent, parentless before orphaned, then by start time and id. LLM calls are
    store.llm_calls's.
    """
    by_id, flags, orphan_usage = _usage_walk(rows)
    llm = [sid for sid, r in by_id.items() if r[_KIND] == llm_calls.LLM]
    n_calls = len(llm)
    if n_calls > 1:
        n_calls -= len(llm_calls.wrappers({sid: r[_PARENT] for sid, r in by_id.items()}, llm))
    orphan_llm = _orphan_tops(by_id, llm)
    orphans = [(sid, r[_PARENT], int(sid in orphan_usage), int(sid in orphan_llm)) for sid, r in by_id.items()
               if r[_PARENT] is not None and r[_PARENT] not in by_id]
    candidates = [r for r in by_id.values() if r[_PARENT] is None or r[_PARENT] not in by_id]
    root = min(candidates, key=_root_key) if candidates else None
    use = flags if counted_flags is None else counted_flags
    counted = [r for r in by_id.values() if use[r[_SID]]]
    vals = list(by_id.values())
    start, end = _min_start(vals), _max(r[_END] for r in vals)
    row: list[Any] = [
        trace_id, root[_SID] if root else None, root[_NAME] if root else None, None, start, end,
        (end - start) / 1e6 if start is not None and end is not None else None, len(vals),
        sum(r[_STATUS] == "ERROR" for r in vals), n_calls, sum(r[_KIND] == "TOOL" for r in vals),
        _sum(r[_IN] for r in counted), _sum(r[_OUT] for r in counted), _sum(_total(r) for r in counted),
        _sum(r[_COST] for r in counted),
        _distinct(r[_MODEL] for r in vals), _distinct(r[_AGENT] for r in vals),
        None, None, None, None, None, None, None,
        sum(r[_PARENT] is None for r in vals), len(orphans), 0,
    ]
    for col in _COALESCED:
        value = None
        for source in _sources(col, root):
            if source == "stated":
                value = _max_text(r[col] for r in vals if _stated(r))
            elif source == "root":
                value = root[col] if root is not None else None
            else:
                value = _max_text(r[col] for r in vals)
            if value is not None:
                break
        row[_T[_TRACE_FIELD_OF[col]]] = value
    row[_T["complete"]] = int(row[_T["root_count"]] == 1 and row[_T["orphan_count"]] == 0)
    return tuple(row), flags, orphans


def _usage_walk(rows: Sequence[Sequence[Any]]) -> tuple[dict[str, Sequence[Any]], dict[str, int], set[str]]:
    """(span id -> row, usage_counted per span id, spans topping an orphaned subtree that reports usage)."""
    by_id = {r[_SID]: r for r in rows}
    parent = {sid: r[_PARENT] for sid, r in by_id.items()}
    covered: set[str] = set()
    orphan_usage: set[str] = set()
    for sid, r in by_id.items():
        if not _has_usage(r):
            continue
        node, seen = sid, {sid}
        while True:
            p = parent[node]
            if p is None:
                break
            if p not in by_id:
                orphan_usage.add(node)
                break
            if p in seen or p in covered:
                break  # a cycle, or an ancestor walk already went up from here
            covered.add(p)
            seen.add(p)
            node = p
    flags = {sid: 0 if (sid in covered and _has_usage(r)) else 1 for sid, r in by_id.items()}
    return by_id, flags, orphan_usage


def _orphan_tops(by_id: dict[str, Sequence[Any]], starts: Iterable[str]) -> set[str]:
    """The spans topping an orphaned subtree (parent named but absent) that holds one of `starts`."""
    tops: set[str] = set()
    walked: set[str] = set()  # an earlier walk went up from here: its top is already found
    for node in starts:
        while node not in walked:
            walked.add(node)
            p = by_id[node][_PARENT]
            if p is None:
                break
            if p not in by_id:
                tops.add(node)
                break
            node = p
    return tops


def usage_flags(rows: Sequence[Sequence[Any]]) -> dict[str, int]:
    """The usage_counted flags `summarize` derives (span id -> 0/1), without the rest of the summary."""
    return _usage_walk(rows)[1]


def _min_start(rows: Sequence[Sequence[Any]]) -> Any:
    present = [r[_START] for r in rows if r[_START] is not None]
    return min(present) if present else None


def _distinct(values: Iterable[Any]) -> str | None:
    present = sorted({str(v) for v in values if v is not None})
    return ",".join(present) if present else None


def _stored_spans(db: sqlite_utils.Database, trace_id: str) -> list[tuple[Any, ...]]:
    return db.execute(f"SELECT {_SPAN_SELECT} FROM spans WHERE trace_id = ?", [trace_id]).fetchall()


#: a `trace_orphans` row without its trace: (span, parent, subtree reports usage, subtree holds an LLM span)
Orphan = tuple[str, str, int, int]
ORPHAN_INSERT = ("INSERT OR REPLACE INTO trace_orphans (trace_id, span_id, parent_span_id, subtree_usage, "
                 "subtree_llm) VALUES (?, ?, ?, ?, ?)")


def _write_orphans(db: sqlite_utils.Database, trace_id: str, orphans: Sequence[Orphan], replace: bool) -> None:
    if replace:
        db.execute("DELETE FROM trace_orphans WHERE trace_id = ?", [trace_id])
    if orphans:
        db.conn.executemany(ORPHAN_INSERT, [(trace_id, *o) for o in orphans])


def recompute(db: sqlite_utils.Database, trace_ids: Iterable[str], open_traces: OpenTraces | None = None) -> None:
    """Full recompute of these traces from their stored spans (the store's SQL refresh: flags, links,
    summary rows), then their orphan state. `open_traces`: kept rows to take instead of reading."""
    from .recompute import recompute_traces

    recompute_traces(db, list(trace_ids), open_traces)


def recompute_sql(db: sqlite_utils.Database, trace_ids: Iterable[str]) -> None:
    """`recompute` through the SQL reference (`refresh_traces_sql`), then the orphan state."""
    from . import refresh_traces_sql

    ids = sorted(set(trace_ids))
    refresh_traces_sql(db, ids)
    # Orphan state: cleared for every trace, re-derived only where the summary still counts orphans.
    with_orphans = [r[0] for r in _by_trace(
        db, "SELECT trace_id FROM traces WHERE orphan_count > 0 AND trace_id IN ({marks})", ids)]
    stale = "traces_stale" in {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for i in range(0, len(ids), 500):
        part = ids[i : i + 500]
        db.execute(f"DELETE FROM trace_orphans WHERE trace_id IN ({','.join('?' * len(part))})", part)
        if stale:  # recomputed: current again
            db.execute(f"DELETE FROM traces_stale WHERE trace_id IN ({','.join('?' * len(part))})", part)
    for trace_id in with_orphans:
        rows = _stored_spans(db, trace_id)
        _write_orphans(db, trace_id, summarize(trace_id, rows)[2] if rows else [], replace=False)


def _needs_full(rows: Iterable[Sequence[Any]]) -> bool:
    """Spans whose trace the full refresh must see whole: agents and handoffs (workflow wrappers are
    demoted, handoff sides filled from the trace's structure) and Vercel AI SDK calls (their wrapper's
    usage may sit in another trace)."""
    return any(r[_KIND] == "AGENT" or r[_AGENT] is not None or r[_HANDOFF_FROM] is not None
               or r[_HANDOFF_TO] is not None or r[_CONVENTION] == "vercel_ai" for r in rows)


def fetch_by_keys(db: sqlite_utils.Database, columns: str, keys: Sequence[tuple[str, str]],
                  chunk: int = 400) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Rows of `spans` for (trace_id, span_id) keys, by primary-key probes (one statement per chunk)."""
    out: dict[tuple[str, str], tuple[Any, ...]] = {}
    for i in range(0, len(keys), chunk):
        part = keys[i : i + chunk]
        values = ",".join("(?, ?)" for _ in part)
        params = [x for k in part for x in k]
        # CROSS JOIN keeps the key list outermost: a probe of the primary key per key
        for row in db.execute(f"WITH k(t, s) AS (VALUES {values}) SELECT spans.trace_id, spans.span_id, {columns} "
                              f"FROM k CROSS JOIN spans ON spans.trace_id = k.t AND spans.span_id = k.s", params):
            out[(row[0], row[1])] = row[2:]
    return out


def _by_trace(db: sqlite_utils.Database, sql: str, trace_ids: list[str]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for i in range(0, len(trace_ids), 500):
        part = trace_ids[i : i + 500]
        rows.extend(db.execute(sql.format(marks=",".join("?" * len(part))), part).fetchall())
    return rows


class _Fallback(Exception):
    """This batch cannot be merged into the stored summary exactly: recompute the trace."""


def plan_batch(db: sqlite_utils.Database, new_by_trace: dict[str, list[Sequence[Any]]],
               existing_traces: set[str], replaced_traces: set[str]
               ) -> tuple[dict[tuple[str, str], int], list[tuple[Any, ...]], list[tuple[str, Any]], set[str]]:
    """Summaries for a batch's NEW spans (summary columns), computed before they are inserted.

    Returns (usage flag per new span, traces rows to write, orphan-table steps, traces to recompute after
    the insert). Orphan steps are ("set", (trace, orphans)) for new traces and ("merge", ...) tuples.
    """
    flags: dict[tuple[str, str], int] = {}
    rows: list[tuple[Any, ...]] = []
    steps: list[tuple[str, Any]] = []
    fallback: set[str] = set(replaced_traces)
    # What merging needs from the database, read for the whole batch at once (not per trace).
    for trace_id, new in new_by_trace.items():
        if _needs_full(new):
            fallback.add(trace_id)
    merging = sorted(t for t in new_by_trace if t in existing_traces and t not in fallback)
    olds = {r[0]: r for r in _by_trace(
        db, f"SELECT {', '.join(TRACE_COLUMNS)} FROM traces WHERE trace_id IN ({{marks}})", merging)}
    orphans_of: dict[str, list[Orphan]] = {}
    for t, sid, parent, usage, llm in _by_trace(
            db, "SELECT trace_id, span_id, parent_span_id, subtree_usage, subtree_llm FROM trace_orphans "
                "WHERE trace_id IN ({marks})", merging):
        orphans_of.setdefault(t, []).append((sid, parent, usage, llm))
    wanted: list[tuple[str, str]] = []
    for t in merging:
        ids = {r[_SID] for r in new_by_trace[t]}
        wanted.extend((t, p) for p in {r[_PARENT] for r in new_by_trace[t]} if p is not None and p not in ids)
        old = olds.get(t)
        if old is not None and old[_T["root_span_id"]] is not None:
            wanted.append((t, old[_T["root_span_id"]]))
    found = fetch_by_keys(db, f"{_SPAN_SELECT}, usage_counted", wanted)
    prefetched = {k: found.get(k) for k in wanted}
    for trace_id, new in new_by_trace.items():
        if trace_id in fallback:
            continue
        if trace_id not in existing_traces:
            summary, f, orphans = summarize(trace_id, new)
            if not all(f.values()) and any(_reported(r) for r in new):
                # a covered usage span with a reported cost: the full refresh's preference may apply
                fallback.add(trace_id)
                continue
            flags.update({(trace_id, s): v for s, v in f.items()})
            rows.append(summary)
            if orphans:
                steps.append(("set", (trace_id, orphans)))
            continue
        try:
            summary, f, step = _merge(db, trace_id, new, olds.get(trace_id), orphans_of.get(trace_id, []),
                                      prefetched)
        except _Fallback:
            fallback.add(trace_id)
            continue
        flags.update({(trace_id, s): v for s, v in f.items()})
        rows.append(summary)
        steps.append(("merge", (trace_id, *step)))
    return flags, rows, steps, fallback


def apply_batch(db: sqlite_utils.Database, rows: list[tuple[Any, ...]], steps: list[tuple[str, Any]],
                fallback: set[str]) -> None:
    """Write what plan_batch computed (after the spans are inserted), then recompute the fallbacks."""
    if rows:
        from .span_insert import insert_summaries

        insert_summaries(db.conn, _TRACE_INSERT, rows, _T["start_ns"], _T["end_ns"])
    for kind, payload in steps:
        if kind == "set":
            trace_id, orphans = payload
            _write_orphans(db, trace_id, orphans, replace=False)
        else:
            trace_id, adopted, new_orphans, usage_tops, llm_tops = payload
            if adopted:
                db.conn.executemany("DELETE FROM trace_orphans WHERE trace_id = ? AND span_id = ?",
                                    [(trace_id, s) for s in adopted])
            _write_orphans(db, trace_id, new_orphans, replace=False)
            if usage_tops:
                db.conn.executemany("UPDATE trace_orphans SET subtree_usage = 1 WHERE trace_id = ? AND span_id = ?",
                                    [(trace_id, s) for s in usage_tops])
            if llm_tops:
                db.conn.executemany("UPDATE trace_orphans SET subtree_llm = 1 WHERE trace_id = ? AND span_id = ?",
                                    [(trace_id, s) for s in llm_tops])
    if fallback:
        recompute(db, fallback)


def _merge(db: sqlite_utils.Database, trace_id: str, new_rows: list[Sequence[Any]], old: tuple[Any, ...] | None,
           orphans: list[Orphan], prefetched: dict[tuple[str, str], tuple[Any, ...] | None]
           ) -> tuple[tuple[Any, ...], dict[str, int], tuple[list[str], list[Orphan], list[str], list[str]]]:
    if old is None or old[_T["root_span_id"]] is None or old[_T["agents"]] is not None:
        raise _Fallback
    new = {r[_SID]: r for r in new_rows}
    for col in (_MODEL, _AGENT):
        if any(isinstance(r[col], str) and "," in r[col] for r in new_rows):
            raise _Fallback  # the stored comma list could not be split back exactly
    adopted = {s: (p, u, llm) for s, p, u, llm in orphans if p in new}
    if old[_T["root_span_id"]] in adopted:
        raise _Fallback

    stored: dict[str, tuple[Any, ...] | None] = {}

    def lookup(span_id: str) -> tuple[Any, ...] | None:
        key = (trace_id, span_id)
        if key in prefetched:
            return prefetched[key]
        if span_id not in stored:
            stored[span_id] = db.execute(
                f"SELECT {_SPAN_SELECT}, usage_counted FROM spans WHERE trace_id = ? AND span_id = ?",
                [trace_id, span_id]).fetchone()
        return stored[span_id]

    covered: set[str] = set()
    usage_tops: list[str] = []  # stored orphans whose subtree now reports usage
    new_orphan_usage: set[str] = set()

    def _check_next_usage(node: str) -> None:
        """From a covered stored span, up to the next span that reports usage: a reported one means the
        full refresh may have preferred it over its only child, which this batch changes."""
        seen = {node}
        while True:
            row = lookup(node)
            p = row[_PARENT] if row is not None else None
            if p is None or p in seen:
                return
            seen.add(p)
            up = lookup(p)
            if up is None:
                return
            if _has_usage(up):
                if _reported(up):
                    raise _Fallback
                return
            node = p

    def walk(node: str) -> None:
        seen = {node}
        while True:
            p = (new[node] if node in new else lookup(node))[_PARENT]  # type: ignore[index]
            if p is None:
                return
            if p in new:
                if p in seen or p in covered:
                    return
                covered.add(p)
                seen.add(p)
                node = p
                continue
            row = lookup(p)
            if row is None:  # node's parent is missing: node tops an orphaned subtree with usage
                if node in new:
                    new_orphan_usage.add(node)
                else:
                    usage_tops.append(node)
                return
            if p in seen:
                return
            if _has_usage(row):
                if row[-1] or _reported(row):
                    # a stored span's usage becomes covered (its totals must come out), or the
                    # reported-cost preference may change: the full refresh decides
                    raise _Fallback
                # already covered; the next usage span up decides whether a preference could change
                _check_next_usage(p)
                return
            seen.add(p)
            node = p

    for sid, r in new.items():
        if _has_usage(r):
            walk(sid)
    for sid, (p, usage, _) in adopted.items():
        if usage:
            covered.add(p)
            walk(p)
    flags = {sid: 0 if (sid in covered and _has_usage(r)) else 1 for sid, r in new.items()}
    if any(not flags[sid] and _reported(r) for sid, r in new.items()):
        raise _Fallback  # a covered span with a reported cost: the full refresh's preference may apply
    wrapped, llm_tops, new_orphan_llm = _merge_llm_calls(new, adopted, lookup)
    new_orphans = []
    for sid, r in new.items():
        p = r[_PARENT]
        if p is not None and p not in new and lookup(p) is None:
            new_orphans.append((sid, p, int(sid in new_orphan_usage), int(sid in new_orphan_llm)))

    old_root = lookup(old[_T["root_span_id"]])
    if old_root is None:
        raise _Fallback
    candidates = [r for r in new.values() if r[_PARENT] is None or r[_PARENT] not in new and lookup(r[_PARENT]) is None]
    root: Sequence[Any] = old_root
    if candidates:
        best = min(candidates, key=_root_key)
        if _root_key(best) < _root_key(old_root):
            if any(old_root[c] is not None for c in _COALESCED):
                raise _Fallback  # the trace-wide maxima behind the old root's values are not stored
            if _NO_CONVENTION in (best[_CONVENTION], old_root[_CONVENTION]) and any(row_value is not None for row_value in (
                    old[_T[_TRACE_FIELD_OF[c]]] for c in _STATED)):
                raise _Fallback  # a plain root prefers stated values: which spans stated them is not stored
            root = best
    if root[_CONVENTION] == _NO_CONVENTION and any(r[c] is not None for r in new.values() for c in _STATED):
        raise _Fallback  # whether the stored value is the root's fallback or a stated one is not stored
    vals = list(new.values())
    counted = [r for r in vals if flags[r[_SID]]]
    row = list(old)
    row[_T["root_span_id"]], row[_T["root_name"]] = root[_SID], root[_NAME]
    start = _min_start(vals)
    if start is not None and (row[_T["start_ns"]] is None or start < row[_T["start_ns"]]):
        row[_T["start_ns"]] = start
    end = _max(r[_END] for r in vals)
    if end is not None and (row[_T["end_ns"]] is None or end > row[_T["end_ns"]]):
        row[_T["end_ns"]] = end
    s, e = row[_T["start_ns"]], row[_T["end_ns"]]
    row[_T["duration_ms"]] = (e - s) / 1e6 if s is not None and e is not None else None
    row[_T["span_count"]] += len(vals)
    row[_T["error_count"]] += sum(r[_STATUS] == "ERROR" for r in vals)
    row[_T["llm_calls"]] += sum(r[_KIND] == llm_calls.LLM for r in vals) - len(wrapped)
    row[_T["tool_calls"]] += sum(r[_KIND] == "TOOL" for r in vals)
    for name, values in (("input_tokens", [r[_IN] for r in counted]), ("output_tokens", [r[_OUT] for r in counted]),
                         ("total_tokens", [_total(r) for r in counted]), ("cost_usd", [r[_COST] for r in counted])):
        row[_T[name]] = _sum([row[_T[name]], *values])
    for name, col in (("models", _MODEL), ("agents", _AGENT)):
        merged = set(row[_T[name]].split(",")) if row[_T[name]] else set()
        row[_T[name]] = _distinct([*merged, *(r[col] for r in vals)])
    for col in _COALESCED:
        name = _TRACE_FIELD_OF[col]
        sources = _sources(col, root)
        if "stated" in sources:
            continue  # the new spans carry no value for it (else the merge fell back): unchanged
        for source in sources:
            if source == "root" and root[col] is not None:
                row[_T[name]] = root[col]
                break
            if source == "any":  # the stored value is the old spans' largest (no root value: checked above)
                row[_T[name]] = _max_text([row[_T[name]], *(r[col] for r in vals)])
    row[_T["root_count"]] += sum(r[_PARENT] is None for r in vals)
    row[_T["orphan_count"]] += len(new_orphans) - len(adopted)
    row[_T["complete"]] = int(row[_T["root_count"]] == 1 and row[_T["orphan_count"]] == 0)
    return tuple(row), flags, (list(adopted), new_orphans, usage_tops, llm_tops)


def _merge_llm_calls(new: dict[str, Sequence[Any]], adopted: dict[str, tuple[str, int, int]],
                     lookup: Callable[[str], tuple[Any, ...] | None]) -> tuple[set[str], list[str], set[str]]:
    """What a batch's new spans change of a stored trace's LLM calls (store.llm_calls's rule), or _Fallback.

    Returns (new LLM spans that wrap another LLM span: not calls, stored orphans whose subtree now holds an
    LLM span, new orphans whose subtree holds one). Whether a STORED LLM span already wraps another is not
    stored, so an LLM span arriving under one (its parent sent first) falls back to the full recompute;
    the usual order, the inner span ending and so exported first, merges: the stored orphan's flag says
    its subtree holds an LLM span, and the parent arriving with its kind decides."""
    llm_new = [sid for sid, r in new.items() if r[_KIND] == llm_calls.LLM]
    wrapped: set[str] = set()
    tops: list[str] = []
    new_tops: set[str] = set()
    if not llm_new and not any(llm for _, _, llm in adopted.values()):
        return wrapped, tops, new_tops  # no LLM span new, none below an adopter: nothing changes
    # a parent cycle through a new span (of new spans only, or closed through an adopted orphan): the cycle
    # rule decides, from the whole trace. The cycle's spans are all above that new span.
    chain: dict[str, str | None] = {}
    for sid, r in new.items():
        node, parent = sid, r[_PARENT]
        while node not in chain:
            chain[node] = parent
            if parent is None:
                break
            up = new[parent] if parent in new else lookup(parent)
            if up is None:
                break
            node, parent = parent, up[_PARENT]
    if llm_calls.on_cycles(chain):
        raise _Fallback

    def wrap_above(node: str) -> None:
        """The nearest LLM span above `node` (whose subtree holds an LLM span) is a wrapper."""
        seen = {node}
        while True:
            here = new[node] if node in new else lookup(node)
            p = here[_PARENT] if here is not None else None
            if p is None:
                return
            if p in seen:
                raise _Fallback  # a stored cycle: the full recompute walks it
            up = new[p] if p in new else lookup(p)
            if up is None:  # node tops an orphaned subtree that now holds an LLM span
                if node in new:
                    new_tops.add(node)
                else:
                    tops.append(node)
                return
            if up[_KIND] == llm_calls.LLM:
                if p not in new:
                    raise _Fallback  # whether that stored LLM span already wrapped one is not stored
                wrapped.add(p)
                return
            seen.add(p)
            node = p

    for sid in llm_new:
        wrap_above(sid)
    for sid, (p, _, llm) in adopted.items():
        if llm:  # the adopted subtree holds an LLM span: its new parent, or the nearest LLM span above, wraps it
            if new[p][_KIND] == llm_calls.LLM:
                wrapped.add(p)
            else:
                wrap_above(p)
    return wrapped, tops, new_tops
