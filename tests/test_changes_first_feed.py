"""The first feed after new data: progress is reported while the stored samples are built (library, CLI),
not once they are current; texts seen on a connection are checked once; the chunks' local codes equal
the per-chunk coding they replace."""
from __future__ import annotations

import json

import numpy as np
import pytest
import pandas as pd
from changes_synth import HOUR, build
from hypothesis import given, settings
from hypothesis import strategies as st

from tracedesk.analysis.changes import find_changes
from tracedesk.cli import main
from tracedesk.store import connect
from tracedesk.store import feed_samples, text_checks

SEGMENTS = {("billing", "acme", "m1"): lambda h: 4, ("refunds", "globex", "m2"): lambda h: 4}
#: the families the synthetic traffic has (no evaluations): LLM spans, answers, RETRIEVER, TOOL spans, traces
STEPS = ["reading LLM spans", "reading answers (root spans)", "reading RETRIEVER spans", "reading TOOL spans",
         "reading traces", "storing the samples"]


def _db(tmp_path) -> str:
    path = str(tmp_path / "t.db")
    build(path, 30, SEGMENTS, lambda seg, h, k: 0.01).conn.close()
    return path


def test_progress_is_reported_while_the_stored_samples_are_built_and_not_after(tmp_path):
    path = _db(tmp_path)
    heard: list[tuple[int, int, str]] = []
    first = find_changes(connect(path), progress=lambda *a: heard.append(a))
    assert heard == [*((i, len(STEPS), what) for i, what in enumerate(STEPS)), (len(STEPS), len(STEPS), "stored")]
    heard.clear()
    again = find_changes(connect(path), progress=lambda *a: heard.append(a))
    assert heard == []  # current: nothing to build, nothing said
    assert [f.to_dict() for f in again] == [f.to_dict() for f in first]


def test_cli_says_on_stderr_that_it_builds_the_stored_samples_once(tmp_path, capsys):
    path = _db(tmp_path)
    assert main(["changes", "--db", path, "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out) == {"findings": []}  # stdout stays the JSON
    assert out.err.splitlines() == ["changes: new data since the last feed; updating its stored samples (once)",
                                    *(f"changes: [{i + 1}/{len(STEPS)}] {what}" for i, what in enumerate(STEPS))]
    assert main(["changes", "--db", path, "--json"]) == 0
    assert capsys.readouterr().err == ""


def test_a_text_seen_on_the_connection_is_checked_once_and_its_verdict_kept(tmp_path):
    db = connect(str(tmp_path / "t.db"))
    calls: list[object] = []

    def check(text: object) -> int:
        calls.append(text)
        return int(isinstance(text, str) and "no" in text)

    r = text_checks.Remembered(db, "probe:1", check)
    assert [r("no way"), r("no way"), r("fine"), r(b"no way"), r("no way")] == [1, 1, 0, 1, 1]
    assert calls == ["no way", "fine"]  # the bytes of a text seen share its digest: not checked again
    assert [r(1), r(1.0), r(True)] == [0, 0, 0]
    assert calls[2:] == [1, 1.0, True]  # equal as dict keys, three texts ("1", "1.0", "True"): each checked
    assert r.seen == {"no way": 1, "fine": 0, b"no way": 1}
    assert len(r.pending()[1]) == len(r.verdicts()) == 5
    assert text_checks.save(db, [r]) == 5 and len(r.pending()[1]) == 0 and len(r.verdicts()) == 5
    fresh = text_checks.Remembered(db, "probe:1", check)
    calls.clear()
    assert fresh("no way") == 1 and calls == []  # from the database, by digest


def _reference(codes: np.ndarray, cells: list[object], bounds: list[tuple[int, int]]
               ) -> tuple[np.ndarray, list[list[object]]]:
    """The per-chunk coding store.feed_samples used before: one factorize per chunk."""
    out = np.empty(len(codes), dtype=np.int64)
    per_chunk = []
    for a, b in bounds:
        local, uniq = pd.factorize(codes[a:b])
        present = uniq >= 0
        remap = np.where(present, np.cumsum(present) - 1, -1)
        out[a:b] = remap[local]
        per_chunk.append([cells[int(x)] for x in uniq[present]])
    return out, per_chunk


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 6), st.lists(st.tuples(st.integers(1, 12), st.integers(0, 2**31 - 1)), min_size=1, max_size=8))
def test_local_codes_equal_the_per_chunk_coding(n_cells, chunks):
    rng_codes, bounds, chunk_of = [], [], []
    pos = 0
    for i, (size, seed) in enumerate(chunks):
        rng = np.random.default_rng(seed)
        rng_codes.append(rng.integers(-1, n_cells, size))
        bounds.append((pos, pos + size))
        chunk_of += [i] * size
        pos += size
    codes = np.concatenate(rng_codes).astype(np.int64)
    cells = [f"cell{j}" for j in range(n_cells)]
    got_codes, got_cells = feed_samples._local_codes(codes, cells, np.asarray(chunk_of), len(chunks))
    want_codes, want_cells = _reference(codes, cells, bounds)
    assert got_codes.tolist() == want_codes.tolist()
    assert got_cells == want_cells


