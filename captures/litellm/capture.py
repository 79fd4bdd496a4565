"""litellm's OpenTelemetry callback (`litellm.callbacks = ["otel"]`): plain, stream, tools, error, fanout.

    python capture.py plain|stream|tools|error|fanout     # fanout = 5 acompletion calls under asyncio.gather

The callback reuses the global SDK tracer provider (set first, exporting to the collector).
venv: requirements.txt
"""
from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from harness import Capture, Rule  # noqa: E402

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
SCENARIO = sys.argv[1]
RULES = [
    Rule(when="model=gpt-missing", status=404, content="The model `gpt-missing` does not exist."),
    Rule(tool_call="get_weather", arguments={"city": "Paris"}),
    Rule(content="The capital of France is Paris."),
]
with Capture("litellm_otel", SCENARIO, ["litellm", "openai", "opentelemetry-sdk"], RULES,
             notes="litellm.completion/acompletion(model='openai/gpt-4o-mini', api_base=fake, "
                   "metadata={'session_id': 'session-ll'}, user='user-ll')") as cap:
    cap.tracer_provider()
    import litellm

    litellm.callbacks = ["otel"]
    kw = dict(api_base=cap.server.url, api_key="sk-capture-not-a-key", user="user-ll",
              metadata={"session_id": "session-ll"}, num_retries=0)
    question = [{"role": "user", "content": "What is the capital of France?"}]
    if SCENARIO == "plain":
        litellm.completion(model="openai/gpt-4o-mini", messages=question, **kw)
    elif SCENARIO == "stream":
        resp = litellm.completion(model="openai/gpt-4o-mini", messages=question, stream=True,
                                  stream_options={"include_usage": True}, **kw)
        print("".join((c.choices[0].delta.content or "") for c in resp if c.choices))
    elif SCENARIO == "tools":
        tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
        litellm.completion(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Weather in Paris?"}],
                           tools=tools, **kw)
    elif SCENARIO == "error":
        try:
            litellm.completion(model="openai/gpt-missing", messages=question, **kw)
        except Exception as exc:  # litellm maps the 404 to its NotFoundError
            print("error as expected:", type(exc).__name__)
    elif SCENARIO == "fanout":
        from opentelemetry import trace

        async def main() -> None:
            # the application's own span around the fan-out (litellm then records onto it, see the README)
            with trace.get_tracer("capture-app").start_as_current_span("answer_batch"):
                await asyncio.gather(*(litellm.acompletion(model="openai/gpt-4o-mini", messages=[
                    {"role": "user", "content": f"Question {i}: what is the capital of France?"}],
                    **{**kw, "metadata": {"session_id": "session-ll"}})  # one metadata dict per call: litellm
                    for i in range(5)))                                  # keeps its emit-once marker in it
                await asyncio.sleep(2.0)  # a long-running app's loop lives on: litellm logs async calls as tasks
        asyncio.run(main())
    import time
    time.sleep(1.0)  # the callback logs on a worker thread after the call returns
