"""Incremental trace summaries: any split of the spans into batches gives the rows a full recompute gives."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from summary_merges import merged_traces, random_batches

from tracedesk.models import Span
from tracedesk.store import connect, refresh_stale, refresh_traces_sql, write_batch

_TRACE_COLS = "trace_id, root_span_id, root_name, service, start_ns, end_ns, duration_ms, span_count, " \
              "error_count, llm_calls, tool_calls, input_tokens, output_tokens, total_tokens, cost_usd, models, " \
              "agents, session_id, user_id, route, tenant, prompt_version, environment, dims, root_count, " \
              "orphan_count, complete"

_ids = st.sampled_from([f"s{i}" for i in range(12)])
_maybe = lambda values: st.one_of(st.none(), st.sampled_from(values))  # noqa: E731


@st.composite
def _spans(draw):
    n = draw(st.integers(1, 12))
    out = []
    for i in range(n):
        sid = f"s{i}"
        # parents: earlier spans mostly, sometimes a later one (arrives after), missing ids or cycles
        parent = draw(st.one_of(st.none(), _ids, st.sampled_from(["gone1", "gone2"])))
        if parent == sid:
            parent = None
        usage = draw(st.booleans())
        out.append(Span(
            trace_id=draw(st.sampled_from(["t1", "t2", "t3"])), span_id=sid, parent_span_id=parent,
            name=f"n{i}", kind=draw(st.sampled_from(["LLM", "TOOL", "AGENT", "CHAIN"])),
            status=draw(st.sampled_from(["OK", "ERROR", "UNSET"])),
            start_ns=draw(st.integers(1, 50)) * 1000, end_ns=draw(st.integers(51, 90)) * 1000,
            service=draw(_maybe(["api", "worker"])), model=draw(_maybe(["gpt-4o", "claude", "m3"])),
            agent_name=draw(_maybe(["planner", "critic"])), session_id=draw(_maybe(["sa", "sb"])),
            user_id=draw(_maybe(["u1", "u2"])), route=draw(_maybe(["billing", "search"])),
            # a tenant id some services send as a number: the TEXT column stores it as '4217'
            tenant=draw(_maybe(["acme", "globex", 4217])), prompt_version=draw(_maybe(["v1", "v2"])),
            environment=draw(_maybe(["prod"])),
            dims=draw(st.sampled_from([{}, {"region": "eu"}, {"region": "us"}])),
            # a plain server root (`unknown`) yields its cohort values to the ones LLM spans state
            convention=draw(st.sampled_from(["unknown", "openinference", "otel_genai"])),
            # few distinct counts, so a parent repeating its only child's usage (reported-cost preference) occurs
            input_tokens=draw(st.sampled_from([5, 7, 100])) if usage and draw(st.booleans()) else None,
            output_tokens=draw(st.sampled_from([2, 3])) if usage and draw(st.booleans()) else None,
            cost_source=draw(st.sampled_from(["reported", "computed", "unknown"])),
            total_tokens=draw(st.integers(0, 300)) if usage and draw(st.booleans()) else None,
            cost_usd=draw(st.floats(0, 1)) if usage and draw(st.booleans()) else None,
        ))
    return out


def _state(db):
    traces = db.execute(f"SELECT {_TRACE_COLS} FROM traces ORDER BY trace_id").fetchall()
    flags = db.execute("SELECT trace_id, span_id, usage_counted FROM spans ORDER BY 1, 2").fetchall()
    return traces, flags


def _same(a, b):
    """Rows equal; cost sums (column 14) may differ in the last bits of float rounding only."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x[:14] + x[15:] == y[:14] + y[15:]
        assert x[14] == pytest.approx(y[14], rel=1e-12, abs=1e-15) if y[14] is not None else x[14] is None


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spans=_spans(), data=st.data())
def test_incremental_summaries_equal_a_full_recompute(tmp_path_factory, spans, data):
    db = connect(str(tmp_path_factory.mktemp("s") / "t.db"))
    batches = random_batches(data, spans, 4)
    if data.draw(st.booleans()):  # re-send one span with changed content (replace) or unchanged
        again = data.draw(st.sampled_from(spans))
        changed = Span(**{f: getattr(again, f) for f in again.__slots__})
        if data.draw(st.booleans()):
            changed.input_tokens = (changed.input_tokens or 0) + 7
        batches.append([changed])
    # file ingest defers the traces that need the full recompute (marked stale, recomputed once after
    # the file); the receiver does not: any mix, then the deferred recompute, equals the full recompute
    deferring = [data.draw(st.booleans()) for _ in batches]
    for batch, defer in zip(batches, deferring):
        write_batch(db, batch, defer_full=defer)
    refresh_stale(db)
    assert db.execute("SELECT COUNT(*) FROM traces_stale").fetchone() == (0,)
    incremental = _state(db)
    ids = [r[0] for r in db.execute("SELECT DISTINCT trace_id FROM spans")]
    with db.conn:
        db.execute("UPDATE spans SET usage_counted = 1")
        refresh_traces_sql(db, ids)
    full = _state(db)
    assert incremental[1] == full[1]
    _same(incremental[0], full[0])
    db.conn.close()


