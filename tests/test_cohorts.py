"""tracedesk.cohorts: one name per dimension, the old spellings as aliases, errors naming the choices,
and the store's SQL reading each level the documented way (membership for span-level dimensions)."""
from __future__ import annotations

import pytest

from tracedesk import cohorts
from tracedesk.cohorts import CohortError, canonical, resolve
from tracedesk.models import Evaluation, Span
from tracedesk.store import cohort_sql, connect, write_batch
from tracedesk.store.query import FilterError, Filters

T0 = 1_790_000_000 * 10**9


def test_every_dimension_has_one_name_a_level_and_a_description():
    assert cohorts.names()[:2] == ["route", "tenant"]
    assert len(cohorts.names()) == len(set(cohorts.names())), "a dimension is defined twice"
    assert set(cohorts.names()) == {"route", "tenant", "model", "provider", "prompt_version", "environment",
                                    "agent_name", "tool_name", "service", "session_id", "user_id", "response_model"}
    for d in cohorts.DIMENSIONS:
        assert d.level in (cohorts.SPAN, cohorts.TRACE) and d.description.endswith(".")
    levels = {d.name: d.level for d in cohorts.DIMENSIONS}
    assert {n for n, lv in levels.items() if lv == cohorts.SPAN} == {"model", "provider", "agent_name", "tool_name", "service",
                                                                       "response_model"}
    assert "session_id" not in cohorts.browse_names() and "route" in cohorts.browse_names(cohorts.TRACE)


@pytest.mark.parametrize("old, new", [("agent", "agent_name"), ("dims.team", "team"), ("dim.team", "team"),
                                      ("dims.agent", "agent_name"), (" route ", "route"), ("model", "model")])
def test_old_spellings_convert_in_one_place(old, new):
    assert canonical(old) == new


def test_resolve_accepts_builtins_aliases_and_mapped_keys():
    assert resolve("agent") is cohorts.BY_NAME["agent_name"]
    team = resolve("dims.team")
    assert (team.name, team.mapped, team.level) == ("team", True, cohorts.TRACE)
    assert resolve("team", ["team", "region"]).mapped
    assert resolve("team", bare_mapped=True).name == "team"
    assert resolve("model_family").derived_from == "model"


