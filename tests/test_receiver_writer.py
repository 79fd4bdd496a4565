"""The receiver's single writer: batching, isolation of a failing request, flush on close."""
from __future__ import annotations

import pytest

from tracedesk import store
from tracedesk.models import Evaluation, Span
from tracedesk.receiver.writer import BatchWriter, WriteRequest, WriterClosed, default_write


def _span(i: int, trace: str = "a" * 32) -> Span:
    return Span(trace_id=trace, span_id=f"{i:016x}", name=f"s{i}", start_ns=i, end_ns=i + 10,
                source="otlp-http")


def _count(path: str) -> int:
    db = store.connect(path)
    try:
        return db.execute("SELECT COUNT(*) FROM spans").fetchone()[0]
    finally:
        db.conn.close()


def test_requests_are_batched_and_acknowledged_after_commit(db_path):
    batches: list[int] = []

    def write(db, spans, evaluations, log_messages):
        default_write(db, spans, evaluations, log_messages)
        batches.append(len(spans))

    # A long delay and a size cap of 10: the 3 requests below (4 spans each) must share batches.
    writer = BatchWriter(db_path, max_spans=10, max_delay=30.0, write=write)
    requests = [WriteRequest([_span(i * 4 + k) for k in range(4)]) for i in range(3)]
    futures = [writer.submit(r) for r in requests]
    for f in futures:
        assert f.result() is None  # resolved only once written
    assert sum(batches) == 12
    assert batches[0] == 12  # one batch: 4 + 4 + 4 >= 10 flushed it without waiting for the delay
    assert _count(db_path) == 12
    writer.close()
    assert not writer.alive
    assert writer.stats.spans == 12 and writer.stats.batches == 1


def test_a_failing_request_does_not_fail_its_batch_neighbours(db_path):
    def write(db, spans, evaluations, log_messages):
        if any(s.name == "boom" for s in spans):
            raise ValueError("bad span")
        default_write(db, spans, evaluations, log_messages)

    writer = BatchWriter(db_path, max_spans=100, max_delay=0.2, write=write)
    good1 = writer.submit(WriteRequest([_span(1)]))
    bad = writer.submit(WriteRequest([Span(trace_id="b" * 32, span_id="1" * 16, name="boom")]))
    good2 = writer.submit(WriteRequest([_span(2)], [Evaluation(trace_id="a" * 32, span_id=f"{2:016x}",
                                                                name="refusal", score=1.0)]))
    assert good1.result() is None and good2.result() is None
    with pytest.raises(ValueError, match="bad span"):
        bad.result()
    writer.close()
    assert _count(db_path) == 2
    assert writer.stats.failed_requests == 1
    db = store.connect(db_path)
    assert db.execute("SELECT name, score FROM evaluations").fetchall() == [("refusal", 1.0)]


def test_close_flushes_everything_queued_then_refuses(db_path):
    writer = BatchWriter(db_path, max_spans=1_000_000, max_delay=3600.0)
    futures = [writer.submit(WriteRequest([_span(i)])) for i in range(50)]
    writer.close()  # the hour-long delay must not hold the flush back
    assert all(f.done() and f.exception() is None for f in futures)
    assert _count(db_path) == 50
    with pytest.raises(WriterClosed):
        writer.submit(WriteRequest([_span(99)]))


def test_same_span_posted_twice_is_stored_once(db_path):
    writer = BatchWriter(db_path)
    writer.write(WriteRequest([_span(1), _span(2)]))
    writer.write(WriteRequest([_span(2), _span(3)]))
    writer.close()
    assert _count(db_path) == 3


def test_unopenable_database_fails_at_construction(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        BatchWriter(str(tmp_path / "missing" / "x.db"))


def test_group_commit_requests_arriving_during_a_commit_form_the_next_batch(db_path):
    import threading

    entered, release = threading.Event(), threading.Event()
    batches: list[int] = []

    def write(db, spans, evaluations, log_messages):
        batches.append(len(spans))
        if len(batches) == 1:
            entered.set()
            release.wait()  # a slow commit: more requests arrive meanwhile
        default_write(db, spans, evaluations, log_messages)

    writer = BatchWriter(db_path, write=write)  # default: no waiting, commit what is queued
    first = writer.submit(WriteRequest([_span(1)]))
    entered.wait()
    later = [writer.submit(WriteRequest([_span(10 + i), _span(20 + i)])) for i in range(3)]
    assert not first.done()  # not acknowledged before its commit finished
    release.set()
    assert first.result() is None and all(f.result() is None for f in later)
    writer.close()
    assert batches == [1, 6]
    assert _count(db_path) == 7
