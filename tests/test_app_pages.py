"""Streamlit AppTest of the workbench pages (app, Overview, Traces, Trace, Agents, Cohorts) on a populated
database, an empty one and a missing file: no exception, and what each page shows equals the library."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import tracedesk
import workbench_synth as synth
from tracedesk.app import ui
from tracedesk.store.query import Filters

REPO = Path(__file__).resolve().parents[1]
WORKBENCH = ["app.py", "src/tracedesk/app/pages/overview.py", "src/tracedesk/app/pages/traces.py", "src/tracedesk/app/pages/trace.py", "src/tracedesk/app/pages/agents.py",
             "src/tracedesk/app/pages/cohorts.py"]


@pytest.fixture(scope="module")
def synth_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("pages") / "synth.db"
    synth.build(str(path))
    return str(path)


def run(page: str, db: str, monkeypatch, params: dict[str, str] | None = None) -> AppTest:
    monkeypatch.setenv("TRACEDESK_DB", db)
    at = AppTest.from_file(str(REPO / page), default_timeout=60)
    for k, v in (params or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    """label -> value of the page's metrics (the first one of a label)."""
    out: dict[str, str] = {}
    for m in at.metric:
        out.setdefault(m.label, m.value)
    return out


def qp(at: AppTest, key: str) -> str:
    value = at.query_params[key]
    return value[-1] if isinstance(value, list) else value


def expected_kpis(ws, filters=None) -> dict[str, str]:
    k = ws.kpis(filters)
    return {label: fmt(k[key]) for label, key, fmt in ui.KPI_TILES}


@pytest.mark.parametrize("page", WORKBENCH)
def test_empty_database_explains_next_step(page, tmp_path, monkeypatch):
    db = str(tmp_path / "empty.db")
    tracedesk.open(db, create=True)
    at = run(page, db, monkeypatch)
    assert [i.value for i in at.info][:1] == [ui.EMPTY_DB_MESSAGE.format(path=db)]
    assert "tracedesk ingest" in at.markdown[0].value
    assert not at.dataframe and not at.metric


@pytest.mark.parametrize("page", WORKBENCH[1:])
def test_missing_file_explains_next_step(page, tmp_path, monkeypatch):
    db = str(tmp_path / "absent.db")
    at = run(page, db, monkeypatch)
    assert at.warning[0].value == ui.MISSING_DB_MESSAGE.format(path=db)
    assert "tracedesk ingest" in at.info[0].value
    assert not Path(db).exists()  # a page never creates a database by looking at it


def test_home_page_kpis_equal_the_library(synth_db, monkeypatch):
    at = run("app.py", synth_db, monkeypatch)
    ws = tracedesk.open(synth_db)
    assert metrics(at) == expected_kpis(ws)
    assert metrics(at)["Traces"] == "24" and metrics(at)["Eval pass rate"] == "83.3%"
    # the landing page is "what changed" (the static worst-cohorts table moved to Overview / Cohorts)
    assert [h.value for h in at.subheader][:2] == ["What changed", "Key figures"]


def test_overview(synth_db, monkeypatch):
    at = run("src/tracedesk/app/pages/overview.py", synth_db, monkeypatch)
    ws = tracedesk.open(synth_db)
    shown = metrics(at)
    assert {k: shown[k] for k in expected_kpis(ws)} == expected_kpis(ws)
    assert (shown["Trace coverage"], shown["LLM span completeness"], shown["Traces with a prompt version"]) == (
        "100.0%", "100.0%", "100.0%")
    worst = at.dataframe[0].value
    assert list(worst["cohort"]) == ["route = refunds", "prompt_version = v2"]
    assert list(worst["cohort vs global"]) == ["1,500 ms vs 1,100 ms", "66.7% vs 83.3%"]
    assert at.dataframe[-1].value.shape == (1, 5)  # one evaluator


def test_overview_filters_from_url_and_no_match(synth_db, monkeypatch):
    at = run("src/tracedesk/app/pages/overview.py", synth_db, monkeypatch, {"route": "refunds", "prompt_version": "v2"})
    ws = tracedesk.open(synth_db)
    f = Filters(dims={"route": ["refunds"], "prompt_version": ["v2"]})
    assert {k: metrics(at)[k] for k in expected_kpis(ws, f)} == expected_kpis(ws, f)
    assert metrics(at)["Traces"] == "4" and metrics(at)["Error rate"] == "100.0%"
    assert at.multiselect(key="tdf_dim_route").value == ["refunds"]
    at = run("src/tracedesk/app/pages/overview.py", synth_db, monkeypatch, {"q": "no such text anywhere"})
    assert at.warning[0].value == ui.NO_MATCH_MESSAGE and not at.metric


