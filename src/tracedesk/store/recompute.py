"""The full trace recompute in one read per chunk: flags, links and summary rows computed in Python.

`refresh_traces_sql` (the reference) reads a chunk's spans five times (usage rows, reported-cost rows,
link rows, the summary aggregate with a correlated parent probe per span, the distinct models and agents
per trace) and was 21% of file-ingest CPU on agent traffic, where every trace takes the full path. Here
one SELECT reads what all of those need, the same pure functions decide (`prefer_reported`,
`resolve_links`, the summary of `summaries.summarize`), and only what changed is written back. A property
test checks this equals `refresh_traces_sql` on random traces (agents, handoffs, orphans, cycles).

A chunk holding a Vercel AI SDK span takes the SQL path: its wrapper's provider call may sit in another
trace (a cross-trace join this module does not reimplement).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlite_utils

if TYPE_CHECKING:
    from .open_traces import OpenTraces

from ..ingest.trace_links import LinkRow, UsageRow, prefer_reported, resolve_links
from . import blobs, llm_roles
from .span_insert import insert_summaries
from .summaries import (_AGENT, _COST_SOURCE, _CONVENTION, _END, _HANDOFF_FROM, _HANDOFF_TO, _IN, _KIND, _OUT,
                        _PARENT, _SID, _SPAN_SELECT, _START, _T, _TRACE_INSERT, ORPHAN_INSERT, Orphan,
                        summarize, usage_flags)

# trace_id, the summary columns, usage_counted, and (AGENT spans only) whether the agent name was guessed
_SELECT = (f"SELECT trace_id, {_SPAN_SELECT}, usage_counted, "
           f"CASE WHEN kind = 'AGENT' THEN json_extract(td_json(attributes), '$.\"tracedesk.agent.inferred\"') END "
           f"FROM spans WHERE trace_id IN ({{marks}})")
_N = len(_SPAN_SELECT.split(", "))
_USAGE, _INFERRED = _N, _N + 1

#: traces per statement (SQLite's default limit on host parameters is far above this)
CHUNK = 500


def recompute_traces(db: sqlite_utils.Database, trace_ids: Sequence[str], open_traces: OpenTraces | None = None
                     ) -> None:
    """Full recompute of these traces (inside a write transaction): usage_counted, workflow wrappers
    demoted, handoff sides filled, `traces` rows, and their `trace_orphans` state (replaced).
    `open_traces`: rows the ingest writer kept of some of them (the values a read would give, in the
    read's order), taken instead of reading those traces back."""
    from . import refresh_traces_sql

    blobs.codec(db)  # the inferred flag is read through td_json()
    ids = sorted(set(trace_ids))
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i : i + CHUNK]
        kept = open_traces.take(db, chunk) if open_traces is not None else {}
        by_trace: dict[str, list[list[Any]]] = {}
        rest = [t for t in chunk if t not in kept] if kept else chunk
        if rest:
            for row in db.execute(_SELECT.format(marks=",".join("?" * len(rest))), rest):
                by_trace.setdefault(row[0], []).append(list(row[1:]))
        if kept:  # in the chunk's (sorted) order, as the read by primary key gives them
            read, by_trace = by_trace, {}
            for t in chunk:
                rows_of = kept.get(t) or read.get(t)
                if rows_of:
                    by_trace[t] = rows_of
        if any(r[_CONVENTION] == "vercel_ai" for rows in by_trace.values() for r in rows):
            if open_traces is not None:
                open_traces.drop_all()  # its wrappers' usage flags may sit in other (kept) traces
            refresh_traces_sql(db, chunk)
            _orphans_of(db, chunk, None)
            continue
        flag_updates: list[tuple[int, str, str]] = []
        demote: list[tuple[str, str]] = []
        handoffs: list[tuple[str | None, str | None, str, str]] = []
        summaries_out: list[tuple[Any, ...]] = []
        orphans: dict[str, list[Orphan]] = {}
        for trace_id, rows in by_trace.items():
            flags = _flags(rows)
            for r in rows:
                if r[_USAGE] != flags[r[_SID]]:
                    flag_updates.append((flags[r[_SID]], trace_id, r[_SID]))
            if any(r[_KIND] == "AGENT" or r[_HANDOFF_FROM] is not None or r[_HANDOFF_TO] is not None for r in rows):
                updates = resolve_links([LinkRow(r[_SID], r[_PARENT], r[_KIND], r[_AGENT], bool(r[_INFERRED]),
                                                 r[_START] or 0, r[_END] or 0, r[_HANDOFF_FROM], r[_HANDOFF_TO])
                                         for r in rows])
                if updates.demoted:
                    gone = set(updates.demoted)
                    demote.extend((trace_id, sid) for sid in updates.demoted)
                    for r in rows:
                        if r[_SID] in gone:
                            r[_KIND], r[_AGENT] = "CHAIN", None
                handoffs.extend((src, dst, trace_id, sid) for sid, (src, dst) in updates.handoffs.items())
            summary, _, trace_orphans = summarize(trace_id, rows, flags)
            summaries_out.append(summary)
            if trace_orphans:
                orphans[trace_id] = trace_orphans
        if flag_updates:
            db.conn.executemany("UPDATE spans SET usage_counted = ? WHERE trace_id = ? AND span_id = ?",
                                flag_updates)
        if demote:
            db.conn.executemany("UPDATE spans SET kind = 'CHAIN', agent_name = NULL "
                                "WHERE trace_id = ? AND span_id = ?", demote)
        if handoffs:
            db.conn.executemany("UPDATE spans SET handoff_from = ?, handoff_to = ? "
                                "WHERE trace_id = ? AND span_id = ?", handoffs)
        if summaries_out:
            insert_summaries(db.conn, _TRACE_INSERT, summaries_out, _T["start_ns"], _T["end_ns"])
        # (kinds as stored now: a demoted wrapper is a CHAIN)
        llm_roles.refresh(db, by_trace, nested=[t for t, rows in by_trace.items()
                                               if sum(r[_KIND] == "LLM" for r in rows) > 1])
        _orphans_of(db, chunk, orphans)


