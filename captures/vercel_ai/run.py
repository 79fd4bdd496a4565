"""Vercel AI SDK captures: `python3 run.py v5|v6 plain|responses|stream|tools|error|nocontext` (v6 also `bedrock`).

Starts the fake server and collector (captures/common), runs capture.mjs with Node in v5/ or v6/ (each has
its package.json + package-lock.json; `npm ci` there first), and writes the fixture + manifest entry.
"nocontext" is `plain` without a registered context manager: the SDK's spans land in separate traces.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "common"))
from harness import Capture, Rule  # noqa: E402

major, scenario = sys.argv[1], sys.argv[2]
RULES = [
    Rule(when="model=gpt-missing", status=404, content="The model `gpt-missing` does not exist."),
    Rule(tool_call="get_weather", arguments={"city": "Paris"}),
    Rule(when="sunny", content="It is sunny and 22 °C in Paris."),
    Rule(content="The capital of France is Paris."),
]
root = HERE / major
lock = json.loads((root / "package-lock.json").read_text())["packages"]
versions = {name: lock[f"node_modules/{name}"]["version"]
            for name in ("ai", "@ai-sdk/openai", "@ai-sdk/amazon-bedrock", "@opentelemetry/sdk-trace-base",
                         "@opentelemetry/exporter-trace-otlp-proto") if f"node_modules/{name}" in lock}
versions["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
with Capture(f"vercel_ai_{major}", scenario, [], RULES,
             notes=f"ai.generateText/streamText with experimental_telemetry (functionId support-answer, metadata "
                   f"sessionId/userId); scenario {scenario}") as cap:
    cap.extra["versions"] = versions
    shutil.copy(HERE / "capture.mjs", root / "capture.mjs")
    env = {**os.environ, "OPENAI_BASE_URL": cap.server.url,
           "BEDROCK_BASE_URL": cap.server.url.rsplit("/v1", 1)[0], "OTLP_URL": cap.collector.endpoint + "/v1/traces",
           "SCENARIO": scenario, "CONTEXT": "none" if scenario == "nocontext" else "async"}
    subprocess.run(["node", "capture.mjs"], cwd=root, env=env, check=True, timeout=120)
