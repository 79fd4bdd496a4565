"""The per-span LLM signals sample LLM calls, one per provider request (store.llm_roles, by store.llm_calls's
rule): a framework's LLM span around its provider call's (ADK call_llm over google-genai, a LangChain
ChatModel over the OpenAI instrumentor, litellm_request over raw_gen_ai_request) is not a second sample.
The call stands for the request (its latency and TTFT are the model's); the answer text is read from the
lowest LLM span of the request holding text, once. Read alone (signals.samples) and in the feed's
families (store.feed.signal_frames) alike, whatever the batches the spans arrive in."""
from __future__ import annotations

import pytest
from _ingest_util import TRACE, dumps, request, span
from captures_support import replay

from tracedesk import signals
from tracedesk.ingest import ingest_bytes
from tracedesk.store import connect, feed, llm_roles, migrations

SPECS = {"llm_latency": {"type": "duration", "span_kind": "LLM"}, "ttft": {"type": "ttft"},
         "llm_errors": {"type": "error_rate", "span_kind": "LLM"},
         "refusal": {"type": "refusal_rate_answer"}, "output_length": {"type": "output_length"},
         "input_length": {"type": "input_length"}}
REFUSAL = "I'm sorry, but I can't help with that request."


def _read(db_path: str) -> dict[str, list[float]]:
    """Each signal's sample values, sorted: read alone, and checked equal to the feed's family read."""
    db = connect(db_path)
    try:
        alone = {n: sorted(signals.samples(db, s, signals.SampleQuery({}, ()))["v"].dropna().astype(float))
                 for n, s in SPECS.items()}
        frames = feed.signal_frames(db, [(n, s, ()) for n, s in SPECS.items()], None, None)
        for name, frame in frames.items():
            assert sorted(frame["v"].dropna().astype(float)) == alone[name], name
        return alone
    finally:
        db.conn.close()


def _flags(db_path: str) -> dict[str, int | None]:
    db = connect(db_path)
    try:
        return dict(db.execute("SELECT name, llm_wrapper FROM spans WHERE kind = 'LLM'").fetchall())
    finally:
        db.conn.close()


def _oi(span_id: str, name: str, parent: str, dur_ms: int, out: str | None = None, ttft_s: float | None = None,
        status: dict | None = None, start_ms: int = 0) -> dict:
    attrs = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "input.value": "hello"}
    if out is not None:
        attrs["output.value"] = out
    if ttft_s is not None:
        attrs |= {"gen_ai.server.time_to_first_token": ttft_s, "llm.is_streaming": True}
    return span(TRACE, span_id, name, attrs, parent=parent, dur_ms=dur_ms, status=status, start_ms=start_ms)


def _chain(span_id: str, parent: str = "") -> dict:
    return span(TRACE, span_id, "RunnableSequence", {"openinference.span.kind": "CHAIN"}, parent=parent, dur_ms=900)


def _langchain_both_texts() -> list[dict]:
    """ChatOpenAI over ChatCompletion, both with the answer: the call's text, latency and TTFT stand."""
    return [_chain("1" * 16), _oi("2" * 16, "ChatOpenAI", "1" * 16, 500, REFUSAL, 0.4),
            _oi("3" * 16, "ChatCompletion", "2" * 16, 450, REFUSAL, 0.3)]


def _wrapper_text_only() -> list[dict]:
    """The provider call without content (capture off in its instrumentor), the framework span with it."""
    return [_chain("1" * 16), _oi("2" * 16, "ChatOpenAI", "1" * 16, 500, REFUSAL),
            _oi("3" * 16, "ChatCompletion", "2" * 16, 450, None, 0.3)]


def _two_levels_down() -> list[dict]:
    """A non-LLM span between the wrapper and its call; and a second, lone LLM call beside them."""
    return [_chain("1" * 16), _oi("2" * 16, "ChatOpenAI", "1" * 16, 600, "ok"),
            _chain("4" * 16, "2" * 16), _oi("3" * 16, "ChatCompletion", "4" * 16, 550, "ok",
                                             status={"code": "STATUS_CODE_ERROR"}),
            _oi("5" * 16, "ChatCompletion", "1" * 16, 200, REFUSAL, start_ms=700)]


