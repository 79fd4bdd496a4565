"""Refusal and PII verdicts the feed keeps in the database (store.text_checks): reused by a new
connection, redone when the checker's settings or a text change, and the feed's values unchanged."""
from __future__ import annotations

import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracedesk.analysis import refusals
from tracedesk.models import Span
from tracedesk.store import connect, text_checks, write_batch
from tracedesk.store.feed import signal_frames
from tracedesk.store.samples import save_refusal_phrases

T0 = 1_763_942_400_000_000_000
MS = 1_000_000
TEXTS = ["I can't help with that.", "Sure, the invoice is attached.", "Sure, the invoice is attached.",
         "Write to jane.doe@example.com for a refund."]
WANTED = [("refusal_rate", {"type": "refusal_rate_answer"}, ()), ("pii_rate", {"type": "pii_rate"}, ())]


def _db(path: str):
    db = connect(path)
    spans = []
    for i, text in enumerate(TEXTS):
        tid, start = f"{i + 1:032x}", T0 + i * 60_000 * MS
        spans.append(Span(trace_id=tid, span_id=f"{2 * i + 1:016x}", parent_span_id=None, name="request",
                          kind="CHAIN", start_ns=start, end_ns=start + 1000 * MS, duration_ms=1000.0, status="OK",
                          output_text=text))
        spans.append(Span(trace_id=tid, span_id=f"{2 * i + 2:016x}", parent_span_id=f"{2 * i + 1:016x}",
                          name="answer", kind="LLM", start_ns=start + MS, end_ns=start + 900 * MS,
                          duration_ms=899.0, status="OK", model="m", output_text=text))
    write_batch(db, spans)
    return db


def _values(path: str) -> dict[str, list[float]]:
    frames = signal_frames(connect(path), WANTED, None, None)
    return {name: frames[name]["v"].tolist() for name, _s, _g in WANTED}


def _kept(path: str) -> list[tuple[str, int]]:
    """(check, verdict) of every text verdict kept, whatever the part it is stored in."""
    with sqlite3.connect(path) as c:
        return sorted((k.split(":")[0], r) for k, digests, results in
                      c.execute("SELECT checker, digests, results FROM text_verdicts")
                      for _d, r in text_checks._unpacked(digests, results))


def test_verdicts_are_kept_and_a_new_connection_does_not_check_again(tmp_path, monkeypatch):
    path = str(tmp_path / "t.db")
    _db(path)
    assert _values(path) == {"refusal_rate": [1.0, 0.0, 0.0, 0.0], "pii_rate": [0.0, 0.0, 0.0, 1.0]}
    # one verdict per distinct text and check (the repeated answer is checked once)
    assert _kept(path) == [("pii", 0), ("pii", 0), ("pii", 1), ("refusal", 0), ("refusal", 0), ("refusal", 1)]

    def fail(self, text):
        raise AssertionError(f"checked again: {text!r}")

    monkeypatch.setattr(refusals.RefusalDetector, "is_refusal", fail)
    assert _values(path)["refusal_rate"] == [1.0, 0.0, 0.0, 0.0]


def test_new_phrase_settings_and_changed_texts_are_checked_again(tmp_path):
    path = str(tmp_path / "t.db")
    db = _db(path)
    assert _values(path)["refusal_rate"] == [1.0, 0.0, 0.0, 0.0]
    save_refusal_phrases(db, ["sure, the invoice"], [])
    assert _values(path)["refusal_rate"] == [1.0, 1.0, 1.0, 0.0]
    # the verdicts of the old settings are gone, those of the new ones kept
    assert [r for k, r in _kept(path) if k == "refusal"] == [0, 1, 1]
    save_refusal_phrases(db, [], [])
    db.execute("UPDATE spans SET output_text = 'I cannot assist with that request.' WHERE kind = 'LLM' "
               "AND trace_id = ?", [f"{4:032x}"])
    db.conn.commit()
    assert _values(path)["refusal_rate"] == [1.0, 0.0, 0.0, 1.0]


