"""Google ADK (its built-in OpenTelemetry spans) with a LiteLlm model on the fake server: Triage transfers
to Billing (ADK's transfer_to_agent tool), Billing calls lookup_invoice.

    python capture.py handoff

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
    Rule(tool_call="transfer_to_agent", arguments={"agent_name": "Billing"}, only_once=True),
    Rule(tool_call="lookup_invoice", arguments={"invoice_id": "INV-42"}),
    Rule(when="INV-42", content="Invoice INV-42 for $120.00 was paid on 2026-11-03."),
]
with Capture("google_adk", SCENARIO, ["google-adk", "litellm", "opentelemetry-sdk"], RULES,
             notes="InMemoryRunner(LlmAgent Triage, sub_agents=[Billing]) with LiteLlm('openai/gpt-4o-mini'); "
                   "user_id user-adk, session session-adk") as cap:
    import os

    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "true"  # prompts, tool args in spans
    os.environ["ADK_CAPTURE_MESSAGE_CONTENT_IN_SPANS"] = "true"
    cap.tracer_provider()
    from google.adk.agents import LlmAgent
    from google.adk.models.lite_llm import LiteLlm
    from google.adk.runners import InMemoryRunner
    from google.genai import types

    model = LiteLlm(model="openai/gpt-4o-mini", api_base=cap.server.url, api_key="sk-capture-not-a-key")

    def lookup_invoice(invoice_id: str) -> dict:
        """Look up an invoice's amount and status."""
        return {"invoice_id": invoice_id, "amount": 120.0, "status": "paid"}

    billing = LlmAgent(name="Billing", model=model, instruction="Answer billing questions with lookup_invoice.",
                       description="Billing questions", tools=[lookup_invoice])
    triage = LlmAgent(name="Triage", model=model, instruction="Route the customer.", sub_agents=[billing])

    async def main() -> None:
        runner = InMemoryRunner(agent=triage, app_name="capture")
        await runner.session_service.create_session(app_name="capture", user_id="user-adk", session_id="session-adk")
        msg = types.Content(role="user", parts=[types.Part(text="Was my invoice INV-42 paid?")])
        async for event in runner.run_async(user_id="user-adk", session_id="session-adk", new_message=msg):
            if event.is_final_response() and event.content and event.content.parts:
                print("final:", event.content.parts[0].text)

    asyncio.run(main())
