"""The incremental OTLP/JSON parser gives the spans the whole-document parser gives; gzip bombs are refused."""
from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _ingest_util import TRACE, kvs, request, span
from tracedesk.cli import main as cli_main
from tracedesk.ingest import ingest_paths, stream
from tracedesk.ingest.normalize import Normalizer
from tracedesk.ingest.parse import parse_bytes
from tracedesk.store import connect

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "tracedesk" / "sample" / "data"


def _streamed(data: bytes, chunk: int, monkeypatch) -> tuple[list, list, list, int]:
    monkeypatch.setattr(stream, "CHUNK", chunk)
    parts = []
    stream.stream_traces(data[:chunk], io.BytesIO(data[chunk:]), "doc.json", Normalizer(), parts.append)
    spans = [s for p in parts for s in p.spans]
    evals = [e for p in parts for e in p.evaluations]
    rejected = [str(r) for p in parts for r in p.rejected]
    return spans, evals, rejected, sum(p.records for p in parts)


def _whole(data: bytes) -> tuple[list, list, list, int]:
    r = parse_bytes(data, "doc.json", normalizer=Normalizer())
    return r.spans, r.evaluations, [str(x) for x in r.rejected], r.records


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLE.glob("traces-*.json.gz"))[:2])
def test_the_sample_week_streams_to_the_same_spans(name, monkeypatch):
    data = gzip.decompress((SAMPLE / name).read_bytes())
    assert stream.is_streamable(data[:4096])
    whole = _whole(data)
    assert len(whole[0]) > 1000
    assert _streamed(data, 1 << 16, monkeypatch) == whole


_attr_values = st.one_of(st.text(max_size=30), st.integers(-10**12, 10**12), st.booleans(),
                         st.floats(allow_nan=False, allow_infinity=False, width=32),
                         st.sampled_from(['},{"traceId":"x"', '"}]},{"', "\\u00e9 ✓ \\\\ \"q\"", "[{]}"]))


@st.composite
def _documents(draw):
    n_resources = draw(st.integers(1, 3))
    reversed_keys = draw(st.booleans())
    resource_spans = []
    k = 0
    for r in range(n_resources):
        scopes = []
        for s in range(draw(st.integers(0, 3))):
            spans = []
            for _ in range(draw(st.integers(0, 8))):
                k += 1
                attrs = draw(st.dictionaries(st.sampled_from(["a", "b.c", "llm.model_name",
                                                              "openinference.span.kind", "input.value"]),
                                             _attr_values, max_size=4))
                sp = span(TRACE, f"{k:016x}", f"op {k}", attrs, parent="" if k % 4 == 1 else f"{k - 1:016x}",
                          start_ms=k, events=[{"name": "exception", "attributes": {"exception.message": "boom"}}]
                          if draw(st.booleans()) else None)
                if draw(st.booleans()):  # a span link: has traceId/spanId too, must not be taken for a span
                    sp["links"] = [{"traceId": TRACE, "spanId": "00000000000000aa", "attributes": []}]
                if draw(st.integers(0, 20)) == 0:
                    sp["startTimeUnixNano"] = None  # a bad span: rejected with its location, the rest kept
                if reversed_keys:  # a writer that does not start its spans with traceId
                    sp = dict(reversed(sp.items()))
                spans.append(sp)
            scope = {"scope": {"name": f"scope-{s}"}, "spans": spans}
            if draw(st.booleans()):
                scope = {"spans": spans, "scope": {"name": f"scope-{s}"}}  # scope after its spans
            scopes.append(scope)
        rs = {"resource": {"attributes": kvs({"service.name": f"svc-{r}"})}, "scopeSpans": scopes}
        if draw(st.booleans()):
            rs = {"schemaUrl": "https://opentelemetry.io/schemas/1.21.0", "scopeSpans": scopes,
                  "resource": rs["resource"]}  # resource after its spans
        resource_spans.append(rs)
    doc = {"resourceSpans": resource_spans}
    indent = draw(st.sampled_from([None, 1, 2]))
    return json.dumps(doc, indent=indent, ensure_ascii=draw(st.booleans())).encode()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_documents(), chunk=st.sampled_from([64, 257, 4096, 1 << 20]))