def _retry() -> list[dict]:
    """One LLM step that made two provider calls, the first without text: two samples; the step's text is
    not read (a call below it holds text)."""
    return [_oi("2" * 16, "ChatOpenAI", "", 900, "fine"),
            _oi("3" * 16, "ChatCompletion", "2" * 16, 300, None, status={"code": "STATUS_CODE_ERROR"}),
            _oi("4" * 16, "ChatCompletion", "2" * 16, 400, "fine", start_ms=400)]


SHAPES = {
    _langchain_both_texts: ({"ChatOpenAI": 1, "ChatCompletion": None},
                            {"llm_latency": [450.0], "ttft": [300.0], "llm_errors": [0.0], "refusal": [1.0],
                             "output_length": [float(len(REFUSAL))], "input_length": [5.0]}),
    _wrapper_text_only: ({"ChatOpenAI": 2, "ChatCompletion": None},
                         {"llm_latency": [450.0], "ttft": [300.0], "llm_errors": [0.0], "refusal": [1.0],
                          "output_length": [float(len(REFUSAL))], "input_length": [5.0]}),
    _two_levels_down: ({"ChatOpenAI": 1, "ChatCompletion": None},
                       {"llm_latency": [200.0, 550.0], "ttft": [], "llm_errors": [0.0, 1.0],
                        "refusal": [0.0, 1.0], "output_length": [2.0, float(len(REFUSAL))],
                        "input_length": [5.0, 5.0]}),
    _retry: ({"ChatOpenAI": 1, "ChatCompletion": None},
             {"llm_latency": [300.0, 400.0], "ttft": [], "llm_errors": [0.0, 1.0], "refusal": [0.0],
              "output_length": [4.0], "input_length": [5.0, 5.0]}),
}


@pytest.mark.parametrize("shape", list(SHAPES), ids=lambda f: f.__name__)
def test_one_sample_per_provider_request(db_path, shape):
    flags, expected = SHAPES[shape]
    ingest_bytes(db_path, dumps(request(shape())), "t.json")
    assert _flags(db_path) == flags
    assert _read(db_path) == expected


@pytest.mark.parametrize("order", ["child first", "parent first", "middle last"])
@pytest.mark.parametrize("shape", list(SHAPES), ids=lambda f: f.__name__)
def test_a_child_in_a_later_batch_ends_with_the_flags_of_one_batch(tmp_path, shape, order):
    spans = shape()
    one = str(tmp_path / "one.db")
    ingest_bytes(one, dumps(request(spans)), "all.json")
    split = str(tmp_path / "split.db")
    ordered = {"child first": spans[::-1], "parent first": spans,
               # the span between a wrapper and its call last: until it lands both look like calls
               "middle last": sorted(spans, key=lambda s: s["spanId"] == "4" * 16)}[order]
    for i, s in enumerate(ordered):
        ingest_bytes(split, dumps(request([s])), f"b{i}.json")
    assert _flags(split) == _flags(one)
    assert _read(split) == _read(one) == SHAPES[shape][1]


def _genai(span_id: str, parent: str, dur_ms: int) -> dict:
    return span(TRACE, span_id, "generate_content gemini-2.5-flash", {
        "gen_ai.operation.name": "generate_content", "gen_ai.system": "gemini",
        "gen_ai.request.model": "gemini-2.5-flash", "gen_ai.usage.input_tokens": 700,
        "gen_ai.usage.output_tokens": 12}, parent=parent, kind="SPAN_KIND_CLIENT", dur_ms=dur_ms)


