"""Property (issue 14): in any mix of good records and bad ones, every good record is stored, every bad
one is reported at its location, and the database stays sound — through `tracedesk ingest` and through the
receiver (JSON and protobuf)."""
from __future__ import annotations

import json
import math
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (ExportTraceServiceRequest,
                                                                      ExportTraceServiceResponse)
from poison_cases import FLAT_CASES, OTLP_JSON_CASES, bad_flat, bad_otlp_span, good_flat, good_otlp_span
from receiver_support import make_receiver, post

from tracedesk.cli import main

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# One line of a JSONL file: ("good", i) | ("flat", case index) | ("truncated", cut) | ("wrong type", json)
# | ("huge", field) | ("empty", text)
_line = st.one_of(
    st.tuples(st.just("good"), st.integers(0, 3)),
    st.tuples(st.just("flat"), st.integers(0, len(FLAT_CASES) - 1)),
    st.tuples(st.just("truncated"), st.integers(1, 60)),
    st.tuples(st.just("wrong type"), st.sampled_from(["[1, 2]", '"text"', "42", "null", '{"no": "ids"}'])),
    st.tuples(st.just("huge"), st.sampled_from(["input_tokens", "cost", "text"])),
    st.tuples(st.just("empty"), st.sampled_from(["", "   ", "\t"])),
)


def _render(kind: str, arg, n: int) -> tuple[str, str | None, str | None]:
    """-> (line text, expected outcome "stored" | "rejected" | "warned" | None for no record, name)."""
    name = f"rec-{n}"
    if kind == "good":
        rec = good_flat(n) | {"name": name}
        if arg == 1:
            rec["input"] = "naïve — ünïcödé 🙂"
        elif arg == 2:
            rec["metadata"] = {"k": {"nested": [1, 2, {"x": None}]}}
        elif arg == 3:
            rec["input_tokens"] = "17"
        return json.dumps(rec), "stored", name
    if kind == "flat":
        _, outcome, _, changes = FLAT_CASES[arg]
        rec = bad_flat(n, changes) | {"name": name}
        return json.dumps(rec), outcome, name
    if kind == "truncated":
        text = json.dumps(good_flat(n) | {"name": name})
        return text[: min(arg, len(text) - 2)], "rejected", None
    if kind == "wrong type":
        return arg, "rejected", None
    if kind == "huge":
        rec = good_flat(n) | {"name": name}
        if arg == "input_tokens":
            rec["input_tokens"] = 10**30
            return json.dumps(rec), "warned", name
        if arg == "cost":
            rec["cost"] = 1e308 * 10  # inf: written by json.dumps as Infinity, which is not JSON
            return json.dumps(rec), "rejected", None
        rec["input"] = "x" * 300_000
        return json.dumps(rec), "stored", name
    return arg, None, None