def test_streaming_equals_the_whole_document_parser(data, chunk, monkeypatch):
    assert stream.is_streamable(data[:chunk] + data[chunk:][:64])
    assert _streamed(data, chunk, monkeypatch) == _whole(data)


@pytest.mark.parametrize("first_key", ["traceId", "name", "spanId"])
def test_spans_in_any_key_order_are_decoded_in_windows(first_key, monkeypatch):
    """A writer whose spans start with another key than traceId had every span decoded on its own (8x the
    CPU on the third week's files); the cut is learned from its first span."""
    doc = json.loads(gzip.decompress((SAMPLE / "traces-2026-11-16.json.gz").read_bytes())[: 1 << 30])
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            ss["spans"] = [{first_key: sp[first_key], **sp} for sp in ss["spans"]]
    data = json.dumps(doc).encode()
    alone = []
    real_value = stream._Text.value

    def counted(self):
        alone.append(1)
        return real_value(self)

    monkeypatch.setattr(stream._Text, "value", counted)
    streamed = _streamed(data, 1 << 16, monkeypatch)
    assert streamed == _whole(data)
    n_scopes = sum(len(rs["scopeSpans"]) for rs in doc["resourceSpans"])
    # at most a span or two per window edge and per scope, not one per span
    assert len(alone) <= 3 * n_scopes + len(data) // (1 << 16) * 3, (len(alone), len(streamed[0]))


