"""LLM-client captures (real libraries, tests/captures/): OTel GenAI openai-v2 in its three modes and the
litellm OTel callback; through files and through the receiver.

The fake server answered call n with (100n+20 input, 10n+5 output, 64 cached if n odd, 4n reasoning)
and reports the snapshot `gpt-4o-mini-2024-07-18` for requests of `gpt-4o-mini`.
"""
from __future__ import annotations

import pytest
from captures_support import VIAS, mini_cost, replay

SNAPSHOT = "gpt-4o-mini-2024-07-18"
CALLS = [(120, 15, 64, 4), (220, 25, 0, 8), (320, 35, 64, 12), (420, 45, 0, 16), (520, 55, 64, 20)]
NOT_FOUND = "The model `gpt-missing` does not exist or you do not have access to it."


@pytest.fixture(params=VIAS)
def via(request):
    return request.param


# -- opentelemetry-instrumentation-openai-v2 ----------------------------------------------------------
# latest = 2.4b0 with gen_ai_latest_experimental (content on the span), legacy = 2.4b0 default (no content),
# events = 2.1b0 (content as 1.28-1.36 log events joined to the span).
V2_CONTENT = {"latest": True, "legacy": False, "events": True}


@pytest.mark.parametrize("mode", sorted(V2_CONTENT))
def test_openai_v2_plain_and_stream(db_path, via, mode):
    for scenario in ("plain", "stream"):
        r = replay(db_path, via, f"otel_openai_v2_{mode}", scenario)
        (llm,) = [s for s in r.spans if s["trace_id"] == r.traces[-1]["trace_id"]]
        assert (llm["name"], llm["kind"], llm["otel_kind"], llm["model"], llm["response_model"], llm["provider"]) == (
            "chat gpt-4o-mini", "LLM", "CLIENT", "gpt-4o-mini", SNAPSHOT, "openai")
        # openai-v2 sends input/output tokens only (no cached or reasoning attributes)
        assert r.tokens(llm) == (120, 15, None, None)
        assert (llm["cost_usd"], llm["cost_source"]) == (pytest.approx(mini_cost(120, 15)), "computed")
        assert llm["status"] != "ERROR" and llm["parent_span_id"] is None
        if V2_CONTENT[mode]:
            assert (llm["input_text"], llm["output_text"]) == ("What is the capital of France?",
                                                               "The capital of France is Paris.")
        else:
            assert (llm["input_text"], llm["output_text"]) == (None, None)
    assert len(r.traces) == 2  # plain and stream are one trace each


@pytest.mark.parametrize("mode", sorted(V2_CONTENT))
def test_openai_v2_tool_call_round_trip(db_path, via, mode):
    r = replay(db_path, via, f"otel_openai_v2_{mode}", "tools")
    first, second = r.llm()
    assert [r.tokens(s)[:2] for s in (first, second)] == [(120, 15), (220, 25)]
    assert {s["model"] for s in (first, second)} == {"gpt-4o-mini"}
    assert [s["cost_usd"] for s in (first, second)] == pytest.approx([mini_cost(120, 15), mini_cost(220, 25)])
    if V2_CONTENT[mode]:
        assert first["input_text"] == "What's the weather in Paris?"
        assert first["output_text"] == 'get_weather({"city": "Paris"})'
        assert second["input_text"] == '{"city": "Paris", "sky": "sunny", "c": 22}'
        assert second["output_text"] == "It is sunny and 22 °C in Paris."
    assert sum(t["input_tokens"] for t in r.traces) == 340


@pytest.mark.parametrize("mode", sorted(V2_CONTENT))
def test_openai_v2_error(db_path, via, mode):
    r = replay(db_path, via, f"otel_openai_v2_{mode}", "error")
    (llm,) = r.spans
    assert (llm["kind"], llm["status"], llm["model"], llm["response_model"]) == ("LLM", "ERROR", "gpt-missing", None)
    assert NOT_FOUND in llm["status_message"]
    assert (r.tokens(llm), llm["cost_usd"], llm["cost_source"]) == ((None,) * 4, None, "unknown")
    assert r.traces[0]["error_count"] == 1


# -- litellm callbacks = ["otel"] -------------------------------------------------------------------

