"""What the Alerts page's builder needs, without streamlit: choices read from the store, and a rule
assembled from plain widget values (so the page holds no SQL and no JSON typing)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlite_utils

from .. import cohorts
from ..store import connect
from ..store.query import distinct_values, evaluator_names
from .definition import AlertRule, Condition, parse_rule, rule_to_dict

WINDOWS: tuple[str, ...] = ("5m", "10m", "15m", "30m", "1h", "3h", "1d")


@dataclass(frozen=True)
class SignalChoice:
    label: str
    signal: dict[str, Any]
    aggregation: str  # the usual aggregation for this signal
    comparator: str  # the usual direction of "bad"
    threshold: float


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
            out.append(SignalChoice(spec.label, {"type": stype}, spec.default_aggregation,
                                    spec.default_comparator, spec.default_threshold))
    return out


def _label(name: str) -> str:
    from ..signals import get

    return get(name).label


def dimensions(db: "str | sqlite_utils.Database") -> list[str]:
    """Dimensions the builder offers for scope and group-by: the built-in ones, then the database's
    mapped ones written dims.NAME (the rule's spelling)."""
    from ..store.query import extra_dimensions

    return cohorts.names() + [f"dims.{k}" for k in extra_dimensions(connect(db))]


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
               runbook: str = "") -> AlertRule:
    """A rule from widget values; validated like an imported document (raises AlertValidationError)."""
    leaves = [{"signal": c["signal"], "aggregation": c["aggregation"], "comparator": c["comparator"],
               "threshold": c["threshold"]} for c in conditions]
    doc = {
        "tracedesk_alert": 1, "name": name, "description": description, "owner": owner, "severity": severity,
        "runbook": runbook, "scope": {k: list(v) for k, v in (scope or {}).items() if v}, "window": window,
        "step": step, "group_by": list(group_by or []), "min_samples": int(min_samples),
        "condition": leaves[0] if len(leaves) == 1 else {combine: leaves},
    }
    return parse_rule(doc)


def form_values(rule: AlertRule) -> dict[str, Any] | None:
    """The builder's widget values for a rule, or None when it nests groups (edit those as JSON)."""
    node = rule.condition
    if isinstance(node, Condition):
        leaves, combine = [node], "all"
    elif all(isinstance(i, Condition) for i in node.items):
        leaves, combine = list(node.items), node.op
    else:
        return None
    doc = rule_to_dict(rule)
    doc.pop("condition")
    doc["combine"] = combine
    doc["conditions"] = [{"signal": c.signal, "aggregation": c.aggregation, "comparator": c.comparator,
                          "threshold": c.threshold} for c in leaves]
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
