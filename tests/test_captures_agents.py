"""Agent SDK captures (real libraries, tests/captures/): agents, handoffs, tools, models, tokens, topology.

OpenAI Agents SDK 0.24 (Responses API) run as Triage -> Billing with a lookup_invoice tool, traced by
OpenInference, OpenLLMetry (Traceloop) and Logfire; LangGraph researcher -> writer traced by OpenInference.
The fake server answered call n with (100n+20 input, 10n+5 output, 64 cached if n odd, 4n reasoning).
"""
from __future__ import annotations

import pytest
from captures_support import VIAS, mini_cost, replay

import tracedesk

CALLS = [(120, 15, 64, 4), (220, 25, 0, 8), (320, 35, 64, 12)]  # what the fake server returned, in order
SNAPSHOT = "gpt-4o-mini-2024-07-18"


@pytest.fixture(params=VIAS)
def via(request):
    return request.param


def _topology(db_path):
    ws = tracedesk.open(db_path)
    g = ws.agent_topology()
    return sorted(g.nodes), {(u, v): d["count"] for u, v, d in g.edges(data=True)}, dict(g.nodes(data="entries"))


def _assert_billing_calls(r, tools_text):
    llm = r.llm()
    assert [r.tokens(s) for s in llm] == CALLS
    assert [s["cost_usd"] for s in llm] == pytest.approx([mini_cost(i, o, c) for i, o, c, _ in CALLS])
    assert {s["cost_source"] for s in llm} == {"computed"}
    assert {s["provider"] for s in llm} == {"openai"}
    assert [s["response_model"] for s in llm] == [SNAPSHOT] * 3
    assert [s["output_text"] for s in llm] == [
        "transfer_to_billing({})", 'lookup_invoice({"invoice_id": "INV-42"})',
        "Invoice INV-42 for $120.00 was paid on 2026-11-03."]
    assert llm[0]["input_text"] == "Was my invoice INV-42 paid?"
    assert llm[2]["input_text"] == tools_text
    (trace,) = r.traces
    assert (trace["input_tokens"], trace["output_tokens"]) == (660, 75)
    assert trace["cost_usd"] == pytest.approx(sum(mini_cost(i, o, c) for i, o, c, _ in CALLS))
    assert trace["agents"] == "Billing,Triage"


INVOICE = '{"invoice_id": "INV-42", "amount": 120.0, "status": "paid", "paid_on": "2026-11-03"}'


def test_openai_agents_openinference(db_path, via):
    r = replay(db_path, via, "openai_agents_openinference", "handoff")
    assert r.kinds() == [
        ("Customer support", "CHAIN"), ("Agent workflow", "CHAIN"), ("Triage", "AGENT"), ("turn", "CHAIN"),
        ("response", "LLM"), ("handoff to Billing", "TOOL"), ("Billing", "AGENT"), ("turn", "CHAIN"),
        ("response", "LLM"), ("lookup_invoice", "TOOL"), ("turn", "CHAIN"), ("response", "LLM")]
    # the trace() root carries openinference.span.kind=AGENT but no agent name: a workflow wrapper
    assert r.one("Customer support")["agent_name"] is None
    assert [(s["name"], s["agent_name"]) for s in r.spans if s["agent_name"]] == [("Triage", "Triage"),
                                                                                   ("Billing", "Billing")]
    assert r.parent_name(r.one("Billing")) == "Agent workflow" and r.parent_name(r.one("Triage")) == "Agent workflow"
    handoff = r.one("handoff to Billing")
    assert (handoff["tool_name"], handoff["handoff_from"], handoff["handoff_to"]) == ("handoff", "Triage", "Billing")
    assert (r.one("Billing")["handoff_from"], r.one("Billing")["handoff_to"]) == ("Triage", "Billing")
    tool = r.one("lookup_invoice")
    assert (tool["tool_name"], tool["tool_arguments"], tool["tool_result"]) == (
        "lookup_invoice", '{"invoice_id": "INV-42"}', INVOICE)
    # OpenInference sends only the response's model (llm.model_name, invocation parameters from the response)
    assert {s["model"] for s in r.llm()} == {SNAPSHOT}
    _assert_billing_calls(r, INVOICE)
    assert {(s["session_id"], s["user_id"]) for s in r.spans} == {("session-42", "user-7")}
    assert _topology(db_path) == (["Billing", "Triage"], {("Triage", "Billing"): 1}, {"Billing": 0, "Triage": 1})


