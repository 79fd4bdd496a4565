"""LLM calls per trace (store.llm_calls): an LLM span nested in another LLM span of its trace is one call, in
the shapes real instrumentations send (Google ADK over google-genai, LangChain over the OpenAI instrumentor,
litellm's request over its provider call), whatever the batches the spans arrive in."""
from __future__ import annotations

import sqlite3

import pytest
from _ingest_util import TRACE, dumps, request, span
from captures_support import MANIFEST, replay
from summary_merges import merged_traces, random_batches
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracedesk.ingest import ingest_bytes, parse_bytes
from tracedesk.models import Span
from tracedesk.store import connect, llm_calls, migrations, refresh_stale, refresh_traces_sql, summaries, write_batch


def _calls(db_path: str) -> list[tuple[str, int]]:
    db = connect(db_path)
    try:
        return db.execute("SELECT trace_id, llm_calls FROM traces ORDER BY trace_id").fetchall()
    finally:
        db.conn.close()


def _kinds(spans: list[dict], scope: str = "test") -> dict[str, tuple[str, str | None]]:
    result = parse_bytes(dumps(request(spans, scope=scope)), "t.json")
    assert result.rejected == []
    return {s.name: (s.kind, s.provider) for s in result.spans}


# -- the rule ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("parents,kinds,expected", [
    ({"a": None}, {"a": "LLM"}, 1),
    ({"p": None, "c": "p"}, {"p": "LLM", "c": "LLM"}, 1),  # a wrapper and its provider call
    ({"p": None, "c1": "p", "c2": "p"}, {"p": "LLM", "c1": "LLM", "c2": "LLM"}, 2),  # two calls of one step
    ({"a": None, "b": "a", "c": "b"}, {"a": "LLM", "b": "LLM", "c": "LLM"}, 1),  # three layers, one request
    ({"p": None, "x": "p", "c": "x"}, {"p": "LLM", "x": "CHAIN", "c": "LLM"}, 1),  # a non-LLM span in between
    ({"r": None, "a": "r", "b": "r"}, {"r": "AGENT", "a": "LLM", "b": "LLM"}, 2),  # siblings are two calls
    ({"p": "gone", "c": "p"}, {"p": "LLM", "c": "LLM"}, 1),  # an orphaned pair
    ({"c": "gone"}, {"c": "LLM"}, 1),
    ({"x": None}, {"x": "TOOL"}, 0),
    # parent links in a cycle: a span on it wraps nothing; one hanging below still makes its parent a wrapper
    ({"a": "b", "b": "a"}, {"a": "LLM", "b": "LLM"}, 2),
    ({"a": "b", "b": "a", "c": "a"}, {"a": "LLM", "b": "LLM", "c": "LLM"}, 2),
    ({"a": "b", "b": "a", "c": "a"}, {"a": "CHAIN", "b": "CHAIN", "c": "LLM"}, 1),
])
def test_the_innermost_llm_spans_are_the_calls(parents, kinds, expected):
    assert llm_calls.count(parents, kinds) == expected


@given(st.dictionaries(st.sampled_from("abcdefgh"), st.tuples(
    st.one_of(st.none(), st.sampled_from("abcdefghz")), st.sampled_from(["LLM", "LLM", "CHAIN", "TOOL"])),
    min_size=1))
def test_a_trace_with_an_llm_span_counts_at_least_one_call(spans):
    """The workbench's kind=LLM filter reads `llm_calls > 0` (store.query._SUMMARY_COUNTS)."""
    parents = {s: p if p != s else None for s, (p, _) in spans.items()}
    kinds = {s: k for s, (_, k) in spans.items()}
    n = llm_calls.count(parents, kinds)
    llm = sum(k == "LLM" for k in kinds.values())
    assert (n > 0) == (llm > 0) and n <= llm


# -- the shapes real SDKs send ------------------------------------------------------------------------------------

