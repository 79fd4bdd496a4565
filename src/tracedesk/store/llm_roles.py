"""Which LLM spans the per-span LLM signals sample: one sample per provider request (store.llm_calls's rule).

`spans.llm_wrapper` (m516) marks the LLM spans that are not calls of their own (an LLM span with an LLM
span below it in its trace: ADK's call_llm, a LangChain ChatModel span, litellm_request):
- NULL: a call (the innermost LLM spans), or not an LLM span at all; the default a written row gets, so a
  trace with fewer than two LLM spans is never read or written here;
- 1: a wrapper;
- 2: a wrapper that holds output text while no LLM span below it does. Its text is the answer of the
  request(s) it wraps (an instrumentation that records content only on the outer span), so the answer
  signals (refusal_rate_answer, output_length) read it, once.

Which span stands for the request: the call (innermost). It timed the model itself (latency and TTFT
are the provider's, not the framework's overhead on top), and its status is the provider's. For the
answer text the lowest span of the request that holds text is read: the call's when it has one, else
the wrapper's (value 2). When a wrapper made several calls and some hold text, the calls are read.

Kept by `refresh`, called wherever a trace's stored spans changed and its summary is brought current
(the incremental write, the full recompute, refresh_stale): it reads the trace's spans again, so a child
arriving in a later batch than its parent ends with the flags one batch gives.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import sqlite_utils

from . import blobs, llm_calls

WRAPPER, ANSWER_WRAPPER = 1, 2
#: SQL: the span is an LLM call (read with s.kind = 'LLM')
CALL_SQL = "s.llm_wrapper IS NULL"
#: SQL: the span's output text is its request's answer (read with s.kind = 'LLM' AND s.output_text IS NOT NULL)
ANSWER_SQL = "s.llm_wrapper IS NOT 1"


def roles(parent_of: Mapping[str, str | None], kind_of: Mapping[str, str | None],
          has_text: Mapping[str, bool]) -> dict[str, int]:
    """One trace's wrappers -> WRAPPER or ANSWER_WRAPPER (spans not listed are NULL)."""
    llm = [sid for sid, kind in kind_of.items() if kind == llm_calls.LLM]
    if len(llm) < 2:
        return {}
    wrapped = llm_calls.wrappers(parent_of, llm)
    if not wrapped:
        return {}
    # the wrappers above an LLM span holding text: their text is not the lowest of the request
    text_above: set[str] = set()
    cyclic = llm_calls.on_cycles(parent_of)
    for sid in llm:
        if not has_text.get(sid) or sid in cyclic:
            continue
        text_above.update(a for a in llm_calls.ancestors(parent_of, sid) if a in wrapped)
    return {w: ANSWER_WRAPPER if has_text.get(w) and w not in text_above else WRAPPER for w in wrapped}


def refresh(db: sqlite_utils.Database, trace_ids: Iterable[str], *, nested: Iterable[str] | None = None) -> None:
    """Bring `llm_wrapper` of these traces' spans up to date (inside the write's transaction).

    nested: the traces of `trace_ids` holding two LLM spans or more, when the caller read them (a recompute
    has their rows in hand: no query to find them again). The other traces cannot hold a wrapper; a flag
    left on one of them (a re-sent child that is no longer an LLM span) is cleared without reading it."""
    if not blobs.codec(db).llm_wrapper:
        return  # a handle not migrated to m516 (m516 fills the column when it adds it)
    ids = sorted(set(trace_ids))
    known = None if nested is None else set(nested)
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join("?" for _ in chunk)
        if known is None:
            # a trace with two LLM spans can hold a wrapper; one with a flag may have lost it (+kind: by
            # primary key, not the kind index)
            reread = [r[0] for r in db.execute(
                f"SELECT trace_id FROM spans WHERE trace_id IN ({marks}) AND (+kind = 'LLM' OR llm_wrapper IS NOT NULL) "
                f"GROUP BY trace_id HAVING SUM(+kind = 'LLM') > 1 OR MAX(llm_wrapper) IS NOT NULL", chunk)]
        else:
            reread = [t for t in chunk if t in known]
            flat = [t for t in chunk if t not in known]
            if flat:  # only rows holding a flag are written (each update marks its hour's feed samples dirty)
                db.execute(f"UPDATE spans SET llm_wrapper = NULL WHERE trace_id IN ({','.join('?' for _ in flat)}) "
                           f"AND llm_wrapper IS NOT NULL", flat)
        if reread:
            _refresh_read(db, reread)


def _refresh_read(db: sqlite_utils.Database, trace_ids: list[str]) -> None:
    """refresh for traces that may hold a wrapper: their spans read, the flags that differ written."""
    marks = ",".join("?" for _ in trace_ids)
    parents: dict[str, dict[str, str | None]] = {}
    kinds: dict[str, dict[str, str | None]] = {}
    texts: dict[str, dict[str, bool]] = {}
    current: dict[tuple[str, str], int | None] = {}
    for t, s, p, k, has_text, flag in db.execute(
            f"SELECT trace_id, span_id, parent_span_id, kind, output_text IS NOT NULL, llm_wrapper "
            f"FROM spans WHERE trace_id IN ({marks})", trace_ids):
        parents.setdefault(t, {})[s] = p
        kinds.setdefault(t, {})[s] = k
        texts.setdefault(t, {})[s] = bool(has_text)
        current[(t, s)] = flag
    updates: list[tuple[int | None, str, str]] = []
    for t in parents:
        want = roles(parents[t], kinds[t], texts[t])
        updates.extend((want.get(s), t, s) for s in parents[t] if current[(t, s)] != want.get(s))
    if updates:  # only changed rows: each update marks its hour's feed samples dirty
        db.conn.executemany("UPDATE spans SET llm_wrapper = ? WHERE trace_id = ? AND span_id = ?", updates)


def m516_llm_wrapper(db: sqlite_utils.Database) -> None:
    """Registered in store.MIGRATIONS as "m516_llm_wrapper": the per-span LLM signals sample LLM calls,
    not every LLM span (a wrapper and its provider call were two samples of one request). Adds the
    column, fills it for the traces holding two LLM spans or more, and widens the TTFT index so a TTFT
    read still answers from the index alone."""
    cols = {r[1] for r in db.execute("PRAGMA table_info(spans)")}
    if "llm_wrapper" not in cols:
        db.execute("ALTER TABLE spans ADD COLUMN llm_wrapper INTEGER")
    # m505's partial index with the flag last: `kind = 'LLM' AND ttft_ms IS NOT NULL AND llm_wrapper IS NULL`
    # is still read from the index alone
    db.execute("DROP INDEX IF EXISTS idx_spans_kind_ttft")
    db.execute("CREATE INDEX idx_spans_kind_ttft ON spans (kind, ttft_ms, llm_wrapper) WHERE ttft_ms IS NOT NULL")
    nested = [r[0] for r in db.execute(
        "SELECT trace_id FROM spans WHERE kind = 'LLM' GROUP BY trace_id HAVING COUNT(*) > 1")]
    refresh(db, nested, nested=nested)