@SETTINGS
@given(lines=st.lists(_line, min_size=1, max_size=25), later_file=st.booleans())
# a blank first line starts the file with 0x0a, protobuf's first byte: it was read as a corrupt protobuf
# request and the good record after the stray value was lost
@example(lines=[("empty", ""), ("wrong type", '"text"'), ("empty", ""), ("good", 0)], later_file=False)
def test_cli_keeps_every_good_record_and_reports_every_bad_one(lines, later_file, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        path = tmp_path / "mixed.jsonl"
        rendered = [_render(kind, arg, n) for n, (kind, arg) in enumerate(lines)]
        path.write_text("\n".join(text for text, _, _ in rendered) + "\n")
        paths = [str(path)]
        if later_file:
            (tmp_path / "z_later.jsonl").write_text(json.dumps(good_flat(999) | {"name": "later"}) + "\n")
            paths.append(str(tmp_path / "z_later.jsonl"))
        db = str(tmp_path / "out" / "t.db")
        (tmp_path / "out").mkdir()
        code = main(["ingest", *paths, "--db", db, "--json"])
        report = json.loads(capsys.readouterr().out)
        conn = sqlite3.connect(db)
        names = {r[0] for r in conn.execute("SELECT name FROM spans")}
        expected = {name for _, outcome, name in rendered if outcome in ("stored", "warned")}
        assert names == expected | ({"later"} if later_file else set())
        # a one-line file holding a JSON array is a document of records: "file[0]", "file[1]"
        rejected_lines = {r.split(": ")[0].split("[")[0] for r in report["rejected"]}
        warned_lines = {w.split(": ")[0] for w in report["warnings"]}
        # a file of one record is one JSON document: its location is the file itself
        single = sum(bool(text.strip()) for text, _, _ in rendered) == 1
        for lineno, (_, outcome, _) in enumerate(rendered, 1):
            if outcome is None:
                continue  # a blank line is not a record
            where = str(path) if single else f"{path}:{lineno}"
            assert (where in rejected_lines) == (outcome == "rejected"), (where, report["rejected"])
            if outcome == "warned":
                assert where in warned_lines, (where, report["warnings"])
        if not any(text.strip() for text, _, _ in rendered):
            assert report["rejected"] == [f"{path}: input is empty"]  # an empty file is said to be empty
        else:
            assert len({r.split(": ")[0].split("[")[0] for r in report["rejected"]}) == sum(
                o == "rejected" for _, o, _ in rendered)
        assert code == (1 if report["rejected"] else 0)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for (cost,) in conn.execute("SELECT cost_usd FROM spans WHERE cost_usd IS NOT NULL"):
            assert math.isfinite(cost) and cost >= 0
        conn.close()


_span = st.one_of(st.tuples(st.just("good"), st.just(0)),
                  st.tuples(st.just("bad"), st.integers(0, len(OTLP_JSON_CASES) - 1)),
                  st.tuples(st.just("not an object"), st.sampled_from(["x", 3, None, []])))


@settings(max_examples=15, deadline=None)
@given(spans=st.lists(_span, min_size=1, max_size=12))
def test_receiver_json_keeps_every_good_span(spans):
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "r.db")
        r = make_receiver(db)
        try:
            body_spans, stored, rejected = [], set(), 0
            for i, (kind, arg) in enumerate(spans):
                if kind == "good":
                    body_spans.append(good_otlp_span(i))
                    stored.add(f"good-{i}")
                elif kind == "bad":
                    case = OTLP_JSON_CASES[arg]
                    body_spans.append(bad_otlp_span(i, case))
                    if case.outcome == "rejected":
                        rejected += 1
                    else:
                        stored.add(f"bad-{i}")
                else:
                    body_spans.append(arg)
                    rejected += 1
            body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": body_spans}]}]}).encode()
            ans = post(r, "/v1/traces", body, {"Content-Type": "application/json"})
            assert ans.status == 200
            partial = ans.json().get("partialSuccess", {})
            assert int(partial.get("rejectedSpans", "0")) == rejected
            loc = "otlp-http#resourceSpans[0].scopeSpans[0].spans[{}]: ".format
            refused = [loc(i) for i, (kind, arg) in enumerate(spans)
                       if kind == "not an object" or kind == "bad" and OTLP_JSON_CASES[arg].outcome == "rejected"]
            warned = [loc(i) for i, (kind, arg) in enumerate(spans)
                      if kind == "bad" and OTLP_JSON_CASES[arg].outcome == "warned"]
            # the message names the first three of each (enough to fix the exporter)
            for where in refused[:3] + warned[:1]:
                assert where in partial["errorMessage"]
        finally:
            r.stop()
        conn = sqlite3.connect(db)
        assert {n for (n,) in conn.execute("SELECT name FROM spans")} == stored
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()


_PB_BAD = [
    ("start", 2**64 - 1, "rejected"), ("start", 2**63, "rejected"), ("end", 8 * 10**18, "rejected"),
    ("tokens", math.inf, "warned"), ("tokens", math.nan, "warned"), ("tokens", -4, "warned"),
    ("tokens", 1e308, "warned"), ("cost", math.inf, "warned"), ("cost", -0.5, "warned"),
    ("name", b"\xed\xa0\xbd", "rejected"),
]


@settings(max_examples=15, deadline=None)
@given(spans=st.lists(st.one_of(st.none(), st.integers(0, len(_PB_BAD) - 1)), min_size=1, max_size=12))
def test_receiver_protobuf_keeps_every_good_span(spans):
    req = ExportTraceServiceRequest()
    scope = req.resource_spans.add().scope_spans.add()
    stored, rejected, patches = set(), 0, []
    for i, bad in enumerate(spans):
        s = scope.spans.add(trace_id=bytes.fromhex("cd" * 16), span_id=(i + 1).to_bytes(8, "big"), name=f"s-{i}")
        s.start_time_unix_nano = 1_700_000_000_000_000_000 + i
        s.end_time_unix_nano = s.start_time_unix_nano + 1000
        outcome = "stored"
        if bad is not None:
            field, value, outcome = _PB_BAD[bad]
            if field == "start":
                s.start_time_unix_nano = value
            elif field == "end":
                s.end_time_unix_nano = value
            elif field == "name":
                s.name = f"Q{i:03d}"
                patches.append((f"Q{i:03d}".encode(), b"Q" + value[:2] + b"\xbd"))
            else:
                kv = s.attributes.add(key="gen_ai.usage.input_tokens" if field == "tokens" else "gen_ai.usage.cost")
                if isinstance(value, int):
                    kv.value.int_value = value
                else:
                    kv.value.double_value = value
        if outcome == "rejected":
            rejected += 1
        else:
            stored.add(f"s-{i}")
    data = req.SerializeToString()
    for old, new in patches:
        assert len(old) == len(new)
        data = data.replace(old, new)
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "r.db")
        r = make_receiver(db)
        try:
            ans = post(r, "/v1/traces", data, {"Content-Type": "application/x-protobuf"})
        finally:
            r.stop()
        assert ans.status == 200
        assert ExportTraceServiceResponse.FromString(ans.body).partial_success.rejected_spans == rejected
        conn = sqlite3.connect(db)
        assert {n for (n,) in conn.execute("SELECT name FROM spans")} == stored
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