def _genai(span_id: str, parent: str, model: str, usage: tuple[int, int], system: str = "gemini") -> dict:
    """opentelemetry-instrumentation-google-genai (generate_content.py): `generate_content <model>`, gen_ai.system
    "gemini" or "vertex_ai" from the client's backend, the operation, the request model and the usage."""
    return span(TRACE, span_id, f"generate_content {model}", {
        "code.function.name": "google.genai.Models.generate_content", "gen_ai.request.model": model,
        "gen_ai.operation.name": "generate_content", "gen_ai.system": system,
        "gen_ai.usage.input_tokens": usage[0], "gen_ai.usage.output_tokens": usage[1],
        "gen_ai.response.finish_reasons": ["stop"]}, parent=parent, kind="SPAN_KIND_CLIENT")


def _call_llm(span_id: str, parent: str, model: str, usage: tuple[int, int]) -> dict:
    """ADK's trace_call_llm (telemetry/tracing.py): gen_ai.system is ADK's tracer name, whatever the backend."""
    return span(TRACE, span_id, "call_llm", {
        "gen_ai.system": "gcp.vertex.agent", "gen_ai.request.model": model,
        "gcp.vertex.agent.invocation_id": "e-1", "gcp.vertex.agent.session_id": "s-1",
        "gcp.vertex.agent.event_id": f"ev-{span_id[:3]}", "gcp.vertex.agent.llm_request": "{}",
        "gcp.vertex.agent.llm_response": "{}", "gen_ai.usage.input_tokens": usage[0],
        "gen_ai.usage.output_tokens": usage[1]}, parent=parent)


def _adk_over_genai() -> list[dict]:
    """An ADK agent on Gemini with the google-genai instrumentor on: two model turns around a tool."""
    return [
        span(TRACE, "a" * 16, "invocation", {}),
        span(TRACE, "b" * 16, "invoke_agent customs_agent", {
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "customs_agent"}, parent="a" * 16),
        _call_llm("c" * 16, "b" * 16, "gemini-2.5-flash", (700, 12)),
        _genai("d" * 16, "c" * 16, "gemini-2.5-flash", (700, 12)),
        span(TRACE, "e" * 16, "execute_tool classify", {
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "classify"}, parent="b" * 16),
        _call_llm("f" * 16, "b" * 16, "gemini-2.5-flash", (760, 30)),
        _genai("9" * 16, "f" * 16, "gemini-2.5-flash", (760, 30)),
    ]


def test_adk_call_llm_over_google_genai_is_one_call_per_turn(db_path):
    spans = _adk_over_genai()
    assert _kinds(spans, scope="gcp.vertex.agent") == {
        "invocation": ("UNKNOWN", None), "invoke_agent customs_agent": ("AGENT", None),
        # call_llm says no backend: the price table's provider for the bare name; the genai span says Gemini
        "call_llm": ("LLM", "gcp.vertex_ai"), "generate_content gemini-2.5-flash": ("LLM", "gcp.gemini"),
        "execute_tool classify": ("TOOL", None)}
    ingest_bytes(db_path, dumps(request(spans, scope="gcp.vertex.agent")), "adk.json")
    db = connect(db_path)
    assert db.execute("SELECT llm_calls, tool_calls, input_tokens, output_tokens FROM traces").fetchall() == [
        (2, 1, 700 + 760, 12 + 30)]


def _langchain_openinference() -> list[dict]:
    """OpenInference's LangChain instrumentor (ChatOpenAI, LLM) with its OpenAI instrumentor (ChatCompletion,
    LLM) below it: the same request seen by both."""
    llm = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "llm.provider": "openai",
           "llm.system": "openai", "llm.token_count.prompt": 120, "llm.token_count.completion": 15,
           "llm.token_count.total": 135}
    return [
        span(TRACE, "1" * 16, "RunnableSequence", {"openinference.span.kind": "CHAIN"}),
        span(TRACE, "2" * 16, "ChatOpenAI", llm, parent="1" * 16),
        span(TRACE, "3" * 16, "ChatCompletion", llm, parent="2" * 16, kind="SPAN_KIND_CLIENT"),
    ]


