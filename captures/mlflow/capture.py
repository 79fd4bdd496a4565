"""MLflow tracing (mlflow-tracing + mlflow.openai.autolog) exported over OTLP/HTTP.

    python capture.py plain   # autologged chat completion
    python capture.py agent   # @mlflow.trace AGENT -> RETRIEVER + autologged chat with a tool -> TOOL -> chat
    python capture.py error   # autologged call to a missing model

MLflow sends spans to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (set by the harness) with
MLFLOW_ENABLE_OTLP_EXPORTER; its values are JSON-quoted strings. venv: requirements.txt
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from harness import Capture, Rule  # noqa: E402

SCENARIO = sys.argv[1]
RULES = [
    Rule(when="model=gpt-missing", status=404, content="The model `gpt-missing` does not exist."),
    Rule(tool_call="get_weather", arguments={"city": "Paris"}),
    Rule(when="sunny", content="It is sunny and 22 °C in Paris; pack sunglasses."),
    Rule(content="The capital of France is Paris."),
]
with Capture("mlflow", SCENARIO, ["mlflow-tracing", "openai", "opentelemetry-sdk"], RULES,
             notes="mlflow.openai.autolog() + @mlflow.trace; session/user via mlflow.update_current_trace") as cap:
    os.environ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] = "http/protobuf"
    os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
    os.environ["OTEL_SERVICE_NAME"] = "capture-mlflow"
    os.environ["MLFLOW_ENABLE_OTLP_EXPORTER"] = "true"
    import mlflow
    import openai
    from mlflow.tracing.provider import provider as mlflow_provider

    mlflow.openai.autolog()
    client = openai.OpenAI(base_url=cap.server.url, api_key="sk-capture-not-a-key", max_retries=0)
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]

    @mlflow.trace(span_type="TOOL")
    def get_weather(city: str) -> dict:
        return {"city": city, "sky": "sunny", "c": 22}

    @mlflow.trace(span_type="RETRIEVER")
    def search_guides(query: str) -> list:
        from mlflow.entities import Document
        return [Document(page_content="Paris in spring: mild and sunny.", id="doc-7", metadata={"score": 0.82})]

    @mlflow.trace(name="travel_agent", span_type="AGENT")
    def travel_agent(question: str) -> str:
        mlflow.update_current_trace(metadata={"mlflow.trace.session": "session-ml", "mlflow.trace.user": "user-ml"})
        docs = search_guides(question)
        msgs: list = [{"role": "system", "content": "Use the guide: " + docs[0].page_content},
                      {"role": "user", "content": question}]
        first = client.chat.completions.create(model="gpt-4o-mini", messages=msgs, tools=tools)
        call = first.choices[0].message.tool_calls[0]
        result = get_weather(**json.loads(call.function.arguments))
        msgs += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}]
        return client.chat.completions.create(model="gpt-4o-mini", messages=msgs, tools=tools).choices[0].message.content

    if SCENARIO == "plain":
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "What is the capital of France?"}])
    elif SCENARIO == "agent":
        print(travel_agent("What's the weather in Paris?"))
    elif SCENARIO == "error":
        try:
            client.chat.completions.create(model="gpt-missing", messages=[{"role": "user", "content": "Hello?"}])
        except openai.NotFoundError as exc:
            print("error as expected:", exc.status_code)
    from opentelemetry import trace as otel_trace

    for p in (mlflow_provider.get(), otel_trace.get_tracer_provider()):
        if hasattr(p, "force_flush"):
            p.force_flush()
