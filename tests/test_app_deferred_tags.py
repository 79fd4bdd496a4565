"""AppTest through the app's navigation (app.py -> main.run): the sidebar's tag picker is drawn after the
page's content (listing tags reads every span's attributes), and it still filters, seeds from the link
and drops a tag the store does not hold."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import sessions_data as data

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app_deferred")
    return data.build(str(tmp / "s.db"), tmp)


def app(db: str, monkeypatch, page: str, params: dict[str, str] | None = None) -> AppTest:
    monkeypatch.setenv("TRACEDESK_DB", db)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.switch_page(str(REPO / "src" / "tracedesk" / "app" / "pages" / page))
    for k, v in (params or {}).items():
        at.query_params[k] = v
    return at.run()


def _captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def test_the_tag_picker_comes_after_the_page_and_filters(db, monkeypatch):
    at = app(db, monkeypatch, "traces.py")
    assert not at.exception
    tags = at.multiselect(key="tdf_tags")
    assert tags.options == ["beta", "mobile", "web"]
    # drawn in its place in the sidebar's "More filters", before the span kind picker
    labels = [w.label for w in at.sidebar.multiselect]
    assert labels.index("tags") == labels.index("span kind") - 1
    tags.set_value(["mobile"]).run()
    assert not at.exception
    assert any(c.startswith("2 traces match") for c in _captions(at))
    assert at.query_params["tag"] in ("mobile", ["mobile"])


def test_a_linked_tag_filters_the_first_run_and_an_unknown_one_is_dropped(db, monkeypatch):
    at = app(db, monkeypatch, "traces.py", {"tag": "mobile"})
    assert at.multiselect(key="tdf_tags").value == ["mobile"]
    assert any(c.startswith("2 traces match") for c in _captions(at))
    at = app(db, monkeypatch, "traces.py", {"tag": "no-such-tag"})
    assert not at.exception
    assert at.multiselect(key="tdf_tags").value == []
    assert not any(w.value for w in at.warning)  # the page ran again without it: traces, not "no match"
    assert any(" traces match" in c for c in _captions(at))


def test_a_page_that_stops_early_still_draws_the_picker(db, monkeypatch):
    at = app(db, monkeypatch, "traces.py", {"tag": "beta", "latency_ms": "1000000000.."})
    assert [w.value for w in at.warning] == ["No traces match the filters."]
    assert at.multiselect(key="tdf_tags").value == ["beta"]  # there to be changed back
