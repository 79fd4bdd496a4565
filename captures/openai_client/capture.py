"""The openai client traced by OpenInference or by OpenLLMetry (Traceloop): stream, embeddings, plain.

    python capture.py openinference stream|embeddings|plain   # venv: requirements-openinference.txt
    python capture.py traceloop stream|embeddings|plain       # venv: requirements-traceloop.txt
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from harness import Capture, Rule  # noqa: E402

INSTR, SCENARIO = sys.argv[1], sys.argv[2]
PACKAGES = {"openinference": ["openai", "openinference-instrumentation-openai", "opentelemetry-sdk"],
            "traceloop": ["openai", "opentelemetry-instrumentation-openai", "opentelemetry-sdk"]}[INSTR]
with Capture(f"openai_{INSTR}", SCENARIO, PACKAGES, [Rule(content="The capital of France is Paris.")],
             notes=f"openai.OpenAI() instrumented by {INSTR}; scenario {SCENARIO}") as cap:
    provider = cap.tracer_provider()
    if INSTR == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor
    else:
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
    OpenAIInstrumentor().instrument(tracer_provider=provider)
    import openai

    client = openai.OpenAI(base_url=cap.server.url, api_key="sk-capture-not-a-key", max_retries=0)
    question = [{"role": "user", "content": "What is the capital of France?"}]
    if SCENARIO == "plain":
        client.chat.completions.create(model="gpt-4o-mini", messages=question, user="user-oc")
    elif SCENARIO == "stream":
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=question, stream=True,
                                                stream_options={"include_usage": True})
        print("".join((c.choices[0].delta.content or "") for c in stream if c.choices))
    elif SCENARIO == "embeddings":
        client.embeddings.create(model="text-embedding-3-small", input=["refund policy", "shipping times"])
