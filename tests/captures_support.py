"""Replay the committed captures (tests/captures/, made by captures/*/capture.py from real libraries).

`replay(db_path, via, library, scenario)` loads one capture through the files path (`ingest_paths`) or
through a running receiver (`tracedesk serve`'s HTTP endpoint, each body POSTed exactly as the library's
exporter sent it) and returns the stored spans as dicts in start order.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from receiver_support import make_receiver, post

from tracedesk.store.blobs import codec, column_sql
from tracedesk import store
from tracedesk.ingest import ingest_paths

CAPTURES = Path(__file__).parent / "captures"
MANIFEST = json.loads((CAPTURES / "manifest.json").read_text())
VIAS = ("files", "receiver")

#: gpt-4o-mini list prices per token (input, cached input, output), for expected computed costs.
GPT_4O_MINI = (1.5e-7, 7.5e-8, 6e-7)


def entry(library: str, scenario: str) -> dict[str, Any]:
    for c in MANIFEST["captures"]:
        if (c["library"], c["scenario"]) == (library, scenario):
            return c
    raise KeyError(f"no capture {library}/{scenario} in tests/captures/manifest.json")


def files(library: str, scenario: str) -> list[Path]:
    return [CAPTURES / f for f in entry(library, scenario)["files"]]


def mini_cost(inp: int, out: int, cached: int = 0) -> float:
    """What gpt-4o-mini costs at list price (cached input at the cache rate; reasoning is output)."""
    rate_in, rate_cached, rate_out = GPT_4O_MINI
    return (inp - cached) * rate_in + cached * rate_cached + out * rate_out


@dataclass
class Replayed:
    spans: list[dict[str, Any]]
    traces: list[dict[str, Any]]
    db_path: str

    def named(self, name: str) -> list[dict[str, Any]]:
        return [s for s in self.spans if s["name"] == name]

    def one(self, name: str) -> dict[str, Any]:
        found = self.named(name)
        assert len(found) == 1, f"{len(found)} spans named {name!r}: {[s['name'] for s in self.spans]}"
        return found[0]

    def kinds(self) -> list[tuple[str, str]]:
        return [(s["name"], s["kind"]) for s in self.spans]

    def by_id(self, span_id: str | None) -> dict[str, Any] | None:
        return next((s for s in self.spans if s["span_id"] == span_id), None)

    def parent_name(self, span: dict[str, Any]) -> str | None:
        p = self.by_id(span["parent_span_id"])
        return p["name"] if p else None

    def llm(self) -> list[dict[str, Any]]:
        return [s for s in self.spans if s["kind"] == "LLM"]

    def tokens(self, span: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(span[k] for k in ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens"))

    def counted(self) -> tuple[int, int]:
        """(input, output) tokens summed over the spans whose usage counts (each call once)."""
        rows = [s for s in self.spans if s["usage_counted"]]
        return (sum(s["input_tokens"] or 0 for s in rows), sum(s["output_tokens"] or 0 for s in rows))


def replay(db_path: str, via: str, library: str, scenario: str) -> Replayed:
    paths = files(library, scenario)
    if via == "files":
        db = store.connect(db_path)
        try:
            report = ingest_paths(db, paths)
        finally:
            db.conn.close()
        assert report.rejected == [], report.rejected
    else:
        receiver = make_receiver(db_path)
        try:
            # logs after traces, as the SDK's two exporters may send them in either order
            for path in sorted(paths, key=lambda p: "-logs" in p.name):
                signal = "logs" if "-logs" in path.name else "traces"
                ctype = "application/json" if path.suffix == ".json" else "application/x-protobuf"
                body = path.read_bytes()
                headers = {"Content-Type": ctype}
                if body[:2] == b"\x1f\x8b":  # the exporter gzipped it (Langfuse) and said so
                    headers["Content-Encoding"] = "gzip"
                answer = post(receiver, f"/v1/{signal}", body, headers)
                assert answer.status == 200, answer.body
        finally:
            receiver.stop()
    con = sqlite3.connect(db_path)
    con.row_factory = sqlite3.Row
    codec(con)  # attributes/events are stored deflated, the resource once: read them back as JSON text
    decoded = ", ".join(f"{column_sql(c)} AS {c}" for c in store.SPAN_COLUMN_NAMES)
    try:
        spans = [dict(r) for r in con.execute(f"SELECT {decoded} FROM spans s ORDER BY s.start_ns, s.span_id")]
        traces = [dict(r) for r in con.execute("SELECT * FROM traces ORDER BY start_ns")]
    finally:
        con.close()
    return Replayed(spans, traces, db_path)
