"""What the Alerts page's builder needs, without streamlit: choices read from the store, and a rule
assembled from plain widget values (so the page holds no SQL and no JSON typing)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlite_utils

from .. import cohorts
from ..store import connect
from ..store.connect import with_database
from ..store.query import distinct_values, evaluator_names
from .definition import AlertRule, Condition, Group, parse_rule, rule_to_dict

WINDOWS: tuple[str, ...] = ("5m", "10m", "15m", "30m", "1h", "3h", "1d")


@dataclass(frozen=True)
class SignalChoice:
    label: str
    signal: dict[str, Any]
    aggregation: str  # the usual aggregation for this signal
    comparator: str  # the usual direction of "bad"
    threshold: float
    #: a threshold relative to a baseline instead of a fixed number (then `threshold` is its factor)
    relative_to: dict[str, Any] | None = None


#: Signals whose fixed default threshold would fire on ordinary data: retrieval top-k overlap sits low
#: whenever documents are about equally popular (many ties for the top-k), so "< 0.5" fired all the time.
#: Compared with itself a day earlier, it fires only when overlap halves.
_RELATIVE_DEFAULTS: dict[str, dict[str, Any]] = {
    "retrieval_topk_overlap": {"window": "1d", "offset": "1d", "factor": 0.5},
}


@with_database  # a path is opened for the call and closed after it
def signal_choices(db: "str | sqlite_utils.Database") -> list[SignalChoice]:
    """Signals the data can feed, with sensible defaults (bad = low score, high latency, high rate)."""
    db = connect(db)
    out: list[SignalChoice] = []
    for name in evaluator_names(db, scored=True):
        if name != "user_feedback":
            out.append(SignalChoice(f"{name} score", {"type": "eval_score", "evaluator": name}, "mean", "<", 0.7))
    for kind in sorted(distinct_values(db, "kind")):
        out.append(SignalChoice(f"{kind} duration (ms)", {"type": "duration", "span_kind": kind}, "p95", ">", 1000))
    out += [
        SignalChoice("trace duration (ms)", {"type": "trace_duration"}, "p95", ">", 5000),
        SignalChoice("time to first token (ms)", {"type": "ttft"}, "p95", ">", 2000),
        SignalChoice("input tokens per LLM call", {"type": "input_tokens"}, "mean", ">", 4000),
        SignalChoice("output tokens per LLM call", {"type": "output_tokens"}, "mean", ">", 1000),
        SignalChoice("cost per trace ($)", {"type": "cost_per_trace"}, "mean", ">", 0.05),
        SignalChoice("error rate (traces)", {"type": "error_rate"}, "rate", ">", 0.05),
        SignalChoice("tool error rate", {"type": "error_rate", "span_kind": "TOOL"}, "rate", ">", 0.1),
        SignalChoice(_label("refusal_rate_answer"), {"type": "refusal_rate_answer"}, "rate", ">", 0.1),
        SignalChoice(_label("refusal_rate_trace"), {"type": "refusal_rate_trace"}, "mean", ">", 0.1),
        SignalChoice("tool calls per trace", {"type": "tool_calls_per_trace"}, "mean", ">", 5),
        SignalChoice("LLM calls per trace", {"type": "llm_calls_per_trace"}, "mean", ">", 6),
        SignalChoice("spans per trace", {"type": "spans_per_trace"}, "mean", ">", 30),
        SignalChoice("thumbs-down rate", {"type": "thumbs_down_rate"}, "rate", ">", 0.2),
        SignalChoice("eval fail rate (all evaluators)", {"type": "eval_fail_rate"}, "rate", ">", 0.2),
    ]
    # Every other registered signal (drift's, plugins') whose parameters all have defaults; old names
    # (refusal_rate) are not offered, their signal is.
    from ..signals import SIGNALS, load_providers

    load_providers()
    offered = {c.signal["type"] for c in out}
    for stype, definition in sorted(SIGNALS.items()):
        spec = definition.spec
        if stype not in offered and definition.alias_of is None and not any(p.required for p in spec.params):
            relative = _RELATIVE_DEFAULTS.get(stype)
            out.append(SignalChoice(spec.label, {"type": stype}, spec.default_aggregation, spec.default_comparator,
                                    relative["factor"] if relative else spec.default_threshold,
                                    dict(relative) if relative else None))
    return out


def _label(name: str) -> str:
    from ..signals import get

    return get(name).label


def dimensions(db: "str | sqlite_utils.Database") -> list[str]:
    """Dimensions the builder offers for scope and group-by: the built-in ones, then the database's
    mapped ones written dims.NAME (the rule's spelling)."""
    from ..store.query import extra_dimensions

    return cohorts.names() + [f"dims.{k}" for k in extra_dimensions(connect(db))]


@with_database  # a path is opened for the call and closed after it
def dimension_values(db: "str | sqlite_utils.Database", dimension: str, limit: int = 200) -> list[str]:
    """Distinct values of a dimension (the most frequent `limit`, sorted), for the scope pickers."""
    try:
        dim = cohorts.resolve(dimension, derived=False)
    except cohorts.CohortError:
        raise ValueError(f"unknown dimension {dimension!r}; valid choices: {', '.join(cohorts.names())} "
                         f"or dims.NAME") from None
    return sorted(distinct_values(connect(db), dim.name if not dim.mapped else f"dims.{dim.name}", limit))


def build_rule(*, name: str, conditions: list[dict[str, Any]], combine: str = "all", window: str = "15m",
               step: str = "5m", scope: dict[str, list[str]] | None = None, group_by: list[str] | None = None,
               min_samples: int = 1, severity: str = "medium", owner: str = "", description: str = "",
               runbook: str = "", states: dict[str, Any] | None = None) -> AlertRule:
    """A rule from widget values; validated like an imported document (raises AlertValidationError).

    A condition may also carry window, relative_to (then its threshold is not used), min_samples and
    resolve_threshold; `states` holds the optional on-call fields (for, resolve_after, renotify, no_data)."""
    leaves = []
    for c in conditions:
        leaf = {"signal": c["signal"], "aggregation": c["aggregation"], "comparator": c["comparator"]}
        if c.get("relative_to"):
            leaf["relative_to"] = dict(c["relative_to"])
        else:
            leaf["threshold"] = c["threshold"]
        for key in ("min_samples", "window", "resolve_threshold"):
            if c.get(key) is not None:
                leaf[key] = c[key]
        leaves.append(leaf)
    doc = {
        "tracedesk_alert": 1, "name": name, "description": description, "owner": owner, "severity": severity,
        "runbook": runbook, "scope": {k: list(v) for k, v in (scope or {}).items() if v}, "window": window,
        "step": step, "group_by": list(group_by or []), "min_samples": int(min_samples),
        "condition": leaves[0] if len(leaves) == 1 else {combine: leaves},
        **{k: v for k, v in (states or {}).items() if v not in (None, "")},
    }
    return parse_rule(doc)


def form_values(rule: AlertRule) -> dict[str, Any] | None:
    """The builder's widget values for a rule, or None when it nests groups (edit those as JSON)."""
    node = rule.condition
    leaves: list[Condition]
    if isinstance(node, Condition):
        leaves, combine = [node], "all"
    elif isinstance(node, Group) and all(isinstance(i, Condition) for i in node.items):
        leaves, combine = [i for i in node.items if isinstance(i, Condition)], node.op
    else:
        return None
    doc = rule_to_dict(rule)
    doc.pop("condition")
    doc["combine"] = combine
    doc["conditions"] = []
    for c in leaves:
        if not isinstance(c, Condition):
            return None  # a per-trace condition: edit it as JSON
        values: dict[str, Any] = {"signal": c.signal, "aggregation": c.aggregation, "comparator": c.comparator}
        if c.relative_to is not None:
            values["relative_to"] = c.relative_to.to_dict()
        else:
            values["threshold"] = c.threshold
        for key in ("min_samples", "window", "resolve_threshold"):
            if getattr(c, key) is not None:
                values[key] = getattr(c, key)
        doc["conditions"].append(values)
    return doc


#: What the builder starts with: the classic RAG joint alert when the data has it.
_DEFAULT_LABELS = ("groundedness score", "RETRIEVER duration (ms)", "error rate (traces)", "LLM duration (ms)")


def default_choice(choices: list[SignalChoice], i: int) -> int:
    """Index of the i-th condition's initial signal."""
    labels = [c.label for c in choices]
    preferred = [labels.index(x) for x in _DEFAULT_LABELS if x in labels]
    rest = [k for k in range(len(labels)) if k not in preferred]
    order = preferred + rest
    return order[i % len(order)]


# ---------------------------------------------------------------------------------------------
# One condition row: a fixed threshold, the signal's own baseline, or the other groups (relative_to.peers)

#: The start factor of a condition against the other groups: twice theirs (or half, for a bad-when-low signal)
PEERS_FACTOR = {">": 2.0, ">=": 2.0, "<": 0.5, "<=": 0.5}
AGAINST_HELP = ("With group_by: each group against the other values of one of its dimensions, pooled, over the "
                "same window (threshold = their value x the factor).")


def against_choices(choice: SignalChoice, group_by: list[str]) -> list[str]:
    """What a condition's threshold may be measured against: "" (a fixed number), or a group_by dimension
    (the other values of it). A signal that already compares with its own past keeps that."""
    return [""] if choice.relative_to else ["", *group_by]


def against_label(dimension: str) -> str:
    return f"x the other {dimension} values" if dimension else "a fixed number"


def threshold_label(choice: SignalChoice, peers: str) -> str:
    if choice.relative_to:
        return "Factor of baseline"
    return f"Factor of the other {peers} values" if peers else "Threshold"


def start_threshold(choice: SignalChoice, comparator: str, peers: str) -> float:
    return PEERS_FACTOR.get(comparator, 2.0) if peers else float(choice.threshold)


def builder_condition(choice: SignalChoice, aggregation: str, comparator: str, threshold: float,
                      peers: str = "") -> dict[str, Any]:
    """The condition `build_rule` takes from one row of the builder."""
    relative = (dict(choice.relative_to, factor=threshold) if choice.relative_to
                else {"peers": peers, "factor": threshold} if peers else None)
    return {"signal": choice.signal, "aggregation": aggregation, "comparator": comparator, "threshold": threshold,
            "relative_to": relative}


# ---------------------------------------------------------------------------------------------
# The page's links: an incident in the URL pre-fills the suggester; a suggested rule opens in the builder

#: Session keys of the builder's widgets (the page reads them; `builder_session` fills them).
SCOPE_PICKERS: tuple[str, ...] = ("route", "tenant", "model")
EXTRA_KEY = "_alerts_builder_extra"


def incident_from_params(params: Any) -> tuple[str, str, dict[str, str], list[str]]:
    """(since, until, cohort, problems) from URL parameters ?since=...&until=...&cohort.route=refunds
    (or cohort=route:refunds, as the changes feed's "make an alert" links write it)."""
    cohort: dict[str, str] = {}
    problems: list[str] = []
    # the changes feed's links write one cohort as cohort=dim:value
    dim0, sep, value0 = str(params.get("cohort", "") or "").partition(":")
    if sep and (dim0 in cohorts.names() or dim0.startswith("dims.")):
        cohort[dim0] = value0
    elif sep:
        problems.append(f"cohort dimension {dim0!r} is not one of {', '.join(cohorts.names())} or dims.NAME")
    for key in params:
        if not str(key).startswith("cohort."):
            continue
        dim = str(key)[len("cohort."):]
        if dim in cohorts.names() or dim.startswith("dims."):
            cohort[dim] = str(params[key])
        else:
            problems.append(f"cohort dimension {dim!r} is not one of {', '.join(cohorts.names())} or dims.NAME")
    return str(params.get("since", "") or ""), str(params.get("until", "") or ""), cohort, problems


def builder_session(rule: AlertRule, choices: list[SignalChoice]) -> dict[str, Any]:
    """Session-state values that make the builder show `rule` (raises ValueError naming what it cannot
    show: a per-trace or nested condition, a signal it does not offer, a window it does not list)."""
    values = form_values(rule)
    if values is None:
        raise ValueError("the builder shows flat all/any rules; edit this one as JSON (download, then import)")
    if rule.window not in WINDOWS or rule.step not in WINDOWS:
        raise ValueError(f"the builder offers windows and steps {', '.join(WINDOWS)}; this rule uses "
                         f"{rule.window} / {rule.step}")
    out: dict[str, Any] = {
        "b_name": rule.name, "b_severity": rule.severity, "b_owner": rule.owner, "b_combine": values["combine"],
        "b_window": rule.window, "b_step": rule.step, "b_min_samples": rule.min_samples,
        "b_group_by": list(rule.group_by), "b_runbook": rule.runbook, "n_conditions": len(values["conditions"]),
    }
    for dim in SCOPE_PICKERS:
        out[f"b_scope_{dim}"] = list(rule.scope.get(dim, ()))
    extra: dict[str, Any] = {"scope": {k: list(v) for k, v in rule.scope.items() if k not in SCOPE_PICKERS},
                             "conditions": [], "states": {}}
    for i, cond in enumerate(values["conditions"]):
        match = next((c for c in choices if c.signal == cond["signal"]), None)
        if match is None:
            raise ValueError(f"the builder does not offer signal {cond['signal']}; edit this rule as JSON")
        out[f"sig{i}"] = match.label
        out[f"agg{i}{match.label}"] = cond["aggregation"]
        out[f"cmp{i}{match.label}"] = cond["comparator"]
        rel = cond.get("relative_to")
        out[f"thr{i}{match.label}"] = float(rel.get("factor", 1.0) if rel else cond["threshold"])
        extra["conditions"].append({k: cond[k] for k in ("signal", "min_samples", "window", "relative_to",
                                                         "resolve_threshold") if k in cond})
    doc = rule_to_dict(rule)
    extra["states"] = {k: doc[k] for k in ("for", "resolve_after", "renotify", "no_data", "min_samples_share")
                       if k in doc}
    out[EXTRA_KEY] = extra
    return out


def apply_extra(conditions: list[dict[str, Any]], scope: dict[str, list[str]],
                extra: dict[str, Any] | None) -> tuple[list[dict[str, Any]], dict[str, list[str]], dict[str, Any]]:
    """The builder's widget values plus what an opened rule carries that the widgets do not show
    (per-condition minimum samples and windows, scope dimensions beyond the pickers, on-call fields)."""
    if not extra:
        return conditions, scope, {}
    merged = []
    for c, e in zip(conditions, extra.get("conditions", [])):
        m = dict(c, **{k: v for k, v in e.items() if k not in ("relative_to", "signal")})
        # a relative threshold the widgets cannot show (a new cohort's, another cohort's) is kept while the
        # condition still reads the signal it was opened with
        if e.get("relative_to") and not c.get("relative_to") and e.get("signal") == c.get("signal"):
            m["relative_to"] = dict(e["relative_to"])
        merged.append(m)
    merged += conditions[len(extra.get("conditions", [])):]
    return merged, {**scope, **extra.get("scope", {})}, dict(extra.get("states", {}))
