"""Refused traces kept in the database (store.refused_kept): a new connection reads them instead of
checking every answer, and the set stays exactly what checking every answer gives after new spans,
spans replaced by a re-ingest, in-place SQL updates, new phrase settings and dropped triggers."""
from __future__ import annotations

import sqlite3

import pytest

from tracedesk.analysis import metrics
from tracedesk.models import Span
from tracedesk.store import connect, refused_kept, samples, write_batch
from tracedesk.store import text_checks

T0 = 1_763_942_400_000_000_000
MS = 1_000_000
REFUSAL = "I can't help with that."
FINE = "Sure, the invoice is attached."
TEXTS = [REFUSAL, FINE, FINE, "Write to jane.doe@example.com for a refund.", "I cannot assist with that request."]


def _spans(texts: list[str], first: int = 0) -> list[Span]:
    out = []
    for j, text in enumerate(texts):
        i = first + j
        tid, start = f"{i + 1:032x}", T0 + i * 60_000 * MS
        out.append(Span(trace_id=tid, span_id=f"{2 * i + 1:016x}", parent_span_id=None, name="request",
                        kind="CHAIN", start_ns=start, end_ns=start + 1000 * MS, duration_ms=1000.0, status="OK",
                        output_text=text))
        out.append(Span(trace_id=tid, span_id=f"{2 * i + 2:016x}", parent_span_id=f"{2 * i + 1:016x}",
                        name="answer", kind="LLM", start_ns=start + MS, end_ns=start + 900 * MS,
                        duration_ms=899.0, status="OK", model="m", output_text=text))
    return out


def _tid(i: int) -> str:
    return f"{i + 1:032x}"


def _fresh(path: str) -> set[str]:
    """refused_trace_ids on a new connection."""
    db = connect(path)
    try:
        return samples.refused_trace_ids(db)
    finally:
        db.conn.close()


def _every_answer(path: str) -> set[str]:
    """The definition, without the store: each LLM output through the detector."""
    db = connect(path)
    try:
        det = samples.refusal_detector(db)
        rows = db.execute("SELECT trace_id, output_text FROM spans WHERE kind = 'LLM' AND output_text IS NOT NULL")
        return {t for t, text in rows if det.is_refusal(samples._text(text)[:3200])}
    finally:
        db.conn.close()


def _kept_rows(path: str) -> list[str]:
    with sqlite3.connect(path) as c:
        return sorted(r[0] for r in c.execute(f"SELECT trace_id FROM {refused_kept.REFUSED}"))


@pytest.fixture()
def path(tmp_path) -> str:
    p = str(tmp_path / "t.db")
    db = connect(p)
    write_batch(db, _spans(TEXTS))
    db.conn.close()
    return p


def test_kept_set_is_the_checked_set_and_a_new_connection_checks_nothing(path, monkeypatch):
    assert _fresh(path) == {_tid(0), _tid(4)} == _every_answer(path)
    assert _kept_rows(path) == [_tid(0), _tid(4)]

    def fail(self, text):
        raise AssertionError(f"checked again: {text!r}")

    monkeypatch.setattr(text_checks.Remembered, "__call__", fail)
    assert _fresh(path) == {_tid(0), _tid(4)}


def test_an_up_to_date_read_writes_nothing(path):
    _fresh(path)
    db = connect(path)
    before = db.conn.total_changes
    assert samples.refused_trace_ids(db) == {_tid(0), _tid(4)}
    assert db.conn.total_changes == before
    db.conn.close()


def test_new_spans_only_are_checked(path, monkeypatch):
    _fresh(path)
    db = connect(path)
    write_batch(db, _spans([FINE, REFUSAL], first=len(TEXTS)))
    db.conn.close()
    checked: list[str] = []
    real = text_checks.Remembered.__call__

    def spy(self, text):
        checked.append(samples._text(text))
        return real(self, text)

    monkeypatch.setattr(text_checks.Remembered, "__call__", spy)
    assert _fresh(path) == {_tid(0), _tid(4), _tid(6)} == _every_answer(path)
    assert sorted(checked) == sorted([FINE, REFUSAL])


