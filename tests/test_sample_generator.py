"""The sample generator: deterministic, valid OTLP/JSON, and the committed sample is what it produces."""
from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracedesk.ingest import parse_bytes
from tracedesk.sample import generate, sample_dir, sample_ground_truth
from tracedesk.sample.generator import _luhn_card, luhn_valid
from tracedesk.sample.incidents import INCIDENTS

REPO = Path(__file__).resolve().parents[1]


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = generate(tmp_path / "a", days=1, traces_per_hour=3, seed=7)
    b = generate(tmp_path / "b", days=1, traces_per_hour=3, seed=7)
    c = generate(tmp_path / "c", days=1, traces_per_hour=3, seed=8)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert a == b
    assert a["files"][0]["sha256"] != c["files"][0]["sha256"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "ground_truth.json", "incidents.json", "traces-2026-11-16.json.gz"]


def test_files_are_valid_otlp_json_and_parse_without_rejects(tmp_path):
    truth = generate(tmp_path, days=1, traces_per_hour=3, seed=11)
    data = (tmp_path / truth["files"][0]["name"]).read_bytes()
    doc = json.loads(gzip.decompress(data))
    # The official protobuf-JSON mapping accepts the file as an ExportTraceServiceRequest.
    msg = json_format.ParseDict(doc, ExportTraceServiceRequest())
    n_proto = sum(len(ss.spans) for rs in msg.resource_spans for ss in rs.scope_spans)
    assert n_proto == truth["spans"] == truth["files"][0]["spans"]
    services = sorted({a.value.string_value for rs in msg.resource_spans for a in rs.resource.attributes
                       if a.key == "service.name"})
    assert services == ["critic-svc", "research-svc", "support-gateway", "synthesis-svc"]
    result = parse_bytes(data, "day.json.gz")
    assert result.rejected == []
    assert len(result.spans) == truth["spans"]
    assert {s.convention for s in result.spans} == {"openinference", "otel_genai", "traceai"}
    assert len({s.trace_id for s in result.spans}) == truth["traces"]


def test_one_day_lists_only_its_incidents_clipped_to_the_period(tmp_path):
    generate(tmp_path, days=1, traces_per_hour=2, seed=1)
    doc = json.loads((tmp_path / "incidents.json").read_text())
    assert doc["seed"] == 1
    assert (doc["start"], doc["end"]) == ("2026-11-16T00:00:00Z", "2026-11-17T00:00:00Z")
    assert [i["id"] for i in doc["incidents"]] == ["INC-03"]


def test_incidents_document_shape():
    doc = json.loads((sample_dir() / "incidents.json").read_text())
    assert (doc["seed"], doc["start"], doc["end"]) == (20261116, "2026-11-16T00:00:00Z", "2026-11-23T00:00:00Z")
    assert [i["id"] for i in doc["incidents"]] == [f"INC-0{n}" for n in range(1, 10)]
    types = {i["type"] for i in doc["incidents"]}
    assert types == {"joint_regression", "latency_blip", "quality_blip", "tool_retry_loop", "refusal_cliff",
                     "prompt_version_regression", "retrieval_drift", "pii_leak", "prompt_injection_campaign"}
    for inc in doc["incidents"]:
        assert set(inc) >= {"id", "type", "start", "end", "cohort", "signals", "should_page", "description"}
        assert inc["start"] < inc["end"] and inc["start"].endswith("Z") and inc["end"].endswith("Z")
        assert isinstance(inc["should_page"], bool) and inc["signals"]
        assert all(s["direction"] in ("up", "down", "changed") for s in inc["signals"])
    paging = {i["id"] for i in doc["incidents"] if i["should_page"]}
    assert paging == {"INC-01", "INC-04", "INC-05", "INC-06", "INC-08"}
    assert len(INCIDENTS) == 9


def test_generated_card_numbers_pass_luhn():
    import random

    rng = random.Random(3)
    cards = [_luhn_card(rng) for _ in range(200)]
    assert all(luhn_valid(c) for c in cards)
    assert not luhn_valid("4111 1111 1111 1112")
    assert luhn_valid("4111 1111 1111 1111")


@pytest.mark.slow
def test_committed_sample_is_what_the_generator_writes(tmp_path):
    """Regenerating with the committed parameters reproduces the packaged files byte for byte."""
    truth = sample_ground_truth()
    params = truth["params"]
    assert params == {"days": 7, "traces_per_hour": 22.0, "start": "2026-11-16T00:00:00Z"}
    fresh = generate(tmp_path, days=params["days"], traces_per_hour=params["traces_per_hour"], seed=truth["seed"])
    # Compared on content: the gzip bytes also match given the same zlib build (they do on the CI image),
    # but another zlib may compress the same JSON differently, which is not a change of the sample.
    strip = lambda t: {**t, "files": [{k: v for k, v in f.items() if k not in ("sha256", "bytes")}  # noqa: E731
                                      for f in t["files"]]}
    assert strip(fresh) == strip(truth)
    for f in truth["files"]:
        raw = gzip.decompress((sample_dir() / f["name"]).read_bytes())
        assert hashlib.sha256(raw).hexdigest() == f["json_sha256"]
    assert (tmp_path / "incidents.json").read_bytes() == (sample_dir() / "incidents.json").read_bytes()
    for f in fresh["files"]:
        assert gzip.decompress((tmp_path / f["name"]).read_bytes()) == \
            gzip.decompress((sample_dir() / f["name"]).read_bytes())
    # sample_data/ in the repository shows the same files (links into the package data).
    committed = REPO / "sample_data"
    for name, digest in _digests(sample_dir()).items():
        assert hashlib.sha256((committed / name).read_bytes()).hexdigest() == digest
    assert (committed / "README.md").is_file()
    assert sum(f["bytes"] for f in truth["files"]) < 6_000_000
