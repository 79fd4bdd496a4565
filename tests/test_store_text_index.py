"""The opt-in text index (store.text_index, `tracedesk index text`) gives exactly the traces the span scan
gives: on the sample week and the third week for many search texts (Unicode, case, punctuation,
substrings across word boundaries, no match, texts only in names or only in outputs), after incremental
ingest, re-ingest, in-place changes and deletes, on a connection that cannot write, and on an old file
without the index or with its triggers gone."""
from __future__ import annotations

import random
import sqlite3

import pytest
from text_cases import TEXT_CASES
from weeks.third_fixtures import third_week, third_week_db  # noqa: F401  (pytest fixtures)

from tracedesk import store
from tracedesk.cli import main
from tracedesk.ingest import ingest_paths
from tracedesk.models import Span
from tracedesk.store import query, text_index
from tracedesk.store.query import Filters

T0 = 1_700_000_000_000_000_000
FIXED = ["refund", "REFUND", "sorry, i", "zzz-no-match-anywhere", "?", "'s ", "order #", "gpt-4o", "d t", "the",
         "ÉCOLE", "straße", "e\x1fa", "re", '"quoted" AND NEAR(a b)', "a*", "%_\\"]


def _copy(src: str, dst: str) -> str:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return dst


def _texts_sample(db, n: int, seed: int) -> list[str]:
    """n substrings (3-14 characters, often across a word boundary) of stored names, inputs and outputs."""
    rng = random.Random(seed)
    rows = [r[0] for r in db.execute(
        "SELECT v FROM (SELECT name AS v FROM spans UNION ALL SELECT input_text FROM spans UNION ALL "
        "SELECT output_text FROM spans) WHERE length(v) >= 14")]
    out = []
    for _ in range(n):
        text = rng.choice(rows)
        i = rng.randrange(len(text) - 3)
        piece = text[i:i + rng.randint(3, 14)]
        out.append(piece.upper() if rng.random() < 0.3 else piece)
    return out


def _scan(db, f: Filters) -> tuple[int, list[str]]:
    """Count and traces (duration order) by the span scan: trace_where's own text condition, no index."""
    where, params = query.trace_where(f)
    ids = [r[0] for r in db.execute(f"SELECT t.trace_id FROM traces t WHERE {where} "
                                    f"ORDER BY t.duration_ms, t.trace_id", params)]
    return len(ids), ids


def _traces(db, f: Filters) -> tuple[int, list[str]]:
    """Count and traces (duration order) as the Traces page reads them (the index when there is one)."""
    query.forget_text_matches(db)
    return query.count_traces(db, f), query.traces(db, f, sort="duration_ms", descending=False,
                                                    columns=("trace_id",))["trace_id"].tolist()


def _filters(texts: list[str]) -> list[Filters]:
    out = [Filters(text=t) for t in texts]
    out += [Filters(text=t, kinds=["LLM"]) for t in texts[:4]]
    out += [Filters(text=t, statuses=["ERROR"]) for t in texts[:4]]
    return out


def _assert_same(db, filters: list[Filters]) -> int:
    """Every filter gives the scan's count and traces; returns how many found something."""
    found = 0
    for f in filters:
        want = _scan(db, f)
        assert _traces(db, f) == want, f
        found += want[0] > 0
    return found


@pytest.mark.parametrize("week", ["sample", "third"])
def test_the_index_finds_exactly_what_the_scan_finds_on_two_weeks(week, sample_db_path, third_week_db, tmp_path):
    db = store.connect(_copy(sample_db_path if week == "sample" else third_week_db.db, str(tmp_path / "w.db")))
    assert text_index.build(db) == db.execute("SELECT COUNT(*) FROM spans").fetchone()[0]
    assert text_index.usable(db)
    found = _assert_same(db, _filters(FIXED + _texts_sample(db, 16, seed=len(week))))
    assert found >= 16  # the sampled pieces exist, so they match (not a test of empty answers)


def test_only_text_answerable_searches_read_the_index():
    assert text_index.answers("abc") and text_index.answers("ßa".casefold())  # "ssa"
    assert not text_index.answers("ab") and not text_index.answers("a\x1fb") and not text_index.answers("a\x00bc")


# -- a small store whose every change is known ----------------------------------------------------------

TEXTS = {
    **TEXT_CASES,
    9: ("refund tool", None, None),  # only in a span's name
    10: ("ask", None, "we cannot refund that"),  # only in an output
}
SEARCHES = {
    "école": [1], "ÉCOLE": [1], "strasse": [2, 3], "straße": [2, 3], "σίσυφος": [4], "100%": [5], "r_s": [5],
    "\\temp\\": [7], "refund": [6, 8, 9, 10], "REFUND-NUL": [8], "e\x00a": [8], "no such text": [],
    "t r": [10], "nd t": [9, 10], "ask": [1, 2, 3, 5, 6, 7, 8, 10], "ascii refund" + "x" * 60_000: [],
}