def test_chunks_of_one_hour_each_keep_their_own_cells(tmp_path):
    t0 = 1_763_942_400_000_000_000
    frame = pd.DataFrame({"t": [t0, t0 + 1, t0 + HOUR, t0 + HOUR + 5, t0 + 3 * HOUR],
                          "v": [1.0, 2.0, 3.0, 4.0, 5.0],
                          "route": pd.Categorical.from_codes([1, 0, 0, -1, 1], ["a", "b"])})
    codes, per_chunk = feed_samples._local_codes(*feed_samples._cells_of(frame["route"]),
                                                 np.array([0, 0, 1, 1, 2]), 3)
    assert codes.tolist() == [0, 1, 0, -1, 0]
    assert per_chunk == [["b", "a"], ["a"], ["b"]]


@pytest.fixture(scope="module")
def varied_db(tmp_path_factory) -> str:
    """Two steady segments and one that sends a trace every fifth hour (a cell absent from most hours)."""
    path = str(tmp_path_factory.mktemp("varied") / "t.db")
    segments = {**SEGMENTS, ("search", "initech", "m3"): lambda h: 1 if h % 5 == 2 else 0}
    build(path, 30, segments, lambda seg, h, k: 0.01 * (1 + k % 3)).conn.close()
    return path


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.none(), st.integers(-2 * HOUR, 32 * HOUR)), st.one_of(st.none(), st.integers(0, 32 * HOUR)))
def test_frames_of_a_whole_refresh_equal_the_chunks_read_back(varied_db, since, until):
    from pandas.testing import assert_frame_equal

    from tracedesk.analysis.changes import DEFAULT_DIMENSIONS, OWN_DIMENSIONS, feed_signals, wanted_reads
    from tracedesk.store import feed, query

    t0 = 1_763_942_400_000_000_000
    since_ns = None if since is None else t0 + since
    until_ns = None if until is None else t0 + until
    db = connect(varied_db)
    wanted = wanted_reads(feed_signals(query.evaluator_names(db)), [*DEFAULT_DIMENSIONS, *OWN_DIMENSIONS])
    db.conn.execute("DELETE FROM feed_chunks")  # as after an ingest: no stored set yet
    db.conn.execute("DELETE FROM feed_sample_sets")
    db.conn.commit()
    fresh: dict[str, pd.DataFrame] = {}
    ids = feed_samples.refresh(db, feed_samples._families(db, wanted), fresh=fresh)
    assert ids is not None and set(fresh) == set(ids)  # a first refresh reads every set whole
    assert {name for name, f in fresh.items() if len(f)} == {  # the sets this traffic has samples of (no root
        # span has an output: no PII sample; no RETRIEVER or TOOL span, no evaluation)
        "refusal_rate", "llm_latency", "trace_latency", "cost_per_trace", "error_rate",
        "tool_calls_per_trace", "llm_calls_per_trace", "input_tokens", "output_length", "trace_count"}
    for name, _signal, group_by in wanted:
        got = feed_samples._as_read(fresh[name], group_by, since_ns, until_ns)
        want = feed_samples._read(db.conn, ids[name], group_by, since_ns, until_ns)
        assert got is not None
        assert_frame_equal(got, want, check_exact=True)
        for g in group_by:
            if isinstance(want[g].dtype, pd.CategoricalDtype):
                assert list(got[g].cat.categories) == list(want[g].cat.categories), (name, g)
    db.conn.close()


_CELLS = st.one_of(st.none(), st.sampled_from(["billing", "refunds", "", "1", "True", "é", "billing "]),
                   st.text(max_size=3), st.integers(-2, 2), st.sampled_from([1.0, 0.5, -0.0]), st.booleans())


@settings(max_examples=300, deadline=None)
@given(st.lists(_CELLS, max_size=30))
def test_code_cells_codes_as_pandas_factorize_did(column):
    from tracedesk.store.feed import _factorized, code_cells

    codes, cells = code_cells(column)
    want_codes, want_cells = _factorized(column)
    assert codes.dtype == np.int64 and codes.tolist() == want_codes.tolist()
    assert cells.dtype == object and [(type(c), c) for c in cells] == [(type(c), c) for c in want_cells]


def test_code_cells_exact():
    from tracedesk.store.feed import code_cells

    codes, cells = code_cells(["b", None, "a", "b", "a"])
    assert codes.tolist() == [0, -1, 1, 0, 1] and list(cells) == ["b", "a"]
    codes, cells = code_cells([1, True, 1.0, None, "1"])  # equal in Python, four cells
    assert codes.tolist() == [0, 1, 2, -1, 3] and [(type(c).__name__, c) for c in cells] == [
        ("int", 1), ("bool", True), ("float", 1.0), ("str", "1")]


def test_a_value_stored_as_the_text_nan_is_a_sample_and_null_is_none(tmp_path):
    from tracedesk.store.feed import Family, Member, read_family

    path = _db(tmp_path)
    db = connect(path)
    traces = [r[0] for r in db.execute("SELECT trace_id FROM traces ORDER BY start_ns LIMIT 3").fetchall()]
    for i, (tid, score) in enumerate(zip(traces, ("nan", None, 0.25))):  # 'nan' stays TEXT in a REAL column
        db.conn.execute("INSERT INTO evaluations (id, trace_id, name, score) VALUES (?, ?, 'groundedness', ?)",
                        [f"e{i}", tid, score])
    db.conn.commit()
    fam = Family("eval", ("e.name IN (?)",), ("groundedness",),
                 (Member("groundedness", "e.score", "e.name = ?", ("groundedness",)),))
    frame = read_family(db, fam, (), None, None)["groundedness"]
    values = frame["v"].tolist()
    assert len(values) == 2 and values[0] != values[0] and values[1] == 0.25  # NaN (from 'nan'), 0.25
