"""Store side of the per-trace links (tracedesk.ingest.trace_links decides; this module reads and writes).

Called by `store.refresh_traces` inside the write's transaction, for the traces a batch touched, so a
handoff whose other side arrives in a later batch (the live receiver) is resolved when it lands.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import sqlite_utils

from ..ingest.trace_links import LinkRow, UsageRow, prefer_reported, resolve_links


def resolve_trace_links(db: sqlite_utils.Database, trace_ids: Sequence[str]) -> None:
    """Demote workflow wrappers and fill the missing side of handoffs for these traces."""
    marks = ",".join("?" for _ in trace_ids)
    by_trace: dict[str, list[LinkRow]] = defaultdict(list)
    # Only traces with an agent or a handoff need the walk.
    for row in db.execute(
        f"SELECT trace_id, span_id, parent_span_id, kind, agent_name, "
        # only an AGENT span's inferred flag is ever read: other rows skip inflating their attributes
        f"CASE WHEN kind = 'AGENT' THEN json_extract(td_json(attributes), '$.\"tracedesk.agent.inferred\"') END, "
        f"start_ns, end_ns, handoff_from, handoff_to "
        f"FROM spans WHERE trace_id IN (SELECT DISTINCT trace_id FROM spans WHERE trace_id IN ({marks}) "
        f"AND (kind = 'AGENT' OR handoff_from IS NOT NULL OR handoff_to IS NOT NULL))",
        list(trace_ids),
    ):
        by_trace[row[0]].append(LinkRow(row[1], row[2], row[3], row[4], bool(row[5]), row[6] or 0, row[7] or 0,
                                        row[8], row[9]))
    demote: list[tuple[str, str]] = []
    handoffs: list[tuple[str | None, str | None, str, str]] = []
    for trace_id, rows in by_trace.items():
        updates = resolve_links(rows)
        demote.extend((trace_id, sid) for sid in updates.demoted)
        handoffs.extend((src, dst, trace_id, sid) for sid, (src, dst) in updates.handoffs.items())
    if demote:
        db.conn.executemany("UPDATE spans SET kind = 'CHAIN', agent_name = NULL WHERE trace_id = ? AND span_id = ?",
                            demote)
    if handoffs:
        db.conn.executemany("UPDATE spans SET handoff_from = ?, handoff_to = ? WHERE trace_id = ? AND span_id = ?",
                            handoffs)


# The Vercel AI SDK's own parent/child relation: `ai.generateText` runs `ai.generateText.doGenerate` (and
# streamText/doStream, generateObject/doGenerate, embed/doEmbed...). When no context manager carries the
# parent (or exporters split the work), the provider call lands in ANOTHER trace with no parent in its own:
# the wrapper's usage then repeats it across traces. A provider call inside the wrapper's time window, from
# the same service, whose parent is the wrapper or absent from its trace, is the wrapper's child.
_CROSS_CHILD = """
  c.trace_id != w.trace_id AND c.kind IN ('LLM', 'EMBEDDING') AND c.convention = 'vercel_ai'
  AND c.name LIKE w.name || '.do%' AND c.start_ns >= w.start_ns AND c.end_ns <= w.end_ns
  AND c.service IS w.service
  AND (c.parent_span_id IS NULL OR c.parent_span_id = w.span_id OR NOT EXISTS (
       SELECT 1 FROM spans p WHERE p.trace_id = c.trace_id AND p.span_id = c.parent_span_id))
