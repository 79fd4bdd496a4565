"""Every capture in tests/captures/manifest.json: present, small, ingested whole, and its counted usage
equal to what the fake server returned (each LLM call once: no wrapper, duplicate or lost call)."""
from __future__ import annotations

import pytest
from captures_support import CAPTURES, MANIFEST, files, replay

from tracedesk.ingest import semconv as sc

ALL = [(c["library"], c["scenario"]) for c in MANIFEST["captures"]]
CANONICAL = set(sc.PROVIDER_ALIASES.values())
#: Libraries that report usage differently from what the server sent (asserted in their own tests).
OUTPUT_PLUS_REASONING = {("google_adk", "handoff")}  # ADK's LiteLlm adds reasoning to output tokens


def test_manifest_lists_every_fixture_and_how_it_was_made():
    listed = {f for c in MANIFEST["captures"] for f in c["files"]}
    on_disk = {str(p.relative_to(CAPTURES)) for p in CAPTURES.rglob("*") if p.suffix in (".pb", ".json")
               and p.name != "manifest.json"}
    assert listed == on_disk
    for c in MANIFEST["captures"]:
        assert c["versions"] and all(v != "unknown" for v in c["versions"].values()), c["library"]
        assert c["server_calls"], f"{c['library']}/{c['scenario']} recorded no server call"


@pytest.mark.parametrize("library,scenario", ALL)
def test_capture_is_small(library, scenario):
    for path in files(library, scenario):
        assert 0 < path.stat().st_size < 64_000, path


@pytest.mark.parametrize("library,scenario", ALL)
def test_counted_usage_equals_what_the_server_returned(db_path, library, scenario):
    r = replay(db_path, "files", library, scenario)
    calls = [c for c in MANIFEST_BY[(library, scenario)]["server_calls"] if c["status"] == 200]
    extra = sum(c["reasoning_tokens"] for c in calls) if (library, scenario) in OUTPUT_PLUS_REASONING else 0
    assert r.counted() == (sum(c["prompt_tokens"] for c in calls),
                           sum(c.get("completion_tokens", 0) for c in calls) + extra)
    llm = [s for s in r.spans if s["kind"] in ("LLM", "EMBEDDING")]
    assert len(llm) >= len(calls)
    assert {s["provider"] for s in llm} <= CANONICAL | {None}
    # what a library reports of cached / reasoning tokens is what the server sent for that call
    by_tokens = {(c["prompt_tokens"], c["completion_tokens"]): c for c in calls if "completion_tokens" in c}
    for s in llm:
        call = by_tokens.get((s["input_tokens"], s["output_tokens"]))
        if call is not None and s["cached_tokens"] is not None:
            assert s["cached_tokens"] == call["cached_tokens"]
        if call is not None and s["reasoning_tokens"] is not None:
            assert s["reasoning_tokens"] == call["reasoning_tokens"]


MANIFEST_BY = {(c["library"], c["scenario"]): c for c in MANIFEST["captures"]}
