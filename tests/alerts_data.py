"""Small synthetic data for the alerts tests: every value is chosen so results can be computed by hand."""
from __future__ import annotations

from tracedesk.models import Evaluation, Span
from tracedesk.store import connect, write_batch

NS = 1_000_000_000
T0 = 1_800_000_000 * NS  # on the 5-minute grid


def _trace(n: int, at_s: int, route: str, tenant: str, region: str, *, llm: dict, retriever_ms: float,
           tool_status: str | None, extra: int = 0, answer: str | None = None) -> list[Span]:
    tid = f"{n:032x}"
    start = T0 + at_s * NS
    common = dict(trace_id=tid, route=route, tenant=tenant, dims={"region": region}, service="svc")
    spans = [Span(span_id=f"{n:04x}000000000001", name="agent", kind="AGENT", start_ns=start,
                  end_ns=start + 2000 * 1_000_000, duration_ms=2000.0, agent_name="planner", output_text=answer,
                  **common)]
    root = spans[0].span_id
    spans.append(Span(span_id=f"{n:04x}000000000002", parent_span_id=root, name="chat", kind="LLM",
                      start_ns=start + 10_000_000, end_ns=start + 900_000_000, duration_ms=890.0,
                      model=llm["model"], input_tokens=llm["inp"], output_tokens=llm["out"], cost_usd=llm["cost"],
                      ttft_ms=llm["ttft"], output_text=llm["text"], status="OK", **common))
    spans.append(Span(span_id=f"{n:04x}000000000003", parent_span_id=root, name="search", kind="RETRIEVER",
                      start_ns=start + 20_000_000, end_ns=start + 20_000_000 + int(retriever_ms * 1e6),
                      duration_ms=retriever_ms, **common))
    if tool_status:
        spans.append(Span(span_id=f"{n:04x}000000000004", parent_span_id=root, name="lookup", kind="TOOL",
                          start_ns=start + 30_000_000, end_ns=start + 40_000_000, duration_ms=10.0,
                          status=tool_status, tool_name="lookup", **common))
    for i in range(extra):
        spans.append(Span(span_id=f"{n:04x}0000000001{i:02x}", parent_span_id=root, name="step", kind="CHAIN",
                          start_ns=start + 50_000_000, end_ns=start + 60_000_000, duration_ms=10.0, **common))
    return spans


def build_small(path: str):
    """Traces A, B, C in the window (T0, T0+5m]; D in the next one.

    A: billing/acme/eu  LLM in=100 out=20 cost=.01 ttft=200 ok       retriever 100ms tool OK     groundedness .9 pass
    B: billing/beta/us  LLM in=300 out=40 cost=.03 ttft=400 refusal  retriever 300ms tool ERROR  groundedness .5 fail
    C: search/acme/eu   LLM in=200 out=30 cost=.02 ttft=300 ok       retriever 500ms (no tool)   groundedness .7 pass
    D: billing/acme/eu at T0+400s: LLM in=50 out=10 cost=.005 ttft=100, retriever 900ms, groundedness .2 fail
    Answers (root output): A and C plain, B holds an email address (pii_rate 0, 1, 0); D none.
    Feedback: A thumbs_up, B thumbs_down. Refusal evaluations: A passed, B refused.
    """
    def llm(model, inp, out, cost, ttft, text):
        return dict(model=model, inp=inp, out=out, cost=cost, ttft=ttft, text=text)

    spans = (
        _trace(1, 60, "billing", "acme", "eu", llm=llm("gpt-a", 100, 20, 0.01, 200.0, "Sure, here it is."),
               retriever_ms=100.0, tool_status="OK", answer="Sure, here it is.")
        + _trace(2, 120, "billing", "beta", "us",
                 llm=llm("gpt-b", 300, 40, 0.03, 400.0, "I'm sorry, but I can't help with that."),
                 retriever_ms=300.0, tool_status="ERROR", answer="Write to bob.jones@example.com for help.")
        + _trace(3, 240, "search", "acme", "eu", llm=llm("gpt-a", 200, 30, 0.02, 300.0, "ok"),
                 retriever_ms=500.0, tool_status=None, answer="ok")
        + _trace(4, 400, "billing", "acme", "eu", llm=llm("gpt-a", 50, 10, 0.005, 100.0, "fine"),
                 retriever_ms=900.0, tool_status=None, extra=2)
    )

    def ev(n, name, **kw):
        return Evaluation(trace_id=f"{n:032x}", span_id=f"{n:04x}000000000002", name=name, **kw)

    evals = [
        ev(1, "groundedness", score=0.9, passed=True), ev(2, "groundedness", score=0.5, passed=False),
        ev(3, "groundedness", score=0.7, passed=True), ev(4, "groundedness", score=0.2, passed=False),
        ev(1, "user_feedback", score=1.0, label="thumbs_up", source="human"),
        ev(2, "user_feedback", score=0.0, label="thumbs_down", source="human"),
        ev(1, "refusal", score=1.0, passed=True, label="answered"),
        ev(2, "refusal", score=0.0, passed=False, label="refused"),
    ]
    db = connect(path)
    write_batch(db, spans, evals)
    return db


