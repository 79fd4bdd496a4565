"""Print the figures of tests/weeks/README.md's incident table: build the second week in a temporary folder,
ingest it through tracedesk, and measure each labelled incident inside vs outside its window with plain SQL.

    PYTHONPATH=src python tests/weeks/report.py [--seed N] [--scale X]
"""
from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # so `weeks` imports when run as a script

from weeks.second_week import DEFAULT_SEED, REFUSAL_PHRASES, write_week  # noqa: E402

DAY = 86400 * 10**9


def _ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()) * 10**9


def _values(db: sqlite3.Connection, sql: str, *params: Any) -> list[float]:
    return [r[0] for r in db.execute(sql, params) if r[0] is not None]


def _mean(db: sqlite3.Connection, sql: str, *params: Any) -> str:
    v = _values(db, sql, *params)
    return f"{sum(v) / len(v):.4g} (n={len(v)})" if v else "- (n=0)"


def _p95(db: sqlite3.Connection, sql: str, *params: Any) -> str:
    v = _values(db, sql, *params)
    return f"{statistics.quantiles(v, n=20)[-1]:.0f} ms (n={len(v)})" if len(v) > 1 else "-"


EVAL = ("SELECT e.score FROM evaluations e JOIN traces t ON t.trace_id = e.trace_id "
        "JOIN spans s ON s.trace_id = e.trace_id AND s.span_id = e.span_id WHERE e.name = ? AND ")
IN = "{c} >= ? AND {c} < ?"
OUT = "NOT ({c} >= ? AND {c} < ?)"


def report(db: sqlite3.Connection, labels: dict[str, Any]) -> list[str]:
    w = {i["id"]: (_ns(i["start"]), _ns(i["end"]), i) for i in labels["incidents"]}
    out = []

    def line(inc_id: str, what: str, inside: str, outside: str) -> None:
        out.append(f"{inc_id:6} {what:34} inside {inside:24} outside {outside}")

    s, e, _ = w["W2-01"]
    g = EVAL + "t.tenant = 'northwind' AND t.route != 'search' AND " + IN.format(c="t.start_ns")
    line("W2-01", "groundedness, last 4 h vs 2 d before", _mean(db, g, "groundedness", e - 4 * 3600 * 10**9, e),
         _mean(db, g, "groundedness", s - 2 * DAY, s))
    s, e, _ = w["W2-02"]
    for column in ("tool_calls", "llm_calls", "cost_usd"):
        sql = f"SELECT {column} FROM traces WHERE route = 'claims' AND "
        line("W2-02", f"{column} per claims trace", _mean(db, sql + IN.format(c="start_ns"), s, e),
             _mean(db, sql + OUT.format(c="start_ns"), s, e))
    s, e, _ = w["W2-03"]
    rows = db.execute(
        "SELECT start_ns, output_text FROM spans WHERE kind = 'LLM' AND status != 'ERROR' "
        "AND json_extract(td_json(attributes), '$.\"gen_ai.request.model\"') = 'claude-sonnet-4-5' "
        "AND COALESCE(finish_reason, '') NOT IN ('tool_calls', 'tool_use')").fetchall()
    ins = [r[1] in REFUSAL_PHRASES for r in rows if s <= r[0] < e]
    outs = [r[1] in REFUSAL_PHRASES for r in rows if not s <= r[0] < e]
    line("W2-03", "claude refusals", f"{sum(ins)}/{len(ins)}", f"{sum(outs)}/{len(outs)}")
    s, e, _ = w["W2-04"]
    r = "SELECT duration_ms FROM spans WHERE kind = 'RETRIEVER' AND route = 'search' AND "
    line("W2-04", "search retriever p95", _p95(db, r + IN.format(c="start_ns"), s, e),
         _p95(db, r + OUT.format(c="start_ns"), s, e))
    g = EVAL + "t.route = 'search' AND "
    line("W2-04", "search groundedness", _mean(db, g + IN.format(c="t.start_ns"), "groundedness", s, e),
         _mean(db, g + OUT.format(c="t.start_ns"), "groundedness", s, e))
    _, _, inc = w["W2-05"]
    new, old = inc["cohort"]["prompt_version"], inc["replaces"]["prompt_version"]
    line("W2-05", f"answer_relevance {new} vs {old}", _mean(db, EVAL + "s.prompt_version = ?", "answer_relevance", new),
         _mean(db, EVAL + "s.prompt_version = ?", "answer_relevance", old))
    down = ("SELECT e.label = 'thumbs_down' FROM evaluations e JOIN traces t ON t.trace_id = e.trace_id "
            "WHERE e.name = 'user_feedback' AND t.prompt_version = ?")
    line("W2-05", "thumbs-down rate", _mean(db, down, new), _mean(db, down, old))
    s, e, inc = w["W2-06"]
    t = f"SELECT status = 'ERROR' FROM spans WHERE tool_name = '{inc['cohort']['tool']}' AND "
    line("W2-06", "tool error rate", _mean(db, t + IN.format(c="start_ns"), s, e),
         _mean(db, t + OUT.format(c="start_ns"), s, e))
    s, e, _ = w["W2-N1"]
    m = "SELECT duration_ms FROM spans WHERE kind = 'LLM' AND route = 'search' AND "
    line("W2-N1", "search LLM mean duration ms", _mean(db, m + IN.format(c="start_ns"), s, e),
         _mean(db, m + OUT.format(c="start_ns"), s, e))
    s, e, _ = w["W2-N2"]
    count = "SELECT COUNT(*) FROM traces WHERE start_ns >= ? AND start_ns < ?"
    usual = [db.execute(count, (s - k * DAY, e - k * DAY)).fetchone()[0] for k in (1, 2, 3, 4)]
    line("W2-N2", "traces in the window", str(db.execute(count, (s, e)).fetchone()[0]), f"{usual} (1-4 days before)")
    s, e, _ = w["W2-N3"]
    c = "SELECT cost_usd FROM traces WHERE tenant = 'contoso' AND "
    line("W2-N3", "contoso cost per trace", _mean(db, c + IN.format(c="start_ns"), s, e),
         _mean(db, c + OUT.format(c="start_ns"), s, e))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    from tracedesk.ingest import ingest_paths

    with tempfile.TemporaryDirectory() as tmp:
        week = write_week(Path(tmp) / "week", seed=args.seed, scale=args.scale)
        db_path = str(Path(tmp) / "week.db")
        ingested = ingest_paths(db_path, [str(f) for f in week.files])
        print(f"seed {args.seed}: {week.traces} traces, {week.spans} spans, {week.evaluations} evaluations; "
              f"rejected {len(ingested.rejected)}")
        db = sqlite3.connect(db_path)
        from tracedesk.store.blobs import codec

        codec(db)  # td_json(): attributes are stored deflated
        for row in report(db, week.labels()):
            print(row)
        db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
