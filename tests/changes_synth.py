"""Synthetic traffic for the changes feed and explain tests, written through store.write_batch.

Each trace is a CHAIN root with one LLM call carrying the trace's cost; cohorts are route and tenant
(trace attributes) and the LLM model; `tools` adds that many TOOL spans to a trace (calls per trace). `segments` says how many traces per hour each (route, tenant,
model) segment sends in each hour and what each costs, so a test states the exact mix and rates it
expects and the assertions follow by arithmetic.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tracedesk.models import Span
from tracedesk.store import connect, write_batch

if TYPE_CHECKING:
    import pandas as pd

BASE_NS = 1_763_942_400_000_000_000  # 2025-11-24T00:00:00Z
HOUR = 3_600_000_000_000
MS = 1_000_000

#: (route, tenant, model) -> traces per hour in hour h
Segment = tuple[str, str, str]


def route_frame(rows: list[tuple[int, float, str]]) -> "pd.DataFrame":
    """A sample frame for analysis.changes.detect from (t, v, route) rows: the one dimension a frame test needs."""
    import pandas as pd

    return pd.DataFrame({"t": [r[0] for r in rows], "v": [r[1] for r in rows],
                         "route": pd.Series([r[2] for r in rows], dtype=object)})


def build(path: str, hours: int, segments: dict[Segment, Callable[[int], int]],
          cost: Callable[[Segment, int, int], float], duration_ms: Callable[[Segment, int, int], float] | None = None,
          tools: Callable[[Segment, int, int], int] | None = None):
    """Write `hours` of traffic; cost(segment, hour, k) is the k-th trace's cost in that hour (tools(...):
    its number of TOOL spans, none by default)."""
    db = connect(path)
    spans: list[Span] = []
    serial = 0
    for h in range(hours):
        for seg, rate in sorted(segments.items()):
            count = rate(h)
            for k in range(count):
                serial += 1
                route, tenant, model = seg
                tid = f"{serial:032x}"
                start = BASE_NS + h * HOUR + (k * HOUR) // max(count, 1) + (hash(seg) % 997) * MS
                dur = duration_ms(seg, h, k) if duration_ms else 1000.0
                common = dict(trace_id=tid, route=route, tenant=tenant, prompt_version="v1")
                spans.append(Span(span_id=f"{serial * 2:016x}", parent_span_id=None, name="request", kind="CHAIN",
                                  start_ns=start, end_ns=start + int(dur * MS), duration_ms=float(dur),
                                  status="OK", **common))
                spans.append(Span(span_id=f"{serial * 2 + 1:016x}", parent_span_id=f"{serial * 2:016x}",
                                  name="answer", kind="LLM", start_ns=start + MS, end_ns=start + int(dur * MS) - MS,
                                  duration_ms=float(dur) - 2, status="OK", model=model, input_tokens=100,
                                  output_tokens=10, cost_usd=cost(seg, h, k), output_text="ok", **common))
                for j in range(tools(seg, h, k) if tools else 0):
                    spans.append(Span(span_id=f"{serial:08x}{j + 1:08x}", parent_span_id=f"{serial * 2:016x}",
                                      name="lookup", kind="TOOL", start_ns=start + 2 * MS, end_ns=start + 3 * MS,
                                      duration_ms=1.0, status="OK", tool_name="lookup", **common))
    for i in range(0, len(spans), 20000):
        write_batch(db, spans[i:i + 20000])
    return db