def _call_llm(span_id: str, parent: str, dur_ms: int) -> dict:
    return span(TRACE, span_id, "call_llm", {
        "gen_ai.system": "gcp.vertex.agent", "gen_ai.request.model": "gemini-2.5-flash",
        "gcp.vertex.agent.llm_request": "{}", "gcp.vertex.agent.llm_response": "{}",
        "gen_ai.usage.input_tokens": 700, "gen_ai.usage.output_tokens": 12}, parent=parent, dur_ms=dur_ms)


def test_adk_call_llm_over_google_genai_samples_the_genai_calls(db_path):
    ingest_bytes(db_path, dumps(request([
        span(TRACE, "a" * 16, "invocation", {}, dur_ms=3000),
        _call_llm("c" * 16, "a" * 16, 1300), _genai("d" * 16, "c" * 16, 1200),
        _call_llm("f" * 16, "a" * 16, 900), _genai("9" * 16, "f" * 16, 800)], scope="gcp.vertex.agent")), "adk.json")
    db = connect(db_path)
    assert sorted(db.execute("SELECT span_id, llm_wrapper FROM spans WHERE kind = 'LLM'").fetchall()) == [
        ("9" * 16, None), ("c" * 16, 1), ("d" * 16, None), ("f" * 16, 1)]
    db.conn.close()
    assert _read(db_path)["llm_latency"] == [800.0, 1200.0]


@pytest.mark.parametrize("via", ["files", "receiver"])
@pytest.mark.parametrize("scenario,call", [("plain", "raw_gen_ai_request"), ("tools", "raw_gen_ai_request"),
                                           ("stream", "litellm_request")])
def test_litellm_capture_samples_raw_gen_ai_request(db_path, via, scenario, call):
    """litellm's own OTel callback: litellm_request over raw_gen_ai_request, one request each: one latency
    sample per request, the raw_gen_ai_request's (a streamed request sends litellm_request alone: it is
    the call)."""
    r = replay(db_path, via, "litellm_otel", scenario)
    db = connect(db_path)
    try:
        rows = db.execute("SELECT name, llm_wrapper, duration_ms FROM spans WHERE kind = 'LLM'").fetchall()
    finally:
        db.conn.close()
    calls = [d for n, w, d in rows if w is None]
    assert sorted(n for n, w, _ in rows if w is None) == [call] * sum(t["llm_calls"] for t in r.traces)
    assert sorted(n for n, w, _ in rows if w is not None) == (
        ["litellm_request"] * len(calls) if call == "raw_gen_ai_request" else [])
    assert _read(db_path)["llm_latency"] == sorted(float(d) for d in calls)


def test_the_migration_fills_the_flag_of_stored_traces(db_path):
    ingest_bytes(db_path, dumps(request(_wrapper_text_only())), "t.json")
    db = connect(db_path)
    db.execute("UPDATE spans SET llm_wrapper = NULL")
    db.conn.commit()
    llm_roles.m516_llm_wrapper(db)  # runs again over a filled column: the same flags
    db.conn.commit()
    assert "m516_llm_wrapper" in migrations.applied_names(db)
    db.conn.close()
    assert _flags(db_path) == {"ChatOpenAI": 2, "ChatCompletion": None}


@pytest.mark.parametrize("parents,kinds,texts,expected", [
    ({"w": None, "c": "w"}, {"w": "LLM", "c": "LLM"}, {"w": True, "c": True}, {"w": 1}),
    ({"w": None, "c": "w"}, {"w": "LLM", "c": "LLM"}, {"w": True, "c": False}, {"w": 2}),
    ({"w": None, "c": "w"}, {"w": "LLM", "c": "LLM"}, {"w": False, "c": False}, {"w": 1}),
    # three layers: the middle one holds the lowest text
    ({"a": None, "b": "a", "c": "b"}, {"a": "LLM", "b": "LLM", "c": "LLM"}, {"a": True, "b": True, "c": False},
     {"a": 1, "b": 2}),
    ({"a": "b", "b": "a"}, {"a": "LLM", "b": "LLM"}, {"a": True, "b": True}, {}),  # a cycle wraps nothing
    ({"x": None}, {"x": "LLM"}, {"x": True}, {}),
])
def test_roles(parents, kinds, texts, expected):
    assert llm_roles.roles(parents, kinds, texts) == expected


