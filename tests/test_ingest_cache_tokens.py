"""Prompt-cache reads and writes, per convention: one stored meaning (input includes both), exact costs.

One Anthropic call throughout: claude-sonnet-4-5 sent 5,000 input tokens, of which 3,000 were read from the
prompt cache and 800 written to it (Anthropic's API reports input_tokens=1200, cache_read_input_tokens=3000,
cache_creation_input_tokens=800), and answered 150 tokens. Each payload below carries those counts the way
that instrumentation writes them (see token_usage's module doc for the code each shape was read from).

Price (litellm's table and the snapshot agree): 3 $/M input, 0.30 $/M cache read, 3.75 $/M cache write
(1.25x input, the 5-minute cache), 15 $/M output.
"""
from __future__ import annotations

import json

import pytest
from _ingest_util import TRACE, dumps, request, span

from tracedesk.ingest import ingest_bytes, parse_bytes
from tracedesk.ingest import pricing

MODEL = "claude-sonnet-4-5"
#: 1,200 uncached + 3,000 read + 800 written + 150 out
COST = 1200 * 3e-6 + 3000 * 3e-7 + 800 * 3.75e-6 + 150 * 1.5e-5
ANTHROPIC_USAGE = {"input_tokens": 1200, "output_tokens": 150, "cache_creation_input_tokens": 800,
                   "cache_read_input_tokens": 3000,
                   "cache_creation": {"ephemeral_5m_input_tokens": 800, "ephemeral_1h_input_tokens": 0},
                   "service_tier": "standard"}


def one(attrs, scope="test", name="call"):
    result = parse_bytes(dumps(request([span(TRACE, "c" * 16, name, attrs, kind="SPAN_KIND_CLIENT")],
                                       scope=scope)), "t.json")
    assert result.rejected == [] and len(result.spans) == 1
    return result.spans[0]


def usage(s):
    return (s.input_tokens, s.cached_tokens, s.cache_write_tokens, s.output_tokens, s.total_tokens)


def test_the_price_table_has_the_cache_write_price():
    entry = pricing.lookup(MODEL, "anthropic")
    assert entry is not None
    assert (entry["input_cost_per_token"], entry["cache_read_input_token_cost"],
            entry["cache_creation_input_token_cost"], entry["output_cost_per_token"]) == (3e-6, 3e-7, 3.75e-6, 1.5e-5)
    with open(pricing.snapshot_path()) as fh:
        assert json.load(fh)[MODEL]["cache_creation_input_token_cost"] == 3.75e-6


def test_cache_writes_are_charged_at_the_write_price_once():
    assert pricing.compute_cost(MODEL, "anthropic", 5000, 150, cached_tokens=3000,
                                cache_write_tokens=800) == pytest.approx(COST, rel=1e-12)
    # more cache counts than input (a broken emitter): never a negative uncached part
    assert pricing.compute_cost(MODEL, "anthropic", 1000, 0, cached_tokens=900,
                                cache_write_tokens=800) == pytest.approx(900 * 3e-7 + 100 * 3.75e-6, rel=1e-12)
    # a table without a cache-write price (OpenAI: writes are not billed apart) charges the input price
    gpt = pricing.lookup("gpt-4o", "openai")
    assert gpt is not None and "cache_creation_input_token_cost" not in gpt
    assert pricing.compute_cost("gpt-4o", "openai", 1000, 0, cache_write_tokens=300) == pytest.approx(
        1000 * gpt["input_cost_per_token"], rel=1e-12)