def test_litellm_reported_cost_is_used_once(db_path, via):
    r = replay(db_path, via, "litellm_otel", "plain")
    request, raw = r.one("litellm_request"), r.one("raw_gen_ai_request")
    assert r.parent_name(raw) == "litellm_request" and len(r.spans) == 2
    assert (request["kind"], request["model"], request["response_model"], request["provider"]) == (
        "LLM", "gpt-4o-mini", SNAPSHOT, "openai")
    # tokens on the span; cached/reasoning only in litellm's Python-repr usage dicts
    assert r.tokens(request) == CALLS[0] and r.tokens(raw) == CALLS[0]
    # litellm's own gen_ai.cost.total_cost (it prices the cache read like the table does)
    assert (request["cost_usd"], request["cost_source"]) == (pytest.approx(mini_cost(120, 15, 64)), "reported")
    # the provider-call child repeats the same usage: the reported parent counts, the child does not
    assert (request["usage_counted"], raw["usage_counted"]) == (1, 0)
    (trace,) = r.traces
    assert (trace["input_tokens"], trace["output_tokens"], trace["cost_usd"]) == (
        120, 15, pytest.approx(mini_cost(120, 15, 64)))
    assert (request["input_text"], request["output_text"]) == ("What is the capital of France?",
                                                               "The capital of France is Paris.")
    assert (request["user_id"], request["session_id"]) == ("user-ll", None)


def test_litellm_tools_and_stream(db_path, via):
    r = replay(db_path, via, "litellm_otel", "tools")
    request, raw = r.one("litellm_request"), r.one("raw_gen_ai_request")
    # litellm's gen_ai.output.messages drops the tool call (empty parts); its raw child keeps the choices
    assert (request["output_text"], request["finish_reason"]) == (None, "tool_calls")
    assert raw["output_text"] == 'get_weather({"city": "Paris"})' and raw["input_text"] == "Weather in Paris?"
    assert (request["cost_source"], request["usage_counted"], r.counted()) == ("reported", 1, (120, 15))
    r = replay(db_path + ".stream.db", via, "litellm_otel", "stream")
    request = r.one("litellm_request")
    assert (request["model"], request["response_model"], r.tokens(request)) == (
        "gpt-4o-mini", "gpt-4o-mini", CALLS[0])  # litellm records the requested name on streams
    assert (request["cost_source"], request["usage_counted"]) == ("reported", 1)
    assert request["output_text"] == "The capital of France is Paris."


def test_litellm_error(db_path, via):
    r = replay(db_path, via, "litellm_otel", "error")
    (request,) = [s for s in r.spans if s["name"] == "litellm_request"]
    assert (request["kind"], request["status"], request["model"]) == ("LLM", "ERROR", "gpt-missing")
    assert "gpt-missing" in request["status_message"]
    assert (request["input_tokens"], request["cost_usd"]) == (None, None)


def test_litellm_async_fan_out_keeps_all_five_calls(db_path, via):
    """Five acompletion calls under one application span: litellm writes each call's attributes onto that
    span (the last one wins) and only the raw_gen_ai_request children keep every call's usage, as a
    Python-repr dict."""
    r = replay(db_path, via, "litellm_otel", "fanout")
    app = r.one("answer_batch")
    raws = r.named("raw_gen_ai_request")
    assert len(raws) == 5 and {r.parent_name(s) for s in raws} == {"answer_batch"}
    assert {s["kind"] for s in raws} == {"LLM"} and {s["model"] for s in raws} == {SNAPSHOT}
    assert sorted(r.tokens(s) for s in raws) == sorted(CALLS)
    assert sorted(s["cost_usd"] for s in raws) == pytest.approx(sorted(mini_cost(i, o, c) for i, o, c, _ in CALLS))
    assert {s["usage_counted"] for s in raws} == {1} and app["usage_counted"] == 0
    (trace,) = r.traces
    assert (trace["input_tokens"], trace["output_tokens"]) == (1600, 175)
    assert trace["cost_usd"] == pytest.approx(sum(mini_cost(i, o, c) for i, o, c, _ in CALLS))


# -- MLflow tracing (mlflow.openai.autolog + @mlflow.trace, OTLP export; values JSON-quoted) ---------

