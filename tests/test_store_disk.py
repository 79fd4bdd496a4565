"""Smaller on disk (issue 13, migration m505) without losing anything.

Messages and documents are deflated, source and scope dictionary-coded, the content hash kept as bytes,
the model/agent indexes partial. Every column of every span of a varied corpus (the real-SDK captures,
the sample generator's traffic, unusual hand-made spans) must read back as the exact text the writer
was given; a database of the previous schema migrates in place and reads back the same.
"""
from __future__ import annotations

import gzip
import sqlite3

import sqlite_utils
from hypothesis import given, settings
from hypothesis import strategies as st

from tracedesk.ingest import parse_bytes
from tracedesk.models import Span
from tracedesk.store import MIGRATIONS, _WRITE_COLUMNS, connect, migrate, span_row, write_batch
from tracedesk.store import live, query
from tracedesk.store.blobs import CODED_COLUMNS, COMPRESSED_COLUMNS, Codec, column_sql, m502_compact_columns, \
    m505_span_strings
from tracedesk.store.connect import PAGE_SIZE
from tracedesk.store.migrations import PARTIAL_SPAN_INDEXES

from captures_support import CAPTURES, MANIFEST

_READ = ", ".join(f"{column_sql(c)} AS {c}" for c in _WRITE_COLUMNS)


def _stored(db: sqlite_utils.Database) -> dict[tuple[str, str], tuple]:
    """Every written column of every span as the store's readers see it (hash as hex)."""
    out = {}
    for row in db.execute(f"SELECT {_READ} FROM spans s"):
        values = list(row)
        h = _WRITE_COLUMNS.index("content_hash")
        values[h] = values[h].hex() if isinstance(values[h], bytes) else values[h]
        out[(row[0], row[1])] = tuple(values)
    return out


def _capture_spans() -> list[Span]:
    spans: list[Span] = []
    for c in MANIFEST["captures"]:
        for name in c["files"]:
            path = CAPTURES / name
            data = path.read_bytes()
            if name.endswith(".gz"):
                data = gzip.decompress(data)
            spans.extend(parse_bytes(data, str(path)).spans)
    return spans


def _odd_spans() -> list[Span]:
    """Values chosen to break a coding: marks, separators, non-canonical numbers, non-ASCII digits."""
    sources = ["@1", "@1.2.3.4", "@7:9", "x.json#resourceSpans[0].scopeSpans[01].spans[2]",
               "x.json#resourceSpans[3].scopeSpans[0].spans[12]", "a#b#resourceSpans[0].scopeSpans[0].spans[0]",
               "f.jsonl:12", "f.jsonl:012", "f.jsonl:١٢", "otlp-http", "", "C:\\traces\\a.json:7", "ünï#:",
               "x#resourceSpans[0].scopeSpans[0].spans[0]\n"]
    scopes = ["@2", "", "openinference.instrumentation.openai", None, "🚀 scope"]
    long_text = "You are a careful assistant. " * 40
    out = []
    for i, src in enumerate(sources):
        out.append(Span(
            trace_id="odd", span_id=f"o{i}", name=f"odd {i}", kind="LLM", start_ns=i, end_ns=i + 5,
            source=src, scope=scopes[i % len(scopes)], attributes={"k": "v" * i, "n": i},
            input_messages=[{"role": "system", "content": long_text}, {"role": "user", "content": f"q {i} ✓"}]
            if i % 2 else [{"role": "user", "content": "short"}],
            output_messages=[{"role": "assistant", "content": None,
                              "tool_calls": [{"name": "t", "arguments": "{\"a\": 1}"}]}] if i % 3 == 0 else None,
            documents=[{"id": f"d{i}", "score": 0.25, "content": long_text}] if i % 4 == 0 else None,
            input_text="\u0000 nul, tab\t and ünïcødé" if i == 5 else None,
        ))
    return out