def test_a_reingest_that_replaces_answers_is_seen(path):
    assert _fresh(path) == {_tid(0), _tid(4)}
    db = connect(path)
    # trace 0's answer no longer refuses, trace 1's now does (same span ids: replaced in place)
    write_batch(db, [s for s in _spans([FINE, REFUSAL]) if s.kind == "LLM"])
    db.conn.close()
    assert _fresh(path) == {_tid(1), _tid(4)} == _every_answer(path)


def test_an_update_by_sql_is_seen(path):
    assert _fresh(path) == {_tid(0), _tid(4)}
    with sqlite3.connect(path) as c:
        c.execute("UPDATE spans SET output_text = ? WHERE kind = 'LLM' AND trace_id = ?", [FINE, _tid(4)])
        c.execute("UPDATE spans SET output_text = ? WHERE kind = 'LLM' AND trace_id = ?", [REFUSAL, _tid(2)])
        c.execute("UPDATE spans SET kind = 'CHAIN' WHERE kind = 'LLM' AND trace_id = ?", [_tid(0)])
    assert _fresh(path) == {_tid(2)} == _every_answer(path)


def test_a_deleted_top_span_and_a_new_one_in_its_rowid_are_seen(path):
    assert _fresh(path) == {_tid(0), _tid(4)}
    with sqlite3.connect(path) as c:
        top = c.execute("SELECT MAX(rowid) FROM spans").fetchone()[0]
        assert c.execute("SELECT trace_id, kind FROM spans WHERE rowid = ?", [top]).fetchone() == (_tid(4), "LLM")
        c.execute("DELETE FROM spans WHERE rowid = ?", [top])
        c.execute("INSERT INTO spans (trace_id, span_id, kind, output_text) VALUES (?, 'aa', 'LLM', ?)",
                  [_tid(3), REFUSAL])
        assert c.execute("SELECT MAX(rowid) FROM spans").fetchone()[0] == top  # the rowid given again
    assert _fresh(path) == {_tid(0), _tid(3)} == _every_answer(path)


def test_new_phrase_settings_start_over(path):
    assert _fresh(path) == {_tid(0), _tid(4)}
    db = connect(path)
    samples.save_refusal_phrases(db, ["sure, the invoice"], [])
    db.conn.close()
    assert _fresh(path) == {_tid(0), _tid(1), _tid(2), _tid(4)} == _every_answer(path)
    with sqlite3.connect(path) as c:
        assert c.execute(f"SELECT COUNT(DISTINCT checker) FROM {refused_kept.SCANS}").fetchone() == (1,)


def test_dropped_triggers_rebuild_the_set(path):
    assert _fresh(path) == {_tid(0), _tid(4)}
    with sqlite3.connect(path) as c:
        for name in refused_kept.TRIGGERS:
            c.execute(f"DROP TRIGGER {name}")
        c.execute("UPDATE spans SET output_text = ? WHERE kind = 'LLM' AND trace_id = ?", [FINE, _tid(0)])
    assert _fresh(path) == {_tid(4)} == _every_answer(path)
    with sqlite3.connect(path) as c:
        names = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert set(refused_kept.TRIGGERS) <= names


def test_a_read_only_file_gives_the_same_set_and_keeps_nothing(path):
    import sqlite_utils

    ro = sqlite_utils.Database(sqlite3.connect(f"file:{path}?mode=ro", uri=True))
    assert samples.refused_trace_ids(ro) == {_tid(0), _tid(4)}
    ro.conn.close()
    with sqlite3.connect(path) as c:
        assert c.execute("SELECT name FROM sqlite_master WHERE name = ?", [refused_kept.SCANS]).fetchall() == []


def test_cohort_refusal_rate_is_the_same_from_the_kept_set(path):
    first = metrics.cohort_matrix(connect(path), "model")
    again = metrics.cohort_matrix(connect(path), "model")  # a new connection: the kept set
    assert first["refusal_rate"].tolist() == again["refusal_rate"].tolist() == [0.4, 0.4]