@pytest.mark.parametrize("convention, scope, attrs", [
    # OpenLLMetry's Anthropic instrumentor: input = input + cache reads + writes, total = input + output,
    # the cache counts under the OTel incubating names
    ("openllmetry", "opentelemetry.instrumentation.anthropic", {
        "gen_ai.system": "Anthropic", "llm.request.type": "chat", "gen_ai.request.model": MODEL,
        "gen_ai.response.model": "claude-sonnet-4-5-20250929", "gen_ai.usage.input_tokens": 5000,
        "gen_ai.usage.output_tokens": 150, "llm.usage.total_tokens": 5150,
        "gen_ai.usage.cache_read.input_tokens": 3000, "gen_ai.usage.cache_creation.input_tokens": 800}),
    # ... and its earlier releases: prompt_tokens and the flat Traceloop cache names, same counting
    ("openllmetry", "opentelemetry.instrumentation.anthropic", {
        "gen_ai.system": "Anthropic", "llm.request.type": "chat", "gen_ai.request.model": MODEL,
        "gen_ai.usage.prompt_tokens": 5000, "gen_ai.usage.completion_tokens": 150, "llm.usage.total_tokens": 5150,
        "gen_ai.usage.cache_read_input_tokens": 3000, "gen_ai.usage.cache_creation_input_tokens": 800}),
    # OpenInference's Anthropic instrumentor: prompt = input + cache_creation + cache_read
    ("openinference", "openinference.instrumentation.anthropic", {
        "openinference.span.kind": "LLM", "llm.system": "anthropic", "llm.provider": "anthropic",
        "llm.model_name": MODEL, "llm.token_count.prompt": 5000, "llm.token_count.completion": 150,
        "llm.token_count.total": 5150, "llm.token_count.prompt_details.cache_read": 3000,
        "llm.token_count.prompt_details.cache_write": 800}),
    # the OTel contrib Anthropic instrumentation (v1.40 names)
    ("otel_genai", "opentelemetry.instrumentation.anthropic", {
        "gen_ai.operation.name": "chat", "gen_ai.system": "anthropic", "gen_ai.request.model": MODEL,
        "gen_ai.usage.input_tokens": 5000, "gen_ai.usage.output_tokens": 150,
        "gen_ai.usage.cache_creation.input_tokens": 800, "gen_ai.usage.cache_read.input_tokens": 3000}),
    # the latest GenAI names (cache_creation renamed cache_write)
    ("otel_genai", "test", {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.request.model": MODEL,
        "gen_ai.usage.input_tokens": 5000, "gen_ai.usage.output_tokens": 150,
        "gen_ai.usage.cache_write.input_tokens": 800, "gen_ai.usage.cache_read.input_tokens": 3000}),
    # Logfire's instrument_anthropic: the input total only; the cache counts are in gen_ai.usage.raw (the
    # Anthropic usage object, as JSON)
    ("pydantic_ai", "logfire", {
        "logfire.span_type": "span", "logfire.msg_template": "Message with {request_data[model]!r}",
        "logfire.msg": f"Message with {MODEL!r}", "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic", "gen_ai.system": "anthropic", "gen_ai.request.model": MODEL,
        "gen_ai.response.model": "claude-sonnet-4-5-20250929", "gen_ai.usage.input_tokens": 5000,
        "gen_ai.usage.output_tokens": 150, "gen_ai.usage.raw": json.dumps(ANTHROPIC_USAGE)}),
    # Pydantic AI: input_tokens includes the cache; its own cache counts and the Anthropic fields in details
    ("pydantic_ai", "pydantic-ai", {
        "gen_ai.operation.name": "chat", "gen_ai.system": "anthropic", "gen_ai.request.model": MODEL,
        "gen_ai.usage.input_tokens": 5000, "gen_ai.usage.output_tokens": 150,
        "gen_ai.usage.details.cache_write_tokens": 800, "gen_ai.usage.details.cache_read_tokens": 3000,
        "gen_ai.usage.details.cache_creation_input_tokens": 800, "gen_ai.usage.details.cache_read_input_tokens": 3000,
        "gen_ai.usage.details.input_tokens": 1200, "gen_ai.usage.details.output_tokens": 150}),
    # Vercel AI SDK v6 (LanguageModelV3 usage: inputTokens.total = noCache + cacheRead + cacheWrite)
    ("vercel_ai", "ai", {
        "ai.operationId": "ai.generateText.doGenerate", "ai.model.provider": "anthropic.messages",
        "ai.model.id": MODEL, "ai.usage.inputTokens": 5000, "ai.usage.inputTokenDetails.noCacheTokens": 1200,
        "ai.usage.inputTokenDetails.cacheReadTokens": 3000, "ai.usage.inputTokenDetails.cacheWriteTokens": 800,
        "ai.usage.outputTokens": 150, "ai.usage.totalTokens": 5150, "ai.usage.cachedInputTokens": 3000,
        "gen_ai.usage.input_tokens": 5000, "gen_ai.usage.output_tokens": 150}),
    # AI SDK 5 (LanguageModelV2) on Anthropic: inputTokens is Anthropic's input_tokens, totalTokens = that +
    # output, the writes only in the provider metadata
    ("vercel_ai", "ai", {
        "ai.operationId": "ai.streamText.doStream", "ai.model.provider": "anthropic.messages", "ai.model.id": MODEL,
        "ai.usage.inputTokens": 1200, "ai.usage.outputTokens": 150, "ai.usage.totalTokens": 1350,
        "ai.usage.cachedInputTokens": 3000, "gen_ai.system": "anthropic.messages", "gen_ai.request.model": MODEL,
        "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 150,
        "ai.response.providerMetadata": json.dumps({"anthropic": {"cacheCreationInputTokens": 800,
                                                                  "usage": ANTHROPIC_USAGE}})}),
    # Langfuse usage_details: disjoint usage types (its LangChain handler subtracts input_token_details)
    ("langfuse", "langfuse-sdk", {
        "langfuse.observation.type": "generation", "langfuse.observation.model.name": MODEL,
        "langfuse.observation.usage_details": json.dumps({"input": 1200, "output": 150, "input_cache_read": 3000,
                                                          "input_cache_creation": 800})}),
    # OpenLLMetry-shaped span copying Anthropic's own counts, with a total that adds the cache back
    ("openllmetry", "opentelemetry.instrumentation.anthropic", {
        "gen_ai.system": "Anthropic", "llm.request.type": "chat", "gen_ai.request.model": MODEL,
        "gen_ai.usage.prompt_tokens": 1200, "gen_ai.usage.completion_tokens": 150, "llm.usage.total_tokens": 5150,
        "gen_ai.usage.cache_read_input_tokens": 3000, "gen_ai.usage.cache_creation_input_tokens": 800}),
    # a span that carries only Anthropic's usage object, as the API returned it (Logfire's gen_ai.usage.raw
    # without the input attribute beside it): Anthropic's counting, input without the cache
    ("pydantic_ai", "logfire", {
        "logfire.span_type": "span", "gen_ai.operation.name": "chat", "gen_ai.system": "anthropic",
        "gen_ai.request.model": MODEL, "gen_ai.usage.raw": json.dumps(ANTHROPIC_USAGE)}),
])
def test_every_convention_stores_input_with_the_cache_inside(convention, scope, attrs):
    s = one(attrs, scope=scope)
    assert s.convention == convention
    assert usage(s) == (5000, 3000, 800, 150, 5150)
    assert (s.cost_usd, s.cost_source) == (pytest.approx(COST, rel=1e-12), "computed")


