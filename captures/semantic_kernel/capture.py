"""Semantic Kernel (Python) with its GenAI OTel diagnostics on, OpenAIChatCompletion against the fake server.

    python capture.py chat    # kernel.invoke_prompt -> one chat completion
    python capture.py tools   # a plugin function the model calls (auto function calling), then the answer

venv: requirements.txt
"""
from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from harness import Capture, Rule  # noqa: E402

SCENARIO = sys.argv[1]
os.environ["SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS"] = "true"
os.environ["SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS_SENSITIVE"] = "true"
RULES = [
    Rule(tool_call="weather-get_weather", arguments={"city": "Paris"}),
    Rule(when="sunny", content="It is sunny and 22 °C in Paris."),
    Rule(content="The capital of France is Paris."),
]
with Capture("semantic_kernel", SCENARIO, ["semantic-kernel", "openai", "opentelemetry-sdk"], RULES,
             notes="Kernel + OpenAIChatCompletion(ai_model_id='gpt-4o-mini'); sensitive diagnostics on") as cap:
    cap.tracer_provider()
    import logging

    from opentelemetry.sdk._logs import LoggingHandler

    # SK writes prompt/completion content as log records (model_diagnostics): route them to OTLP logs
    handler = LoggingHandler(logger_provider=cap.logger_provider())
    logging.getLogger("semantic_kernel").addHandler(handler)
    logging.getLogger("semantic_kernel").setLevel(logging.INFO)
    from openai import AsyncOpenAI
    from semantic_kernel import Kernel
    from semantic_kernel.connectors.ai.function_choice_behavior import FunctionChoiceBehavior
    from semantic_kernel.connectors.ai.open_ai import OpenAIChatCompletion, OpenAIChatPromptExecutionSettings
    from semantic_kernel.functions import KernelArguments, kernel_function

    class Weather:
        @kernel_function(name="get_weather", description="Weather for a city")
        def get_weather(self, city: str) -> str:
            return '{"city": "%s", "sky": "sunny", "c": 22}' % city

    kernel = Kernel()
    client = AsyncOpenAI(base_url=cap.server.url, api_key="sk-capture-not-a-key", max_retries=0)
    kernel.add_service(OpenAIChatCompletion(ai_model_id="gpt-4o-mini", async_client=client))

    async def main() -> None:
        if SCENARIO == "chat":
            print(await kernel.invoke_prompt("What is the capital of France?"))
        else:
            kernel.add_plugin(Weather(), plugin_name="weather")
            settings = OpenAIChatPromptExecutionSettings(function_choice_behavior=FunctionChoiceBehavior.Auto())
            print(await kernel.invoke_prompt("What's the weather in Paris?", arguments=KernelArguments(settings=settings)))

    asyncio.run(main())