def _span(i: int, name: str, inp: str | None, out: str | None, *, span: int = 0, model: str = "m",
          kind: str = "LLM") -> Span:
    start = T0 + i * 1_000_000
    return Span(trace_id=f"{i:032x}", span_id=f"{i:08x}{span:08x}", name=name, kind=kind, model=model,
                start_ns=start, end_ns=start + 10 + span, input_text=inp, output_text=out,
                parent_span_id=None if span == 0 else f"{i:08x}{0:08x}")


def _found(db, text: str, **more) -> list[int]:
    query.forget_text_matches(db)
    ids = sorted(int(t, 16) for t in query.traces(db, Filters(text=text, **more))["trace_id"])
    assert query.count_traces(db, Filters(text=text, **more)) == len(ids)
    return ids


@pytest.fixture
def small(db_path):
    db = store.connect(db_path)
    store.write_batch(db, [_span(i, *t) for i, t in TEXTS.items()])
    return db


@pytest.mark.parametrize("indexed", [False, True], ids=["scan", "index"])
@pytest.mark.parametrize("text", list(SEARCHES))
def test_fold_punctuation_and_nul_cases_with_and_without_the_index(small, indexed, text):
    if indexed:
        text_index.build(small)
    assert _found(small, text) == SEARCHES[text]


def test_new_changed_and_deleted_spans_are_searched_before_and_after_a_refresh(small, db_path):
    text_index.build(small)
    assert text_index.stats(small) == {"upto": 10, "documents": 10, "garbage": 0, "next_doc": 11, "pending": 0}
    store.write_batch(small, [
        _span(11, "ask", "a new REFUND question", "ok"),  # a new trace
        _span(2, "lookup", "ok", "strasse refund", span=1),  # a new span of an indexed trace
        _span(6, "ask", "plain ascii question", "ok"),  # replaced in place: "refund" is gone from trace 6
    ])
    reader = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)  # cannot fold the new rows in
    ro = store.connect(__import__("sqlite_utils").Database(reader))
    assert text_index.pending(ro)
    want = {"refund": [2, 8, 9, 10, 11], "strasse": [2, 3], "ascii": [6], "question": [6, 11], "t r": [10]}
    for text, ids in want.items():
        assert _found(ro, text) == ids, text
    assert text_index.pending(ro)  # read-only: nothing was written
    for text, ids in want.items():  # this connection can write: the first search folds them in
        assert _found(small, text) == ids, text
    assert text_index.stats(small) == {"upto": 12, "documents": 12, "garbage": 1, "next_doc": 14, "pending": 0}
    # an in-place UPDATE (the triggers) and a delete
    store.ingest.patch_span_messages(small, [((f"{3:032x}", f"{3:08x}{0:08x}"), {"output_text": "open road"})])
    small.conn.commit()
    small.execute("DELETE FROM spans WHERE trace_id = ?", [f"{10:032x}"])
    small.conn.commit()
    assert _found(ro, "straße") == [2] and _found(ro, "open road") == [3] and _found(ro, "refund") == [2, 8, 9, 11]
    assert _found(small, "straße") == [2] and _found(small, "refund") == [2, 8, 9, 11]
    assert text_index.stats(small)["pending"] == 0


def test_a_rewritten_span_whose_texts_did_not_change_keeps_its_document(small):
    # trace 6 gets two more spans, stored (rowid order) against their primary-key order
    store.write_batch(small, [_span(6, "b", "second", "x", span=3), _span(6, "a", "first", "y", span=2)])
    text_index.build(small)
    docs = small.execute("SELECT * FROM text_docs ORDER BY doc").fetchall()
    assert docs[5][:4] == (6, f"{6:032x}", 6, 12)
    longer = _span(6, *TEXTS[6])
    longer.end_ns += 5  # replaced (another duration), same texts: the writer marks the trace all the same
    store.write_batch(small, [longer, _span(7, "ask", "C:\\Temp\\old", "ok")])
    assert small.execute("SELECT trace_id FROM text_stale ORDER BY trace_id").fetchall() == [(f"{6:032x}",),
                                                                                              (f"{7:032x}",)]
    assert _found(small, "refund") == [6, 8, 9, 10] and _found(small, "\\temp\\") == [7]
    assert _found(small, "\\new") == [] and _found(small, "\\old") == [7]
    after = small.execute("SELECT * FROM text_docs ORDER BY doc").fetchall()
    assert after[:9] == docs[:6] + docs[7:]  # trace 6's document kept, trace 7's replaced
    assert after[-1][:4] == (11, f"{7:032x}", 7, 7) and after[-1][4] != docs[6][4]
    assert text_index.stats(small) == {"upto": 12, "documents": 10, "garbage": 1, "next_doc": 12, "pending": 0}