def test_anthropic_counts_with_a_small_cached_prefix_are_completed_by_the_total():
    """Anthropic's own counts copied as is (3,000 uncached after a 500-token cached prefix), with a total
    that adds the cache: the earlier rule (reads > input) left input at 3,000."""
    s = one({"gen_ai.system": "Anthropic", "llm.request.type": "chat", "gen_ai.request.model": MODEL,
             "gen_ai.usage.prompt_tokens": 3000, "gen_ai.usage.completion_tokens": 100,
             "llm.usage.total_tokens": 3600, "gen_ai.usage.cache_read_input_tokens": 500,
             "gen_ai.usage.cache_creation_input_tokens": 0}, scope="opentelemetry.instrumentation.anthropic")
    assert usage(s) == (3500, 500, 0, 100, 3600)
    assert s.cost_usd == pytest.approx(3000 * 3e-6 + 500 * 3e-7 + 100 * 1.5e-5, rel=1e-12)


def test_a_cache_write_larger_than_the_input_proves_the_input_left_it_out():
    # the first call of a session: everything but the question written to the cache, no total sent
    s = one({"gen_ai.operation.name": "chat", "gen_ai.system": "anthropic", "gen_ai.request.model": MODEL,
             "gen_ai.usage.input_tokens": 40, "gen_ai.usage.output_tokens": 10,
             "gen_ai.usage.cache_creation.input_tokens": 2400, "gen_ai.usage.cache_read.input_tokens": 0})
    assert usage(s) == (2440, 0, 2400, 10, 2450)