def test_a_text_column_mixing_numbers_and_strings_across_services_is_summarised(tmp_path):
    """A Collector file where the payments exporter sends `service.name` as an int (4217, its numeric
    service id) and the web exporter as a string: the trace's service is the largest as text, like SQL's MAX
    over the TEXT column. The old summary compared 4217 with "web" in Python (TypeError): the batch split,
    and the span merged into the stored trace on its own was rejected."""
    import json

    from tracedesk.ingest import ingest_paths
    from tracedesk.store import connect

    def request(service: dict, span_id: str, parent: str | None, start: int, tenant: dict) -> str:
        span = {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": span_id, "name": f"op {span_id}",
                "startTimeUnixNano": str(1_714_557_600_000_000_000 + start),
                "endTimeUnixNano": str(1_714_557_600_500_000_000 + start),
                "attributes": [{"key": "tenant.id", "value": tenant}]}
        if parent:
            span["parentSpanId"] = parent
        return json.dumps({"resourceSpans": [{"resource": {"attributes": (
            [{"key": "service.name", "value": service}] if service else [])},
            "scopeSpans": [{"spans": [span]}]}]})

    path = tmp_path / "collector.jsonl"
    path.write_text("\n".join([
        request({}, "eee19b7ec3c1b174", None, 0, {"stringValue": "acme"}),  # the gateway: no service.name
        request({"stringValue": "web"}, "eee19b7ec3c1b175", "eee19b7ec3c1b174", 1000, {"stringValue": "acme"}),
        request({"intValue": "4217"}, "eee19b7ec3c1b176", "eee19b7ec3c1b174", 2000, {"intValue": "4217"}),
    ]) + "\n")
    report = ingest_paths(str(tmp_path / "t.db"), [str(path)], batch_size=2)  # the third span merges
    assert report.rejected == [] and report.spans_inserted == 3
    db = connect(str(tmp_path / "t.db"))
    assert db.execute("SELECT service, tenant, span_count FROM traces").fetchone() == ("web", "acme", 3)
    assert sorted(db.execute("SELECT service, tenant FROM spans WHERE service IS NOT NULL").fetchall()) == [
        ("4217", "4217"), ("web", "acme")]
    incremental = _state(db)
    refresh_traces_sql(db, ["5b8efff798038103d269b633813fc60c"])
    assert _state(db) == incremental
    db.conn.close()


