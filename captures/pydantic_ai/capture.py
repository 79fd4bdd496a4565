"""Pydantic AI (its own OTel instrumentation, InstrumentationSettings) on OpenAIChatModel.

    python capture.py tools        # one agent, one tool call, then the answer
    python capture.py delegation   # a Triage agent whose tool runs a Billing agent (agent delegation)
    python capture.py stream       # agent.run_stream

venv: requirements.txt
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from harness import Capture, Rule  # noqa: E402

SCENARIO = sys.argv[1]
RULES = [
    Rule(tool_call="ask_billing", arguments={"question": "Was invoice INV-42 paid?"}),
    Rule(tool_call="lookup_invoice", arguments={"invoice_id": "INV-42"}),
    Rule(when="Billing says", content="Billing confirms INV-42 was paid."),
    Rule(when="INV-42", content="Invoice INV-42 for $120.00 was paid on 2026-11-03."),
    Rule(content="The capital of France is Paris."),
]
with Capture("pydantic_ai", SCENARIO, ["pydantic-ai-slim", "openai", "opentelemetry-sdk"], RULES,
             notes="Agent(OpenAIChatModel('gpt-4o-mini')) with Agent.instrument_all(InstrumentationSettings("
                   "tracer_provider=...)); scenario " + SCENARIO) as cap:
    provider = cap.tracer_provider()
    from pydantic_ai import Agent, RunContext
    from pydantic_ai.models.instrumented import InstrumentationSettings
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    Agent.instrument_all(InstrumentationSettings(tracer_provider=provider))
    model = OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(base_url=cap.server.url,
                                                                   api_key="sk-capture-not-a-key"))
    billing = Agent(model, name="Billing", instructions="You answer billing questions. Use lookup_invoice.")

    @billing.tool_plain
    def lookup_invoice(invoice_id: str) -> str:
        """Look up an invoice."""
        return f'{{"invoice_id": "{invoice_id}", "amount": 120.0, "status": "paid"}}'

    triage = Agent(model, name="Triage", instructions="Route billing questions to ask_billing.")

    @triage.tool
    async def ask_billing(ctx: RunContext[None], question: str) -> str:
        """Ask the billing agent."""
        result = await billing.run(question, usage=ctx.usage)
        return f"Billing says: {result.output}"

    async def main() -> None:
        if SCENARIO == "tools":
            print((await billing.run("Was my invoice INV-42 paid?")).output)
        elif SCENARIO == "delegation":
            print((await triage.run("Was my invoice INV-42 paid?")).output)
        elif SCENARIO == "stream":
            plain = Agent(model, name="Geography")
            async with plain.run_stream("What is the capital of France?") as result:
                print(await result.get_output())

    asyncio.run(main())