def test_inclusive_counts_with_reads_smaller_than_the_rest_stay_as_sent():
    # OpenAI through OTel GenAI: 1,000 input of which 200 cached; nothing says input left them out
    s = one({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
             "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100,
             "gen_ai.usage.cache_read.input_tokens": 200})
    assert usage(s) == (1000, 200, None, 100, 1100)
    # and a total equal to input + output, as an inclusive input gives, with reads present: unchanged
    s = one({"gen_ai.system": "Anthropic", "llm.request.type": "chat", "gen_ai.request.model": MODEL,
             "gen_ai.usage.input_tokens": 3500, "gen_ai.usage.output_tokens": 100, "llm.usage.total_tokens": 3600,
             "gen_ai.usage.cache_read.input_tokens": 500}, scope="opentelemetry.instrumentation.anthropic")
    assert usage(s) == (3500, 500, None, 100, 3600)


def test_flat_records_carry_cache_writes(tmp_path):
    line = {"conversation_id": "conv-7", "span_id": "turn-1", "name": "answer", "model": MODEL,
            "provider": "anthropic", "start_time": "2026-11-30T10:00:00Z", "duration_ms": 1800,
            "input_tokens": 5000, "output_tokens": 150, "cached_tokens": 3000, "cache_write_tokens": 800}
    result = parse_bytes(json.dumps(line).encode() + b"\n", "f.jsonl")
    assert result.rejected == []
    s = result.spans[0]
    assert usage(s) == (5000, 3000, 800, 150, 5150)
    assert s.cost_usd == pytest.approx(COST, rel=1e-12)


def test_cache_writes_are_stored_and_shown_in_the_span_frames(tmp_path):
    from tracedesk import Workspace
    from tracedesk.store import connect

    db_path = str(tmp_path / "t.db")
    body = dumps(request([span(TRACE, "c" * 16, "anthropic.chat", {
        "gen_ai.system": "Anthropic", "llm.request.type": "chat", "gen_ai.request.model": MODEL,
        "gen_ai.usage.input_tokens": 5000, "gen_ai.usage.output_tokens": 150, "llm.usage.total_tokens": 5150,
        "gen_ai.usage.cache_read.input_tokens": 3000, "gen_ai.usage.cache_creation.input_tokens": 800},
        kind="SPAN_KIND_CLIENT")], scope="opentelemetry.instrumentation.anthropic"))
    report = ingest_bytes(db_path, body, "t.json")
    assert report.rejected == [] and report.spans_inserted == 1
    db = connect(db_path)
    assert db.execute("SELECT input_tokens, cached_tokens, cache_write_tokens, total_tokens FROM spans").fetchone() == (
        5000, 3000, 800, 5150)
    assert db.execute("SELECT input_tokens, total_tokens FROM traces").fetchone() == (5000, 5150)
    assert db.execute("SELECT cost_usd FROM spans").fetchone()[0] == pytest.approx(COST, rel=1e-12)
    db.conn.close()
    again = ingest_bytes(db_path, body, "copy.json")
    assert (again.spans_inserted, again.spans_unchanged) == (0, 1)
    ws = Workspace(db_path)
    frame = ws.trace(TRACE)
    assert frame.loc[0, ["cached_tokens", "cache_write_tokens"]].tolist() == [3000, 800]


def test_the_trace_page_shows_cache_reads_and_writes_as_parts_of_the_input():
    from tracedesk.app import ui

    assert ui.usage_breakdown({"input_tokens": 5000, "cached_tokens": 3000, "cache_write_tokens": 800,
                               "output_tokens": 150, "reasoning_tokens": None}) == (
        "input 5,000 (cache read 3,000 · cache write 800) · output 150")
    assert ui.usage_breakdown({"input_tokens": 1000, "cached_tokens": 0, "cache_write_tokens": float("nan"),
                               "output_tokens": 90, "reasoning_tokens": 40}) == "input 1,000 · output 90 (reasoning 40)"
    assert ui.usage_breakdown({"input_tokens": None, "output_tokens": None}) is None
