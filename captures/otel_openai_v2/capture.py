"""OTel GenAI `opentelemetry-instrumentation-openai-v2` on the openai client: plain, tools, stream, error.

    python capture.py latest plain|tools|stream|error   # OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental,
                                                        # content on the span (span_only)
    python capture.py legacy plain|tools|stream|error   # default v1.30 conventions (2.4b0 sends no content there)
    python capture.py events plain|tools|stream|error   # 2.1b0 (requirements-events.txt): content as the
                                                        # 1.28-1.36 per-message log events (gen_ai.user.message...)

venv: requirements.txt
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from harness import Capture, Rule  # noqa: E402

MODE, SCENARIO = sys.argv[1], sys.argv[2]
if MODE == "latest":
    os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
    os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "span_only"
else:
    os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "true"

RULES = [
    Rule(when="model=gpt-missing", status=404, content="The model `gpt-missing` does not exist or you do not have access to it."),
    Rule(tool_call="get_weather", arguments={"city": "Paris"}),
    Rule(when="sunny", content="It is sunny and 22 °C in Paris."),
    Rule(content="The capital of France is Paris."),
]
PACKAGES = ["openai", "opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai", "opentelemetry-sdk"]

with Capture(f"otel_openai_v2_{MODE}", SCENARIO, PACKAGES, RULES,
             notes=f"openai.OpenAI().chat.completions.create, mode {MODE}") as cap:
    provider = cap.tracer_provider()
    logs = cap.logger_provider()
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    if MODE == "events":
        from opentelemetry.sdk._events import EventLoggerProvider

        OpenAIInstrumentor().instrument(tracer_provider=provider, event_logger_provider=EventLoggerProvider(logs))
    else:
        OpenAIInstrumentor().instrument(tracer_provider=provider, logger_provider=logs)
    import openai

    client = openai.OpenAI(base_url=cap.server.url, api_key="sk-capture-not-a-key", max_retries=0)
    if SCENARIO == "plain":
        client.chat.completions.create(model="gpt-4o-mini", temperature=0.2, messages=[
            {"role": "system", "content": "Answer in one sentence."},
            {"role": "user", "content": "What is the capital of France?"}])
    elif SCENARIO == "stream":
        stream = client.chat.completions.create(model="gpt-4o-mini", stream=True,
                                                stream_options={"include_usage": True},
                                                messages=[{"role": "user", "content": "What is the capital of France?"}])
        print("".join((c.choices[0].delta.content or "") for c in stream if c.choices))
    elif SCENARIO == "tools":
        tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                                  "required": ["city"]}}}]
        msgs: list = [{"role": "user", "content": "What's the weather in Paris?"}]
        first = client.chat.completions.create(model="gpt-4o-mini", messages=msgs, tools=tools)
        call = first.choices[0].message.tool_calls[0]
        msgs.append(first.choices[0].message.model_dump(exclude_none=True))
        msgs.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps({"city": "Paris", "sky": "sunny", "c": 22})})
        client.chat.completions.create(model="gpt-4o-mini", messages=msgs, tools=tools)
    elif SCENARIO == "error":
        try:
            client.chat.completions.create(model="gpt-missing", messages=[{"role": "user", "content": "Hello?"}])
        except openai.NotFoundError as exc:
            print("error as expected:", exc.status_code)
