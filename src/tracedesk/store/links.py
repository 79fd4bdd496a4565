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
    """Traces (other than these) holding a wrapper span whose provider call sits in one of these traces."""
    out: set[str] = set()
    for i in range(0, len(trace_ids), 500):
        chunk = list(trace_ids[i : i + 500])
        marks = ",".join("?" for _ in chunk)
        out.update(t for (t,) in db.execute(
            f"SELECT DISTINCT w.trace_id FROM spans c JOIN spans w ON {_WRAPPER} AND {_CROSS_CHILD} "
            f"WHERE c.trace_id IN ({marks}) AND c.convention = 'vercel_ai'", chunk))
    return out - set(trace_ids)


def refine_usage_flags(db: sqlite_utils.Database, trace_ids: Sequence[str],
                       flags: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    """Keep a parent's reported cost counted when its only usage child merely repeats its tokens, and do
    not count a wrapper whose provider calls landed in other traces."""
    marks = ",".join("?" for _ in trace_ids)
    flags = dict(flags)
    for t, s in db.execute(
        f"SELECT w.trace_id, w.span_id FROM spans w WHERE w.trace_id IN ({marks}) AND {_WRAPPER} "
        f"AND EXISTS (SELECT 1 FROM spans c WHERE {_CROSS_CHILD})", list(trace_ids),
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
