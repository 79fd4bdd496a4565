"""Lean install: without litellm, costs still come from the packaged price snapshot and the judge paths
say which extra to install; with litellm, its own table is used (and agrees with the snapshot)."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import sessions_data as data
from tracedesk.cli import main
from tracedesk.extras import MissingExtra, available, install_hint
from tracedesk.ingest import pricing

HINT = "pip install 'tracedesk[judges]'"


@pytest.fixture
def no_litellm(monkeypatch):
    """litellm as on a machine that never installed it: not findable, not importable."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name.split(".")[0] == "litellm"
                        else real(name, *a))
    monkeypatch.setitem(sys.modules, "litellm", None)
    monkeypatch.delenv("TRACEDESK_PRICE_FILE", raising=False)
    pricing.price_table.cache_clear()
    pricing.lookup.cache_clear()
    yield
    pricing.price_table.cache_clear()
    pricing.lookup.cache_clear()


def _costs() -> list[float | None]:
    return [pricing.compute_cost("gpt-4o-mini", "openai", 1000, 200),
            pricing.compute_cost("claude-haiku-4-5-20251001", "anthropic", 1000, 200, cached_tokens=400),
            pricing.compute_cost("gemini-2.5-flash", "gcp.gemini", 500, 50),
            pricing.compute_cost("no-such-model-xyz", "openai", 1000, 200)]


def test_costs_with_and_without_litellm_agree(monkeypatch):
    monkeypatch.delenv("TRACEDESK_PRICE_FILE", raising=False)
    pricing.price_table.cache_clear()
    pricing.lookup.cache_clear()
    assert pricing.price_source() == "litellm"
    with_litellm = _costs()
    with open(pricing.litellm_price_path()) as fh:  # the expected figure, from litellm's own entry
        entry = json.load(fh)["gpt-4o-mini"]
    assert with_litellm[0] == pytest.approx(1000 * entry["input_cost_per_token"] + 200 * entry["output_cost_per_token"])
    assert with_litellm[3] is None  # unknown stays unknown, never 0
    mp = pytest.MonkeyPatch()
    try:
        real = importlib.util.find_spec
        mp.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "litellm" else real(n, *a))
        pricing.price_table.cache_clear()
        pricing.lookup.cache_clear()
        assert pricing.price_source() == "snapshot"
        assert _costs() == with_litellm
    finally:
        mp.undo()
        pricing.price_table.cache_clear()
        pricing.lookup.cache_clear()


def test_snapshot_records_where_it_came_from():
    with open(pricing.snapshot_path()) as fh:
        snap = json.load(fh)
    assert snap["_source"].startswith("litellm ") and pricing.PRICE_FILE in snap["_source"]
    assert set(snap["gpt-4o-mini"]) <= {"input_cost_per_token", "output_cost_per_token",
                                        "cache_read_input_token_cost", "cache_creation_input_token_cost",
                                        "output_cost_per_reasoning_token", "litellm_provider"}
    # the provider litellm sends the bare name to: what a span that names only its model is attributed to
    assert snap["gpt-4o-mini"]["litellm_provider"] == "openai"
    # the cache-write price, where litellm has one (Anthropic: 1.25x input for the 5-minute cache)
    assert snap["claude-haiku-4-5-20251001"]["cache_creation_input_token_cost"] == 1.25e-06


def test_ingest_prices_without_litellm(no_litellm, tmp_path):
    assert not available("judges") and pricing.price_source() == "snapshot"
    import tracedesk

    db = data.build(str(tmp_path / "s.db"), tmp_path)
    # the file gives cost_usd itself; a span with tokens only is priced from the snapshot
    (tmp_path / "tok.jsonl").write_text(json.dumps({"trace_id": "tok", "model": "gpt-4o-mini", "input_tokens": 1000,
                                                    "output_tokens": 200, "start_time": data.T0,
                                                    "duration_ms": 5}) + "\n")
    assert main(["ingest", str(tmp_path / "tok.jsonl"), "--db", db]) == 0
    with tracedesk.open(db) as ws:
        spans = ws.spans(tracedesk.Filters(models=["gpt-4o-mini"]))
    priced = spans[spans["input_tokens"] == 1000]
    assert priced["cost_usd"].tolist() == [pricing.compute_cost("gpt-4o-mini", None, 1000, 200)]
    assert priced["cost_source"].tolist() != [None]


def test_judge_commands_name_the_extra_without_litellm(no_litellm, tmp_path, capsys):
    db = data.build(str(tmp_path / "s.db"), tmp_path)
    assert main(["eval", "run", "--db", db, "--evaluator", "groundedness", "--model", "gpt-4o-mini"]) == 3
    err = capsys.readouterr().err
    assert HINT in err and "litellm" in err
    # heuristics need no extra
    assert main(["eval", "run", "--db", db, "--evaluator", "pii"]) in (0, 1)
    assert install_hint("judges") == HINT
    assert str(MissingExtra("judges")).endswith(HINT)


def test_evaluations_page_says_what_to_install(no_litellm, tmp_path, monkeypatch):
    db = data.build(str(tmp_path / "s.db"), tmp_path)
    monkeypatch.setenv("TRACEDESK_DB", db)
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "src/tracedesk/app/pages/evaluations.py"), default_timeout=90)
    at.run()
    assert not at.exception
    assert [w.value for w in at.warning][:1] == [str(MissingExtra("judges"))]
    at.multiselect(key="evaluators").set_value(["groundedness"])
    at.text_input(key="model").set_value("gpt-4o-mini")
    at.button(key="run").click().run()
    assert any(HINT in e.value for e in at.error)