def test_a_trace_arriving_in_many_batches_keeps_orphan_state_small(db_path):
    db = connect(db_path)
    # children first (orphans), then their parents: every orphan is adopted, the trace ends complete
    write_batch(db, [Span(trace_id="t", span_id=f"c{i}", parent_span_id="root", start_ns=10 + i, end_ns=20 + i,
                          kind="LLM", input_tokens=1, output_tokens=2) for i in range(5)])
    assert db.execute("SELECT orphan_count, complete FROM traces").fetchone() == (5, 0)
    assert db.execute("SELECT COUNT(*), SUM(subtree_usage) FROM trace_orphans").fetchone() == (5, 5)
    write_batch(db, [Span(trace_id="t", span_id="root", start_ns=1, end_ns=99, kind="AGENT",
                          input_tokens=50, output_tokens=100)])
    assert db.execute("SELECT root_span_id, orphan_count, complete, span_count, input_tokens, output_tokens "
                      "FROM traces").fetchone() == ("root", 0, 1, 6, 5, 10)
    assert db.execute("SELECT usage_counted FROM spans WHERE span_id = 'root'").fetchone() == (0,)
    assert db.execute("SELECT COUNT(*) FROM trace_orphans").fetchone() == (0,)


def test_file_ingest_recomputes_deferred_traces_once_and_an_interrupted_one_is_finished(tmp_path):
    """Sample traffic (agents, handoffs: every trace needs the full recompute) in batches of 40 spans: the
    summaries, usage flags and link fixes equal a full recompute; a run stopped after a deferring batch
    leaves its traces marked stale, and the next ingest (of nothing new) finishes them."""
    from tracedesk.cli import main
    from tracedesk.ingest import ingest_paths

    assert main(["sample", "generate", str(tmp_path / "otlp"), "--days", "1", "--traces-per-hour", "3",
                 "--seed", "5"]) == 0
    files = sorted(str(p) for p in (tmp_path / "otlp").glob("traces-*.json.gz"))
    report = ingest_paths(str(tmp_path / "a.db"), files, batch_size=40)
    assert report.spans_inserted > 400 and not report.rejected
    db = connect(str(tmp_path / "a.db"))
    assert db.execute("SELECT COUNT(*) FROM traces_stale").fetchone() == (0,)
    kinds = "SELECT trace_id, span_id, kind, agent_name, handoff_from, handoff_to, usage_counted FROM spans ORDER BY 1, 2"
    deferred = _state(db), db.execute(kinds).fetchall()
    assert sum(r[4] is not None for r in deferred[1]) > 0  # handoffs were resolved across batches
    ids = [r[0] for r in db.execute("SELECT trace_id FROM traces")]
    with db.conn:
        db.execute("UPDATE spans SET usage_counted = 1")
        refresh_traces_sql(db, ids)
    assert db.execute(kinds).fetchall() == deferred[1]
    _same(_state(db)[0], deferred[0][0])
    # re-ingest: nothing stored twice, nothing left stale
    again = ingest_paths(str(tmp_path / "a.db"), files, batch_size=40)
    assert (again.spans_inserted, again.spans_replaced, again.spans_unchanged) == (0, 0, report.spans_inserted)
    db.conn.close()

    # interrupted: the spans of one deferring batch are stored, their summaries not yet
    from tracedesk.ingest import parse_bytes
    import gzip

    spans = parse_bytes(gzip.decompress(open(files[0], "rb").read()), files[0]).spans
    part = connect(str(tmp_path / "b.db"))
    result = write_batch(part, spans[:300], defer_full=True)
    assert result.deferred > 0
    stale = part.execute("SELECT COUNT(*) FROM traces_stale").fetchone()[0]
    assert stale == result.deferred
    assert part.execute("SELECT COUNT(*) FROM traces t JOIN traces_stale s USING (trace_id)").fetchone() == (0,)
    part.conn.close()
    assert ingest_paths(str(tmp_path / "b.db"), []).spans_inserted == 0
    part = connect(str(tmp_path / "b.db"))
    assert part.execute("SELECT COUNT(*) FROM traces_stale").fetchone() == (0,)
    finished = _state(part)
    with part.conn:
        part.execute("UPDATE spans SET usage_counted = 1")
        refresh_traces_sql(part, [r[0] for r in part.execute("SELECT DISTINCT trace_id FROM spans")])
    assert _state(part)[1] == finished[1]
    _same(_state(part)[0], finished[0])


