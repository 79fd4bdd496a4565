"""The readers and per-trace rules written for real libraries' behaviour, on inputs beyond the captures."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tracedesk.ingest.realworld import (blob_text, canonical_provider, is_vector_text, model_provider, plain_model,
                                        python_literal, requested_model)
from tracedesk.ingest.trace_links import LinkRow, UsageRow, prefer_reported, resolve_links


def test_one_provider_spelling():
    spellings = {"OpenAI": "openai", "openai.responses": "openai", "openai.chat": "openai", "gcp.gemini": "gcp.gemini",
                 "google": "gcp.gemini", "Gemini": "gcp.gemini", "vertex_ai": "gcp.vertex_ai",
                 "amazon-bedrock": "aws.bedrock", "Anthropic": "anthropic", "mistral.chat": "mistral_ai",
                 "SomeNewLab": "somenewlab", '"OpenAI"': "openai"}
    assert {k: canonical_provider(k) for k in spellings} == spellings
    assert canonical_provider(None) is None and canonical_provider("") is None


def test_provider_from_the_model_alone():
    """The price table's provider for the model (litellm's `litellm_provider`), in the one canonical spelling,
    whatever litellm calls the model family; a Bedrock id by its shape; any other model: unknown."""
    models = {
        "claude-sonnet-4-5-20250929": "anthropic", "gpt-4o-mini": "openai", "openai/gpt-4o-mini": "openai",
        "gpt-4o-mini-2024-07-18": "openai",
        "gemini-2.5-flash": "gcp.vertex_ai",  # vertex_ai-language-models
        "gemini-embedding-001": "gcp.vertex_ai",  # vertex_ai-embedding-models
        "gemini/gemini-2.5-flash": "gcp.gemini",
        "davinci-002": "openai",  # text-completion-openai
        "command-a-03-2025": "cohere",  # cohere_chat
        "us.anthropic.claude-sonnet-4-20250514-v1:0": "aws.bedrock",
        "acme-finetune-7": None, "": None, None: None,
    }
    assert {m: model_provider(m) for m in models} == models


def test_mlflow_json_quoted_model_loses_its_quotes():
    assert plain_model('"gpt-4o-mini"') == "gpt-4o-mini"
    assert plain_model("gpt-4o-mini") == "gpt-4o-mini"
    assert plain_model('""') is None


def test_openinference_requested_model_from_invocation_parameters():
    attrs = {"llm.model_name": "gpt-4o-mini-2024-07-18", "llm.invocation_parameters": '{"model": "gpt-4o-mini"}'}
    assert requested_model(attrs, "openinference") == "gpt-4o-mini"
    assert requested_model({"metadata": {"ls_model_name": "claude-sonnet-4-5"}}, "openinference") == "claude-sonnet-4-5"
    assert requested_model(attrs, "otel_genai") is None  # other conventions name the request model themselves


def test_python_repr_is_read_as_data_never_run():
    assert python_literal("{'prompt_tokens': 12, 'details': {'cached_tokens': None}}") == {
        "prompt_tokens": 12, "details": {"cached_tokens": None}}
    assert python_literal("{'a': __import__('os').system('echo hi')}") is None
    assert python_literal("[" * 100_000) is None  # over the size limit: not parsed
    assert python_literal("not a dict") is None


def test_blob_shapes_reduce_to_text():
    assert blob_text({"choices": [{"message": {"role": "assistant", "content": "Hi."}}]}) == "Hi."
    assert blob_text({"object": "response", "output": [{"type": "message", "content": [
        {"type": "output_text", "text": "Paris."}]}]}) == "Paris."
    assert blob_text({"generations": [[{"text": "Done."}]]}) == "Done."
    assert blob_text({"messages": [{"type": "ai", "data": {"content": "", "tool_calls": [
        {"name": "search", "args": {"q": "x"}}]}}]}) == 'search({"q": "x"})'
    assert blob_text({"unrelated": 1}) is None
    assert is_vector_text("[0.1, 0.2, 0.3]") and is_vector_text('{"embeddings": [[0.1, 0.2]]}')
    assert not is_vector_text('["a", "b"]') and not is_vector_text("0.1 0.2")


def _row(sid, parent=None, kind="CHAIN", agent=None, inferred=False, start=0, hf=None, ht=None):
    return LinkRow(sid, parent, kind, agent, inferred, start, start + 10, hf, ht)


def test_wrapper_is_demoted_only_above_a_named_agent():
    rows = [_row("root", kind="AGENT", agent="Customer support", inferred=True),
            _row("a", "root", "AGENT", "Triage", start=1), _row("b", "root", "AGENT", "Billing", start=5, hf="Triage",
                                                                   ht="Billing")]
    assert resolve_links(rows).demoted == ["root"]
    # a supervisor whose sub-agents are also only named by their spans stays an agent
    alone = [_row("root", kind="AGENT", agent="manager", inferred=True),
             _row("a", "root", "AGENT", "worker", inferred=True, start=1)]
    assert resolve_links(alone).demoted == []


def test_missing_handoff_sides_are_resolved_from_the_trace():
    rows = [_row("t", kind="AGENT", agent="Triage"), _row("h", "t", "TOOL", "Triage", start=2, hf="Triage"),
            _row("b", None, "AGENT", "Billing", start=5)]
    assert resolve_links(rows).handoffs == {"h": ("Triage", "Billing")}
    graph = [_row("g"), _row("r1", "g", "AGENT", "researcher", start=1, ht="researcher"),
             _row("tools", "g", start=3), _row("r2", "g", "AGENT", "researcher", start=4, ht="researcher"),
             _row("w", "g", "AGENT", "writer", start=8, ht="writer")]
    assert resolve_links(graph).handoffs == {"w": ("researcher", "writer")}
    spelled = [_row("t", kind="AGENT", agent="Billing Desk"), _row("x", None, "TOOL", start=0, hf="Triage",
                                                                    ht="transfer_to_billing_desk")]
    assert resolve_links(spelled).handoffs == {"x": ("Triage", "Billing Desk")}


rows_strategy = st.lists(st.builds(
    _row, st.sampled_from("abcdefgh"), st.one_of(st.none(), st.sampled_from("abcdefghz")),
    st.sampled_from(["AGENT", "CHAIN", "TOOL", "LLM"]), st.one_of(st.none(), st.sampled_from(["A", "B", "C"])),
    st.booleans(), st.integers(0, 50), st.one_of(st.none(), st.sampled_from(["A", "B"])),
    st.one_of(st.none(), st.sampled_from(["A", "B", "c"]))), max_size=12)


@settings(max_examples=150, deadline=None)
@given(rows_strategy)
def test_links_never_fail_and_never_invent_handoffs(rows):
    """Cycles, missing parents, duplicate ids: every answer refers to a given span, and a trace without
    any handoff signal gets none."""
    out = resolve_links(rows)
    ids = {r.span_id for r in rows}
    assert set(out.demoted) <= ids and set(out.handoffs) <= ids
    for sid in out.handoffs:
        assert any(r.span_id == sid and (r.handoff_from or r.handoff_to) for r in rows)
    if not any(r.handoff_from or r.handoff_to for r in rows):
        assert out.handoffs == {}


def test_reported_parent_keeps_its_cost_when_a_child_repeats_it():
    rows = [UsageRow("p", None, 120, 15, "reported"), UsageRow("c", "p", 120, 15, "computed")]
    assert prefer_reported(rows, {"p": 0, "c": 1}) == {"p": 1, "c": 0}
    fan = [UsageRow("p", None, 520, 55, "reported")] + [UsageRow(f"c{i}", "p", 100, 10, "computed") for i in range(5)]
    flags = {"p": 0, **{f"c{i}": 1 for i in range(5)}}
    assert prefer_reported(fan, flags) == flags  # five different calls below: each counts, the parent does not
    differ = [UsageRow("p", None, 340, 40, "reported"), UsageRow("c", "p", 120, 15, "computed")]
    assert prefer_reported(differ, {"p": 0, "c": 1}) == {"p": 0, "c": 1}