def test_one_span_must_hold_the_text_and_the_other_span_conditions(small):
    store.write_batch(small, [_span(12, "route", "refund please", None, kind="CHAIN", model=None),
                              _span(12, "llm", "hello", "hi", span=1, model="gpt")])
    for indexed in (False, True):
        if indexed:
            text_index.build(small)
        assert _found(small, "refund please") == [12]
        assert _found(small, "refund please", models=["gpt"]) == []
        assert _found(small, "hello", models=["gpt"]) == [12]
        assert _found(small, "refund", kinds=["LLM"]) == [6, 8, 9, 10]


def test_an_old_file_and_an_index_without_its_triggers_are_scanned(small):
    assert not text_index.present(small) and _found(small, "refund") == [6, 8, 9, 10]
    text_index.build(small)
    small.execute("DROP TRIGGER text_stale_span_upd")  # what a later migration rebuilding spans would do
    small.conn.commit()
    store.write_batch(small, [_span(6, "ask", "plain ascii question", "ok")])
    assert text_index.present(small) and not text_index.usable(small)
    assert _found(small, "refund") == [8, 9, 10]
    assert text_index.build(small) == 10  # rebuilt from scratch
    assert text_index.usable(small) and _found(small, "refund") == [8, 9, 10]
    text_index.drop(small)
    assert not text_index.present(small) and _found(small, "refund") == [8, 9, 10]


def test_ingest_keeps_the_index_current_and_a_reingest_stores_nothing_twice(tmp_path):
    from tracedesk.sample.generator import generate

    generate(tmp_path / "in", days=3, traces_per_hour=3, seed=13)
    files = sorted(str(p) for p in (tmp_path / "in").glob("traces-*.json.gz"))
    assert len(files) == 3
    path = str(tmp_path / "w.db")
    ingest_paths(path, files[:1])
    db = store.connect(path)
    text_index.build(db)
    before = text_index.stats(db)
    db.close()
    ingest_paths(path, files[1:])
    db = store.connect(path)
    after = text_index.stats(db)
    spans = db.execute("SELECT MAX(rowid) FROM spans").fetchone()[0]
    assert after["upto"] == spans > before["upto"] and after["pending"] == 0  # folded in by the ingest itself
    assert after["garbage"] == 0 and after["documents"] > before["documents"]
    docs = db.execute("SELECT doc, trace_id FROM text_docs ORDER BY doc").fetchall()
    db.close()
    ingest_paths(path, files)  # again: every span unchanged
    db = store.connect(path)
    assert text_index.stats(db) == after
    assert db.execute("SELECT doc, trace_id FROM text_docs ORDER BY doc").fetchall() == docs
    assert db.execute("SELECT MAX(rowid), COUNT(*) FROM spans").fetchone() == (spans, spans)
    assert _assert_same(db, _filters(FIXED[:6] + _texts_sample(db, 8, seed=3))) >= 8


def test_cli_builds_reports_and_drops(small, db_path, capsys):
    small.close()

    def run(*more: str) -> str:
        assert main(["index", "text", "--db", db_path, *more]) == 0
        return capsys.readouterr().out

    assert run("--status") == "No text index: text searches read every span. Build it with: tracedesk index text\n"
    out = run()
    assert out.startswith("Text index up to date: 10 spans read in ") and out.endswith(" s; 10 documents.\n")
    assert run("--status") == ("Text index: spans up to rowid 10 indexed in 10 documents (0 replaced documents "
                               "still in the postings); up to date.\n")
    assert run("--drop") == "Text index dropped.\n"
    assert not text_index.present(store.connect(db_path))
    assert run("--drop") == "There was no text index.\n"


def test_the_page_note_says_how_to_make_a_scanning_search_fast(small, monkeypatch):
    assert text_index.scan_note(small, "refund", " --db x.db") is None  # 10 spans: a scan is quick
    monkeypatch.setattr(text_index, "HINT_SPANS", 10)
    assert text_index.scan_note(small, "refund", " --db x.db") == (
        "Text search reads all ~10 spans (about 1 s of CPU per million). `tracedesk index text --db x.db` builds an "
        "index that answers in milliseconds (~270 bytes per span on disk; ingest keeps it current).")
    assert text_index.scan_note(small, None) is None
    text_index.build(small)
    assert text_index.scan_note(small, "refund") is None
    assert text_index.scan_note(small, "re") == ("Searches under 3 characters (or holding control characters) read "
                                                 "every span: the text index holds 3-character pieces.")
    small.execute("DROP TRIGGER text_stale_span_del")
    assert text_index.scan_note(small, "refund") == (
        "The text index lost its triggers (a migration rebuilt the spans table), so text searches read every span; "
        "rebuild it with `tracedesk index text --rebuild`.")