def test_bad_url_filters_are_reported_not_raised(synth_db, monkeypatch):
    at = run("src/tracedesk/app/pages/traces.py", synth_db, monkeypatch, {"score.groundedness": "high"})
    assert "expected LO..HI" in at.sidebar.warning[0].value
    assert at.dataframe[0].value.shape[0] == 24


def test_traces_table(synth_db, monkeypatch):
    at = run("src/tracedesk/app/pages/traces.py", synth_db, monkeypatch)
    table = at.dataframe[0].value
    assert table.shape == (24, 25)
    assert table["trace_id"].iloc[0] == synth.trace_id(23)  # newest first
    assert table["open"].iloc[0] == f"Trace?trace_id={synth.trace_id(23)}"
    at = run("src/tracedesk/app/pages/traces.py", synth_db, monkeypatch,
             {"route": "refunds", "sort": "duration_ms", "desc": "1"})
    table = at.dataframe[0].value
    assert table.shape[0] == 8 and list(table["duration_ms"][:4]) == [1900.0] * 4
    assert qp(at, "route") == "refunds" and qp(at, "sort") == "duration_ms"
    assert "8 traces match" in at.caption[0].value


def test_traces_sort_widget_changes_order(synth_db, monkeypatch):
    at = run("src/tracedesk/app/pages/traces.py", synth_db, monkeypatch)
    at.selectbox[0].set_value("duration_ms").run()
    assert list(at.dataframe[0].value["duration_ms"][:5]) == [1900.0] * 4 + [1100.0]
    assert qp(at, "sort") == "duration_ms"


def test_trace_page(synth_db, monkeypatch):
    tid = synth.trace_id(13)
    at = run("src/tracedesk/app/pages/trace.py", synth_db, monkeypatch, {"trace_id": tid})
    shown = metrics(at)
    assert (shown["Duration"], shown["Spans"], shown["Errors"], shown["Tokens"], shown["Complete tree"]) == (
        "1,900 ms", "8", "1", "1,320", "yes")
    span_box = at.selectbox[0]
    assert len(span_box.options) == 8
    span_box.set_value(synth.span_id(13, 7)).run()  # the answer LLM span
    codes = [c.value for c in at.code]
    assert "I'm sorry, but I can't help with that refund." in codes
    evals = at.dataframe[0].value
    assert list(evals["name"]) == ["groundedness"] and list(evals["reason"]) == ["answer not supported by docs"]
    at.selectbox[0].set_value(synth.span_id(13, 4)).run()  # the retriever: its document, as text
    assert "<script>alert(1)</script> refund policy" in [c.value for c in at.code]
    at.selectbox[0].set_value(synth.span_id(13, 5)).run()  # the failing tool
    assert {'{"order": 13}', "not found", "order service 500"} <= {c.value for c in at.code}


def test_trace_page_shows_html_as_text(synth_db, monkeypatch):
    at = run("src/tracedesk/app/pages/trace.py", synth_db, monkeypatch, {"trace_id": synth.trace_id(0), "span_id": synth.span_id(0, 7)})
    assert "Your billing answer <b>#0</b>." in [c.value for c in at.code]
    assert all("<b>" not in m.value for m in at.markdown)


def test_trace_page_unknown_and_empty_id(synth_db, monkeypatch):
    at = run("src/tracedesk/app/pages/trace.py", synth_db, monkeypatch, {"trace_id": "f" * 32})
    assert at.warning[0].value == f"No trace `{'f' * 32}` in this database."
    at = run("src/tracedesk/app/pages/trace.py", synth_db, monkeypatch)
    assert "Open a trace" in at.info[0].value and len(at.selectbox[0].options) == 24


def test_agents_page(synth_db, monkeypatch):
    at = run("src/tracedesk/app/pages/agents.py", synth_db, monkeypatch)
    agents, handoffs = at.dataframe[0].value, at.dataframe[1].value
    assert list(agents["agent"]) == ["planner", "researcher", "writer"]
    assert agents.set_index("agent").loc["researcher", "error_rate"] == pytest.approx(4 / 24)
    assert handoffs.shape == (2, 5) and set(handoffs["to_agent"]) == {"researcher", "writer"}