def _langchain_openllmetry() -> list[dict]:
    """OpenLLMetry's LangChain callback span (`ChatOpenAI.chat`) over its OpenAI instrumentor's `openai.chat`."""
    usage = {"gen_ai.usage.prompt_tokens": 120, "gen_ai.usage.completion_tokens": 15, "llm.usage.total_tokens": 135}
    return [
        span(TRACE, "1" * 16, "RunnableSequence.workflow", {"traceloop.span.kind": "workflow",
                                                            "traceloop.entity.name": "RunnableSequence"}),
        span(TRACE, "2" * 16, "ChatOpenAI.chat", {
            "llm.request.type": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini",
            **usage}, parent="1" * 16),
        span(TRACE, "3" * 16, "openai.chat", {
            "llm.request.type": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18", **usage}, parent="2" * 16, kind="SPAN_KIND_CLIENT"),
    ]


@pytest.mark.parametrize("shape", [_langchain_openinference, _langchain_openllmetry])
def test_a_langchain_chat_model_over_the_provider_instrumentor_is_one_call(db_path, shape):
    spans = shape()
    assert [k for k, _ in _kinds(spans).values()][1:] == ["LLM", "LLM"]
    ingest_bytes(db_path, dumps(request(spans)), "lc.json")
    db = connect(db_path)
    assert db.execute("SELECT llm_calls, input_tokens, output_tokens FROM traces").fetchall() == [(1, 120, 15)]


def test_an_llm_step_that_made_two_provider_calls_counts_two(db_path):
    """A framework's LLM span around two requests (a retry, a second completion): the requests are the calls."""
    step = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini"}
    call = {**step, "llm.token_count.prompt": 100, "llm.token_count.completion": 10}
    ingest_bytes(db_path, dumps(request([
        span(TRACE, "1" * 16, "ChatOpenAI", step),
        span(TRACE, "2" * 16, "ChatCompletion", call, parent="1" * 16),
        span(TRACE, "3" * 16, "ChatCompletion", call, parent="1" * 16, start_ms=200),
    ])), "two.json")
    assert _calls(db_path) == [(TRACE, 2)]


def _server_calls(c: dict) -> int:
    return sum(1 for call in c["server_calls"] if call["endpoint"] != "/embeddings")


@pytest.mark.parametrize("library,scenario", [(c["library"], c["scenario"]) for c in MANIFEST["captures"]])
def test_every_capture_counts_the_requests_its_server_answered(db_path, library, scenario):
    """Real libraries' captures (litellm's litellm_request over raw_gen_ai_request among them): the LLM calls
    of all traces are the chat/responses requests the fake server got, failed ones included."""
    entry = next(c for c in MANIFEST["captures"] if (c["library"], c["scenario"]) == (library, scenario))
    r = replay(db_path, "files", library, scenario)
    assert sum(t["llm_calls"] for t in r.traces) == _server_calls(entry)


@pytest.mark.parametrize("scenario", ["plain", "tools"])
@pytest.mark.parametrize("via", ["files", "receiver"])
def test_litellm_request_over_its_provider_call_is_one_call(db_path, via, scenario):
    r = replay(db_path, via, "litellm_otel", scenario)
    pair = sorted((s["name"], r.parent_name(s)) for s in r.llm())
    assert pair == [("litellm_request", None), ("raw_gen_ai_request", "litellm_request")]
    assert [t["llm_calls"] for t in r.traces] == [1]


# -- incremental: the batches a receiver gets ---------------------------------------------------------------------

@pytest.mark.parametrize("order", ["child first", "parent first"])
@pytest.mark.parametrize("shape", [_langchain_openinference, _langchain_openllmetry, _adk_over_genai])
def test_a_child_arriving_in_another_batch_gives_the_same_count(tmp_path, shape, order):
    spans = shape()
    one = str(tmp_path / "one.db")
    ingest_bytes(one, dumps(request(spans)), "all.json")
    split = str(tmp_path / "split.db")
    batches = [[s] for s in (reversed(spans) if order == "child first" else spans)]
    for i, batch in enumerate(batches):
        ingest_bytes(split, dumps(request(batch)), f"b{i}.json")
    assert _calls(split) == _calls(one)
    assert _calls(one)[0][1] == (2 if shape is _adk_over_genai else 1)


def _pair(trace: str, parent_kind: str = "LLM") -> list[Span]:
    return [Span(trace_id=trace, span_id="root", name="chain", kind="CHAIN", start_ns=1, end_ns=100),
            Span(trace_id=trace, span_id="p", parent_span_id="root", name="ChatOpenAI", kind=parent_kind,
                 start_ns=2, end_ns=90),
            Span(trace_id=trace, span_id="c1", parent_span_id="p", name="ChatCompletion", kind="LLM",
                 start_ns=3, end_ns=40, input_tokens=10, output_tokens=2),
            Span(trace_id=trace, span_id="c2", parent_span_id="p", name="ChatCompletion", kind="LLM",
                 start_ns=50, end_ns=80, input_tokens=12, output_tokens=3)]


def test_provider_calls_before_the_span_around_them_merge_without_a_recompute(db_path):
    """Provider calls end first, so they are exported before the span around them: each arrives as an orphan
    whose state says its subtree holds an LLM span, and the parent arriving as LLM becomes the wrapper. (The
    trace's root is sent first here: a stored root adopted by a new parent is the merge's own fallback.)"""
    db = connect(db_path)
    root, p, c1, c2 = _pair("t")
    write_batch(db, [root])
    assert merged_traces(db, [c1]) == ["t"]
    assert db.execute("SELECT llm_calls FROM traces").fetchone() == (1,)
    assert db.execute("SELECT span_id, subtree_llm FROM trace_orphans").fetchall() == [("c1", 1)]
    assert merged_traces(db, [c2]) == ["t"]
    assert db.execute("SELECT llm_calls FROM traces").fetchone() == (2,)
    assert merged_traces(db, [p]) == ["t"]
    assert db.execute("SELECT llm_calls, input_tokens, output_tokens, complete FROM traces").fetchone() == (
        2, 22, 5, 1)
    assert db.execute("SELECT COUNT(*) FROM trace_orphans").fetchone() == (0,)


def test_a_non_llm_span_between_the_orphans_and_their_wrapper_passes_the_flag_up(db_path):
    db = connect(db_path)
    root, p, c1, c2 = _pair("t")
    mid = Span(trace_id="t", span_id="mid", parent_span_id="p", name="retry", kind="CHAIN", start_ns=3, end_ns=85)
    c1.parent_span_id = c2.parent_span_id = "mid"
    write_batch(db, [root, c1, c2])
    assert merged_traces(db, [mid]) == ["t"]
    assert db.execute("SELECT span_id, subtree_llm FROM trace_orphans").fetchall() == [("mid", 1)]
    assert merged_traces(db, [p]) == ["t"]
    assert db.execute("SELECT llm_calls, complete FROM traces").fetchone() == (2, 1)


def test_an_llm_span_under_a_stored_llm_span_is_recounted(db_path):
    """The parent sent first: whether the stored LLM span already wrapped a call is not kept, so the trace is
    recomputed (its usage flag would send it there too when both report usage)."""
    db = connect(db_path)
    root, p, c1, c2 = _pair("t")
    write_batch(db, [root, p])
    assert db.execute("SELECT llm_calls FROM traces").fetchone() == (1,)
    assert merged_traces(db, [c1]) == []
    assert db.execute("SELECT llm_calls FROM traces").fetchone() == (1,)
    assert merged_traces(db, [c2]) == []
    assert db.execute("SELECT llm_calls FROM traces").fetchone() == (2,)


def test_a_cycle_closed_by_new_spans_alone_is_counted_by_the_cycle_rule(db_path):
    """Found by random batch splits: a batch of two LLM spans naming each other as parents, over a stored LLM
    orphan. The cycle's spans wrap nothing; the orphan's nearest LLM ancestor is a wrapper: 3 spans, 2 calls."""
    db = connect(db_path)
    write_batch(db, [Span(trace_id="t", span_id="r", name="r", kind="CHAIN", start_ns=0, end_ns=10),  # the root
                     Span(trace_id="t", span_id="c", parent_span_id="a", name="c", kind="LLM", start_ns=1, end_ns=9)])
    write_batch(db, [Span(trace_id="t", span_id="a", parent_span_id="b", name="a", kind="LLM", start_ns=2, end_ns=8),
                     Span(trace_id="t", span_id="b", parent_span_id="a", name="b", kind="LLM", start_ns=3, end_ns=7)])
    assert db.execute("SELECT llm_calls FROM traces").fetchone() == (2,)


@st.composite
def _llm_traces(draw):
    """Traces of LLM, CHAIN and TOOL spans only (agents take the full recompute), parents earlier or later
    spans, missing ids or cycles: the merge's own cases."""
    n = draw(st.integers(1, 10))
    out = []
    for i in range(n):
        parent = draw(st.one_of(st.none(), st.sampled_from([f"s{j}" for j in range(10) if j != i] + ["gone"])))
        usage = draw(st.booleans())
        out.append(Span(trace_id=draw(st.sampled_from(["t1", "t2"])), span_id=f"s{i}", parent_span_id=parent,
                        name=f"n{i}", kind=draw(st.sampled_from(["LLM", "LLM", "CHAIN", "TOOL"])),
                        start_ns=draw(st.integers(1, 50)), end_ns=draw(st.integers(51, 90)),
                        input_tokens=draw(st.sampled_from([5, 7])) if usage else None))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spans=_llm_traces(), data=st.data())
def test_any_batch_split_counts_what_one_recompute_counts(tmp_path_factory, spans, data):
    db = connect(str(tmp_path_factory.mktemp("l") / "t.db"))
    for batch in random_batches(data, spans, 5):
        write_batch(db, batch, defer_full=data.draw(st.booleans()))
    refresh_stale(db)
    incremental = db.execute("SELECT trace_id, llm_calls FROM traces ORDER BY 1").fetchall()
    orphans = db.execute("SELECT * FROM trace_orphans ORDER BY 1, 2").fetchall()
    with db.conn:
        refresh_traces_sql(db, [t for t, _ in incremental])
    assert db.execute("SELECT trace_id, llm_calls FROM traces ORDER BY 1").fetchall() == incremental
    by_trace: dict[str, list[Span]] = {}
    for s in spans:
        by_trace.setdefault(s.trace_id, []).append(s)
    assert incremental == [(t, llm_calls.count({s.span_id: s.parent_span_id for s in ss},
                                               {s.span_id: s.kind for s in ss})) for t, ss in sorted(by_trace.items())]
    with db.conn:
        summaries.recompute(db, [t for t, _ in incremental])
    assert db.execute("SELECT * FROM trace_orphans ORDER BY 1, 2").fetchall() == orphans
    db.conn.close()


# -- databases written before the rule --------------------------------------------------------------------------

def test_the_migration_recounts_stored_traces_and_flags_their_orphans(db_path):
    db = connect(db_path)
    root, p, c1, c2 = _pair("t")
    write_batch(db, [p, c1, c2])  # root still missing: p is an orphan
    write_batch(db, _pair("u")[:2])  # one LLM span: nothing to recount
    # as the previous release left it: every LLM span counted, no subtree_llm column, m515 not applied
    with db.conn:
        db.execute("UPDATE traces SET llm_calls = 3 WHERE trace_id = 't'")
        db.execute("ALTER TABLE trace_orphans DROP COLUMN subtree_llm")
        db.execute("DELETE FROM _migrations WHERE name = 'm515_llm_calls'")
    db.conn.execute(f"PRAGMA user_version = {migrations.schema_version() - 1}")
    db.conn.close()
    db = connect(db_path)
    assert db.execute("SELECT trace_id, llm_calls FROM traces ORDER BY 1").fetchall() == [("t", 2), ("u", 1)]
    assert db.execute("SELECT span_id, subtree_usage, subtree_llm FROM trace_orphans").fetchall() == [("p", 1, 1)]
    write_batch(db, [root])  # and the next batch merges with the migrated state
    assert db.execute("SELECT llm_calls, complete FROM traces WHERE trace_id = 't'").fetchone() == (2, 1)
    db.conn.close()
    con = sqlite3.connect(db_path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == migrations.schema_version()
    con.close()