def test_a_document_broken_midway_keeps_the_spans_before_the_break(monkeypatch):
    spans = [span(TRACE, f"{i:016x}", f"op {i}", {"input.value": "x" * 50}) for i in range(1, 200)]
    data = json.dumps(request(spans)).encode()
    cut = data[: len(data) * 2 // 3]
    got, _evals, rejected, _records = _streamed(cut, 512, monkeypatch)
    assert 100 < len(got) < 199
    assert [s.span_id for s in got] == [f"{i:016x}" for i in range(1, len(got) + 1)]
    assert len(rejected) == 1 and "truncated" in rejected[0] and rejected[0].startswith("doc.json: ")


@pytest.mark.parametrize("drop", [("scope",), ("scope", "resource")])
def test_a_broken_document_keeps_spans_read_before_their_scope_or_resource(monkeypatch, drop):
    """Scope and resource are optional in OTLP: spans met before them are held until the object ends, and a
    document cut inside the spans array must still store the complete ones."""
    spans = [span(TRACE, f"{i:016x}", f"op {i}", {"input.value": "x" * 50}) for i in range(1, 200)]
    body = request(spans)
    for rs in body["resourceSpans"]:
        if "resource" in drop:
            rs.pop("resource", None)
        for ss in rs["scopeSpans"]:
            ss.pop("scope", None)
    data = json.dumps(body).encode()
    got, _evals, rejected, _records = _streamed(data[: len(data) * 2 // 3], 512, monkeypatch)
    assert 100 < len(got) < 199
    assert [s.span_id for s in got] == [f"{i:016x}" for i in range(1, len(got) + 1)]
    assert len(rejected) == 1 and "truncated" in rejected[0]
    whole, *_ = _streamed(data, 512, monkeypatch)  # the complete document: every span, as before
    assert [s.span_id for s in whole] == [f"{i:016x}" for i in range(1, 200)]


@pytest.mark.parametrize("chunk", [512, 1 << 16])
def test_a_lone_surrogate_escape_keeps_every_span_of_the_document(monkeypatch, chunk):
    """A string cut mid-emoji ("\\ud83d", what JSON.stringify writes) is valid JSON orjson refuses: the
    streamed document keeps that span (U+FFFD in place of the half emoji) and every span after it, says so
    once, and equals the whole-document parser."""
    spans = [span(TRACE, f"{i:016x}", "cut \ud83d" if i in (150, 151) else f"op {i}", {"input.value": "x" * 50})
             for i in range(1, 300)]
    data = json.dumps(request(spans)).encode()  # ensure_ascii: the lone surrogate is written as an escape
    assert b"\\ud83d" in data
    monkeypatch.setattr(stream, "CHUNK", chunk)
    parts = []
    stream.stream_traces(data[:chunk], io.BytesIO(data[chunk:]), "doc.json", Normalizer(), parts.append)
    got = [s for p in parts for s in p.spans]
    assert [s.span_id for s in got] == [f"{i:016x}" for i in range(1, 300)]
    assert [s.name for s in got if "cut" in s.name] == ["cut \ufffd", "cut \ufffd"]
    assert [str(w) for p in parts for w in p.warnings] == [
        'doc.json: lone UTF-16 surrogate escape(s) (e.g. "\\ud83d", a string cut mid-emoji) replaced with U+FFFD']
    assert [r for p in parts for r in p.rejected] == []
    assert got == _whole(data)[0]


@pytest.mark.parametrize("bad", [{"attributes": 5}, {"events": "boom"}])
def test_a_malformed_span_is_rejected_alike_streamed_or_whole(monkeypatch, bad):
    """One place wraps a span's conversion (otlp.json_span_at): the streamed parser reported 'malformed span:
    <message>' where the whole-document parser says 'malformed span: <ExceptionType>: <message>'."""
    spans = [span(TRACE, f"{i:016x}", f"op {i}", {"input.value": "x" * 50}) for i in range(1, 60)]
    spans[30].update(bad)
    data = json.dumps(request(spans)).encode()
    streamed, whole = _streamed(data, 512, monkeypatch), _whole(data)
    assert streamed == whole
    assert len(whole[0]) == 58 and len(whole[2]) == 1 and "malformed span: " in whole[2][0]


def test_the_cli_keeps_a_file_whose_string_was_cut_mid_emoji(tmp_path, capsys):
    spans = [span(TRACE, f"{i:016x}", "cut \ud83d" if i == 3 else f"op {i}", {}) for i in range(1, 40)]
    (tmp_path / "doc.json").write_text(json.dumps(request(spans)))
    assert cli_main(["ingest", str(tmp_path / "doc.json"), "--db", str(tmp_path / "t.db"), "--quiet"]) == 0
    db = connect(str(tmp_path / "t.db"))
    assert db.execute("SELECT COUNT(*) FROM spans").fetchone()[0] == 39
    assert db.execute("SELECT name FROM spans WHERE span_id = ?", [f"{3:016x}"]).fetchone()[0] == "cut \ufffd"
    assert "lone UTF-16 surrogate escape(s)" in capsys.readouterr().out


def test_a_gzip_bomb_is_refused_with_the_limit_and_the_flag(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(stream, "INFLATE_FLOOR", 1 << 20)
    bomb = tmp_path / "bomb.json.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as fh:
        for _ in range(64):
            fh.write(b" " * (1 << 20))  # 64 MB of spaces, ~64 KB compressed, no newline
    good = tmp_path / "good.json"
    good.write_bytes(json.dumps(request([span(TRACE, "00000000000000b1", "ok", {})])).encode())
    code = cli_main(["ingest", str(bomb), str(good), "--db", str(tmp_path / "t.db"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 1
    assert "refused as a possible decompression bomb" in out and "--max-inflate-ratio" in out
    assert "bomb.json.gz" in out
    assert connect(str(tmp_path / "t.db")).execute("SELECT span_id FROM spans").fetchall() == [("00000000000000b1",)]
    # a genuine file under a raised limit is read (here: not a trace file, said so)
    report = ingest_paths(str(tmp_path / "t2.db"), [bomb], max_inflate_ratio=100_000)
    assert [r.reason for r in report.rejected] == ["input is empty"]