@st.composite
def _linked_spans(draw):
    """Random traces with agents (named and guessed), handoffs with a missing side, usage and orphans."""
    spans = draw(_spans())
    for s in spans:
        if s.kind == "AGENT" and draw(st.booleans()):
            s.attributes = {"tracedesk.agent.inferred": True}
        if draw(st.integers(0, 3)) == 0:
            s.handoff_from = draw(_maybe(["planner", "critic", "triage"]))
            s.handoff_to = draw(_maybe(["planner", "transfer_to_critic", "Critic", "billing"]))
    return spans


def _full_state(db):
    spans = db.execute("SELECT trace_id, span_id, kind, agent_name, handoff_from, handoff_to, usage_counted "
                       "FROM spans ORDER BY 1, 2").fetchall()
    orphans = db.execute("SELECT * FROM trace_orphans ORDER BY 1, 2").fetchall()
    return db.execute(f"SELECT {_TRACE_COLS} FROM traces ORDER BY trace_id").fetchall(), spans, orphans


def _assert_both_recomputes_agree(tmp_path_factory, spans):
    from tracedesk.store.recompute import recompute_traces
    from tracedesk.store.summaries import recompute_sql

    states = []
    for how in (recompute_sql, recompute_traces):
        db = connect(str(tmp_path_factory.mktemp("r") / "t.db"))
        write_batch(db, spans, refresh=False)
        ids = sorted({s.trace_id for s in spans})
        with db.conn:
            how(db, ids)
        states.append(_full_state(db))
        db.conn.close()
    (sql_traces, sql_spans, sql_orphans), (py_traces, py_spans, py_orphans) = states
    assert py_spans == sql_spans
    assert py_orphans == sql_orphans
    _same(py_traces, sql_traces)
    return states[1]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spans=_linked_spans())
def test_the_one_read_recompute_equals_the_sql_recompute(tmp_path_factory, spans):
    """store.recompute (one read per chunk, decided in Python) == refresh_traces_sql (the SQL reference):
    usage flags with the reported-cost preference, demoted workflow wrappers, filled handoffs, summary
    rows and orphan state."""
    _assert_both_recomputes_agree(tmp_path_factory, spans)


def test_the_one_read_recompute_demotes_fills_handoffs_and_prefers_reported_cost(tmp_path_factory):
    """The cases random traces reach rarely, each checked against the SQL reference and by value."""
    spans = [
        # a guessed "Agent workflow" containing a named agent: a workflow wrapper, demoted to CHAIN
        Span(trace_id="t1", span_id="w", kind="AGENT", agent_name="Agent workflow", start_ns=1, end_ns=90,
             attributes={"tracedesk.agent.inferred": True}),
        Span(trace_id="t1", span_id="a", parent_span_id="w", kind="AGENT", agent_name="Triage", start_ns=2,
             end_ns=40),
        # a handoff without a target goes to the next agent run; its target spelled as a tool name
        Span(trace_id="t1", span_id="h", parent_span_id="a", kind="TOOL", name="transfer", start_ns=30,
             end_ns=31, handoff_from="Triage"),
        Span(trace_id="t1", span_id="b", parent_span_id="w", kind="AGENT", agent_name="Billing", start_ns=41,
             end_ns=80),
        Span(trace_id="t1", span_id="h2", parent_span_id="b", kind="TOOL", start_ns=50, end_ns=51,
             handoff_to="transfer_to_triage"),
        # a reported cost on a parent whose only usage child repeats its tokens: the parent counts
        Span(trace_id="t2", span_id="p", kind="LLM", start_ns=1, end_ns=9, input_tokens=10, output_tokens=5,
             cost_usd=0.5, cost_source="reported"),
        Span(trace_id="t2", span_id="c", parent_span_id="p", kind="LLM", start_ns=2, end_ns=8, input_tokens=10,
             output_tokens=5, cost_usd=0.25, cost_source="computed"),
        # an orphan with usage below a missing parent
        Span(trace_id="t2", span_id="o", parent_span_id="gone", kind="LLM", start_ns=3, end_ns=4, input_tokens=1),
    ]
    traces, rows, orphans = _assert_both_recomputes_agree(tmp_path_factory, spans)
    assert rows == [
        ("t1", "a", "AGENT", "Triage", None, None, 1), ("t1", "b", "AGENT", "Billing", None, None, 1),
        ("t1", "h", "TOOL", None, "Triage", "Billing", 1), ("t1", "h2", "TOOL", None, "Billing", "Triage", 1),
        ("t1", "w", "CHAIN", None, None, None, 1),
        ("t2", "c", "LLM", None, None, None, 0), ("t2", "o", "LLM", None, None, None, 1),
        ("t2", "p", "LLM", None, None, None, 1),
    ]
    assert orphans == [("t2", "o", "gone", 1, 1)]  # (its subtree reports usage, holds an LLM span)
    # t2's LLM calls: c (inside p, which wraps it) and the orphan o
    assert [(t[0], t[16], t[11], t[14], t[25], t[26], t[9]) for t in traces] == [
        ("t1", "Billing,Triage", None, None, 0, 1, 0), ("t2", None, 11, 0.5, 1, 0, 2)]


