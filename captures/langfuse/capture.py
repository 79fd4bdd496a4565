"""Langfuse Python SDK (v3+ is OpenTelemetry-based): @observe + the langfuse.openai drop-in client.

    python capture.py generation   # @observe(as_type="agent") -> @observe tool -> langfuse.openai chat calls
    python capture.py stream       # streamed chat through langfuse.openai

The SDK exports OTLP/HTTP protobuf to {LANGFUSE_HOST}/api/public/otel/v1/traces: the collector stands in
for the Langfuse server. venv: requirements.txt
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
    Rule(tool_call="get_weather", arguments={"city": "Paris"}),
    Rule(when="sunny", content="It is sunny and 22 °C in Paris."),
    Rule(content="The capital of France is Paris."),
]
with Capture("langfuse", SCENARIO, ["langfuse", "openai", "opentelemetry-sdk"], RULES,
             notes="langfuse @observe + langfuse.openai.OpenAI; propagate_attributes(session_id, user_id)") as cap:
    os.environ.update(LANGFUSE_PUBLIC_KEY="pk-lf-capture", LANGFUSE_SECRET_KEY="sk-lf-capture",
                      LANGFUSE_HOST=cap.collector.endpoint, LANGFUSE_BASE_URL=cap.collector.endpoint)
    from langfuse import get_client, observe
    from langfuse.openai import OpenAI

    langfuse = get_client()
    client = OpenAI(base_url=cap.server.url, api_key="sk-capture-not-a-key", max_retries=0)
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]

    @observe(as_type="tool")
    def get_weather(city: str) -> dict:
        return {"city": city, "sky": "sunny", "c": 22}

    @observe(as_type="agent", name="weather_agent")
    def weather_agent(question: str) -> str:
        msgs: list = [{"role": "user", "content": question}]
        first = client.chat.completions.create(model="gpt-4o-mini", messages=msgs, tools=tools)
        call = first.choices[0].message.tool_calls[0]
        result = get_weather(**json.loads(call.function.arguments))
        msgs += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}]
        return client.chat.completions.create(model="gpt-4o-mini", messages=msgs, tools=tools).choices[0].message.content

    try:
        from langfuse import propagate_attributes
    except ImportError:  # older v3 SDKs
        propagate_attributes = None
    ctx = propagate_attributes(session_id="session-lf", user_id="user-lf") if propagate_attributes else None
    if ctx is not None:
        ctx.__enter__()
    if SCENARIO == "generation":
        print(weather_agent("What's the weather in Paris?"))
    elif SCENARIO == "stream":
        stream = client.chat.completions.create(model="gpt-4o-mini", stream=True, stream_options={"include_usage": True},
                                                messages=[{"role": "user", "content": "What is the capital of France?"}])
        print("".join((c.choices[0].delta.content or "") for c in stream if c.choices))
    if ctx is not None:
        ctx.__exit__(None, None, None)
    langfuse.flush()