def _call_resent_as_chain() -> list[dict]:
    """_langchain_both_texts' provider call sent again as a CHAIN span (same id): ChatOpenAI is the trace's
    only LLM span now, so it is the call."""
    return [_chain("3" * 16, "2" * 16)]


AFTER_RESEND = {"llm_latency": [500.0], "ttft": [400.0], "llm_errors": [0.0], "refusal": [1.0],
                "output_length": [float(len(REFUSAL))], "input_length": [5.0]}


def test_a_wrapper_whose_call_is_resent_as_another_kind_is_a_call_again(db_path):
    ingest_bytes(db_path, dumps(request(_langchain_both_texts())), "a.json")
    report = ingest_bytes(db_path, dumps(request(_call_resent_as_chain())), "b.json")
    assert report.spans_replaced == 1
    assert _flags(db_path) == {"ChatOpenAI": None}
    assert _read(db_path) == AFTER_RESEND


def test_the_cli_ingest_of_both_files_clears_the_flag_too(tmp_path):
    """`tracedesk ingest` defers agent and multi-file traces to the recompute at each file's end (the path a
    recompute passes the traces holding two LLM spans to)."""
    from tracedesk.cli import main

    (tmp_path / "a.json").write_bytes(dumps(request(_langchain_both_texts())))
    (tmp_path / "b.json").write_bytes(dumps(request(_call_resent_as_chain())))
    db = str(tmp_path / "x.db")
    assert main(["ingest", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--db", db, "--quiet"]) == 0
    assert _flags(db) == {"ChatOpenAI": None}
    assert _read(db) == AFTER_RESEND


@pytest.mark.parametrize("repair", ["refresh_traces", "refresh_traces_sql"])
def test_the_full_recompute_clears_a_stale_flag(db_path, repair):
    """A flag left on a trace that holds one LLM span (e.g. written by an older version) is cleared by both
    recomputes, which pass only the traces with two LLM spans to be read again."""
    from tracedesk import store

    ingest_bytes(db_path, dumps(request(_langchain_both_texts()[:2])), "a.json")
    db = connect(db_path)
    with db.conn:
        db.execute("UPDATE spans SET llm_wrapper = 1 WHERE name = 'ChatOpenAI'")
    with db.conn:
        getattr(store, repair)(db, [TRACE])
    db.conn.close()
    assert _flags(db_path) == {"ChatOpenAI": None}
    assert _read(db_path)["llm_latency"] == [500.0]


#: drift's LLM columns (store.drift.llm_rows) -> the registered signal each must agree with
DRIFT_COLUMNS = {"refusal": "refusal", "output_length": "output_length", "input_length": "input_length"}


@pytest.mark.parametrize("shape", list(SHAPES), ids=lambda f: f.__name__)
def test_drift_reads_one_sample_per_provider_request(db_path, shape):
    from tracedesk.drift.load import load_llm, window_strides
    from tracedesk.drift.windows import Window
    from tracedesk.store import drift as drift_reads

    _flags_expected, expected = SHAPES[shape]
    ingest_bytes(db_path, dumps(request(shape())), "t.json")
    db = connect(db_path)
    try:
        lo, hi = drift_reads.data_bounds(db)
        ref, cur = Window(lo - 10, lo), Window(lo, hi + 1)
        frame = load_llm(db, None, ref, cur, window_strides(db, "LLM", ref, cur, 0))
    finally:
        db.conn.close()
    for column, signal in DRIFT_COLUMNS.items():
        assert sorted(frame[column].dropna().astype(float)) == expected[signal], column
    # a finish reason and a tool-call flag per call, none for a wrapper
    assert int(frame["tool_call"].notna().sum()) == len(expected["llm_latency"])