def _flags(rows: list[list[Any]]) -> dict[str, int]:
    """usage_counted per span: counted where no descendant reports usage, then the reported-cost
    preference (a parent whose only usage child repeats it keeps its reported cost)."""
    flags = usage_flags(rows)  # (the whole summary of the trace is made once, by the caller)
    usage = [r for r in rows if r[_IN] is not None or r[_OUT] is not None]
    if len(usage) < 2:
        return flags
    return prefer_reported([UsageRow(r[_SID], r[_PARENT], r[_IN], r[_OUT], r[_COST_SOURCE]) for r in rows], flags)


def _orphans_of(db: sqlite_utils.Database, chunk: list[str], orphans: dict[str, list[Orphan]] | None
                ) -> None:
    """Replace the chunk's orphan state (re-derived from stored spans when `orphans` is None) and clear
    its stale marks: the chunk is current again."""
    marks = ",".join("?" * len(chunk))
    if orphans is None:
        from .summaries import _stored_spans

        orphans = {}
        for (t,) in db.execute(f"SELECT trace_id FROM traces WHERE orphan_count > 0 AND trace_id IN ({marks})",
                               chunk).fetchall():
            rows = _stored_spans(db, t)
            found = summarize(t, rows)[2] if rows else []
            if found:
                orphans[t] = found
    db.execute(f"DELETE FROM trace_orphans WHERE trace_id IN ({marks})", chunk)
    if orphans:
        db.conn.executemany(ORPHAN_INSERT, [(t, *o) for t, found in orphans.items() for o in found])
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'traces_stale'").fetchone():
        db.execute(f"DELETE FROM traces_stale WHERE trace_id IN ({marks})", chunk)
