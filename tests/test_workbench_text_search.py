"""Issue 14 item 8: the text filter folds case beyond ASCII, and % / _ are literal characters."""
from __future__ import annotations

import sqlite3

import pytest
import sqlite_utils

import tracedesk
from tracedesk import store
from tracedesk.models import Span
from tracedesk.store.query import Filters
from text_cases import TEXT_CASES

TEXTS = TEXT_CASES


@pytest.fixture
def ws(db_path):
    spans = [Span(trace_id=f"{i:032x}", span_id=f"{i:016x}", name=name, kind="LLM", start_ns=1_700_000_000_000_000_000 + i,
                  end_ns=1_700_000_000_000_000_000 + i + 10, input_text=inp, output_text=out)
             for i, (name, inp, out) in TEXTS.items()]
    store.write_batch(store.connect(db_path), spans)
    return tracedesk.open(db_path)


def found(ws, text):
    return sorted(int(t, 16) for t in ws.traces(Filters(text=text))["trace_id"])


@pytest.mark.parametrize("text,expected", [
    ("école", [1]), ("ÉCOLE", [1]), ("École", [1]),
    ("strasse", [2, 3]), ("straße", [2, 3]),  # ß folds to ss
    ("σίσυφος", [4]), ("refund", [6, 8]), ("REFUND", [6, 8]),
    ("100%", [5]), ("%", [5]), ("r_s", [5]), ("d_r", []), ("_", [5]),  # literal, not LIKE wildcards
    ("no such text", []),
    ("\\temp\\", [7]), ("\\", [7]), ("p\\n", [7]),  # a backslash is literal too (LIKE's escape)
    ("refund-nul", [8]), ("e\x00a", [8]),  # text after a NUL character is searched; a NUL in the search too
    ("ascii refund" + "x" * 50_000, []), ("plain", [6]),  # longer than a LIKE pattern may be
])
def test_text_filter_folds_case_beyond_ascii(ws, text, expected):
    assert found(ws, text) == expected
    assert ws.count_traces(Filters(text=text)) == len(expected)


def test_a_connection_opened_elsewhere_gets_the_fold_function(db_path, ws):
    raw = sqlite_utils.Database(sqlite3.connect(db_path))
    db = store.connect(raw)
    from tracedesk.store.query import trace_where

    where, params = trace_where(Filters(text="ÉCOLE"))
    assert db.execute(f"SELECT COUNT(*) FROM traces t WHERE {where}", params).fetchone()[0] == 1
