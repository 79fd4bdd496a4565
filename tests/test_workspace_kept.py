"""The pages' reads are kept on the workspace per data version: a rerun recomputes nothing, a caller
that changes what it got does not change the kept result, and any commit (by any connection) shows."""
from __future__ import annotations

from evals_synth import agent_trace, build

import tracedesk
from tracedesk import store
from tracedesk.store.query import Filters


def test_kept_reads_are_copies_and_follow_every_commit(db_path):
    build(db_path)  # 18 traces
    ws = tracedesk.open(db_path)
    billing = Filters(dims={"route": ["billing"]})
    assert ws.count_traces() == 18 and ws.count_traces(billing) == 6
    table = ws.traces(billing, limit=50)
    table.insert(0, "open", "x")  # what the Traces page does to its frame
    again = ws.traces(billing, limit=50)
    assert "open" not in again.columns and list(again["trace_id"]) == list(table["trace_id"])
    kpis = ws.kpis()
    kpis["traces"] = -1
    assert ws.kpis()["traces"] == 18
    assert ws.values("route") == ["support", "billing"]
    ws.values("route").append("changed by a caller")
    assert ws.values("route") == ["support", "billing"]

    other = store.connect(db_path)  # another connection (the receiver, a CLI run) commits a trace
    store.write_batch(other, agent_trace(200, route="billing"), [])
    other.close()
    assert ws.count_traces() == 19 and ws.count_traces(billing) == 7
    assert ws.kpis()["traces"] == 19 and len(ws.traces(billing, limit=50)) == 7
    ws.close()
