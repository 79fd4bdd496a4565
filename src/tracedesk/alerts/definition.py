"""Alert definition v1: dataclasses, parsing with friendly errors, and exact JSON round-trip.

An alert is data: a JSON document with `"tracedesk_alert": 1`. `parse_rule` turns a document into an
`AlertRule` (raising `AlertValidationError` with the JSON path and the valid choices), `rule_to_dict`
turns it back. Export -> import -> export gives the same document, byte for byte (`dumps_rule`).

Fields added after the first release are all optional and left out of the canonical document when
unset, so every v1 file written before them loads, exports and backtests exactly as it did (no v2 was
needed: no existing field changed meaning). They are:
- per condition: `window` (its own window), `relative_to` (a baseline window or another cohort, with
  `factor` / `delta`), `resolve_threshold` (hysteresis), `min_samples: 0` for a `count` (an empty
  window counts 0: traffic-drop alerts);
- a per-trace condition `{"traces": {"all": [...]}, "aggregation": "count"|"rate", ...}`: the inner
  conditions are judged on each trace, the outer comparison on the count / share of traces matching;
- on-call states per rule: `for`, `resolve_after`, `renotify`, `no_data` (see `states`), and
  `min_samples_share` (a minimum sample count that follows the group's traffic).
Rules are bounded (MAX_CONDITIONS, MAX_DEPTH), checked before anything else so a huge document is
refused in time linear in its size.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Union

from .. import cohorts, timeutil
from ..errors import TracedeskError

FORMAT_VERSION = 1
BUNDLE_KEY = "tracedesk_alerts"  # a bundle: {"tracedesk_alerts": 1, "alerts": [rule, ...]}

AGGREGATIONS: tuple[str, ...] = ("mean", "min", "max", "sum", "count", "rate", "p50", "p90", "p95", "p99")
COMPARATORS: tuple[str, ...] = ("<", "<=", ">", ">=", "==", "!=")
SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low", "info")
SPAN_KINDS: tuple[str, ...] = ("LLM", "CHAIN", "RETRIEVER", "RERANKER", "TOOL", "AGENT", "EMBEDDING",
                               "GUARDRAIL", "EVALUATOR", "UNKNOWN")

#: Size limits: a rule larger than this is refused before it is validated or evaluated.
MAX_CONDITIONS = 100
MAX_DEPTH = 8
#: How a group with no data at an evaluation is treated by the state machine (see states.py).
NO_DATA_CHOICES: tuple[str, ...] = ("ok", "alert", "keep")
#: What a new cohort is compared with (relative_to.versus).
VERSUS_CHOICES: tuple[str, ...] = ("rest", "replaced")
#: relative_to.new_cohort's default window: a day covers one daily traffic cycle of the traffic before it.
NEW_COHORT_WINDOW = "1d"
#: Per-trace conditions count or share the traces that match.
TRACE_AGGREGATIONS: tuple[str, ...] = ("count", "rate")

#: The duration form of a v1 document (the schema's `duration` pattern); parsing itself is timeutil's.
_V1_DURATION_RE = re.compile(r"^[1-9][0-9]*(s|m|h|d)$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")


class AlertValidationError(TracedeskError, ValueError):
    """A document is not a valid alert. `errors` lists (json_path, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{path}: {msg}" for path, msg in errors))


@dataclass(frozen=True)
class SignalParam:
    """One parameter a signal type takes (for validation, docs and the page's builder)."""

    name: str
    required: bool = False
    choices: tuple[str, ...] | None = None
    help: str = ""


@dataclass(frozen=True)
class SignalSpec:
    """What the validator and the builder know about a signal type; the compute function is in signals."""

    type: str
    label: str
    params: tuple[SignalParam, ...] = ()
    default_aggregation: str = "mean"
    unit: str = ""
    description: str = ""
    #: what the builder proposes for a new condition on this signal: the direction of "bad" and a start value
    default_comparator: str = ">"
    default_threshold: float = 0.0


#: Signal types known to the validator. `signals.register_signal` adds to it (drift adds its own).
SIGNAL_SPECS: dict[str, SignalSpec] = {}


def register_signal_spec(spec: SignalSpec) -> None:
    SIGNAL_SPECS[spec.type] = spec


def parse_duration(text: str) -> int:
    """'15m' -> 900 seconds: tracedesk.timeutil's grammar, in whole seconds (what a rule's windows use)."""
    ns = timeutil.parse_duration(text)
    if ns <= 0 or ns % timeutil.NS_PER_S:
        raise timeutil.TimeParseError(f"{text!r} is not a whole, positive number of seconds; "
                                      f"write a whole number and a unit s/m/h/d, e.g. '15m'")
    return ns // timeutil.NS_PER_S


# ---------------------------------------------------------------------------------------------
# Dataclasses


@dataclass(frozen=True)
class Relative:
    """A threshold measured against a baseline: the same signal and aggregation over another window
    (`window` long, ending `offset` before the evaluated time) or in another cohort (same window).
    The threshold is baseline * factor + delta."""

    window: str | None = None  # baseline length (default: the condition's window)
    offset: str | None = None  # baseline ends this long before T (default: its length: the window just before)
    cohort: dict[str, tuple[str, ...]] | None = None  # replaces these scope dimensions for the baseline
    factor: float | None = None
    delta: float | None = None
    #: a group whose value of this group_by dimension is new (first seen within `window`, with history
    #: before it) is compared with the traffic before it appeared: the other values (versus "rest") or the
    #: value it replaced (versus "replaced"); groups that are not new are not judged
    new_cohort: str | None = None
    versus: str | None = None  # "rest" (default) | "replaced"
    #: hysteresis against the same baseline: once firing, the condition holds until the value crosses
    #: baseline * resolve_factor + resolve_delta (either may be given; the other defaults to 1 / 0)
    resolve_factor: float | None = None
    resolve_delta: float | None = None
    #: a group_by dimension: each group is compared with the other values of it pooled (the other
    #: group_by dimensions equal), over the same window at the same time ("this route against the rest")
    peers: str | None = None

    @property
    def has_resolve(self) -> bool:
        return self.resolve_factor is not None or self.resolve_delta is not None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.new_cohort is not None:
            out["new_cohort"] = self.new_cohort
        if self.versus is not None:
            out["versus"] = self.versus
        if self.peers is not None:
            out["peers"] = self.peers
        if self.cohort is not None:
            out["cohort"] = {k: list(v) for k, v in self.cohort.items()}
        if self.window is not None:
            out["window"] = self.window
        if self.offset is not None:
            out["offset"] = self.offset
        if self.factor is not None:
            out["factor"] = self.factor
        if self.delta is not None:
            out["delta"] = self.delta
        if self.resolve_factor is not None:
            out["resolve_factor"] = self.resolve_factor
        if self.resolve_delta is not None:
            out["resolve_delta"] = self.resolve_delta
        return out

    @property
    def new_window(self) -> str:
        """A new-cohort baseline's window: how recent "new" is, and the traffic before it that is read."""
        return self.window or NEW_COHORT_WINDOW

    def label(self) -> str:
        if self.new_cohort is not None:
            where = f"new {self.new_cohort} vs {self.versus or 'rest'}, {self.new_window}"
        elif self.peers is not None:
            where = f"other {self.peers} values"
        elif self.cohort is not None:
            where = ",".join(f"{k}={'|'.join(v)}" for k, v in self.cohort.items())
        else:
            where = f"{self.window or 'window'} {self.offset or 'before'}" + (" ago" if self.offset else "")
        text = f"baseline({where})"
        if self.factor is not None:
            text += f" x{_fmt_number(self.factor)}"
        if self.delta is not None:
            text += f" {'+' if self.delta >= 0 else '-'} {_fmt_number(abs(self.delta))}"
        if self.has_resolve:
            held = "baseline" + (f" x{_fmt_number(self.resolve_factor)}" if self.resolve_factor is not None else "")
            if self.resolve_delta:
                held += f" {'+' if self.resolve_delta >= 0 else '-'} {_fmt_number(abs(self.resolve_delta))}"
            text += f" (held until back at {held})"
        return text


@dataclass(frozen=True)
class Condition:
    """A leaf: signal + aggregation + comparator + threshold over each window."""

    signal: dict[str, Any]  # {"type": "eval_score", "evaluator": "groundedness"}
    aggregation: str
    comparator: str
    threshold: float  # 0.0 (unused) when relative_to is set
    min_samples: int | None = None  # overrides the rule's min_samples for this condition
    window: str | None = None  # overrides the rule's window for this condition
    relative_to: Relative | None = None
    resolve_threshold: float | None = None  # once firing, stays firing until the value crosses this
    #: a rate holds only when it holds at this confidence (the Wilson bound of the window's k of n is
    #: beyond the threshold): the samples needed adapt to how far the rate is from the threshold
    confidence: float | None = None

    @property
    def signal_type(self) -> str:
        return self.signal["type"]

    @property
    def window_s(self) -> int | None:
        return parse_duration(self.window) if self.window else None

    def label(self) -> str:
        params = ",".join(str(v) for k, v in self.signal.items() if k != "type")
        sig = f"{self.signal_type}({params})" if params else self.signal_type
        thr = self.relative_to.label() if self.relative_to else _fmt_number(self.threshold)
        text = f"{sig} {self.aggregation} {self.comparator} {thr}"
        if self.confidence is not None:
            text += f" at {_fmt_number(round(self.confidence * 100, 4))}% confidence"
        return f"{text} [{self.window}]" if self.window else text


@dataclass(frozen=True)
class TraceCondition:
    """A leaf judged per trace: the inner conditions hold on the same trace (each inner aggregation
    over that trace's samples, e.g. its p95 retriever duration), and the window's count or share of
    such traces (among the traces where every inner signal has a value) is compared to the threshold."""

    match: "Node"  # Conditions (and all/any groups of them): no window, relative_to or nesting
    aggregation: str  # "count" | "rate"
    comparator: str
    threshold: float
    min_samples: int | None = None  # judged traces a window needs
    window: str | None = None
    resolve_threshold: float | None = None
    confidence: float | None = None  # with aggregation "rate": see Condition.confidence

    relative_to = None  # per-trace conditions compare with a fixed threshold

    @property
    def signal_type(self) -> str:
        return "traces"

    @property
    def window_s(self) -> int | None:
        return parse_duration(self.window) if self.window else None

    def inner(self) -> list[Condition]:
        return leaves(self.match)  # type: ignore[return-value]

    def label(self) -> str:
        what = "traces where " + _node_label(self.match)
        text = f"{what} {self.aggregation} {self.comparator} {_fmt_number(self.threshold)}"
        if self.confidence is not None:
            text += f" at {_fmt_number(round(self.confidence * 100, 4))}% confidence"
        return f"{text} [{self.window}]" if self.window else text


def _node_label(node: "Node") -> str:
    if isinstance(node, Group):
        inner = f" {node.op.upper().replace('ALL', 'AND').replace('ANY', 'OR')} ".join(_node_label(i) for i in node.items)
        return f"({inner})"
    return node.label()  # type: ignore[union-attr]


@dataclass(frozen=True)
class Group:
    """all/any over conditions and nested groups."""

    op: str  # "all" | "any"
    items: tuple["Node", ...]


Node = Union[Condition, TraceCondition, Group]
Leaf = Union[Condition, TraceCondition]


@dataclass(frozen=True)
class AlertRule:
    name: str
    condition: Node
    window: str = "15m"
    step: str = "5m"
    description: str = ""
    owner: str = ""
    severity: str = "medium"
    runbook: str = ""
    scope: dict[str, tuple[str, ...]] = field(default_factory=dict)
    group_by: tuple[str, ...] = ()
    min_samples: int = 1
    # on-call states (states.py); None / "ok" keep the v1 behaviour: page while the condition holds
    for_: str | None = None  # "for" in JSON: firing only after the condition held this long (pending before)
    resolve_after: str | None = None  # resolved only after the condition stayed clear this long
    renotify: str | None = None  # repeat the page this often while firing
    no_data: str = "ok"  # a group with no data at an evaluation: ok (clears) | alert (fires) | keep (no change)
    #: the minimum samples also follow traffic: at least this share of the group's usual count per window
    min_samples_share: float | None = None

    @property
    def window_s(self) -> int:
        return parse_duration(self.window)

    @property
    def step_s(self) -> int:
        return parse_duration(self.step)

    def leaves(self) -> list[Leaf]:
        return leaves(self.condition)

    def leaf_window_s(self, leaf: "Leaf") -> int:
        return leaf.window_s or self.window_s

    def __hash__(self) -> int:  # scope is a dict: hash the canonical document instead
        return hash(dumps_rule(self))


def leaves(node: Node) -> list[Leaf]:
    """Conditions in document order (depth first): their index is the condition id 'c0', 'c1', ...
    A per-trace condition is one leaf (its inner conditions are part of it)."""
    if isinstance(node, (Condition, TraceCondition)):
        return [node]
    out: list[Leaf] = []
    for item in node.items:
        out.extend(leaves(item))
    return out


def _fmt_number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


# ---------------------------------------------------------------------------------------------
# Serialization


def condition_to_dict(node: Node) -> dict[str, Any]:
    if isinstance(node, Group):
        return {node.op: [condition_to_dict(i) for i in node.items]}
    out: dict[str, Any]
    if isinstance(node, TraceCondition):
        out = {"traces": condition_to_dict(node.match), "aggregation": node.aggregation,
               "comparator": node.comparator, "threshold": node.threshold}
    else:
        out = {"signal": dict(node.signal), "aggregation": node.aggregation, "comparator": node.comparator}
        if node.relative_to is None:
            out["threshold"] = node.threshold
        else:
            out["relative_to"] = node.relative_to.to_dict()
    if node.min_samples is not None:
        out["min_samples"] = node.min_samples
    if node.window is not None:
        out["window"] = node.window
    if node.resolve_threshold is not None:
        out["resolve_threshold"] = node.resolve_threshold
    if node.confidence is not None:
        out["confidence"] = node.confidence
    return out


def rule_to_dict(rule: AlertRule) -> dict[str, Any]:
    """The canonical v1 document (every v1 field present, in a fixed order; later optional fields when set)."""
    doc: dict[str, Any] = {
        "tracedesk_alert": FORMAT_VERSION,
        "name": rule.name,
        "description": rule.description,
        "owner": rule.owner,
        "severity": rule.severity,
        "runbook": rule.runbook,
        "scope": {k: list(v) for k, v in rule.scope.items()},
        "window": rule.window,
        "step": rule.step,
        "group_by": list(rule.group_by),
        "min_samples": rule.min_samples,
        "condition": condition_to_dict(rule.condition),
    }
    # optional fields: present only when set, so a v1 document round-trips byte for byte
    for key, value in (("for", rule.for_), ("resolve_after", rule.resolve_after), ("renotify", rule.renotify),
                       ("min_samples_share", rule.min_samples_share)):
        if value is not None:
            doc[key] = value
    if rule.no_data != "ok":
        doc["no_data"] = rule.no_data
    return doc


def dumps_rule(rule: AlertRule, indent: int | None = 2) -> str:
    return json.dumps(rule_to_dict(rule), indent=indent, ensure_ascii=False)


def dumps_bundle(rules: list[AlertRule], indent: int | None = 2) -> str:
    doc = {BUNDLE_KEY: FORMAT_VERSION, "alerts": [rule_to_dict(r) for r in rules]}
    return json.dumps(doc, indent=indent, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# Parsing / validation


def _choices(options: Any) -> str:
    return ", ".join(repr(o) if not isinstance(o, str) else o for o in options)


class _Checker:
    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def err(self, path: str, msg: str) -> None:
        self.errors.append((path, msg))

    def string(self, doc: dict, key: str, path: str, *, required: bool = False, default: str = "") -> str:
        if key not in doc:
            if required:
                self.err(f"{path}.{key}", "is required (a string)")
            return default
        value = doc[key]
        if not isinstance(value, str):
            self.err(f"{path}.{key}", f"must be a string, got {type(value).__name__}")
            return default
        return value

    def rule(self, doc: Any, path: str = "$") -> AlertRule | None:
        if not isinstance(doc, dict):
            self.err(path, f"an alert must be a JSON object, got {type(doc).__name__}")
            return None
        allowed = ("tracedesk_alert", "name", "description", "owner", "severity", "runbook", "scope",
                   "window", "step", "group_by", "min_samples", "condition",
                   "for", "resolve_after", "renotify", "no_data", "min_samples_share")
        for key in doc:
            if key not in allowed:
                self.err(f"{path}.{key}", f"unknown field; valid fields: {_choices(allowed)}")
        version = doc.get("tracedesk_alert")
        if version is None:
            self.err(f"{path}.tracedesk_alert", f"is required: add \"tracedesk_alert\": {FORMAT_VERSION}")
        elif version != FORMAT_VERSION or isinstance(version, bool):
            self.err(f"{path}.tracedesk_alert", f"unsupported version {version!r}; valid choices: {FORMAT_VERSION}")
        name = self.string(doc, "name", path, required=True)
        if name and not _NAME_RE.match(name):
            self.err(f"{path}.name", "use letters, digits and _ . : - (starting with a letter or digit)")
        severity = self.string(doc, "severity", path, default="medium")
        if severity not in SEVERITIES:
            self.err(f"{path}.severity", f"unknown severity {severity!r}; valid choices: {_choices(SEVERITIES)}")
        window = self.duration(doc, "window", path, "15m")
        step = self.duration(doc, "step", path, "5m")
        scope = self.scope(doc.get("scope", {}), f"{path}.scope")
        group_by = self.group_by(doc.get("group_by", []), f"{path}.group_by")
        min_samples = self.positive_int(doc, "min_samples", path, 1)
        self.group_by_dims = group_by
        self.step_s = parse_duration(step)
        if self.step_s > parse_duration(window):
            self.err(f"{path}.step", f"step {step} is longer than the window {window}: samples between windows "
                                     f"would never be seen; use a step <= window")
        for_ = self.optional_duration(doc, "for", path)
        resolve_after = self.optional_duration(doc, "resolve_after", path)
        renotify = self.optional_duration(doc, "renotify", path)
        no_data = doc.get("no_data", "ok")
        if no_data not in NO_DATA_CHOICES:
            self.err(f"{path}.no_data", f"unknown choice {no_data!r}; valid choices: {_choices(NO_DATA_CHOICES)}")
        share = doc.get("min_samples_share")
        if share is not None and (isinstance(share, bool) or not isinstance(share, (int, float))
                                  or not 0 < share <= 1):
            self.err(f"{path}.min_samples_share", f"must be a number in (0, 1], got {share!r}")
        if "condition" not in doc:
            self.err(f"{path}.condition", "is required: {\"all\": [...]}, {\"any\": [...]} or a single condition")
            condition = None
        else:
            condition = self.node(doc["condition"], f"{path}.condition")
        if self.errors or condition is None:
            return None
        return AlertRule(
            name=name, condition=condition, window=window, step=step,
            description=self.string(doc, "description", path), owner=self.string(doc, "owner", path),
            severity=severity, runbook=self.string(doc, "runbook", path), scope=scope,
            group_by=group_by, min_samples=min_samples, for_=for_, resolve_after=resolve_after,
            renotify=renotify, no_data=no_data, min_samples_share=share,
        )

    def optional_duration(self, doc: dict, key: str, path: str) -> str | None:
        if key not in doc:
            return None
        return self.duration(doc, key, path, None)  # type: ignore[arg-type]

    def number(self, node: dict, key: str, path: str) -> float | None:
        value = node.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.err(f"{path}.{key}", f"must be a finite number, got {value!r}")
            return None
        return value

    def duration(self, doc: dict, key: str, path: str, default: str) -> str:
        value = doc.get(key, default)
        try:
            parse_duration(value)
        except ValueError as exc:
            self.err(f"{path}.{key}", str(exc))
            return default
        if not _V1_DURATION_RE.match(value):  # timeutil reads more ('1w', '1.5h'); a v1 file keeps its form
            self.err(f"{path}.{key}", f"{value!r}: a v1 rule writes a whole number and a unit s/m/h/d, e.g. '15m'")
            return default
        return value

    def positive_int(self, doc: dict, key: str, path: str, default: int | None) -> Any:
        if key not in doc:
            return default
        value = doc[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.err(f"{path}.{key}", f"must be a whole number >= 1, got {value!r}")
            return default
        return value

    def _dim_ok(self, key: str) -> bool:
        # tracedesk.cohorts names, their old spellings ("agent"), or dims.NAME for a mapped dimension
        try:
            cohorts.resolve(key, derived=False)
        except cohorts.CohortError:
            return False
        return True

    def scope(self, scope: Any, path: str) -> dict[str, tuple[str, ...]]:
        if not isinstance(scope, dict):
            self.err(path, "must be an object like {\"route\": [\"billing\"]}")
            return {}
        out: dict[str, tuple[str, ...]] = {}
        for key, values in scope.items():
            if not self._dim_ok(key):
                self.err(f"{path}.{key}", f"unknown dimension; valid choices: {_choices(cohorts.names())} "
                                          f"or dims.NAME for a mapped dimension")
                continue
            if isinstance(values, str):
                self.err(f"{path}.{key}", f"must be a list of values, e.g. [{values!r}]")
                continue
            if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
                self.err(f"{path}.{key}", "must be a non-empty list of strings")
                continue
            out[key] = tuple(values)
        return out

    def group_by(self, value: Any, path: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.err(path, "must be a list of dimension names, e.g. [\"route\"]")
            return ()
        for i, key in enumerate(value):
            if not self._dim_ok(key):
                self.err(f"{path}[{i}]", f"unknown dimension {key!r}; valid choices: {_choices(cohorts.names())} "
                                         f"or dims.NAME")
        if len(set(value)) != len(value):
            self.err(path, "lists a dimension twice")
        return tuple(value)

    def node(self, node: Any, path: str, inner: bool = False) -> Node | None:
        if not isinstance(node, dict):
            self.err(path, f"must be an object (a condition or {{\"all\"|\"any\": [...]}}), got {type(node).__name__}")
            return None
        ops = [k for k in ("all", "any") if k in node]
        if ops:
            if len(node) != 1:
                self.err(path, f"a group has exactly one key, 'all' or 'any'; found {_choices(sorted(node))}")
                return None
            op = ops[0]
            items = node[op]
            if not isinstance(items, list) or not items:
                self.err(f"{path}.{op}", "must be a non-empty list of conditions")
                return None
            parsed = [self.node(item, f"{path}.{op}[{i}]", inner) for i, item in enumerate(items)]
            if any(p is None for p in parsed):
                return None
            return Group(op, tuple(parsed))  # type: ignore[arg-type]
        if "traces" in node:
            if inner:
                self.err(f"{path}.traces", "a per-trace condition cannot be nested in another one")
                return None
            return self.trace_condition(node, path)
        return self.condition(node, path, inner)

    def comparison(self, node: dict, path: str, aggregations: tuple[str, ...]) -> tuple[Any, Any]:
        agg = node.get("aggregation")
        if agg not in aggregations:
            what = "is required" if agg is None else f"unknown aggregation {agg!r}"
            self.err(f"{path}.aggregation", f"{what}; valid choices: {_choices(aggregations)}")
        comparator = node.get("comparator")
        if comparator not in COMPARATORS:
            what = "is required" if comparator is None else f"unknown comparator {comparator!r}"
            self.err(f"{path}.comparator", f"{what}; valid choices: {_choices(COMPARATORS)}")
        return agg, comparator

    def condition_window(self, node: dict, path: str) -> str | None:
        window = self.optional_duration(node, "window", path)
        if window is not None and getattr(self, "step_s", 0) > parse_duration(window):
            self.err(f"{path}.window", f"window {window} is shorter than the rule's step: samples between "
                                       f"windows would never be seen; use a window >= step")
        return window

    def trace_condition(self, node: dict, path: str) -> TraceCondition | None:
        before = len(self.errors)
        allowed = ("traces", "aggregation", "comparator", "threshold", "min_samples", "window", "resolve_threshold",
                   "confidence")
        for key in node:
            if key not in allowed:
                self.err(f"{path}.{key}", f"unknown field of a per-trace condition; valid fields: {_choices(allowed)}")
        match = self.node(node["traces"], f"{path}.traces", inner=True)
        agg, comparator = self.comparison(node, path, TRACE_AGGREGATIONS)
        threshold = self.number(node, "threshold", path)
        min_samples = self.positive_int(node, "min_samples", path, None)
        window = self.condition_window(node, path)
        resolve = self.number(node, "resolve_threshold", path) if "resolve_threshold" in node else None
        confidence = self.confidence(node, path, agg)
        if len(self.errors) > before or match is None:
            return None
        return TraceCondition(match, agg, comparator, threshold, min_samples, window, resolve,  # type: ignore[arg-type]
                              confidence)

    def condition(self, node: dict, path: str, inner: bool = False) -> Condition | None:
        before = len(self.errors)
        allowed: tuple[str, ...] = ("signal", "aggregation", "comparator", "threshold", "min_samples", "relative_to")
        if not inner:
            allowed += ("window", "resolve_threshold", "confidence")
        for key in node:
            if key not in allowed:
                where = " inside a per-trace condition" if inner and key in ("window", "confidence",
                                                                              "resolve_threshold") else ""
                self.err(f"{path}.{key}", f"unknown field{where}; valid fields: {_choices(allowed)} "
                                          f"(or a group: 'all' / 'any')")
        signal = self.signal(node.get("signal"), f"{path}.signal")
        if inner and signal is not None and signal["type"] not in per_trace_types():
            self.err(f"{path}.signal.type", f"signal {signal['type']!r} cannot be judged per trace; valid "
                                            f"choices: {_choices(sorted(per_trace_types()))}")
        agg, comparator = self.comparison(node, path, AGGREGATIONS)
        relative = None
        threshold: Any = 0.0
        if "relative_to" in node:
            relative = self.relative(node["relative_to"], f"{path}.relative_to", inner)
            if "threshold" in node:
                self.err(f"{path}.threshold", "a relative condition takes relative_to.factor / relative_to.delta, "
                                              "not a threshold")
        else:
            threshold = self.number(node, "threshold", path)
        min_samples = node.get("min_samples")
        if min_samples == 0 and not isinstance(min_samples, bool) and agg == "count" and not inner:
            pass  # an empty window counts 0: traffic-drop / no-data conditions
        else:
            min_samples = self.positive_int(node, "min_samples", path, None)
            if node.get("min_samples") == 0:
                self.errors[-1] = (f"{path}.min_samples", "must be a whole number >= 1 (0 only with the "
                                                           "'count' aggregation: an empty window counts 0)")
        window = self.condition_window(node, path) if not inner else None
        resolve = self.number(node, "resolve_threshold", path) if "resolve_threshold" in node and not inner else None
        if resolve is not None and relative is not None and relative.has_resolve:
            self.err(f"{path}.resolve_threshold", "give either a fixed resolve_threshold or relative_to."
                                                  "resolve_factor / resolve_delta, not both")
        confidence = self.confidence(node, path, agg) if not inner else None
        if len(self.errors) > before or signal is None:
            return None
        return Condition(signal, agg, comparator, threshold, min_samples, window, relative, resolve,  # type: ignore[arg-type]
                         confidence)

    def confidence(self, node: dict, path: str, agg: Any) -> float | None:
        if "confidence" not in node:
            return None
        value = node["confidence"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.5 <= value < 1:
            self.err(f"{path}.confidence", f"must be a number in [0.5, 1), e.g. 0.999; got {value!r}")
            return None
        if agg != "rate":
            self.err(f"{path}.confidence", f"applies to the 'rate' aggregation only (a share of k in n samples), "
                                           f"not {agg!r}")
            return None
        if node.get("comparator") not in ("<", "<=", ">", ">="):
            self.err(f"{path}.confidence", "needs a comparator <, <=, > or >= (a bound is below or above the rate)")
            return None
        return float(value)

    def relative(self, value: Any, path: str, inner: bool = False) -> Relative | None:
        if not isinstance(value, dict):
            self.err(path, 'must be an object like {"window": "7d", "offset": "7d", "factor": 2} or '
                           '{"cohort": {"prompt_version": "v7"}, "delta": -0.15}')
            return None
        allowed = ("window", "offset", "cohort", "factor", "delta", "new_cohort", "versus", "peers",
                   "resolve_factor", "resolve_delta")
        for key in value:
            if key not in allowed:
                self.err(f"{path}.{key}", f"unknown field; valid fields: {_choices(allowed)}")
        window = self.optional_duration(value, "window", path)
        offset = self.optional_duration(value, "offset", path)
        new_cohort, versus = self.new_cohort(value, path, inner)
        peers = self.peers(value, path, inner)
        cohort = None
        if "cohort" in value:
            raw = value["cohort"]
            if isinstance(raw, dict):
                raw = {k: [v] if isinstance(v, str) else v for k, v in raw.items()}
            cohort = self.scope(raw, f"{path}.cohort")
            if not cohort and not any(p.startswith(f"{path}.cohort") for p, _ in self.errors):
                self.err(f"{path}.cohort", "must name at least one dimension, e.g. {\"prompt_version\": \"v7\"}")
            if window is not None or offset is not None:
                self.err(path, "compare with a cohort (same window) or with a window, not both")
        if inner and "cohort" in value:
            self.err(f"{path}.cohort", "inside a per-trace condition a trace is compared with its own group's "
                                       "earlier traces: give a window (and an offset), not a cohort")
        if inner and window is None and "window" not in value:
            self.err(f"{path}.window", "is required inside a per-trace condition: the traces to compare with, "
                                       "e.g. \"1d\"")
        factor = self.number(value, "factor", path) if "factor" in value else None
        delta = self.number(value, "delta", path) if "delta" in value else None
        if factor is None and delta is None and not any(p.startswith(path) for p, _ in self.errors):
            self.err(path, "give a factor (threshold = baseline x factor) and/or a delta (baseline + delta)")
        resolve_factor = self.number(value, "resolve_factor", path) if "resolve_factor" in value else None
        resolve_delta = self.number(value, "resolve_delta", path) if "resolve_delta" in value else None
        if inner and (resolve_factor is not None or resolve_delta is not None):
            self.err(path, "resolve_factor / resolve_delta (hysteresis) apply to window conditions, not inside a "
                           "per-trace condition")
        return Relative(window, offset, cohort or None, factor, delta, new_cohort, versus, resolve_factor,
                        resolve_delta, peers)

    def peers(self, value: dict, path: str, inner: bool) -> str | None:
        """relative_to.peers: a dimension of the rule's group_by whose other values, pooled, are each
        group's baseline over the same window."""
        if "peers" not in value:
            return None
        dim = self.group_by_dimension(value, "peers", path, inner, "a comparison with the other groups",
                                      "each group is compared with the other values of it")
        clashing = [k for k in ("window", "offset", "cohort", "new_cohort") if k in value]
        if clashing:
            self.err(path, f"a peers baseline is the other groups over the condition's own window at the same "
                           f"time: it takes no {' / '.join(clashing)}")
        return dim

    def group_by_dimension(self, value: dict, field: str, path: str, inner: bool, what: str,
                           why: str) -> str | None:
        """relative_to.<field> names one of the rule's group_by dimensions, on a window condition."""
        dim = value[field]
        group_by = getattr(self, "group_by_dims", ())
        if inner:
            self.err(f"{path}.{field}", f"inside a per-trace condition a trace is compared with its own group's "
                                        f"earlier traces; put {what} on a window condition")
        elif not isinstance(dim, str) or dim not in group_by:
            listed = _choices(group_by) if group_by else "none (the rule has no group_by)"
            self.err(f"{path}.{field}", f"must name one of the rule's group_by dimensions ({why}); got {dim!r}; "
                                        f"the rule groups by {listed}")
        return dim if isinstance(dim, str) else None

    def new_cohort(self, value: dict, path: str, inner: bool) -> tuple[str | None, str | None]:
        """relative_to.new_cohort / versus: a dimension of the rule's group_by, compared with the traffic
        before its value appeared (the other values, or the one it replaced)."""
        versus = value.get("versus")
        if "new_cohort" not in value:
            if "versus" in value:
                self.err(f"{path}.versus", "applies to a new-cohort baseline only: add \"new_cohort\": a group_by "
                                           "dimension, e.g. \"prompt_version\"")
            return None, None
        dim = self.group_by_dimension(value, "new_cohort", path, inner, "a new-cohort comparison",
                                      "each group is judged when its value of it is new")
        if "versus" in value and versus not in VERSUS_CHOICES:
            self.err(f"{path}.versus", f"unknown choice {versus!r}; valid choices: {_choices(VERSUS_CHOICES)}")
        if "offset" in value or "cohort" in value:
            self.err(path, "a new-cohort baseline is the traffic just before the cohort appeared: it takes a "
                           "window (how recent is new; default 1d), not an offset or a cohort")
        return dim, versus

    def signal(self, signal: Any, path: str) -> dict[str, Any] | None:
        if not isinstance(signal, dict) or "type" not in signal:
            self.err(path, f"must be an object with a 'type'; valid types: {_choices(sorted(SIGNAL_SPECS))}")
            return None
        stype = signal["type"]
        spec = SIGNAL_SPECS.get(stype) if isinstance(stype, str) else None
        if spec is None:
            self.err(f"{path}.type", f"unknown signal type {stype!r}; valid choices: {_choices(sorted(SIGNAL_SPECS))}")
            return None
        known = {p.name: p for p in spec.params}
        ok = True
        for key, value in signal.items():
            if key == "type":
                continue
            param = known.get(key)
            if param is None:
                valid = _choices(known) if known else "none"
                self.err(f"{path}.{key}", f"signal {stype!r} takes no parameter {key!r}; valid parameters: {valid}")
                ok = False
            elif not isinstance(value, str) or not value:
                self.err(f"{path}.{key}", "must be a non-empty string")
                ok = False
            elif param.choices is not None and value not in param.choices:
                self.err(f"{path}.{key}", f"unknown value {value!r}; valid choices: {_choices(param.choices)}")
                ok = False
        for param in spec.params:
            if param.required and param.name not in signal:
                hint = f"; valid choices: {_choices(param.choices)}" if param.choices else f" ({param.help})"
                self.err(f"{path}.{param.name}", f"is required for signal {stype!r}{hint}")
                ok = False
        return dict(signal) if ok else None


def _size_errors(doc: Any) -> list[tuple[str, str]]:
    """Count conditions and nesting depth without recursion, stopping at the first limit crossed, so a
    10,000-condition or 10,000-deep document is refused in time linear in its size (or less)."""
    if not isinstance(doc, dict):
        return []
    stack: list[tuple[Any, int, str]] = [(doc.get("condition"), 1, "$.condition")]
    conditions = 0
    while stack:
        node, depth, path = stack.pop()
        if not isinstance(node, dict):
            continue
        if depth > MAX_DEPTH:
            return [(path, f"nests groups {depth} deep; the limit is {MAX_DEPTH}: flatten the all/any groups")]
        children = [(k, node[k]) for k in ("all", "any") if isinstance(node.get(k), list)]
        if "traces" in node:
            children.append(("traces", [node["traces"]]))
            conditions += 1
        if not children:
            conditions += 1
            if conditions > MAX_CONDITIONS:
                return [("$.condition", f"has more than {MAX_CONDITIONS} conditions; the limit is {MAX_CONDITIONS} "
                                        f"per rule: split it into several rules")]
            continue
        for key, items in children:
            for i, item in enumerate(items):
                stack.append((item, depth + 1, f"{path}.{key}[{i}]" if key != "traces" else f"{path}.traces"))
    if conditions > MAX_CONDITIONS:
        return [("$.condition", f"has more than {MAX_CONDITIONS} conditions; the limit is {MAX_CONDITIONS} "
                                f"per rule: split it into several rules")]
    return []


def per_trace_types() -> set[str]:
    """Signal types a per-trace condition may use: the built-in ones read per span, trace or evaluation
    (drift signals compare a stream with its reference and have no per-trace value)."""
    from . import signals

    return {spec.type for spec, _fn in signals._BUILTINS}


def _ensure_registry() -> None:
    # The built-in signal specs are declared next to their compute functions; other features' signals
    # (drift) register themselves when their provider module is imported.
    from . import signals

    signals.load_providers()


_SCHEMA_TEXT: str | None = None
# The compiled validator, keyed on the signal types it enumerates (a provider registering later recompiles).
_VALIDATOR: tuple[tuple[str, ...], Any] | None = None


def schema() -> dict[str, Any]:
    """The published JSON Schema (the file shipped in the package)."""
    global _SCHEMA_TEXT
    _ensure_registry()
    if _SCHEMA_TEXT is None:
        _SCHEMA_TEXT = resources.files("tracedesk.alerts").joinpath("alert-rule.v1.schema.json").read_text("utf-8")
    doc = json.loads(_SCHEMA_TEXT)
    # The file keeps the signal type open (drift and plugins register more); the printed schema
    # lists every type registered in this process.
    doc["$defs"]["signal"]["properties"]["type"]["enum"] = sorted(SIGNAL_SPECS)
    doc["$defs"]["dimension"]["anyOf"][0]["enum"] = dimension_enum()
    return doc


def dimension_enum() -> list[str]:
    """Dimension names a rule may write bare: tracedesk.cohorts' names and their old spellings."""
    return [*cohorts.names(), *cohorts.ALIASES]


def validator() -> Any:
    """The JSON Schema validator, compiled once per process (and again only if a signal type is added)."""
    global _VALIDATOR
    _ensure_registry()
    key = tuple(sorted(SIGNAL_SPECS))
    if _VALIDATOR is None or _VALIDATOR[0] != key:
        import jsonschema

        compiled = jsonschema.Draft202012Validator(schema())
        _VALIDATOR = (key, compiled)
    return _VALIDATOR[1]


def _schema_errors(doc: Any) -> list[tuple[str, str]]:
    out = []
    for error in sorted(validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        out.append((path, error.message))
    return out


def parse_rule(doc: Any) -> AlertRule:
    """Validate a v1 document and build the rule; raises AlertValidationError listing every problem."""
    size = _size_errors(doc)
    if size:
        raise AlertValidationError(size)
    _ensure_registry()
    checker = _Checker()
    rule = checker.rule(doc)
    if checker.errors:
        raise AlertValidationError(checker.errors)
    # The published schema is the contract other tools read: a document we accept must pass it too.
    errors = _schema_errors(doc)
    if errors:
        raise AlertValidationError(errors)
    assert rule is not None
    return rule


def parse_document(doc: Any) -> list[AlertRule]:
    """A single rule, a bundle {"tracedesk_alerts": 1, "alerts": [...]}, or a JSON list of rules."""
    if isinstance(doc, dict) and BUNDLE_KEY in doc:
        if doc.get(BUNDLE_KEY) != FORMAT_VERSION:
            raise AlertValidationError([(f"$.{BUNDLE_KEY}", f"unsupported version; valid choices: {FORMAT_VERSION}")])
        items = doc.get("alerts")
        if not isinstance(items, list):
            raise AlertValidationError([("$.alerts", "must be a list of alert documents")])
        prefix = "$.alerts"
    elif isinstance(doc, list):
        items, prefix = doc, "$"
    else:
        return [parse_rule(doc)]
    rules: list[AlertRule] = []
    errors: list[tuple[str, str]] = []
    for i, item in enumerate(items):
        try:
            rules.append(parse_rule(item))
        except AlertValidationError as exc:
            errors.extend((f"{prefix}[{i}]" + p[1:], m) for p, m in exc.errors)
    names = [r.name for r in rules]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        errors.append((prefix, f"two alerts are named {dup!r}; names must be unique"))
    if errors:
        raise AlertValidationError(errors)
    return rules


def loads(text: str) -> list[AlertRule]:
    """Parse JSON text holding one rule or a bundle."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AlertValidationError([("$", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")])
    return parse_document(doc)


def rule_from_dict(doc: Any) -> AlertRule:
    return parse_rule(doc)