def test_mlflow_autolog_chat(db_path, via):
    r = replay(db_path, via, "mlflow", "plain")
    (llm,) = r.spans
    # `model` is the JSON-quoted request kwarg ("\"gpt-4o-mini\""), mlflow.llm.model the response's
    assert (llm["name"], llm["kind"], llm["model"], llm["response_model"]) == ("Completions", "LLM", "gpt-4o-mini",
                                                                               SNAPSHOT)
    # usage only in the mlflow.chat.tokenUsage JSON (no reasoning field)
    assert r.tokens(llm) == (120, 15, 64, None)
    assert (llm["cost_usd"], llm["cost_source"]) == (pytest.approx(mini_cost(120, 15, 64)), "computed")
    assert (llm["input_text"], llm["output_text"]) == ("What is the capital of France?",
                                                       "The capital of France is Paris.")


def test_mlflow_agent_with_retriever_and_tool(db_path, via):
    r = replay(db_path, via, "mlflow", "agent")
    assert r.kinds() == [("travel_agent", "AGENT"), ("search_guides", "RETRIEVER"), ("Completions", "LLM"),
                         ("get_weather", "TOOL"), ("Completions", "LLM")]
    assert {r.parent_name(s) for s in r.spans[1:]} == {"travel_agent"}
    assert r.one("travel_agent")["agent_name"] == "travel_agent"
    retriever = r.one("search_guides")
    assert retriever["retrieved_doc_ids"] == '["doc-7"]'
    assert retriever["documents"] == '[{"id":"doc-7","content":"Paris in spring: mild and sunny.","metadata":{"score":0.82}}]'
    tool = r.one("get_weather")
    assert (tool["tool_name"], tool["tool_arguments"], tool["tool_result"]) == (
        "get_weather", '{"city":"Paris"}', '{"city":"Paris","sky":"sunny","c":22}')
    first, second = r.llm()
    assert [r.tokens(s) for s in (first, second)] == [(120, 15, 64, None), (220, 25, 0, None)]
    assert first["output_text"] == 'get_weather({"city": "Paris"})'
    assert second["output_text"] == "It is sunny and 22 °C in Paris; pack sunglasses."
    assert r.counted() == (340, 40)


def test_mlflow_error(db_path, via):
    r = replay(db_path, via, "mlflow", "error")
    (llm,) = r.spans
    assert (llm["kind"], llm["status"], llm["model"], llm["input_tokens"]) == ("LLM", "ERROR", "gpt-missing", None)
    assert NOT_FOUND.split(" or ")[0].rstrip(".") in llm["status_message"]


# -- Langfuse Python SDK (OTel-based): @observe + langfuse.openai; gzip-compressed OTLP bodies ---------

def test_langfuse_agent_tool_generations(db_path, via):
    r = replay(db_path, via, "langfuse", "generation")
    assert r.kinds() == [("weather_agent", "AGENT"), ("OpenAI-generation", "LLM"), ("get_weather", "TOOL"),
                         ("OpenAI-generation", "LLM")]
    agent = r.one("weather_agent")
    assert (agent["agent_name"], agent["input_text"], agent["output_text"]) == (
        "weather_agent", "What's the weather in Paris?", "It is sunny and 22 °C in Paris.")
    first, second = r.llm()
    # usage_details is OpenAI's raw usage: cached/reasoning from its nested *_tokens_details
    assert [r.tokens(s) for s in (first, second)] == [(120, 15, 64, 4), (220, 25, 0, 8)]
    assert {s["model"] for s in (first, second)} == {SNAPSHOT}  # the drop-in records the response's model
    assert [s["cost_usd"] for s in (first, second)] == pytest.approx([mini_cost(120, 15, 64), mini_cost(220, 25)])
    assert (first["input_text"], first["output_text"]) == ("What's the weather in Paris?",
                                                           'get_weather({"city": "Paris"})')
    assert second["input_text"] == '{"city": "Paris", "sky": "sunny", "c": 22}'
    tool = r.one("get_weather")
    assert (tool["tool_name"], tool["tool_arguments"], tool["tool_result"]) == (
        "get_weather", '{"args": [], "kwargs": {"city": "Paris"}}', '{"city": "Paris", "sky": "sunny", "c": 22}')
    assert {(s["session_id"], s["user_id"]) for s in r.spans} == {("session-lf", "user-lf")}
    assert r.counted() == (340, 40)


def test_langfuse_stream_ttft(db_path, via):
    r = replay(db_path, via, "langfuse", "stream")
    (llm,) = r.spans
    assert (r.tokens(llm), llm["output_text"]) == ((120, 15, 64, 4), "The capital of France is Paris.")
    # langfuse.observation.completion_start_time - span start
    assert 0 < llm["ttft_ms"] < llm["duration_ms"]