def _previous_schema(path: str) -> sqlite_utils.Database:
    """A database with every migration but m505, written by this release's writer (which then stores
    the forms of the previous schema: plain JSON messages, text source/scope, hex hash)."""
    old = sqlite_utils.Database(path)
    old.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_ns INTEGER)")
    for name, step in MIGRATIONS:
        if name == "m505_smaller_spans":
            continue
        with old.conn:
            step(old)
            old.execute("INSERT INTO _migrations VALUES (?, 0)", [name])
    return old


#: columns the trace summaries never rewrite after the insert (kind, handoffs, usage flags may change)
_AS_WRITTEN = ("attributes", "events", "resource", "input_messages", "output_messages", "documents", "source",
               "scope", "input_text", "output_text", "tool_arguments", "tool_result", "content_hash")


def test_every_column_of_a_varied_corpus_reads_back_exactly(db_path, tmp_path, sample_db_path):
    spans = _capture_spans() + _odd_spans()
    assert len(spans) > 100
    db = connect(db_path)
    old = _previous_schema(str(tmp_path / "previous.db"))
    for target in (db, old):
        write_batch(target, spans[: len(spans) // 2])
        write_batch(target, spans[len(spans) // 2 :])
    stored = _stored(db)
    assert stored == _stored(old)  # every column, as the previous schema stores it
    written = {}
    for s in spans:
        written[(s.trace_id, s.span_id)] = span_row(s)  # the last occurrence wins, as in the store
    pick = [_WRITE_COLUMNS.index(c) for c in _AS_WRITTEN]
    assert {k: [v[i] for i in pick] for k, v in stored.items()} == {k: [v[i] for i in pick] for k, v in written.items()}
    # stored in the compact forms, not as the text
    types = dict(db.execute("SELECT typeof(content_hash), COUNT(*) FROM spans GROUP BY 1").fetchall())
    assert types == {"blob": len(written)}
    assert db.execute("SELECT COUNT(*) FROM spans WHERE substr(source, 1, 1) != '@'").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM spans WHERE typeof(input_messages) = 'blob'").fetchone()[0] > 10
    # the public reader decodes the JSON columns
    odd = query.trace_spans(db, "odd").set_index("span_id")
    assert odd.loc["o3", "input_messages"][0]["content"].startswith("You are a careful assistant.")
    assert odd.loc["o0", "source"] == "@1" and odd.loc["o2", "source"] == "@7:9"
    assert odd.loc["o7", "source"] == "f.jsonl:012"
    # re-writing the same content is recognised as unchanged (hash bytes compared as hex)
    again = write_batch(db, spans)
    assert again.inserted == 0 and again.replaced == len(spans) - len(written) and again.unchanged == len(written)
    # the sample week stored by ingest also holds only coded sources that decode to file locations
    sample = connect(sample_db_path)
    got = [r[0] for r in sample.execute("SELECT td_str(source) FROM spans LIMIT 200")]
    assert all("#resourceSpans[" in g for g in got)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("@#:.0123456789[]resourceSpansscopeSpansspans١é\n")), max_size=60)
       | st.text(max_size=40))
def test_any_source_or_scope_round_trips(text):
    conn = sqlite3.connect(":memory:")
    db = sqlite_utils.Database(conn)
    m502_compact_columns(db)
    m505_span_strings(db)
    c = Codec(conn)
    assert c.decode_str(c.encode_source(text)) == text
    assert c.decode_str(c.encode_str(text)) == text
    assert c.encode_source(text).startswith("@")


def test_a_database_of_the_previous_schema_migrates_in_place(db_path):
    old = _previous_schema(db_path)
    spans = _capture_spans()[:150] + _odd_spans()
    write_batch(old, spans)  # the writer of a handle at the previous schema: plain forms
    assert old.execute("SELECT COUNT(*) FROM spans WHERE typeof(content_hash) = 'text'").fetchone()[0] > 0
    before = _stored(old)
    old.conn.close()

    db = connect(db_path)
    assert [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY rowid")][-1] == "m505_smaller_spans"
    assert _stored(db) == before
    assert db.execute("SELECT COUNT(*) FROM spans WHERE typeof(content_hash) != 'blob' "
                      "OR substr(source, 1, 1) != '@'").fetchone()[0] == 0
    for column in ("input_messages", "output_messages", "documents"):
        assert db.execute(f"SELECT COUNT(*) FROM spans WHERE typeof({column}) = 'text' AND length({column}) >= 96"
                          ).fetchone()[0] == 0, column
    indexes = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'spans'"
                              ).fetchall())
    for name, column in PARTIAL_SPAN_INDEXES.items():
        assert indexes[name].endswith(f"WHERE {column} IS NOT NULL")
    again = write_batch(db, spans)
    assert again.inserted == 0 and again.unchanged == len(_stored(db))
    assert migrate(db) == []


