"""A small file of chat turns (flat JSON Lines, as an app without OpenTelemetry logs them), for the
sessions / users / tags / export tests: two conversations, three users, tags on some turns."""
from __future__ import annotations

import json
from pathlib import Path

T0 = "2026-11-20T10:00:00Z"

#: (trace, session, user, minute, input, output, cost, model, tags, scores, status)
TURNS = [
    ("t-a1", "conv-a", "alice", 0, "Where is my order 1042?", "It shipped on Monday.", 0.004, "gpt-4o-mini",
     ["mobile", "beta"], [{"name": "helpfulness", "score": 0.9, "passed": True}], "OK"),
    ("t-a2", "conv-a", "alice", 2, "Can I change the address?", "Yes, until it leaves the depot.", 0.006,
     "gpt-4o-mini", ["mobile"], [{"name": "helpfulness", "score": 0.4, "passed": False}], "OK"),
    ("t-a3", "conv-a", "alice", 5, "Thanks!", "You're welcome.", 0.001, "gpt-4o-mini", [], [], "OK"),
    ("t-b1", "conv-b", "bob", 1, "Refund invoice INV-7?", "Refund issued: 3-5 days.", 0.02, "gpt-4o",
     ["web"], [{"name": "helpfulness", "score": 0.8, "passed": True}], "OK"),
    ("t-b2", "conv-b", "bob", 9, "It has not arrived", None, 0.03, "gpt-4o", ["web", "beta"], [], "ERROR"),
    ("t-c1", None, "carol", 3, "Hello?", "Hi, how can I help?", 0.002, "gpt-4o-mini", [], [], "OK"),
]


def write(path: Path) -> Path:
    lines = []
    for trace, session, user, minute, question, answer, cost, model, tags, scores, status in TURNS:
        record = {"trace_id": trace, "name": "chat", "model": model, "input": question, "output": answer,
                  "start_time": f"2026-11-20T10:{minute:02d}:00Z", "duration_ms": 1000 + 100 * minute,
                  "cost_usd": cost, "user_id": user, "tags": tags, "scores": scores, "status": status}
        if session:
            record["session_id"] = session
        if status == "ERROR":
            record["error"] = "upstream timeout"
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")
    return path


def build(db_path: str, tmp: Path) -> str:
    from tracedesk import store
    from tracedesk.ingest import ingest_paths

    db = store.connect(db_path)
    report = ingest_paths(db, [write(tmp / "turns.jsonl")])
    assert report.spans == len(TURNS), report
    db.conn.close()
    return db_path