def test_openai_agents_traceloop(db_path, via):
    r = replay(db_path, via, "openai_agents_traceloop", "handoff")
    assert r.kinds() == [
        ("Agent Workflow", "CHAIN"), ("Triage.agent", "AGENT"), ("openai.response", "LLM"),
        ("Triage → unknown.handoff", "CHAIN"), ("Billing.agent", "AGENT"), ("openai.response", "LLM"),
        ("lookup_invoice.tool", "TOOL"), ("openai.response", "LLM")]
    assert [(s["name"], s["agent_name"]) for s in r.spans if s["kind"] == "AGENT"] == [
        ("Triage.agent", "Triage"), ("Billing.agent", "Billing")]
    handoff = r.one("Triage → unknown.handoff")
    # the span names no target ("unknown"); the next agent run in the trace is the one handed to. A handoff is
    # a routing step, not a tool call (OpenInference alone declares its handoff span a TOOL)
    assert (handoff["tool_name"], handoff["handoff_from"], handoff["handoff_to"]) == (None, "Triage", "Billing")
    assert r.parent_name(handoff) == "Triage.agent"
    tool = r.one("lookup_invoice.tool")
    assert (tool["tool_name"], tool["tool_arguments"], tool["tool_result"], r.parent_name(tool)) == (
        "lookup_invoice", '{"invoice_id": "INV-42"}', INVOICE, "Billing.agent")
    assert {s["model"] for s in r.llm()} == {SNAPSHOT}  # only gen_ai.response.model is sent
    _assert_billing_calls(r, INVOICE)
    assert _topology(db_path) == (["Billing", "Triage"], {("Triage", "Billing"): 1}, {"Billing": 0, "Triage": 1})


def test_openai_agents_logfire(db_path, via):
    r = replay(db_path, via, "openai_agents_logfire", "handoff")
    # span names are Logfire templates; the stored name is the rendered logfire.msg
    assert r.kinds() == [
        ("OpenAI Agents trace: Customer support", "CHAIN"), ("Task: Agent workflow", "CHAIN"),
        ("Agent run: 'Triage'", "AGENT"), ("Turn 1 for agent Triage", "CHAIN"),
        ("Responses API with 'gpt-4o-mini'", "LLM"), ("Handoff: Triage → Billing", "CHAIN"),
        ("Agent run: 'Billing'", "AGENT"), ("Turn 2 for agent Billing", "CHAIN"),
        ("Responses API with 'gpt-4o-mini'", "LLM"), ("Function: lookup_invoice", "TOOL"),
        ("Turn 3 for agent Billing", "CHAIN"), ("Responses API with 'gpt-4o-mini'", "LLM")]
    assert [s["agent_name"] for s in r.spans if s["kind"] == "AGENT"] == ["Triage", "Billing"]
    handoff = r.one("Handoff: Triage → Billing")
    assert (handoff["tool_name"], handoff["handoff_from"], handoff["handoff_to"]) == (None, "Triage", "Billing")
    tool = r.one("Function: lookup_invoice")
    assert (tool["tool_name"], tool["tool_arguments"], tool["tool_result"]) == (
        "lookup_invoice", '{"invoice_id": "INV-42"}', INVOICE)
    # Logfire sends the request model; reasoning tokens only inside its gen_ai.usage.raw JSON
    assert {s["model"] for s in r.llm()} == {"gpt-4o-mini"}
    _assert_billing_calls(r, INVOICE)
    # turn/task spans repeat their children's usage as JSON: never read as tokens
    assert all(s["input_tokens"] is None for s in r.spans if s["kind"] != "LLM")
    # Logfire scrubs the group_id ("session" looks sensitive), so there is no session to read
    assert {s["session_id"] for s in r.spans} == {None}
    assert _topology(db_path) == (["Billing", "Triage"], {("Triage", "Billing"): 1}, {"Billing": 0, "Triage": 1})


