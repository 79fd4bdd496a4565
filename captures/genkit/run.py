"""Genkit (JS) captures: `python3 run.py flow|tools` (`npm ci` here first; Node 20)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "common"))
from harness import Capture, Rule  # noqa: E402

scenario = sys.argv[1]
RULES = [Rule(tool_call="get_weather", arguments={"city": "Paris"}),
         Rule(when="sunny", content="It is sunny and 22 °C in Paris."),
         Rule(content="The capital of France is Paris.")]
lock = json.loads((HERE / "package-lock.json").read_text())["packages"]
versions = {n: lock[f"node_modules/{n}"]["version"] for n in ("genkit", "@genkit-ai/compat-oai", "@genkit-ai/core")}
versions["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
with Capture("genkit", scenario, [], RULES, notes="defineFlow supportFlow -> ai.generate(openAI.model('gpt-4o-mini'))") as cap:
    cap.extra["versions"] = versions
    env = {**os.environ, "OPENAI_BASE_URL": cap.server.url, "OTLP_URL": cap.collector.endpoint + "/v1/traces",
           "SCENARIO": scenario, "GENKIT_TELEMETRY_SERVER": ""}
    subprocess.run(["node", "capture.mjs"], cwd=HERE, env=env, check=True, timeout=120)
