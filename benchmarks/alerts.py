"""Alerts benchmark: quality of alerting on the sample week, and backtest speed on 1M spans.

Part 1 (the sample week, ground truth from its incidents.json): for each joint rule and each of its
single-condition parts, the incidents it catches (should_page incidents with an overlapping episode in a
matching cohort), its false episodes (episodes that overlap no should_page incident), precision
(true episodes / episodes) and time to detect (first firing evaluation - incident start).

Part 2: a 7-day backtest at 5-minute steps of a joint rule grouped by route on ~1M synthetic spans
(cached in a file), against a baseline measured in the same run: the same backtest done the naive
way, one SQL query per step and condition (numpy for the aggregation).

    python benchmarks/alerts.py [--sample-db FILE] [--spans 1000000] [--big-db FILE] [--rebuild]
Target: backtest under 2 s on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

NS = 1_000_000_000
DAY = 86_400 * NS
T0 = 1_790_000_000 * NS - (1_790_000_000 * NS) % DAY  # midnight UTC
ROUTES = ("billing", "refunds", "onboarding", "tech-support", "account")

G = {"type": "eval_score", "evaluator": "groundedness"}
R = {"type": "duration", "span_kind": "RETRIEVER"}


def _c(signal, agg, cmp, thr):
    return {"signal": signal, "aggregation": agg, "comparator": cmp, "threshold": thr}


#: The joint rules a user would write on the sample week (see the README's alerts section).
SAMPLE_RULES = [
    {"tracedesk_alert": 1, "name": "rag-regression", "severity": "critical", "window": "1h", "step": "5m",
     "group_by": ["route"], "min_samples": 3,
     "condition": {"all": [_c(G, "mean", "<", 0.6), _c(R, "p95", ">", 1000)]}},
    {"tracedesk_alert": 1, "name": "tool-retry-loop", "severity": "high", "window": "1h", "step": "5m",
     "group_by": ["route"], "min_samples": 3,
     "condition": {"all": [_c({"type": "error_rate", "span_kind": "TOOL"}, "rate", ">", 0.2),
                           _c({"type": "cost_per_trace"}, "mean", ">", 0.01)]}},
]


# ---------------------------------------------------------------------------------------------
# Part 1: precision on the sample week


def _sample_db(path: str | None, incidents: str | None) -> tuple[str, dict]:
    from tracedesk.sample.demo import build_demo_db, sample_incidents

    path = path or "/tmp/tracedesk-bench-alerts-sample.db"
    if not os.path.exists(path):
        print(f"building the sample week into {path} ...", flush=True)
        build_demo_db(path)
    if incidents:
        return path, json.loads(Path(incidents).read_text())
    return path, sample_incidents()


def _compatible(cohort: dict, where: dict) -> bool:
    """The episode names the incident's cohort: every dimension of the incident's cohort is pinned by the
    rule's scope or the episode's group, to the same value (a page must reach the right owner)."""
    return all(k in where and where[k] == v for k, v in cohort.items())


def score_episodes(rule, episodes, incidents) -> dict:
    from tracedesk.alerts.evaluate import parse_time

    pages = [i for i in incidents if i["should_page"]]
    caught, ttd, true_eps = {}, {}, 0
    for ep in episodes:
        where = {**{k: v[0] for k, v in rule.scope.items() if len(v) == 1}, **ep.group}
        hit = False
        for inc in pages:
            start, end = parse_time(inc["start"]), parse_time(inc["end"])
            if ep.window_start_ns < end and ep.end_ns > start and _compatible(inc["cohort"], where):
                hit = True
                delay = max(0, ep.start_ns - start) / 60 / NS
                if inc["id"] not in ttd or delay < ttd[inc["id"]]:
                    ttd[inc["id"]] = delay
                caught[inc["id"]] = True
        true_eps += hit
    return {"episodes": len(episodes), "caught": sorted(caught), "false": len(episodes) - true_eps,
            "precision": (true_eps / len(episodes)) if episodes else None, "ttd_min": ttd}


def part1(sample_path: str | None, incidents_path: str | None = None) -> list[dict]:
    from tracedesk.alerts import parse_rule
    from tracedesk.alerts.evaluate import backtest, parse_time
    from tracedesk.alerts.suggest import suggest_rule

    path, truth = _sample_db(sample_path, incidents_path)
    incidents = truth["incidents"]
    rules = [parse_rule(doc) for doc in SAMPLE_RULES]
    inc01 = next(i for i in incidents if i["id"] == "INC-01")
    t = time.perf_counter()
    suggestion = suggest_rule(path, parse_time(inc01["start"]), parse_time(inc01["end"]), inc01["cohort"],
                              name="suggested-from-INC-01")
    suggest_s = time.perf_counter() - t
    rules.append(suggestion.rule)
    rows = []
    for rule in rules:
        result = backtest(path, rule)
        rows.append({"rule": rule.name, "condition": "joint (all)", **score_episodes(rule, result.episodes, incidents)})
        for i, leaf in enumerate(rule.leaves()):
            rows.append({"rule": rule.name, "condition": leaf.label(),
                         **score_episodes(rule, result.condition_episodes[f"c{i}"], incidents)})
    print(f"\nSample week ({path}); suggester on INC-01 took {suggest_s:.2f} s and proposed:")
    print("  " + " AND ".join(c.label() for c in suggestion.rule.leaves()) + f"  (window {suggestion.rule.window})")
    print("\n| rule | condition | episodes | incidents caught | false episodes | precision | time to detect |")
    print("|---|---|---:|---|---:|---:|---|")
    for r in rows:
        prec = "—" if r["precision"] is None else f"{r['precision']:.0%}"
        ttd = ", ".join(f"{k} {v:.0f} min" for k, v in sorted(r["ttd_min"].items())) or "—"
        print(f"| {r['rule']} | {r['condition']} | {r['episodes']} | {', '.join(r['caught']) or '—'} | "
              f"{r['false']} | {prec} | {ttd} |")
    return rows


# ---------------------------------------------------------------------------------------------
# Part 2: speed on 1M spans


def build_big(path: str, spans: int) -> None:
    """~`spans` spans over 7 days: traces of 10 spans (CHAIN root with route/tenant, AGENT, RETRIEVER,
    3 LLM, 3 TOOL, GUARDRAIL) + one groundedness evaluation each; refunds degrades on day 3."""
    from tracedesk.models import Evaluation, Span
    from tracedesk.store import connect, write_batch

    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    db = connect(path)
    rng = random.Random(5)
    traces = spans // 10
    gap = 7 * DAY // traces
    batch_s, batch_e = [], []
    t_build = time.perf_counter()
    for n in range(traces):
        start = T0 + n * gap + rng.randrange(gap)
        route = ROUTES[n % len(ROUTES)]
        bad = route == "refunds" and 2 * DAY + 13 * 3600 * NS <= start - T0 < 2 * DAY + 17 * 3600 * NS
        tid = f"{n:032x}"
        root = f"{n:012x}0000"
        retr = rng.lognormvariate(5.5, 0.3) * (8 if bad else 1)
        mk = lambda i, kind, dur, **kw: Span(  # noqa: E731
            trace_id=tid, span_id=f"{n:012x}{i:04x}", parent_span_id=None if i == 0 else root, name=kind.lower(),
            kind=kind, start_ns=start, end_ns=start + int(dur * 1e6), duration_ms=dur, **kw)
        batch_s.append(mk(0, "CHAIN", 3000.0, route=route, tenant=f"t{n % 7}"))
        batch_s.append(mk(1, "AGENT", 2900.0, agent_name="planner"))
        batch_s.append(mk(2, "RETRIEVER", retr))
        for i in range(3):
            batch_s.append(mk(3 + i, "LLM", rng.uniform(300, 1500), model="gpt-4o-mini", input_tokens=800,
                              output_tokens=120, cost_usd=0.0003))
            batch_s.append(mk(6 + i, "TOOL", rng.uniform(5, 80), tool_name="lookup",
                              status="ERROR" if rng.random() < 0.02 else "OK"))
        batch_s.append(mk(9, "GUARDRAIL", 3.0))
        score = min(1.0, max(0.0, rng.gauss(0.42 if bad else 0.87, 0.07)))
        batch_e.append(Evaluation(trace_id=tid, span_id=f"{n:012x}0003", name="groundedness", score=score,
                                  passed=score >= 0.7, created_ns=start))
        if len(batch_s) >= 50_000:
            write_batch(db, batch_s, batch_e)
            batch_s, batch_e = [], []
    if batch_s:
        write_batch(db, batch_s, batch_e)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    print(f"built {path}: {db.execute('SELECT COUNT(*) FROM spans').fetchone()[0]:,} spans in "
          f"{time.perf_counter() - t_build:.0f} s", flush=True)


def naive_backtest(db, rule, times) -> int:
    """The baseline: one query per evaluation time and condition, aggregation in numpy."""
    import numpy as np

    w = rule.window_s * NS
    firing = 0
    sql = {
        # CROSS JOIN keeps the time-indexed spans as the outer loop (a fair plan for a per-window query)
        "eval_score": "SELECT COALESCE(s.route, t.route), e.score FROM spans s CROSS JOIN evaluations e "
                      "ON e.trace_id = s.trace_id AND e.span_id = s.span_id CROSS JOIN traces t "
                      "ON t.trace_id = s.trace_id WHERE e.name = ? AND e.score IS NOT NULL "
                      "AND s.start_ns > ? AND s.start_ns <= ?",
        "duration": "SELECT COALESCE(s.route, t.route), s.duration_ms FROM spans s CROSS JOIN traces t "
                    "ON t.trace_id = s.trace_id WHERE s.kind = ? AND s.start_ns > ? AND s.start_ns <= ?",
    }
    for at in times:
        per_leaf = []
        for leaf in rule.leaves():
            arg = leaf.signal.get("evaluator") or leaf.signal.get("span_kind")
            rows = db.execute(sql[leaf.signal["type"]], [arg, int(at) - w, int(at)]).fetchall()
            groups: dict = {}
            for route, v in rows:
                groups.setdefault(route, []).append(v)
            agg = {"mean": np.mean, "p95": lambda x: np.percentile(x, 95)}[leaf.aggregation]
            per_leaf.append({g: agg(v) for g, v in groups.items() if len(v) >= rule.min_samples})
        for g in per_leaf[0]:
            if g in per_leaf[1] and per_leaf[0][g] < 0.6 and per_leaf[1][g] > 1000:
                firing += 1
    return firing


def part2(path: str, spans: int, rebuild: bool) -> None:
    from tracedesk.alerts import parse_rule
    from tracedesk.alerts.evaluate import backtest, evaluation_grid
    from tracedesk.store import connect

    if rebuild or not os.path.exists(path):
        build_big(path, spans)
    db = connect(path)
    n_spans = db.execute("SELECT COUNT(*) FROM spans").fetchone()[0]
    rule = parse_rule(dict(SAMPLE_RULES[0], window="15m"))
    times = evaluation_grid(T0 + 15 * 60 * NS, T0 + 7 * DAY, rule.step_s)
    import resource

    def cpu() -> float:
        u = resource.getrusage(resource.RUSAGE_SELF)
        return u.ru_utime + u.ru_stime

    runs, cpus = [], []
    for _ in range(3):
        t, c = time.perf_counter(), cpu()
        result = backtest(db, rule, times=times)
        runs.append(time.perf_counter() - t)
        cpus.append(cpu() - c)
    fast = min(runs)
    fired = int(sum(g.firing.sum() for g in result.groups))
    t, c = time.perf_counter(), cpu()
    naive_fired = naive_backtest(db, rule, times)
    naive, naive_cpu = time.perf_counter() - t, cpu() - c
    assert naive_fired == fired, (naive_fired, fired)
    print(f"\n7-day backtest at 5-min steps ({len(times)} evaluations x {len(result.groups)} routes x 2 conditions) "
          f"on {n_spans:,} spans:")
    print(f"  tracedesk backtest: {fast:.2f} s wall (best of 3; runs {', '.join(f'{r:.2f}' for r in runs)}), "
          f"{min(cpus):.2f} s CPU")
    print(f"  naive, one query per step: {naive:.2f} s wall, {naive_cpu:.2f} s CPU -> {naive / fast:.0f}x faster; "
          f"same firing windows ({fired})")
    print(f"  machine load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"  joint episodes: {len(result.episodes)}; target < 2 s: {'met' if fast < 2 else 'MISSED'}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sample-db", default=None, help="a database holding the sample week (built if missing)")
    ap.add_argument("--incidents", default=None, help="incidents.json (default: the packaged sample's)")
    ap.add_argument("--spans", type=int, default=1_000_000)
    ap.add_argument("--big-db", default="/tmp/tracedesk-bench-alerts-1m.db")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--skip-sample", action="store_true")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    if not args.skip_sample:
        part1(args.sample_db, args.incidents)
    part2(args.big_db, args.spans, args.rebuild)
    return 0


if __name__ == "__main__":
    sys.exit(main())