@pytest.mark.parametrize("scenario", ["graph", "stream"])
def test_langgraph_openinference(db_path, via, scenario):
    r = replay(db_path, via, "langgraph_openinference", scenario)
    assert r.kinds() == [
        ("LangGraph", "CHAIN"), ("researcher", "AGENT"), ("ChatOpenAI", "LLM"), ("tools_condition", "CHAIN"),
        ("tools", "CHAIN"), ("search_docs", "TOOL"), ("researcher", "AGENT"), ("ChatOpenAI", "LLM"),
        ("tools_condition", "CHAIN"), ("writer", "AGENT"), ("ChatOpenAI", "LLM")]
    assert [s["agent_name"] for s in r.spans if s["kind"] == "AGENT"] == ["researcher", "researcher", "writer"]
    assert {r.parent_name(s) for s in r.spans if s["kind"] == "AGENT"} == {"LangGraph"}
    writer = r.one("writer")
    assert (writer["handoff_from"], writer["handoff_to"]) == ("researcher", "writer")
    assert writer["output_text"] == "Refunds are accepted within 30 days of purchase with a receipt."
    assert [s["output_text"] for s in r.named("researcher")] == [
        'search_docs({"query": "refund policy"})', "Research notes: refunds within 30 days, receipt required."]
    tool = r.one("search_docs")
    assert (tool["tool_name"], tool["tool_result"], r.parent_name(tool)) == (
        "search_docs", "Refunds within 30 days; a receipt is required.", "tools")
    llm = r.llm()
    assert [r.tokens(s) for s in llm] == CALLS
    assert [s["model"] for s in llm] == ["gpt-4o-mini"] * 3  # the request's model (invocation parameters)
    # a streamed answer carries no response model in OpenInference's LangChain spans
    last = SNAPSHOT if scenario == "graph" else "gpt-4o-mini"
    assert [s["response_model"] for s in llm] == [SNAPSHOT, SNAPSHOT, last]
    assert [s["cost_usd"] for s in llm] == pytest.approx([mini_cost(i, o, c) for i, o, c, _ in CALLS])
    assert [s["input_text"] for s in llm] == ["What is the refund policy?",
                                              "Refunds within 30 days; a receipt is required.",
                                              "Refunds within 30 days; a receipt is required."]
    assert llm[2]["output_text"] == "Refunds are accepted within 30 days of purchase with a receipt."
    assert {(s["session_id"], s["user_id"]) for s in r.spans} == {("session-lg-1", "user-lg")}
    assert r.counted() == (660, 75)
    nodes, edges, entries = _topology(db_path)
    assert (nodes, edges) == (["researcher", "writer"], {("researcher", "writer"): 1})


# -- Pydantic AI 2.x (its own instrumentation: invoke_agent / chat / execute_tool spans) ----------------

def test_pydantic_ai_tools(db_path, via):
    r = replay(db_path, via, "pydantic_ai", "tools")
    assert r.kinds() == [("invoke_agent Billing", "AGENT"), ("chat gpt-4o-mini", "LLM"),
                         ("execute_tool lookup_invoice", "TOOL"), ("chat gpt-4o-mini", "LLM")]
    agent = r.one("invoke_agent Billing")
    assert (agent["agent_name"], agent["model"], agent["input_tokens"]) == ("Billing", "gpt-4o-mini", None)
    llm = r.llm()
    assert [r.tokens(s) for s in llm] == [(120, 15, 64, 4), (220, 25, None, 8)]  # no cache attr when 0
    # Pydantic AI reports operation.cost (genai-prices): used as reported
    assert [(s["cost_usd"], s["cost_source"]) for s in llm] == [
        (pytest.approx(mini_cost(120, 15, 64)), "reported"), (pytest.approx(mini_cost(220, 25)), "reported")]
    assert {(s["model"], s["response_model"], s["provider"]) for s in llm} == {("gpt-4o-mini", SNAPSHOT, "openai")}
    assert llm[0]["output_text"] == 'lookup_invoice({"invoice_id": "INV-42"})'
    assert llm[1]["output_text"] == "Invoice INV-42 for $120.00 was paid on 2026-11-03."
    assert agent["output_text"] == "Invoice INV-42 for $120.00 was paid on 2026-11-03."
    tool = r.one("execute_tool lookup_invoice")
    assert (tool["tool_name"], tool["tool_arguments"]) == ("lookup_invoice", '{"invoice_id":"INV-42"}')
    assert {s["session_id"] for s in r.spans} == {agent["session_id"]}  # gen_ai.conversation.id of the run
    assert r.counted() == (340, 40)


