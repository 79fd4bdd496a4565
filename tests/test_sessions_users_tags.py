"""Sessions (conversations as turns), user_id / session_id as cohort dimensions, tags as a filter."""
from __future__ import annotations

import pytest

import sessions_data as data
import tracedesk
from tracedesk import Filters


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sessions")
    with tracedesk.open(data.build(str(tmp / "s.db"), tmp)) as handle:  # closed: no fd outlives the module
        yield handle


def test_filter_by_session_id_and_user_id(ws):
    by_session = ws.traces(Filters(dims={"session_id": ["conv-a"]}), descending=False)
    assert by_session["trace_id"].tolist() == ws.session("conv-a")["trace_id"].tolist()
    assert len(by_session) == 3 and set(by_session["user_id"]) == {"alice"}
    assert ws.count_traces(Filters(dims={"user_id": ["bob", "carol"]})) == 3
    # from a shared link, bare keys as for route=
    f = Filters.from_query_params({"session_id": "conv-b", "user_id": "bob"})
    assert f.dims == {"session_id": ["conv-b"], "user_id": ["bob"]}
    assert Filters.from_query_params(f.to_query_params()) == f
    assert ws.count_traces(f) == 2


def test_filter_by_tag(ws):
    assert ws.values("tag") == ["beta", "mobile", "web"]  # 2 traces each; ties by name
    tagged = ws.traces(Filters(tags=["beta"]), descending=False)
    assert sorted(tagged["user_id"]) == ["alice", "bob"]
    assert ws.count_traces(Filters(tags=["mobile", "web"])) == 4
    assert ws.count_traces(Filters(tags=["nope"])) == 0
    f = Filters.from_query_params({"tag": "web", "user_id": "bob"})
    assert f.tags == ["web"] and ws.count_traces(f) == 2
    assert f.to_query_params() == {"user_id": "bob", "tag": "web"}


def test_cost_and_quality_by_user(ws):
    m = ws.cohort_matrix("user_id")
    assert list(m.index) == ["(all)", "alice", "bob", "carol"]
    assert m.loc[["alice", "bob", "carol"], "traces"].tolist() == [3, 2, 1]
    assert m.loc["alice", "cost_per_trace"] == pytest.approx((0.004 + 0.006 + 0.001) / 3)
    assert m.loc["bob", "cost_per_trace"] == pytest.approx(0.025)
    assert m.loc["alice", "quality"] == pytest.approx(0.65)
    assert m.loc["alice", "pass_rate"] == pytest.approx(0.5)
    assert m.loc["bob", "error_rate"] == pytest.approx(0.5)
    sessions = ws.cohort_matrix("session_id")
    assert sessions.loc["conv-b", "traces"] == 2 and sessions.loc["(none)", "traces"] == 1


def test_sessions_and_one_conversation(ws):
    s = ws.sessions()
    assert s["session_id"].tolist() == ["conv-b", "conv-a"]  # most recent activity first
    a = s.set_index("session_id").loc["conv-a"]
    assert (a["user_id"], a["turns"], a["errors"], a["evals"]) == ("alice", 3, 0, 2)
    assert a["cost_usd"] == pytest.approx(0.011) and a["eval_pass_rate"] == pytest.approx(0.5)
    assert a["min_score"] == pytest.approx(0.4)
    assert ws.sessions(Filters(tags=["web"]))["session_id"].tolist() == ["conv-b"]

    turns = ws.session("conv-a")
    assert turns["user_input"].tolist() == ["Where is my order 1042?", "Can I change the address?", "Thanks!"]
    assert turns["assistant_output"].tolist() == ["It shipped on Monday.", "Yes, until it leaves the depot.",
                                                  "You're welcome."]
    assert turns["scores"].tolist() == [{"helpfulness": 0.9}, {"helpfulness": 0.4}, {}]
    assert turns["pass_rate"].tolist()[:2] == [1.0, 0.0] and turns["pass_rate"].isna().tolist()[2]
    assert turns["duration_ms"].tolist() == [1000.0, 1200.0, 1500.0]
    b = ws.session("conv-b")
    assert b["error_count"].tolist() == [0, 1] and b["assistant_output"].isna().tolist() == [False, True]
    assert ws.session("no-such-session").empty


def test_tags_from_otlp_conventions(tmp_path):
    """Langfuse sends a string list, Logfire a lone string too: both are tags; other attributes are not."""
    from _ingest_util import dumps, request, span

    from tracedesk.cli import main

    doc = request([span("a" * 32, "1" * 16, "lf", {"langfuse.trace.tags": ["web", "eu"]}),
                   span("b" * 32, "2" * 16, "logfire", {"logfire.tags": "vip", "other.tags": ["web"]}),
                   span("c" * 32, "3" * 16, "plain", {"note": "tags\" in text only"})])
    (tmp_path / "t.json").write_bytes(dumps(doc))
    assert main(["ingest", str(tmp_path / "t.json"), "--db", str(tmp_path / "t.db")]) == 0
    with tracedesk.open(str(tmp_path / "t.db")) as ws:
        assert ws.values("tag") == ["eu", "vip", "web"]
        assert ws.traces(Filters(tags=["web"]))["trace_id"].tolist() == ["a" * 32]
        assert ws.traces(Filters(tags=["vip"]))["trace_id"].tolist() == ["b" * 32]