def test_new_files_use_the_larger_page_and_readers_find_coded_sources(db_path):
    db = connect(db_path)
    assert db.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE
    spans = [Span(trace_id="t", span_id=f"s{i}", name="n", start_ns=i, end_ns=10 + i, source="otlp-http")
             for i in range(3)] + [Span(trace_id="u", span_id="x", name="n", start_ns=1, end_ns=2, source="file.json")]
    write_batch(db, spans)
    assert live.received_counts(db, "otlp-http", since_ns=11) == (3, 2, 12)
    assert [r[-1] for r in live.recent_received(db, "otlp-http", 2)] == ["s2", "s1"]
    assert live.received_counts(db, "never-seen", since_ns=0) == (0, 0, None)
    # every coded or compressed column has a reader
    assert {column_sql(c).split("(")[0] for c in CODED_COLUMNS + COMPRESSED_COLUMNS} == {"td_str", "td_json"}


def _scoped(scope: str, n: int, start: int) -> list[Span]:
    prompt = f"You answer for {scope}: be brief, cite the knowledge base, never guess. " * 4
    return [Span(trace_id=f"{scope}-{(start + i) // 5}", span_id=f"{scope}-{start + i}", name="chat", kind="LLM",
                 start_ns=start + i, end_ns=start + i + 3, scope=scope,
                 attributes={"llm.model_name": "m", "system": prompt, "i": start + i},
                 input_messages=[{"role": "system", "content": prompt}, {"role": "user", "content": f"q{i}"}])
            for i in range(n)]


def test_per_scope_dictionaries_survive_a_failed_batch_and_a_new_connection(db_path):
    db = connect(db_path)
    first = _scoped("alpha", 80, 0)
    write_batch(db, first)
    keys = lambda: sorted(r[0] for r in db.execute("SELECT key FROM blob_dicts WHERE key IS NOT NULL"))  # noqa: E731
    assert keys() == ["a:alpha", "m:alpha"]

    def fail(_db):
        raise RuntimeError("disk full")

    try:
        write_batch(db, _scoped("beta", 80, 0), also=fail)
    except RuntimeError:
        pass
    assert keys() == ["a:alpha", "m:alpha"]  # the failed batch's dictionaries are gone with it
    second = _scoped("beta", 80, 100)  # new dictionaries may take the ids the failed batch used
    write_batch(db, second)
    assert keys() == ["a:alpha", "a:beta", "m:alpha", "m:beta"]
    db.conn.close()

    db = connect(db_path)
    third = _scoped("alpha", 80, 500)
    write_batch(db, third)  # an earlier connection's dictionary is reused, not made again
    assert keys() == ["a:alpha", "a:beta", "m:alpha", "m:beta"]
    written = {(s.trace_id, s.span_id): span_row(s) for s in first + second + third}
    pick = [_WRITE_COLUMNS.index(c) for c in ("attributes", "input_messages", "scope")]
    assert {k: [v[i] for i in pick] for k, v in _stored(db).items()} == \
        {k: [v[i] for i in pick] for k, v in written.items()}
    ids = {r[0] for r in db.execute("SELECT DISTINCT substr(attributes, 2, 1) FROM spans")}
    assert len(ids) >= 2  # stored against more than one dictionary