def test_pydantic_ai_agent_delegation(db_path, via):
    """Triage's tool runs the Billing agent: the nested agent run is the handoff (no handoff signal)."""
    r = replay(db_path, via, "pydantic_ai", "delegation")
    billing = r.one("invoke_agent Billing")
    assert r.parent_name(billing) == "execute_tool ask_billing"
    assert [(s["agent_name"], r.tokens(s)[:2]) for s in r.llm()] == [
        ("Triage", (120, 15)), ("Billing", (220, 25)), ("Billing", (320, 35)), ("Triage", (420, 45))]
    # both agent spans repeat the shared usage as gen_ai.aggregated_usage.*: never counted as tokens
    assert {s["input_tokens"] for s in r.spans if s["kind"] == "AGENT"} == {None}
    assert r.counted() == (1080, 120)
    nodes, edges, entries = _topology(db_path)
    assert (nodes, edges, entries) == (["Billing", "Triage"], {("Triage", "Billing"): 1}, {"Billing": 0, "Triage": 1})


# -- Google ADK 2.x (built-in gcp.vertex.agent spans) with LiteLlm ----------------------------------

def test_google_adk_transfer_to_agent(db_path, via):
    r = replay(db_path, via, "google_adk", "handoff")
    assert r.kinds() == [
        ("invoke_workflow Triage", "CHAIN"), ("invoke_agent Triage", "AGENT"),
        ("generate_content openai/gpt-4o-mini", "LLM"), ("execute_tool transfer_to_agent", "TOOL"),
        ("invoke_agent Billing", "AGENT"), ("generate_content openai/gpt-4o-mini", "LLM"),
        ("execute_tool lookup_invoice", "TOOL"), ("generate_content openai/gpt-4o-mini", "LLM")]
    transfer = r.one("execute_tool transfer_to_agent")
    # ADK sends no tool arguments by default: the target is the agent run that follows
    assert (transfer["handoff_from"], transfer["handoff_to"]) == ("Triage", "Billing")
    llm = r.llm()
    assert [s["agent_name"] for s in llm] == ["Triage", "Billing", "Billing"]
    assert {(s["model"], s["provider"]) for s in llm} == {("openai/gpt-4o-mini", "openai")}
    # ADK's LiteLlm adapter reports output = completion + reasoning (OpenAI's completion already includes it)
    assert [r.tokens(s) for s in llm] == [(i, o + reasoning, c, reasoning) for i, o, c, reasoning in CALLS]
    assert {s["session_id"] for s in r.spans if s["kind"] != "TOOL"} == {"session-adk"}  # tool spans carry none
    assert r.traces[0]["session_id"] == "session-adk"
    assert _topology(db_path) == (["Billing", "Triage"], {("Triage", "Billing"): 1}, {"Billing": 0, "Triage": 1})


@pytest.mark.parametrize("library,agent", [("openai_agents_openinference", "Billing"),
                                           ("langgraph_openinference", "writer")])
def test_trajectory_marks_the_declared_handoff(db_path, library, agent):
    """Agents that run side by side (not nested) still enter by a handoff edge in the trajectory graph."""
    scenario = "handoff" if library.startswith("openai") else "graph"
    r = replay(db_path, "files", library, scenario)
    ws = tracedesk.open(db_path)
    g = ws.trajectory(r.traces[0]["trace_id"])
    target = next(n for n, d in g.nodes(data=True) if d["kind"] == "AGENT" and d["agent"] == agent)
    assert [d["type"] for _, _, d in g.in_edges(target, data=True)] == ["handoff"]
