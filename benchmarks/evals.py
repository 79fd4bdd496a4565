"""Judge throughput against the local fake OpenAI-compatible server, and the cost of a cached re-run.

    python benchmarks/evals.py [--spans 128] [--latency-ms 50]

The server answers every request after `latency-ms` (a stand-in for a hosted judge's latency), so
spans/s shows how well the runner overlaps calls at concurrency 1, 8 and 32. Baseline: a bare loop of
`litellm.completion` calls over the same prompts in the same run (what the runner adds on top).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from evals_synth import agent_trace  # noqa: E402
from fake_llm_server import FakeLLM, Reply  # noqa: E402

from tracedesk import store  # noqa: E402
from tracedesk.evals import RunConfig, run  # noqa: E402
from tracedesk.evals.judge import complete  # noqa: E402
from tracedesk.evals.registry import get  # noqa: E402
from tracedesk.evals.data import load_inputs  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=128)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    args = ap.parse_args()
    server = FakeLLM()
    server.default = Reply(content='{"score": 0.9, "label": "grounded", "reason": "ok"}', delay=args.latency_ms / 1000)
    tmp = tempfile.mkdtemp(prefix="tracedesk-bench-evals-")
    db = store.connect(os.path.join(tmp, "bench.db"))
    spans = []
    for i in range(args.spans):
        spans += agent_trace(i, doc=f"Policy {i}: refunds are processed within {i % 9 + 1} business days.")
    store.write_batch(db, spans)
    judge = get("groundedness")
    base = dict(model="openai/bench-judge", api_base=server.url, api_key="test", sample="all",
                filters={"kind": "LLM"})
    print(f"{args.spans} LLM spans judged for groundedness; fake judge latency {args.latency_ms:.0f} ms; "
          f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")

    # warm up: litellm import and first-connection costs are not part of the throughput
    complete(judge.messages(next(iter(load_inputs(db, [(spans[0].trace_id, spans[2].span_id, "span")]).values()))),
             model=base["model"], api_base=server.url, api_key="test")

    inputs = load_inputs(db, [(s.trace_id, s.span_id, "span") for s in spans if s.kind == "LLM"])
    t = time.perf_counter()
    for inp in inputs.values():
        complete(judge.messages(inp), model=base["model"], api_base=server.url, api_key="test")
    bare = len(inputs) / (time.perf_counter() - t)
    print(f"baseline: bare litellm.completion loop           {bare:8.1f} spans/s")

    rates = {}
    for c in (1, 8, 32):
        server.calls.clear()
        rep = run(db, RunConfig(["groundedness"], concurrency=c, use_cache=False, **base))
        rates[c] = rep.written / rep.elapsed_s
        print(f"runner concurrency {c:>2}: {rep.written} rows, {len(server.calls)} calls, max overlap "
              f"{server.max_overlap():>2}  {rates[c]:8.1f} spans/s  ({rates[c] / bare:5.2f}x bare, "
              f"{rates[c] / rates[1]:5.2f}x c=1)")

    run(db, RunConfig(["groundedness"], concurrency=8, **base))  # fill the cache
    server.calls.clear()
    rep = run(db, RunConfig(["groundedness"], concurrency=8, **base))
    print(f"cache-hit re-run: {len(server.calls)} judge calls, {rep.cache_hits} cache hits, "
          f"${rep.cost_usd:.6f} judge cost, {rep.elapsed_s * 1000:.0f} ms "
          f"({rep.written / rep.elapsed_s:,.0f} spans/s)")
    server.close()


if __name__ == "__main__":
    main()
