"""Capture harness: a fake OpenAI server + an in-process OTLP/HTTP collector, and the fixture writer.

Stdlib only (each capture runs in its own venv with nothing but the library under test and its exporter).

    from harness import Capture, Rule
    with Capture("openai_agents_openinference", "handoff", ["openai-agents", "openinference-..."],
                 rules=[Rule(tool_call="transfer_to_billing"), Rule(content="...")]) as cap:
        provider = cap.tracer_provider()      # OTLP/HTTP protobuf exporter -> the collector
        ... run the library against cap.server.url ...
    # on exit: spans flushed, bodies written to tests/captures/<lib>/<scenario>.pb, manifest updated

The collector stores each POST body exactly as received (protobuf or JSON, gzip left as sent).
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from fake_openai import FakeOpenAI, Rule  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "captures"
MANIFEST = FIXTURES / "manifest.json"

__all__ = ["Capture", "Rule", "Collector"]


class Collector:
    """OTLP/HTTP receiver on 127.0.0.1 that keeps every request body as-is."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, str, bytes]] = []  # (path, content-type, body)
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():  # Node's exporters
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_POST(self) -> None:  # noqa: N802
                body = self._body()
                with collector._lock:
                    collector.bodies.append((self.path, self.headers.get("Content-Type", ""), body))
                ctype = self.headers.get("Content-Type", "application/x-protobuf")
                reply = b"{}" if "json" in ctype else b""
                self.send_response(200)
                self.send_header("Content-Type", "application/json" if "json" in ctype else "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def bodies_of(self, signal: str) -> list[tuple[str, bytes]]:
        with self._lock:
            return [(ct, b) for p, ct, b in self.bodies if p.rstrip("/").endswith(f"/v1/{signal}")]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Capture:
    def __init__(self, library: str, scenario: str, packages: list[str], rules: list[Rule] | None = None,
                 notes: str = "") -> None:
        self.library, self.scenario, self.packages, self.notes = library, scenario, packages, notes
        self.server = FakeOpenAI(rules)
        self.collector = Collector()
        self._providers: list[Any] = []
        self.extra: dict[str, Any] = {}
        os.environ["OPENAI_API_KEY"] = "sk-capture-not-a-key"
        os.environ["OPENAI_BASE_URL"] = self.server.url
        os.environ["OPENAI_API_BASE"] = self.server.url
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = self.collector.endpoint
        os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = self.collector.endpoint + "/v1/traces"

    def __enter__(self) -> "Capture":
        return self

    def tracer_provider(self, service: str | None = None, set_global: bool = True) -> Any:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": service or f"capture-{self.library}"}))
        provider.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(endpoint=self.collector.endpoint + "/v1/traces"), max_export_batch_size=2048))
        if set_global:
            trace.set_tracer_provider(provider)
        self._providers.append(provider)
        return provider

    def logger_provider(self) -> Any:
        """An OTLP/HTTP log exporter (GenAI legacy events travel as log records)."""
        from opentelemetry._logs import set_logger_provider
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.resources import Resource

        provider = LoggerProvider(resource=Resource.create({"service.name": f"capture-{self.library}"}))
        provider.add_log_record_processor(BatchLogRecordProcessor(
            OTLPLogExporter(endpoint=self.collector.endpoint + "/v1/logs")))
        set_logger_provider(provider)
        self._providers.append(provider)
        return provider

    def flush(self) -> None:
        for p in self._providers:
            p.force_flush()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.flush()
        time.sleep(0.2)
        try:
            if exc_type is None:
                self._write()
        finally:
            self.server.close()
            self.collector.close()

    def _write(self) -> None:
        bodies = self.collector.bodies_of("traces")
        logs = self.collector.bodies_of("logs")
        if not bodies:
            raise SystemExit(f"{self.library}/{self.scenario}: the library exported no spans")
        out = FIXTURES / self.library
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob(f"{self.scenario}.*"):
            old.unlink()
        for old in out.glob(f"{self.scenario}-*.*"):
            old.unlink()
        files = []
        for i, (ctype, body) in enumerate(bodies, 1):
            ext = "json" if "json" in ctype else "pb"
            name = f"{self.scenario}.{ext}" if len(bodies) == 1 else f"{self.scenario}-{i}.{ext}"
            (out / name).write_bytes(body)
            files.append(f"{self.library}/{name}")
        for i, (ctype, body) in enumerate(logs, 1):
            ext = "json" if "json" in ctype else "pb"
            name = f"{self.scenario}-logs.{ext}" if len(logs) == 1 else f"{self.scenario}-logs-{i}.{ext}"
            (out / name).write_bytes(body)
            files.append(f"{self.library}/{name}")
        versions = {}
        for pkg in self.packages:
            try:
                versions[pkg] = importlib.metadata.version(pkg)
            except importlib.metadata.PackageNotFoundError:
                continue  # not part of this venv (e.g. an older release line without it)
        versions.update(self.extra.get("versions", {}))
        entry = {"library": self.library, "scenario": self.scenario, "versions": versions,
                 "python": sys.version.split()[0], "files": files, "notes": self.notes,
                 "server_calls": self.server.calls}
        manifest = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {"captures": []}
        caps = [c for c in manifest["captures"]
                if (c["library"], c["scenario"]) != (self.library, self.scenario)]
        caps.append(entry)
        caps.sort(key=lambda c: (c["library"], c["scenario"]))
        manifest["captures"] = caps
        MANIFEST.write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
        print(f"wrote {files} ({sum(len(b) for _, b in bodies + logs)} bytes, {len(self.server.calls)} LLM calls)")