def test_cohorts_page(synth_db, monkeypatch):
    at = run("src/tracedesk/app/pages/cohorts.py", synth_db, monkeypatch)
    ranked = at.dataframe[0].value
    assert list(ranked["cohort"]) == ["billing", "search", "refunds"]
    comparison = at.dataframe[1].value
    assert comparison.shape == (4, 6)
    at.selectbox[0].set_value("prompt_version").run()
    ranked = at.dataframe[0].value
    ws = tracedesk.open(synth_db)
    assert list(ranked["cohort"]) == list(ws.ranked_cohorts("prompt_version")["cohort"])


# --- the bundled sample week -------------------------------------------------------------------


def test_first_launch_builds_the_sample_and_says_so(sample_db_path, tmp_path, monkeypatch):
    import shutil

    import tracedesk.sample as sample

    built = []

    def fake_ensure(path):  # the real build is the sample's own test; here: the app's wiring
        built.append(path)
        shutil.copy(sample_db_path, path)
        return True

    monkeypatch.setattr(sample, "ensure_demo_db", fake_ensure)
    db = str(tmp_path / "first.db")
    at = run("app.py", db, monkeypatch)
    assert built == [db]
    assert at.info[0].value == sample.sample_note()
    assert metrics(at) == expected_kpis(tracedesk.open(db))


@pytest.mark.parametrize("page", WORKBENCH)
def test_pages_on_the_sample(page, sample_db_path, monkeypatch):
    at = run(page, sample_db_path, monkeypatch)
    ws = tracedesk.open(sample_db_path)
    if page in ("app.py", "src/tracedesk/app/pages/overview.py"):
        shown = metrics(at)
        assert {k: shown[k] for k in expected_kpis(ws)} == expected_kpis(ws)
        assert at.info[0].value.startswith("You are looking at **sample data**") if page == "app.py" else True
    if page == "src/tracedesk/app/pages/overview.py":
        worst = at.dataframe[0].value
        assert worst.shape == (6, 5)  # cohort, same traffic as, traces, worse on, cohort vs global
        assert worst.reset_index(drop=True).equals(ui.worst_display(ws.worst_cohorts(top=6)))
        assert metrics(at)["Trace coverage"] == ui.fmt_pct(ws.health()["trace_coverage"])
    if page == "src/tracedesk/app/pages/traces.py":
        table = at.dataframe[0].value
        assert table.shape == (50, 25)
        assert list(table["trace_id"]) == list(ws.traces(limit=50)["trace_id"])
        assert f"{ws.count_traces():,} traces match" in at.caption[0].value
    if page == "src/tracedesk/app/pages/agents.py":
        from tracedesk.analysis.graph import topology_frames

        agents, handoffs = topology_frames(ws.agent_topology())
        assert at.dataframe[0].value.shape == agents.shape and at.dataframe[1].value.shape == handoffs.shape
    if page == "src/tracedesk/app/pages/cohorts.py":
        assert list(at.dataframe[0].value["cohort"]) == list(ws.ranked_cohorts("route")["cohort"])


def test_sample_incident_trace_opens(sample_db_path, monkeypatch):
    ws = tracedesk.open(sample_db_path)
    f = Filters(dims={"route": ["refunds"]}, scores={"groundedness": (None, 0.5)})
    trace_id = ws.traces(f, sort="duration_ms", limit=1)["trace_id"].iloc[0]
    at = run("src/tracedesk/app/pages/trace.py", sample_db_path, monkeypatch, {"trace_id": trace_id})
    summary = ws.trace_summary(trace_id)
    assert metrics(at)["Spans"] == ui.fmt_int(summary["span_count"])
    assert len(at.selectbox[0].options) == summary["span_count"]
    retriever = ws.trace(trace_id).query("kind == 'RETRIEVER'")["span_id"].iloc[0]
    at.selectbox[0].set_value(retriever).run()
    assert not at.exception
    assert any(c.value.startswith("document 1") for c in at.caption)


def test_sidebar_filters_drive_the_table_and_the_url(synth_db, monkeypatch):
    at = run("src/tracedesk/app/pages/traces.py", synth_db, monkeypatch)
    at.sidebar.selectbox(key="tdf_ev").set_value("groundedness").run()
    at.sidebar.slider(key="tdf_ev_range_groundedness").set_value((0.0, 0.5)).run()
    assert not at.exception
    assert at.dataframe[0].value.shape[0] == 4 and "4 traces match" in at.caption[0].value
    assert qp(at, "score.groundedness") == "..0.5"
    at.sidebar.multiselect(key="tdf_dim_tenant").set_value(["acme"]).run()
    assert at.dataframe[0].value.shape[0] == 2  # refunds v2 traces 16 and 22 are acme's
    at.sidebar.button[0].click().run()  # Clear filters
    assert at.dataframe[0].value.shape[0] == 24 and "score.groundedness" not in at.query_params