def _route_spans():
    """Mixed traces for the route rule (summaries.PRECEDENCE): a Next.js server root (`unknown`) whose
    LLM span states a route, a root that is itself LLM-instrumented, a plain root alone, and a plain root
    whose stated LLM span arrives in a second batch (the incremental merge, not the first summary)."""
    def span(trace, sid, parent, route, convention, tenant=None):
        # the tool is a TOOL span: an LLM span arriving under a stored LLM span is the merge's fallback
        # (store.llm_calls: whether the stored one already wrapped another call is not kept)
        kind = "TOOL" if sid == "tool" else "LLM" if parent else "CHAIN"
        return Span(trace_id=trace, span_id=sid, parent_span_id=parent, name=sid, kind=kind,
                    start_ns=10 if parent is None else 20, end_ns=90, route=route, tenant=tenant,
                    convention=convention)
    first = [
        span("next", "http", None, "/api/support/chat", "unknown"),
        span("next", "llm", "http", "support-chat", "openinference", tenant="acme"),
        span("llmroot", "root", None, "search", "openinference"),
        span("llmroot", "child", "root", "billing", "otel_genai"),
        span("plain", "http", None, "/api/health", "unknown"),
        span("split", "http", None, None, "unknown"),
        span("split", "tool", "http", None, "unknown", tenant="globex"),
    ]
    second = [span("split", "llm", "http", None, "openinference"),
              span("split", "llm2", "tool", None, "unknown")]
    return first, second


def test_the_route_rule_is_one_definition_the_sql_and_both_python_paths_agree_on(tmp_path):
    from tracedesk.store import _TRACE_SUMMARY_SQL
    from tracedesk.store.summaries import precedence_sql

    # the SQL recompute's expression is generated from the table the Python paths walk
    assert precedence_sql("route") in _TRACE_SUMMARY_SQL
    assert precedence_sql("route") == ("COALESCE(CASE WHEN r.convention = 'unknown' THEN MAX(CASE WHEN "
                                       "s.convention <> 'unknown' THEN s.route END) END, r.route, MAX(s.route))")
    assert precedence_sql("service") == "COALESCE(r.service, MAX(s.service))"
    first, second = _route_spans()
    db = connect(str(tmp_path / "t.db"))
    write_batch(db, first)
    assert merged_traces(db, second) == ["split"]  # merged into its stored summary, no fallback
    incremental = _state(db)
    with db.conn:
        db.execute("UPDATE spans SET usage_counted = 1")
        refresh_traces_sql(db, ["llmroot", "next", "plain", "split"])
    assert _state(db) == incremental
    # and `summarize` (one batch holding everything) gives the same rows
    db2 = connect(str(tmp_path / "one.db"))
    write_batch(db2, first + second)
    assert _state(db2) == incremental
    got = {r[0]: r[1:] for r in db.execute("SELECT trace_id, route, tenant FROM traces")}
    assert got == {"next": ("support-chat", "acme"), "llmroot": ("search", None),
                   "plain": ("/api/health", None), "split": (None, "globex")}
    db.conn.close()
    db2.conn.close()
