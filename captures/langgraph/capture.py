"""LangGraph (OpenInference LangChain instrumentation): researcher -> writer nodes.

    python capture.py graph    # researcher calls a search tool via a ToolNode, writer answers (invoke)
    python capture.py stream   # the same graph; the writer's model streams (stream_usage=True)

venv: requirements.txt
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from harness import Capture, Rule  # noqa: E402

SCENARIO = sys.argv[1]
PACKAGES = ["langgraph", "langchain-core", "langchain-openai", "openai", "openinference-instrumentation-langchain",
            "opentelemetry-sdk"]
RULES = [
    Rule(tool_call="search_docs", arguments={"query": "refund policy"}),
    Rule(when="You are the writer", content="Refunds are accepted within 30 days of purchase with a receipt."),
    Rule(when="Refunds within 30 days", content="Research notes: refunds within 30 days, receipt required."),
]

with Capture("langgraph_openinference", SCENARIO, PACKAGES, RULES,
             notes="StateGraph START -> researcher <-> tools (ToolNode) -> writer -> END; using_attributes("
                   "session_id='session-lg-1', user_id='user-lg')") as cap:
    provider = cap.tracer_provider()
    from openinference.instrumentation.langchain import LangChainInstrumentor

    LangChainInstrumentor().instrument(tracer_provider=provider)

    from typing import Annotated, TypedDict

    from langchain_core.messages import AnyMessage, HumanMessage, SystemMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI
    from langgraph.graph import END, START, StateGraph
    from langgraph.graph.message import add_messages
    from langgraph.prebuilt import ToolNode, tools_condition
    from openinference.instrumentation import using_attributes

    @tool
    def search_docs(query: str) -> str:
        """Search the help-centre articles."""
        return "Refunds within 30 days; a receipt is required."

    class State(TypedDict):
        messages: Annotated[list[AnyMessage], add_messages]
        draft: str

    llm = ChatOpenAI(model="gpt-4o-mini", base_url=cap.server.url, api_key="sk-capture-not-a-key",
                     stream_usage=True, max_retries=0)

    def researcher(state: State) -> dict:
        reply = llm.bind_tools([search_docs]).invoke(
            [SystemMessage("You are the researcher. Use search_docs.")] + state["messages"])
        return {"messages": [reply]}

    def writer(state: State) -> dict:
        msgs = [SystemMessage("You are the writer. Answer the customer from the research notes.")] + state["messages"]
        if SCENARIO == "stream":
            text = "".join(str(chunk.content) for chunk in llm.stream(msgs))
        else:
            text = str(llm.invoke(msgs).content)
        return {"draft": text}

    graph = StateGraph(State)
    graph.add_node("researcher", researcher)
    graph.add_node("tools", ToolNode([search_docs]))
    graph.add_node("writer", writer)
    graph.add_edge(START, "researcher")
    graph.add_conditional_edges("researcher", tools_condition, {"tools": "tools", END: "writer"})
    graph.add_edge("tools", "researcher")
    graph.add_edge("writer", END)
    app = graph.compile()
    with using_attributes(session_id="session-lg-1", user_id="user-lg"):
        out = app.invoke({"messages": [HumanMessage("What is the refund policy?")], "draft": ""})
    print("final:", out["draft"])