# -- Semantic Kernel (GenAI diagnostics on; content as log records) ----------------------------------

def test_semantic_kernel_chat_and_function_calling(db_path, via):
    r = replay(db_path, via, "semantic_kernel", "tools")
    names = [(n if not n.startswith("execute_tool ") or "weather" in n else "execute_tool <prompt function>", k)
             for n, k in r.kinds()]
    assert names == [("execute_tool <prompt function>", "TOOL"), ("AutoFunctionInvocationLoop", "UNKNOWN"),
                     ("chat gpt-4o-mini", "LLM"), ("execute_tool weather-get_weather", "TOOL"),
                     ("chat gpt-4o-mini", "LLM")]
    first, second = r.llm()
    assert {(s["model"], s["response_model"], s["provider"]) for s in (first, second)} == {
        ("gpt-4o-mini", None, "openai")}  # SK sends no response model
    assert [r.tokens(s) for s in (first, second)] == [(120, 15, None, None), (220, 25, None, None)]
    assert [s["finish_reason"] for s in (first, second)] == ["tool_calls", "stop"]
    assert (first["input_text"], first["output_text"]) == ("What's the weather in Paris?",
                                                           'weather-get_weather({"city": "Paris"})')
    assert second["output_text"] == "It is sunny and 22 °C in Paris."
    tool = r.one("execute_tool weather-get_weather")
    assert (tool["tool_name"], tool["tool_arguments"], tool["tool_result"], r.parent_name(tool)) == (
        "weather-get_weather", '{"city": "Paris"}', '{"city": "Paris", "sky": "sunny", "c": 22}',
        "AutoFunctionInvocationLoop")
    assert [s["cost_usd"] for s in (first, second)] == pytest.approx([mini_cost(120, 15), mini_cost(220, 25)])
    assert r.counted() == (340, 40)


# -- the openai client traced by OpenInference / OpenLLMetry: stream TTFT, embeddings --------------
CLIENTS = {"openinference": ("ChatCompletion", "First Token Stream Event", "CreateEmbeddings"),
           "traceloop": ("openai.chat", "gen_ai.content.completion.chunk", "openai.embeddings")}


@pytest.mark.parametrize("instr", sorted(CLIENTS))
def test_openai_client_stream_ttft_from_the_first_chunk_event(db_path, via, instr):
    chat_name, event, _ = CLIENTS[instr]
    r = replay(db_path, via, f"openai_{instr}", "stream")
    llm = r.one(chat_name)
    assert (llm["kind"], llm["model"], llm["response_model"], llm["provider"]) == ("LLM", "gpt-4o-mini", SNAPSHOT,
                                                                                  "openai")
    assert r.tokens(llm)[:3] == (120, 15, 64)
    assert llm["output_text"] == "The capital of France is Paris."
    first = min(e["time_ns"] for e in __import__("json").loads(llm["events"]) if e["name"] == event)
    assert llm["ttft_ms"] == pytest.approx((first - llm["start_ns"]) / 1e6)
    assert 0 < llm["ttft_ms"] < llm["duration_ms"]


@pytest.mark.parametrize("instr", sorted(CLIENTS))
def test_openai_client_embeddings_store_no_vectors(db_path, via, instr):
    r = replay(db_path, via, f"openai_{instr}", "embeddings")
    emb = r.one(CLIENTS[instr][2])
    assert (emb["kind"], emb["model"], emb["input_tokens"], emb["output_tokens"]) == (
        "EMBEDDING", "text-embedding-3-small", 16, None)
    assert emb["output_text"] is None  # the vectors (OpenInference: in output.value) are not text
    assert emb["cost_usd"] == pytest.approx(16 * 2e-8) and emb["cost_source"] == "computed"
    if instr == "openinference":
        assert emb["input_text"] == "refund policy\nshipping times"


# -- OpenLIT (openlit.init; its price list cannot load offline, so it reports cost 0) ----------------

