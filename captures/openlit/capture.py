"""OpenLIT (openlit.init, its own OpenAI instrumentation): plain, stream, tools.

    python capture.py plain|stream|tools

venv: requirements.txt (openlit is installed with --no-deps plus its core dependencies: its full dependency
set pins every web-framework instrumentation, which the OpenAI path does not use)
"""
from __future__ import annotations

import json
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
with Capture("openlit", SCENARIO, ["openlit", "openai", "opentelemetry-sdk"], RULES,
             notes="openlit.init(otlp_endpoint=collector, application_name='capture-app', environment='capture')") as cap:
    import openlit

    openlit.init(otlp_endpoint=cap.collector.endpoint, application_name="capture-app", environment="capture",
                 disable_metrics=True, collect_gpu_stats=False)
    import openai

    client = openai.OpenAI(base_url=cap.server.url, api_key="sk-capture-not-a-key", max_retries=0)
    question = [{"role": "user", "content": "What is the capital of France?"}]
    if SCENARIO == "plain":
        client.chat.completions.create(model="gpt-4o-mini", messages=question, user="user-ol")
    elif SCENARIO == "stream":
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=question, stream=True,
                                                stream_options={"include_usage": True})
        print("".join((c.choices[0].delta.content or "") for c in stream if c.choices))
    elif SCENARIO == "tools":
        tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
        msgs: list = [{"role": "user", "content": "What's the weather in Paris?"}]
        first = client.chat.completions.create(model="gpt-4o-mini", messages=msgs, tools=tools)
        call = first.choices[0].message.tool_calls[0]
        msgs += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"city": "Paris", "sky": "sunny"})}]
        client.chat.completions.create(model="gpt-4o-mini", messages=msgs, tools=tools)
    from opentelemetry import trace

    trace.get_tracer_provider().force_flush()
