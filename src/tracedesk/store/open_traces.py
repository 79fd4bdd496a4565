"""What the full trace recompute reads of each trace a file ingest deferred, kept from the batch rows.

File ingest defers the traces that need the full recompute (agents, handoffs: on agent traffic nearly
every trace) and recomputes each once at the end of the file (`summaries.refresh_stale`). That recompute
read every span of those traces back (summary columns, and the `tracedesk.agent.inferred` attribute of
AGENT spans through td_json, inflating their attributes): ~7.5 of its ~20 us per span (issue 13, "ingest
near the limit"). The writer already holds those values in the rows it stores, so for a trace whose every
stored span it wrote itself since the trace first appeared, it keeps them here and the recompute takes
them instead of the SELECT. The recompute's inputs are the same values in the same order (span id order,
as the primary-key read returns them), so what it stores is the same.

A trace is kept only when it was wholly new in the batch that deferred it, every later batch's rows of it
are added (new spans and replaced ones), and the values are the stored ones: each summary column of the
type the column keeps (a value SQLite would convert, e.g. an integer cost into a REAL column or a number
into a TEXT column, makes the trace read back instead). Before use the kept set is checked against the
database: a commit by another connection (`PRAGMA data_version`, looked at before each batch and, inside
the recompute's `BEGIN IMMEDIATE` transaction, before the rows are used) drops everything, and per trace the stored span count must equal the kept one (a span stored without a summary, which the
writer could not know about, makes that trace read back). Only the ingest writer that owns the connection
writes spans through it meanwhile; a recompute that may change spans of other traces (the SQL path of
Vercel AI SDK wrappers) drops everything too.
"""
from __future__ import annotations

import itertools
import json
import operator
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import sqlite_utils

from .summaries import _COST, _END, _IN, _KIND, _OUT, _SID, _START, _TOTAL, SUMMARY_COLUMNS

#: spans kept (~350 B each) past which no new trace is kept until the file ends (the traces already kept
#: still take their later spans: a trace is only useful whole)
MAX_SPANS = 100_000

_INTEGER = (_START, _END, _IN, _OUT, _TOTAL)
_TEXT = tuple(i for i in range(len(SUMMARY_COLUMNS)) if i not in (*_INTEGER, _COST))
_GET_INTEGER = operator.itemgetter(*_INTEGER)
_GET_TEXT = operator.itemgetter(*_TEXT)
_GET_COST = operator.itemgetter(_COST)
_TEXT_TYPES = frozenset({str, type(None)})
_INTEGER_TYPES = frozenset({int, type(None)})
_REAL_TYPES = frozenset({float, type(None)})
_INFERRED_KEY = '"tracedesk.agent.inferred"'


def stored_as_given(summaries: Sequence[Sequence[Any]]) -> bool:
    """Whether a read of these rows once stored gives back the very values: each summary column of the
    type its column keeps (TEXT str, INTEGER int, REAL float but not NaN, or NULL). Otherwise SQLite
    converts (an integer cost to a double, NaN to NULL, a number to text), which is not mirrored here.
    Checked over many rows at once (C-level iteration: this runs for every span kept)."""
    chain = itertools.chain.from_iterable
    if not set(map(type, chain(map(_GET_TEXT, summaries)))) <= _TEXT_TYPES:
        return False
    if not set(map(type, chain(map(_GET_INTEGER, summaries)))) <= _INTEGER_TYPES:
        return False
    costs = list(map(_GET_COST, summaries))
    return set(map(type, costs)) <= _REAL_TYPES and all(c == c for c in costs if c is not None)


def inferred_flag(attributes: str | None) -> Any:
    """`json_extract(attributes, '$."tracedesk.agent.inferred"')` of a row's attributes JSON text, as far as
    its truth goes (the recompute reads bool() of it): JSON true/false/numbers/strings as themselves, an
    array or object as its (non-empty) text, absent or null as None."""
    if not attributes or _INFERRED_KEY not in attributes:
        return None
    try:
        value = orjson.loads(attributes)
    except orjson.JSONDecodeError:  # integers beyond 64 bits (written by the stdlib encoder)
        value = json.loads(attributes)
    found = value.get("tracedesk.agent.inferred") if type(value) is dict else None
    if isinstance(found, (list, dict)):
        return json.dumps(found, separators=(",", ":"))
    return found


_GET_SID = operator.itemgetter(_SID)


class _Trace:
    """One kept trace: span id -> summary row, and the attributes text of its AGENT spans."""

    __slots__ = ("spans", "agents")

    def __init__(self) -> None:
        self.spans: dict[str, Sequence[Any]] = {}
        self.agents: dict[str, str | None] = {}