def test_openlit_stream_plain_and_zero_cost(db_path, via):
    r = replay(db_path, via, "openlit", "stream")
    (llm,) = r.spans
    assert (llm["kind"], llm["otel_kind"], llm["model"], llm["response_model"], llm["provider"]) == (
        "LLM", "CLIENT", "gpt-4o-mini", SNAPSHOT, "openai")
    assert r.tokens(llm) == (120, 15, 64, None)
    # gen_ai.usage.cost = 0 contradicts gpt-4o-mini's known price: computed instead
    assert (llm["cost_usd"], llm["cost_source"]) == (pytest.approx(mini_cost(120, 15, 64)), "computed")
    attrs = __import__("json").loads(llm["attributes"])
    assert llm["ttft_ms"] == pytest.approx(attrs["gen_ai.server.time_to_first_token"] * 1000)
    r = replay(db_path + ".plain.db", via, "openlit", "plain")
    (plain,) = r.spans
    # OpenLIT sends a time_to_first_token on calls that were not streamed: that is latency, not TTFT
    assert __import__("json").loads(plain["attributes"])["gen_ai.request.stream"] is False
    assert plain["ttft_ms"] is None
    assert (plain["input_text"], plain["output_text"]) == ("What is the capital of France?",
                                                           "The capital of France is Paris.")


def test_openlit_tools(db_path, via):
    r = replay(db_path, via, "openlit", "tools")
    first, second = sorted(r.llm(), key=lambda s: s["start_ns"])
    assert [r.tokens(s)[:3] for s in (first, second)] == [(120, 15, 64), (220, 25, 0)]
    assert first["output_text"] == 'get_weather({"city": "Paris"})'
    assert (second["input_text"], second["output_text"]) == ('{"city": "Paris", "sky": "sunny"}',
                                                             "It is sunny and 22 °C in Paris.")
    assert {s["environment"] for s in (first, second)} == {"capture"}  # deployment.environment


# -- Genkit (JS; model and usage only inside genkit:* attributes) -------------------------------------

@pytest.mark.parametrize("scenario", ["flow", "tools"])
def test_genkit_model_and_usage_from_genkit_attributes(db_path, via, scenario):
    r = replay(db_path, via, "genkit", scenario)
    expected = [("supportFlow", "CHAIN"), ("generate", "CHAIN"), ("openai/gpt-4o-mini", "LLM")]
    if scenario == "tools":
        expected += [("get_weather", "TOOL"), ("generate", "CHAIN"), ("openai/gpt-4o-mini", "LLM")]
    assert r.kinds() == expected
    llm = r.llm()
    assert {(s["model"], s["provider"]) for s in llm} == {("openai/gpt-4o-mini", "openai")}
    assert [r.tokens(s)[:2] for s in llm] == [(120, 15), (220, 25)][: len(llm)]
    assert [s["cost_usd"] for s in llm] == pytest.approx([mini_cost(120, 15), mini_cost(220, 25)][: len(llm)])
    # the `generate` wrappers repeat usage in their own genkit:output: never read
    assert {s["input_tokens"] for s in r.named("generate")} == {None}
    assert r.counted() == ((120, 15) if scenario == "flow" else (340, 40))
    if scenario == "tools":
        assert llm[0]["output_text"] == 'get_weather({"city": "Paris"})'
        tool = r.one("get_weather")
        assert (tool["tool_arguments"], tool["tool_result"]) == ('{"city":"Paris"}', '{"city":"Paris","sky":"sunny","c":22}')
    assert llm[-1]["output_text"] == ("The capital of France is Paris." if scenario == "flow"
                                      else "It is sunny and 22 °C in Paris.")


# -- LangSmith SDK in OTel mode (@traceable + wrap_openai) -------------------------------------------

def test_langsmith_chain_and_llm(db_path, via):
    r = replay(db_path, via, "langsmith", "chain")
    assert r.kinds() == [("answer", "CHAIN"), ("ChatOpenAI", "LLM")]
    chain, llm = r.spans
    assert (llm["model"], llm["response_model"], llm["provider"]) == ("gpt-4o-mini", SNAPSHOT, "openai")
    # cached / reasoning only inside langsmith.metadata.usage_metadata (LangChain's usage shape)
    assert r.tokens(llm) == (120, 15, 64, 4)
    assert llm["cost_usd"] == pytest.approx(mini_cost(120, 15, 64))
    # gen_ai.completion is the raw {"choices": ...} response: reduced to its text
    assert (llm["input_text"], llm["output_text"]) == ("What is the capital of France?",
                                                       "The capital of France is Paris.")
    assert chain["output_text"] == "The capital of France is Paris."  # {"output": ...} of @traceable
    assert {(s["session_id"], s["user_id"]) for s in r.spans} == {("session-ls", "user-ls")}