def test_a_database_in_a_callers_transaction_is_read_but_not_written(tmp_path):
    path = str(tmp_path / "t.db")
    db = _db(path)
    db.conn.execute("BEGIN")  # an open transaction of the caller
    db.conn.execute("INSERT INTO settings VALUES ('x', '1')")
    frames = signal_frames(db, WANTED, None, None)
    assert frames["refusal_rate"]["v"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert db.conn.in_transaction
    db.conn.rollback()
    with sqlite3.connect(path) as c:
        assert c.execute("SELECT name FROM sqlite_master WHERE name LIKE 'text_%'").fetchall() == []



def test_packed_verdicts_round_trip_digests_ending_in_zero_bytes():
    """Digests are raw 16-byte records: one ending in zero bytes (or all zeros) keeps every byte."""
    items = [(b"\x00" * 16, 1), (b"a" + b"\x00" * 15, -3), (bytes(range(16)), 300), (b"\xff" * 16, 0)]
    digests, results = text_checks._packed_arrays(*text_checks._joined(items))
    assert text_checks._unpacked(digests, results) == sorted(items)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(alphabet="abcx", max_size=4), max_size=40), fold_at=st.integers(1, 5),
       seen_chars=st.sampled_from([0, 6, 1000]))
def test_verdicts_folded_into_the_compact_table_answer_like_a_dict(tmp_path_factory, monkeypatch, texts, fold_at,
                                                                   seen_chars):
    """New verdicts move from the dict into the sorted table every FOLD_AT: each distinct text is checked once
    whatever the fold and the text cache hold, every answer is the check's, and a save then a new connection
    reads every verdict back (none checked again)."""
    monkeypatch.setattr(text_checks, "FOLD_AT", fold_at)
    monkeypatch.setattr(text_checks, "SEEN_CHARS", seen_chars)
    path = str(tmp_path_factory.mktemp("fold") / "t.db")
    db = connect(path)
    calls: list[str] = []

    def verdict(text: str) -> int:
        return text.count("x") - 2 * text.count("a")

    def check(text: str) -> int:
        calls.append(text)
        return verdict(text)

    r = text_checks.Remembered(db, "probe:1", check)
    assert [r(t) for t in texts] == [verdict(t) for t in texts]
    assert sorted(calls) == sorted(set(texts))
    assert len(r.new) < fold_at and len(r.pending()[1]) == len(set(texts))
    assert text_checks.save(db, [r]) == len(set(texts)) and len(r.pending()[1]) == 0
    assert r.verdicts() == {text_checks.digest(t): verdict(t) for t in set(texts)}
    calls.clear()
    again = text_checks.Remembered(connect(path), "probe:1", check)
    assert [again(t) for t in texts] == [verdict(t) for t in texts]
    assert calls == []  # every verdict read back from the database


def test_the_table_tells_digests_that_share_their_first_eight_bytes_apart():
    a, b, c = b"\x01" * 8 + b"A" * 8, b"\x01" * 8 + b"B" * 8, b"\x02" * 16
    table = text_checks._Table().with_items(*text_checks._joined([(a, 5), (c, -7)])).with_items(
        *text_checks._joined([(b, 300)]))
    assert (table.get(a), table.get(b), table.get(c), table.get(b"\x01" * 8 + b"C" * 8), len(table)) == (5, 300, -7,
                                                                                                          None, 3)
    assert text_checks._Table().get(a) is None


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.binary(min_size=16, max_size=16).map(lambda b: b[:3] + b"\x00" * 12 + b[3:4]),
                          st.integers(-2**40, 2**40)), max_size=30))
def test_packed_arrays_sort_as_bytes_and_keep_the_last_verdict_of_a_digest(items):
    """The save path packs numpy arrays, not pairs: the digests in byte order (as sorted() orders bytes), one
    per digest with its last verdict (what {**old, **new} kept before)."""
    packed, results = text_checks._packed_arrays(*text_checks._joined(items))
    assert text_checks._unpacked(packed, results) == sorted(dict(items).items())