# ---------------------------------------------------------------------------------------------
# A synthetic "week" (3 days, to keep tests fast) with one joint incident and single-signal blips.

WEEK_START = 1_798_848_000 * NS  # 00:00 UTC, on every step grid
H = 3600 * NS
#: (id, route, start_h, end_h, retriever factor, groundedness during, should_page)
WEEK_INCIDENTS = [
    ("JOINT", "refunds", 50.0, 53.0, 8.0, 0.42, True),  # both move together on refunds
    ("LAT-BLIP", "refunds", 27.0, 27.5, 7.0, None, False),  # retriever only
    ("QUAL-BLIP", "refunds", 62.0, 62.75, 1.0, 0.45, False),  # groundedness only
    ("OTHER-ROUTE", "billing", 40.0, 42.0, 8.0, 0.40, False),  # same story, other route (scope test)
]


def build_week(path: str, hours: int = 72, every_s: int = 120, seed: int = 7):
    """One trace per route every ~2 minutes: root CHAIN, RETRIEVER (~250 ms), LLM; groundedness on the LLM."""
    import random

    rng = random.Random(seed)
    spans, evals = [], []
    n = 0
    for route in ("refunds", "billing"):
        t = WEEK_START
        while t < WEEK_START + hours * H:
            n += 1
            start = t + rng.randrange(0, every_s) * NS
            t += every_s * NS
            h = (start - WEEK_START) / H
            factor, ground = 1.0, min(1.0, max(0.0, rng.gauss(0.87, 0.06)))
            for _id, r, a, b, f, g, _page in WEEK_INCIDENTS:
                if r == route and a <= h < b:
                    factor = f
                    if g is not None:
                        ground = min(1.0, max(0.0, rng.gauss(g, 0.08)))
            retr = rng.lognormvariate(5.45, 0.25) * factor  # median ~233 ms
            llm_ms = rng.uniform(700, 1300)
            tid = f"{n:032x}"
            root = f"{n:012x}0001"
            common = dict(trace_id=tid, route=route, tenant="acme" if n % 2 else "beta")
            spans.append(Span(span_id=root, name="rag", kind="CHAIN", start_ns=start,
                              end_ns=start + int((retr + llm_ms) * 1e6), duration_ms=retr + llm_ms, **common))
            spans.append(Span(span_id=f"{n:012x}0002", parent_span_id=root, name="search", kind="RETRIEVER",
                              start_ns=start, end_ns=start + int(retr * 1e6), duration_ms=retr, **common))
            llm_id = f"{n:012x}0003"
            spans.append(Span(span_id=llm_id, parent_span_id=root, name="chat", kind="LLM", model="m",
                              start_ns=start + int(retr * 1e6), end_ns=start + int((retr + llm_ms) * 1e6),
                              duration_ms=llm_ms, input_tokens=500, output_tokens=80, cost_usd=0.001,
                              output_text="Here is the answer.", **common))
            evals.append(Evaluation(trace_id=tid, span_id=llm_id, name="groundedness", score=round(ground, 4),
                                    passed=ground >= 0.7))
    db = connect(path)
    write_batch(db, spans, evals)
    return db