#: per trace, what a batch adds: (summary rows, span id -> attributes of its AGENT spans), or None: drop it
Staged = list[tuple[str, "tuple[list[Sequence[Any]], dict[str, str | None]] | None"]]


class OpenTraces:
    """The kept traces of one file ingest (see the module's docstring)."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.traces: dict[str, _Trace] = {}
        self.spans = 0
        #: MAX_SPANS was reached: no new trace is kept until the file ends
        self.full = False
        self._version = self._data_version(db)

    @staticmethod
    def _data_version(db: sqlite_utils.Database) -> int:
        return int(db.conn.execute("PRAGMA data_version").fetchone()[0])

    def clear(self) -> None:
        """The file ended (or the writer stopped): nothing kept, keeping again."""
        self.traces = {}
        self.spans = 0
        self.full = False

    def drop_all(self) -> None:
        """Something may have changed stored spans of kept traces (a recompute's cross-trace step, a
        write that was not through the deferring writer): read them back."""
        self.traces = {}
        self.spans = 0

    def sync(self, db: sqlite_utils.Database) -> None:
        """Drop everything when another connection committed since the last look."""
        version = self._data_version(db)
        if version != self._version:
            self.drop_all()
            self._version = version

    def __contains__(self, trace_id: object) -> bool:
        return trace_id in self.traces

    def staged(self, started: Iterable[str], new_by_trace: dict[str, list[Sequence[Any]]],
               replaced: Sequence[tuple[str, str]], latest: dict[tuple[str, str], tuple[Any, ...]],
               attr_index: int, summary_of: Any) -> Staged:
        """What a batch adds, for `apply` once its transaction committed: per trace kept or `started`
        (wholly new and deferred by this batch), the summary rows of its new and replaced spans."""
        wanted = set(started) if not self.full else set()
        wanted.update(t for t in new_by_trace if t in self.traces)
        by_trace: dict[str, list[Sequence[Any]]] = {t: list(new_by_trace[t]) for t in wanted if t in new_by_trace}
        for key in replaced:
            if key[0] in self.traces:
                by_trace.setdefault(key[0], []).append(summary_of(latest[key]))
        if not by_trace:
            return []
        fits = stored_as_given([r for rows in by_trace.values() for r in rows])
        out: Staged = []
        for trace_id, rows in by_trace.items():
            if not fits and not stored_as_given(rows):
                out.append((trace_id, None))
                continue
            agents = {r[_SID]: latest[(trace_id, r[_SID])][attr_index] for r in rows if r[_KIND] == "AGENT"}
            out.append((trace_id, (rows, agents)))
        return out

    def apply(self, staged: Staged) -> None:
        for trace_id, added in staged:
            if added is None:
                gone = self.traces.pop(trace_id, None)
                self.spans -= len(gone.spans) if gone is not None else 0
                continue
            rows, agents = added
            kept = self.traces.get(trace_id)
            if kept is None:
                kept = self.traces[trace_id] = _Trace()
            before = len(kept.spans)
            kept.spans.update(zip(map(_GET_SID, rows), rows))
            if agents:
                kept.agents.update(agents)
            self.spans += len(kept.spans) - before
        if self.spans > MAX_SPANS:
            self.full = True  # the traces kept stay kept (complete); no new one until the file ends

    def take(self, db: sqlite_utils.Database, trace_ids: Sequence[str]) -> dict[str, list[list[Any]]]:
        """The kept rows of these traces whose stored span count matches, in the recompute's row form
        (summary columns, usage_counted as written, the inferred flag) and span id order, removed from
        here; the others are the caller's to read."""
        kept = [t for t in trace_ids if t in self.traces]
        if not kept:
            return {}
        counts: dict[str, int] = {}
        for i in range(0, len(kept), 500):
            part = kept[i : i + 500]
            counts.update(db.conn.execute(
                f"SELECT trace_id, COUNT(*) FROM spans WHERE trace_id IN ({','.join('?' * len(part))}) "
                f"GROUP BY trace_id", part).fetchall())
        out: dict[str, list[list[Any]]] = {}
        for trace_id in kept:
            trace = self.traces.pop(trace_id)
            spans = trace.spans
            self.spans -= len(spans)
            if counts.get(trace_id) != len(spans):
                continue  # a span stored that this writer did not write: read the trace back
            rows = [[*spans[s], 1, None] for s in sorted(spans)]
            if trace.agents:
                for row in rows:
                    if row[_KIND] == "AGENT":
                        row[-1] = inferred_flag(trace.agents.get(row[_SID]))
            out[trace_id] = rows
        return out


__all__ = ["MAX_SPANS", "OpenTraces", "inferred_flag", "stored_as_given"]