@pytest.mark.parametrize("name, kwargs, message", [
    ("colour", {}, "Unknown dimension 'colour'; choose one of: route, tenant, model, provider"),
    ("colour", {}, "or dims.NAME for a mapped dimension"),
    ("colour", {"known_mapped": ["team"]}, "or a mapped one: team"),
    ("", {}, "Choose a cohort dimension: route, tenant"),
    ("dims.x') OR 1 --", {}, "is not a valid name"),
    ("model_family", {"derived": False}, "Unknown dimension 'model_family'"),
])
def test_errors_name_the_valid_choices(name, kwargs, message):
    with pytest.raises(CohortError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve(name, **kwargs)


def _db(path):
    """Trace A: root (route billing, tenant acme, service api) -> LLM gpt-a (openai) + LLM gpt-b (anthropic,
    service llm-svc), an evaluation on the gpt-b span. Trace B: one LLM gpt-a span, route search."""
    db = connect(path)
    a, b = "a" * 32, "b" * 32
    write_batch(db, [
        Span(trace_id=a, span_id="1" * 16, kind="CHAIN", route="billing", tenant="acme", service="api",
             dims={"team": "red"}, start_ns=T0, end_ns=T0 + 10),
        Span(trace_id=a, span_id="2" * 16, parent_span_id="1" * 16, kind="LLM", model="gpt-a", provider="openai",
             service="api", start_ns=T0 + 1, end_ns=T0 + 2),
        Span(trace_id=a, span_id="3" * 16, parent_span_id="1" * 16, kind="LLM", model="gpt-b", provider="anthropic",
             service="llm-svc", start_ns=T0 + 3, end_ns=T0 + 4),
        Span(trace_id=b, span_id="4" * 16, kind="LLM", model="gpt-a", provider="openai", route="search",
             service="api", start_ns=T0 + 5, end_ns=T0 + 6),
    ], [Evaluation(trace_id=a, span_id="3" * 16, name="g", score=0.5)])
    return db


def _values(db, sql, frm):
    return [r[0] for r in db.execute(f"SELECT {sql} FROM {frm}").fetchall()]


def test_span_rows_read_their_own_value_else_their_trace(db_path):
    db = _db(db_path)
    route = cohort_sql.span_value_sql(resolve("route"), "s", None)
    assert _values(db, route, "spans s ORDER BY s.span_id") == ["billing", "billing", "billing", "search"]
    team = cohort_sql.span_value_sql(resolve("dims.team"), "s", "t")
    frm = "spans s JOIN traces t ON t.trace_id = s.trace_id ORDER BY s.span_id"
    assert _values(db, team, frm) == ["red", "red", "red", None]
    # the root CHAIN span has no model: it falls back to its trace's list (membership)
    model = cohort_sql.span_value_sql(resolve("model"), "s", "t")
    assert _values(db, model, frm)[0].split(",") == ["gpt-a", "gpt-b"]


def test_trace_rows_list_every_value_of_a_span_level_dimension(db_path):
    db = _db(db_path)
    for name in ("provider", "service", "agent_name", "response_model"):
        sql = cohort_sql.trace_value_sql(resolve(name), "t", db)
        got = _values(db, sql, "traces t ORDER BY t.trace_id")
        expected = {"provider": ["anthropic,openai", "openai"], "service": ["api,llm-svc", "api"],
                    "agent_name": [None, None], "response_model": [None, None]}[name]
        assert [v if v is None else ",".join(sorted(v.split(","))) for v in got] == expected, name


def test_an_evaluation_reads_span_level_dimensions_from_its_judged_span(db_path):
    db = _db(db_path)
    frm = ("evaluations e JOIN traces t ON t.trace_id = e.trace_id "
           "LEFT JOIN spans s ON s.trace_id = e.trace_id AND s.span_id = e.span_id")
    assert _values(db, cohort_sql.eval_value_sql(resolve("model"), "s", "t"), frm) == ["gpt-b"]
    assert _values(db, cohort_sql.eval_value_sql(resolve("route"), "s", "t"), frm) == ["billing"]
    assert cohort_sql.needs_span([resolve("route")]) is False and cohort_sql.needs_span([resolve("model")])


def test_filtering_traces_is_membership(db_path):
    import tracedesk

    _db(db_path)
    ws = tracedesk.open(db_path)
    ids = lambda f: sorted(ws.traces(f)["trace_id"].str[0])  # noqa: E731
    assert ids(Filters(dims={"model": ["gpt-b"]})) == ["a"]
    assert ids(Filters(dims={"model": ["gpt-a"]})) == ["a", "b"]
    assert ids(Filters(dims={"provider": ["anthropic"]})) == ["a"]
    assert ids(Filters(dims={"service": ["llm-svc"]})) == ["a"]
    assert ids(Filters(dims={"team": ["red"]})) == ["a"]
    assert ids(Filters(dims={"dims.team": ["red"]})) == ["a"]
    with pytest.raises(FilterError, match="is not a valid name"):
        ws.traces(Filters(dims={"x') OR 1 --": ["a"]}))


def test_url_params_use_the_one_spelling_and_read_the_old_one():
    f = Filters(dims={"route": ["billing"], "team": ["red"], "provider": ["openai"]})
    assert f.to_query_params() == {"route": "billing", "dim.team": "red", "provider": "openai"}
    assert Filters.from_query_params(f.to_query_params()).dims == f.dims
    assert Filters.from_query_params({"dim.agent": "planner"}).dims == {"agent_name": ["planner"]}


def test_a_trace_level_signal_grouped_by_a_span_level_dimension_counts_the_trace_in_each_value(db_path):
    """Issue 16: a trace that used gpt-a and gpt-b is a sample of both cohorts, as on the Cohorts page."""
    from tracedesk.alerts.signals import SampleQuery, samples

    db = _db(db_path)
    frame = samples(db, {"type": "spans_per_trace"}, SampleQuery({}, ("model",)))
    assert sorted(zip(frame["model"], frame["v"])) == [("gpt-a", 1.0), ("gpt-a", 3.0), ("gpt-b", 3.0)]
    # the span-level signal groups by each span's own model; the root span falls back to its trace's list
    spans = samples(db, {"type": "duration"}, SampleQuery({}, ("model",)))
    assert sorted(spans["model"]) == ["gpt-a", "gpt-a", "gpt-a", "gpt-b", "gpt-b"]


def test_model_family_is_derived_from_the_model():
    assert cohorts.model_family("gemini-2.5-flash-preview-09-2025") == "gemini-2.5-flash"
    assert cohorts.model_family(cohorts.NO_VALUE) == cohorts.NO_VALUE
