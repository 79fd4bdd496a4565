"""eval_coverage on traffic from real libraries (tests/captures/): a judge run through litellm's real HTTP path
to a local fake server, where the judge fails on some traces' answers and other traces carry no text to judge
(content capture off). Coverage is 1 exactly for the traces holding a score, and the changes feed's read (one
pass beside the trace summaries, store.feed) gives the registry's rows."""
from __future__ import annotations

from captures_support import files
from fake_llm_server import Reply, fake_llm  # noqa: F401  (fixture)

from tracedesk import signals, store
from tracedesk.cli import main
from tracedesk.ingest import ingest_paths
from tracedesk.signals import SampleQuery
from tracedesk.store.feed import signal_frames

CAPTURES = [("openai_openinference", "plain"), ("langfuse", "generation"), ("mlflow", "agent"),
            ("google_adk", "handoff"), ("openai_agents_openinference", "handoff"), ("litellm_otel", "fanout"),
            ("otel_openai_v2_latest", "tools"), ("langgraph_openinference", "graph")]
#: the judge fails (HTTP 400) on any prompt holding this answer
FAILS_ON = "It is sunny and 22 °C in Paris."


def test_coverage_of_a_judge_over_captured_traffic(tmp_path, fake_llm) -> None:
    path = str(tmp_path / "t.db")
    report = ingest_paths(path, [f for c in CAPTURES for f in files(*c)])
    assert report.rejected == []
    fake_llm.script(FAILS_ON, Reply(status=400, content="scripted 400"))
    fake_llm.default = Reply(content='{"score": 0.9, "reason": "not toxic"}')
    main(["eval", "run", "--db", path, "-e", "toxicity", "--model", "openai/fake", "--api-base", fake_llm.url,
          "--api-key", "k", "--sample", "uniform", "--concurrency", "1", "-q"])
    db = store.connect(path)
    scored = {t for (t,) in db.execute("SELECT DISTINCT trace_id FROM evaluations WHERE name = 'toxicity' "
                                       "AND score IS NOT NULL")}
    failed = {t for (t,) in db.execute("SELECT DISTINCT trace_id FROM evaluations WHERE name = 'toxicity' "
                                       "AND score IS NULL")} - scored
    unjudged = {t for (t,) in db.execute("SELECT trace_id FROM traces")} - scored - failed
    # the judge failed on one trace's only answer; one trace (content capture off) held no answer to judge
    assert (len(scored), len(failed), len(unjudged)) == (7, 1, 1)
    coverage = {"type": "eval_coverage", "evaluator": "toxicity"}
    frame = signals.samples(db, coverage, SampleQuery({}, ()))
    assert dict(zip(frame["trace_id"], frame["v"])) == {
        t: (1.0 if t in scored else 0.0) for t in scored | failed | unjudged}
    assert signals.aggregate(frame["v"].to_numpy(), "rate") == 7 / 9
    feed = signal_frames(db, [("toxicity_coverage", coverage, ())], None, None)["toxicity_coverage"]
    assert feed["t"].tolist() == frame["t"].tolist() and feed["v"].tolist() == frame["v"].tolist()
