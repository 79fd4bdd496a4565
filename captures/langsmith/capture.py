"""LangSmith SDK in OpenTelemetry mode (LANGSMITH_TRACING_MODE=otel): @traceable + wrap_openai.

    python capture.py chain   # @traceable(run_type="chain") -> wrapped openai chat call

venv: requirements.txt
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from harness import Capture, Rule  # noqa: E402

SCENARIO = sys.argv[1]
with Capture("langsmith", SCENARIO, ["langsmith", "openai", "opentelemetry-sdk"],
             [Rule(content="The capital of France is Paris.")],
             notes="LANGSMITH_TRACING=true, LANGSMITH_TRACING_MODE=otel; @traceable answer -> wrap_openai chat") as cap:
    os.environ.update(LANGSMITH_TRACING="true", LANGSMITH_TRACING_MODE="otel", LANGSMITH_API_KEY="lsv2-capture",
                      LANGSMITH_PROJECT="capture")
    cap.tracer_provider()  # LangSmith's OTel mode exports through the global SDK provider when one is set
    import openai
    from langsmith import traceable
    from langsmith.wrappers import wrap_openai

    client = wrap_openai(openai.OpenAI(base_url=cap.server.url, api_key="sk-capture-not-a-key", max_retries=0))

    @traceable(run_type="chain", name="answer", metadata={"session_id": "session-ls", "user_id": "user-ls"})
    def answer(question: str) -> str:
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
        return reply.choices[0].message.content

    print(answer("What is the capital of France?"))
    import time

    from langsmith.run_trees import get_cached_client
    from opentelemetry import trace

    get_cached_client().flush()  # runs are turned into spans on the client's background thread
    time.sleep(1.0)

    provider = trace.get_tracer_provider()
    if hasattr(provider, "force_flush"):
        provider.force_flush()
