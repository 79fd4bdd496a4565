"""Pricing from litellm's bundled table, PII redaction, and property tests of the wire parsers."""
from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
from _ingest_util import TRACE, dumps, request, span
from hypothesis import given
from hypothesis import strategies as st

from tracedesk.store import SPAN_COLUMN_NAMES
from tracedesk.store.blobs import column_sql
from tracedesk.ingest import pricing
from tracedesk.ingest import ingest_bytes
from tracedesk.ingest.wire import WireError, norm_id, to_int
from tracedesk.ingest.redact import find_pii, redact_text
from tracedesk.store import connect


def test_price_lookup_order_and_litellm_not_imported():
    assert pricing.lookup("gpt-4o-mini")["input_cost_per_token"] == 1.5e-7
    assert pricing.lookup("openai/gpt-4o-mini") is pricing.lookup("gpt-4o-mini")  # strip provider/
    assert pricing.lookup("gpt-4o-mini-2024-07-18") is not None  # dated name exists as is
    assert pricing.lookup("gpt-4o-mini-2099-01-01") is pricing.lookup("gpt-4o-mini")  # strip date suffix
    assert pricing.lookup("no-such-model") is None


def test_price_table_is_read_without_importing_litellm():
    # In a fresh interpreter: other tests in this process may have imported litellm for the judges.
    code = ("import sys; from tracedesk.ingest import pricing; pricing.lookup('gpt-4o-mini');"
            "print('litellm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cost_charges_cached_tokens_once_at_the_cache_price():
    # 1000 input of which 400 cached, 100 output; gpt-4o: 2.5/M in, 1.25/M cached, 10/M out
    assert pricing.compute_cost("gpt-4o", "openai", 1000, 100, cached_tokens=400) == pytest.approx(
        600 * 2.5e-6 + 400 * 1.25e-6 + 100 * 1e-5)
    assert pricing.compute_cost("mystery", None, 10, 10) is None


def test_reasoning_tokens_priced_where_the_table_has_a_price():
    table = pricing.price_table()
    name = next(k for k, v in table.items() if v.get("output_cost_per_reasoning_token")
                and v.get("output_cost_per_token") and v.get("input_cost_per_token"))
    entry = table[name]
    got = pricing.compute_cost(name, None, 100, 50, reasoning_tokens=20)
    assert got == pytest.approx(100 * entry["input_cost_per_token"] + 30 * entry["output_cost_per_token"]
                                + 20 * entry["output_cost_per_reasoning_token"])


TEXT = ("Mail jane.doe@example.com or call +1 415-555-0132. Card 4111 1111 1111 1111, SSN 123-45-6789, "
        "IBAN GB82 WEST 1234 5698 7654 32, key sk-proj-abcdefghijklmnopqrstuvwx, "
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9abcdefghijkl. Order 1234 5678 9012 3456 is not a card.")


def test_find_pii_and_redact_text():
    kinds = [k for k, _s, _e in find_pii(TEXT)]
    assert kinds == ["email", "phone", "card", "ssn", "iban", "api_key", "api_key"]
    masked, n = redact_text(TEXT)
    assert n == 7
    assert masked == ("Mail [EMAIL] or call [PHONE]. Card [CARD], SSN [SSN], IBAN [IBAN], key [API_KEY], "
                      "Authorization: [API_KEY]. Order 1234 5678 9012 3456 is not a card.")


def test_redaction_before_storage(db_path):
    doc = request([span(TRACE, "1" * 16, "chat", {
        "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "I am bob@corp.io, card 4111111111111111",
        "output.value": "Noted, bob@corp.io", "llm.token_count.prompt": 5})])
    report = ingest_bytes(db_path, dumps(doc), "r.json", redact=True)
    assert report.redactions == 8  # counted per stored copy: attribute, message and text of each item
    db = connect(db_path)
    # every column as stored, the compacted ones (attributes, events, resource) read back as JSON text
    decoded = ", ".join(column_sql(c, "") for c in SPAN_COLUMN_NAMES)
    blob = json.dumps(db.execute(f"SELECT {decoded} FROM spans").fetchall(), default=bytes.hex)  # the hash
    assert "bob@corp.io" not in blob and "4111111111111111" not in blob
    row = db.execute("SELECT input_text, output_text, td_json(input_messages) FROM spans").fetchone()
    assert row[:2] == ("I am [EMAIL], card [CARD]", "Noted, [EMAIL]")
    assert json.loads(row[2]) == [{"role": "user", "content": "I am [EMAIL], card [CARD]"}]
    assert db.execute("SELECT input_tokens FROM spans").fetchone()[0] == 5  # numbers untouched


@given(st.binary(min_size=16, max_size=16))
def test_trace_ids_in_every_encoding_normalize_the_same(raw):
    expected = raw.hex() if any(raw) else None
    assert norm_id(raw, 16, "traceId") == expected
    assert norm_id(raw.hex().upper(), 16, "traceId") == expected
    assert norm_id(base64.b64encode(raw).decode(), 16, "traceId") == expected
    assert norm_id(base64.b64encode(raw).decode().rstrip("="), 16, "traceId") == expected


@given(st.text(max_size=30))
def test_norm_id_never_crashes_with_anything_but_wire_error(text):
    try:
        out = norm_id(text, 8, "spanId")
    except WireError:
        return
    assert out is None or (len(out) == 16 and out == out.lower())


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_int64_as_string_or_number(n):
    assert to_int(n) == n and to_int(str(n)) == n


@given(st.dictionaries(st.integers(min_value=0, max_value=500), st.text(max_size=5), max_size=8))
def test_flattened_lists_renest_in_index_order_even_when_sparse(items):
    from tracedesk.ingest.messages import unflatten

    attrs = {f"llm.input_messages.{i}.message.content": text for i, text in items.items()}
    attrs["llm.input_messages.x.message.content"] = "ignored: not an index"
    got = unflatten(attrs, "llm.input_messages.", "message.")
    assert got == [{"content": items[i]} for i in sorted(items)]