def _sessions_db(path, traces):
    """A store of one-span traces: (trace_id, session_id, start_ns, cost_usd); then evaluations on two of them."""
    from tracedesk import store
    from tracedesk.models import Evaluation, Span

    db = store.connect(str(path))
    store.write_batch(db, [Span(trace_id=tid, span_id="s" + tid, parent_span_id=None, name="turn", kind="CHAIN",
                                start_ns=start, end_ns=None if start is None else start + 10**9,
                                duration_ms=None if start is None else 1000.0, status="OK", session_id=session,
                                cost_usd=cost)
                           for tid, session, start, cost in traces])
    store.write_evaluations(db, [Evaluation("t3", None, "helpfulness", score=0.25, passed=False),
                                 Evaluation("t6", None, "helpfulness", score=0.75, passed=True)])
    return db


@pytest.mark.parametrize("limit, expected", [
    # most recent activity first; d and e tie at 50 (session_id settles it); a's last turn is at 40
    (1, ["b"]), (2, ["b", "d"]), (3, ["b", "d", "e"]), (4, ["b", "d", "e", "a"]),
    # a session whose turns carry no start is last (last_ns NULL): found only by reading every session
    (5, ["b", "d", "e", "a", "c"]), (9, ["b", "d", "e", "a", "c"]),
])
def test_the_most_recent_sessions_are_found_without_summing_every_session(tmp_path, limit, expected):
    """store.sessions walks the traces newest first for the sessions that can make the page and sums only theirs
    (10M spans: 4.6 -> 0.02 s CPU); ties with the last one found and sessions without a start give the page the
    full query does."""
    from tracedesk.store.sessions import _recent_sessions, sessions

    db = _sessions_db(tmp_path / "walk.db", [
        ("t1", "a", 10, 0.5), ("t2", "b", 20, 1.0), ("t3", "a", 40, 0.25), ("t4", "d", 50, 2.0),
        ("t5", "e", 50, 4.0), ("t6", "b", 60, 8.0), ("t7", "c", None, 16.0)])
    page = sessions(db, limit=limit)
    assert page["session_id"].tolist() == expected
    row = page.set_index("session_id")
    if "a" in row.index:
        assert (row.loc["a", "turns"], row.loc["a", "cost_usd"], row.loc["a", "evals"]) == (2, 0.75, 1)
        assert (row.loc["a", "first_ns"], row.loc["a", "last_ns"], row.loc["a", "min_score"]) == (10, 40, 0.25)
    assert (row.loc["b", "turns"], row.loc["b", "cost_usd"], row.loc["b", "eval_pass_rate"]) == (2, 9.0, 1.0)
    walked = _recent_sessions(db, "1", [], limit)  # the candidates (ties in the walk's order), None: read all
    assert (None if walked is None else sorted(walked)) == {
        1: ["b"], 2: ["b", "d", "e"], 3: ["b", "d", "e"], 4: ["a", "b", "d", "e"]}.get(limit)


def test_a_text_search_on_sessions_reads_the_spans_once(ws):
    """The walk for the most recent sessions and the page's sums both need the traces a text search matches:
    they read the matches the connection keeps (store.query.resolved_where), so the spans' texts are searched
    by one statement, not one per read."""
    from tracedesk.store import query as q
    from tracedesk.store.sessions import sessions

    searches = []
    q.forget_text_matches(ws.db)
    ws.db.conn.set_trace_callback(lambda sql: searches.append(sql) if "LIKE" in sql else None)
    try:
        page = sessions(ws.db, Filters(text="ADDRESS"))  # case-folded: "Can I change the address?" in conv-a
    finally:
        ws.db.conn.set_trace_callback(None)
    assert page["session_id"].tolist() == ["conv-a"] and page["turns"].tolist() == [1]
    assert len(searches) == 1, searches


def test_whether_a_dimension_holds_a_value_is_read_from_its_first_row(ws):
    """The Cohorts page offers user_id and session_id, and every dimension with a value, by asking whether it has
    one (not by counting every value for the most frequent): the same answer as listing them, for each kind of
    dimension (trace-level, span-level, ids, a mapped key, span kind, tags, one that holds nothing)."""
    from tracedesk import cohorts

    names = [*cohorts.names(), "kind", "status", "tag", "dims.nowhere"]
    got = {n: ws.has_values(n) for n in names}
    assert got == {n: bool(ws.values(n, limit=1)) for n in names}
    assert got["user_id"] and got["session_id"] and got["tag"] and not got["dims.nowhere"]
    from tracedesk.analysis.metrics import COHORT_DIMENSIONS

    assert ws.dimensions() == [d for d in COHORT_DIMENSIONS if ws.values(d, limit=1)] + ws.extra_dimensions()