"""
_WRAPPER = "w.convention = 'vercel_ai' AND w.kind = 'CHAIN' AND (w.input_tokens IS NOT NULL OR w.output_tokens IS NOT NULL)"


def cross_trace_wrappers(db: sqlite_utils.Database, trace_ids: Sequence[str]) -> set[str]:
    """Traces (other than these) holding a wrapper span whose provider call sits in one of these traces.

    Read from the calls (these traces' spans, by primary key) to the wrappers around each: a wrapper that
    contains a call started at most the longest wrapper's duration before it, so the CHAIN spans of that
    window (the kind/start index) are all there is to test. Left to itself, SQLite scanned every span as
    a possible wrapper for each batch: 6.2 of 13 s CPU ingesting a 29k-span week with Vercel traffic."""
    out: set[str] = set()
    longest = None
    for i in range(0, len(trace_ids), 500):
        chunk = list(trace_ids[i : i + 500])
        marks = ",".join("?" for _ in chunk)
        if not db.execute(f"SELECT 1 FROM spans c WHERE c.trace_id IN ({marks}) AND c.convention = 'vercel_ai' "
                          f"AND c.kind IN ('LLM', 'EMBEDDING') LIMIT 1", chunk).fetchone():
            continue  # most traffic holds no Vercel provider call: no wrapper to look for
        if longest is None:
            longest = db.execute(f"SELECT MAX(w.end_ns - w.start_ns) FROM spans w WHERE w.kind = 'CHAIN' "
                                 f"AND {_WRAPPER}").fetchone()[0]
            if longest is None:
                return set()  # no wrapper anywhere
        out.update(t for (t,) in db.execute(wrappers_of_calls_sql(len(chunk)), [*chunk, longest]))
    return out - set(trace_ids)


def wrappers_of_calls_sql(n_traces: int) -> str:
    """The traces of wrappers around the Vercel provider calls of `n_traces` traces (parameters: the trace
    ids, then the longest wrapper's duration). The calls are read first, by primary key (+kind: not
    through the kind index, which walks every LLM span), and CROSS JOIN keeps them the outer loop (SQLite
    does not reorder it), so each call looks up only the CHAIN spans that started within that duration."""
    marks = ",".join("?" for _ in range(n_traces))
    return (f"WITH c AS MATERIALIZED (SELECT trace_id, span_id, parent_span_id, kind, convention, name, service, "
            f"start_ns, end_ns FROM spans WHERE trace_id IN ({marks}) AND convention = 'vercel_ai' "
            f"AND +kind IN ('LLM', 'EMBEDDING')) "
            f"SELECT DISTINCT w.trace_id FROM c CROSS JOIN spans w ON w.kind = 'CHAIN' "
            f"AND w.start_ns BETWEEN c.start_ns - ?{n_traces + 1} AND c.start_ns AND {_WRAPPER} AND {_CROSS_CHILD}")


def refine_usage_flags(db: sqlite_utils.Database, trace_ids: Sequence[str],
                       flags: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    """Keep a parent's reported cost counted when its only usage child merely repeats its tokens, and do
    not count a wrapper whose provider calls landed in other traces."""
    marks = ",".join("?" for _ in trace_ids)
    flags = dict(flags)
    for t, s in db.execute(
        # these traces' wrappers by primary key (+kind: not every CHAIN span through the kind index), and
        # c.start_ns <= w.end_ns bounds the calls' kind/start index range (implied: a span never ends before
        # it starts, ingest rejects one that does); without them every later call was tested per wrapper
        f"WITH w AS MATERIALIZED (SELECT trace_id, span_id, kind, convention, name, service, start_ns, end_ns, "
        f"input_tokens, output_tokens FROM spans WHERE trace_id IN ({marks}) AND +kind = 'CHAIN' "
        f"AND convention = 'vercel_ai') "
        f"SELECT w.trace_id, w.span_id FROM w WHERE {_WRAPPER} "
        f"AND EXISTS (SELECT 1 FROM spans c WHERE c.start_ns <= w.end_ns AND {_CROSS_CHILD})", list(trace_ids),
    ):
        flags[(t, s)] = 0
    by_trace: dict[str, list[UsageRow]] = defaultdict(list)
    for t, s, p, i, o, src in db.execute(
        f"SELECT trace_id, span_id, parent_span_id, input_tokens, output_tokens, cost_source FROM spans "
        f"WHERE trace_id IN ({marks})",
        list(trace_ids),
    ):
        by_trace[t].append(UsageRow(s, p, i, o, src))
    out = dict(flags)
    for trace_id, rows in by_trace.items():
        if sum(r.input_tokens is not None or r.output_tokens is not None for r in rows) < 2:
            continue
        local = {r.span_id: flags.get((trace_id, r.span_id), 1) for r in rows}
        for sid, flag in prefer_reported(rows, local).items():
            out[(trace_id, sid)] = flag
    return out
