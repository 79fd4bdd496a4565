"""OpenAI Agents SDK: a Triage -> Billing handoff, Billing calls a tool; traced by one instrumentation.

    python capture.py openinference   # venv: requirements-openinference.txt
    python capture.py traceloop       # venv: requirements-traceloop.txt
    python capture.py logfire         # venv: requirements-logfire.txt

The SDK talks to the fake server with its default model API (the Responses API).
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from harness import Capture, Rule  # noqa: E402

INSTRUMENTATION = sys.argv[1]
PACKAGES = {
    "openinference": ["openai-agents", "openai", "openinference-instrumentation-openai-agents", "opentelemetry-sdk"],
    "traceloop": ["openai-agents", "openai", "opentelemetry-instrumentation-openai-agents", "opentelemetry-sdk"],
    "logfire": ["openai-agents", "openai", "logfire", "opentelemetry-sdk"],
}[INSTRUMENTATION]

RULES = [
    Rule(tool_call="transfer_to_billing", arguments={}),
    Rule(tool_call="lookup_invoice", arguments={"invoice_id": "INV-42"}),
    Rule(when="INV-42", content="Invoice INV-42 for $120.00 was paid on 2026-11-03."),
]

with Capture(f"openai_agents_{INSTRUMENTATION}", "handoff", PACKAGES, RULES,
             notes="Runner.run(Triage) with trace(workflow_name='Customer support', group_id='session-42'); "
                   "Triage hands off to Billing; Billing calls lookup_invoice then answers") as cap:
    if INSTRUMENTATION == "logfire":
        import logfire
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=cap.collector.endpoint + "/v1/traces"))
        logfire.configure(send_to_logfire=False, service_name="capture-openai-agents-logfire", console=False,
                          additional_span_processors=[processor])
        logfire.instrument_openai_agents()
        cap._providers.append(processor)
    else:
        provider = cap.tracer_provider()
        if INSTRUMENTATION == "openinference":
            from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor
        else:
            from opentelemetry.instrumentation.openai_agents import OpenAIAgentsInstrumentor
        OpenAIAgentsInstrumentor().instrument(tracer_provider=provider)

    from agents import Agent, Runner, function_tool, trace
    from agents.tracing import get_trace_provider

    # The SDK's own exporter posts to OpenAI's backend: keep only the instrumentation's processor(s).
    tp = get_trace_provider()
    multi = tp._multi_processor  # type: ignore[attr-defined]
    multi.set_processors([p for p in multi._processors if type(p).__name__ != "BatchTraceProcessor"])

    @function_tool
    def lookup_invoice(invoice_id: str) -> str:
        """Look up an invoice's amount and status."""
        return f'{{"invoice_id": "{invoice_id}", "amount": 120.0, "status": "paid", "paid_on": "2026-11-03"}}'

    billing = Agent(name="Billing", instructions="You answer billing questions. Use lookup_invoice.",
                    model="gpt-4o-mini", tools=[lookup_invoice])
    triage = Agent(name="Triage", instructions="Route the customer to the right agent.", model="gpt-4o-mini",
                   handoffs=[billing])

    async def main() -> None:
        question = "Was my invoice INV-42 paid?"
        if INSTRUMENTATION == "openinference":
            from openinference.instrumentation import using_attributes
            with using_attributes(session_id="session-42", user_id="user-7"):
                with trace("Customer support", group_id="session-42"):
                    result = await Runner.run(triage, question)
        else:
            with trace("Customer support", group_id="session-42"):
                result = await Runner.run(triage, question)
        print("final:", result.final_output)

    asyncio.run(main())
    tp.force_flush() if hasattr(tp, "force_flush") else None
