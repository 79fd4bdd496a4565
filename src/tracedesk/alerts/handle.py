"""`ws.alerts`: alert rules over one workspace (the Alerts page and notebooks use only this).

    ws = tracedesk.open("traces.db")
    rule = ws.alerts.build(name="rag", conditions=[...], window="15m")
    ws.alerts.backtest(rule).summary()
    ws.alerts.save(rule); ws.alerts.list()

Backtests and evaluations are cached on the workspace until the data changes (any commit).
"""
from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Dict, List, Tuple  # List: the class has a method named list

from .definition import AGGREGATIONS, COMPARATORS, SEVERITIES, AlertRule, dumps_bundle, dumps_rule, loads

if TYPE_CHECKING:
    from ..workspace import Workspace
    from .builder import SignalChoice
    from .evaluate import BacktestResult
    from .suggest import Suggestion


class AlertsHandle:
    """Build, save, evaluate, backtest and suggest joint-condition alert rules."""

    aggregations: tuple[str, ...] = AGGREGATIONS
    comparators: tuple[str, ...] = COMPARATORS
    severities: tuple[str, ...] = SEVERITIES

    def __init__(self, ws: "Workspace") -> None:
        self._ws = ws

    def __repr__(self) -> str:
        return f"<alerts of {self._ws!r}>"

    # -- the builder's vocabulary ------------------------------------------------------------------

    @property
    def windows(self) -> tuple[str, ...]:
        from .builder import WINDOWS

        return tuple(WINDOWS)

    @property
    def dimensions(self) -> tuple[str, ...]:
        """Dimensions a rule can be scoped to or grouped by in the builder (tracedesk.cohorts' names, then
        this database's mapped ones as dims.NAME)."""
        from .builder import dimensions

        return tuple(self._ws.memo(("alerts.dimensions",), dimensions))

    def signal_choices(self) -> "list[SignalChoice]":
        """Signals this data can feed, with the usual aggregation, bad direction and a start threshold."""
        from .builder import signal_choices

        return self._ws.memo(("alerts.signal_choices",), signal_choices)

    @staticmethod
    def default_choice(choices: "list[SignalChoice]", i: int) -> int:
        """Index (in `choices`) of the i-th condition's initial signal."""
        from .builder import default_choice

        return default_choice(choices, i)

    @staticmethod
    def against_choices(choice: "SignalChoice", group_by: "list[str]") -> "list[str]":
        """A condition's comparisons: "" (a fixed number) or a group_by dimension (its other values)."""
        from .builder import against_choices

        return against_choices(choice, group_by)

    @staticmethod
    def against_label(dimension: str) -> str:
        from .builder import against_label

        return against_label(dimension)

    @property
    def against_help(self) -> str:
        from .builder import AGAINST_HELP

        return AGAINST_HELP

    @staticmethod
    def threshold_label(choice: "SignalChoice", peers: str) -> str:
        from .builder import threshold_label

        return threshold_label(choice, peers)

    @staticmethod
    def start_threshold(choice: "SignalChoice", comparator: str, peers: str) -> float:
        """A condition row's first threshold: the signal's usual one, or a factor of the other groups'."""
        from .builder import start_threshold

        return start_threshold(choice, comparator, peers)

    @staticmethod
    def condition(choice: "SignalChoice", aggregation: str, comparator: str, threshold: float,
                  peers: str = "") -> "Dict[str, Any]":
        """One builder row as the condition `build` takes (against the other `peers` values when given)."""
        from .builder import builder_condition

        return builder_condition(choice, aggregation, comparator, threshold, peers)

    def dimension_values(self, dimension: str, limit: int = 200) -> list[str]:
        from .builder import dimension_values

        return self._ws.memo(("alerts.values", dimension, limit),
                             lambda db: dimension_values(db, dimension, limit))

    def build(self, **fields: Any) -> AlertRule:
        """A rule from builder fields (name, conditions, combine, window, step, scope, group_by, ...);
        raises AlertValidationError listing each problem with its JSON path."""
        from .builder import build_rule

        return build_rule(**fields)

    # -- documents ---------------------------------------------------------------------------------

    @staticmethod
    def loads(text: str) -> list[AlertRule]:
        """Rules from JSON text (one rule or a bundle); AlertValidationError on a bad document."""
        return loads(text)

    @staticmethod
    def dumps(rule: AlertRule) -> str:
        return dumps_rule(rule)

    @staticmethod
    def dumps_bundle(rules: Iterable[AlertRule]) -> str:
        return dumps_bundle(list(rules))

    @staticmethod
    def group_label(group: dict[str, Any]) -> str:
        from .evaluate import group_label

        return group_label(group)

    # -- saved rules -------------------------------------------------------------------------------

    def list(self) -> builtins.list[AlertRule]:  # noqa: A003 - reads as ws.alerts.list()
        from .storage import list_rules

        return self._ws.call(list_rules)

    def get(self, name: str) -> AlertRule | None:
        from .storage import get_rule

        return self._ws.call(get_rule, name)

    def save(self, rule: AlertRule) -> None:
        from .storage import save_rule

        self._ws.call(save_rule, rule)

    def delete(self, name: str) -> bool:
        from .storage import delete_rule

        return self._ws.call(delete_rule, name)

    # -- evaluation --------------------------------------------------------------------------------

    def backtest(self, rule: AlertRule, since: object = None, until: object = None) -> "BacktestResult":
        """Replay the rule at every step over stored history (times in tracedesk.timeutil's grammar)."""
        from .. import timeutil
        from .evaluate import backtest

        since_ns = timeutil.parse_optional_time(since, name="since")
        until_ns = timeutil.parse_optional_time(until, name="until")
        return self._ws.memo(("alerts.backtest", dumps_rule(rule), since_ns, until_ns),
                             lambda db: backtest(db, rule, since_ns, until_ns))

    def evaluate(self, rule: AlertRule, at: object = None) -> builtins.list[dict[str, Any]]:
        """One event per group for the window ending at `at` (default: the newest span)."""
        from .. import timeutil
        from .evaluate import evaluate

        at_ns = timeutil.parse_optional_time(at, name="at")
        return self._ws.memo(("alerts.evaluate", dumps_rule(rule), at_ns), lambda db: evaluate(db, rule, at_ns))

    def firing(self, rule: AlertRule, at: object = None) -> builtins.list[str]:
        """Labels of the groups firing now (or at `at`)."""
        return [self.group_label(e["group"]) for e in self.evaluate(rule, at) if e["firing"]]

    def suggest(self, start: object, end: object, cohort: dict[str, Any] | None = None,
                **options: Any) -> "Suggestion":
        """Propose a rule that fires during [start, end) in `cohort` and rarely elsewhere."""
        from .. import timeutil
        from ..errors import InputError
        from .suggest import suggest_rule

        start_ns = timeutil.parse_time(start, name="incident start")
        end_ns = timeutil.parse_time(end, name="incident end")
        try:
            return self._ws.call(suggest_rule, start_ns, end_ns, cohort or {}, **options)
        except InputError:
            raise
        except ValueError as exc:  # suggest_rule's documented bad-input errors
            raise InputError(str(exc)) from None

    # -- the page's links (URL pre-fill, "open in builder") ----------------------------------------

    scope_pickers: tuple[str, ...] = ("route", "tenant", "model")

    @property
    def builder_extra_key(self) -> str:
        from .builder import EXTRA_KEY

        return EXTRA_KEY

    @staticmethod
    def incident_from_params(params: Any) -> tuple[str, str, dict[str, str], List[str]]:
        """(since, until, cohort, problems) from URL parameters since / until / cohort.DIM."""
        from .builder import incident_from_params

        return incident_from_params(params)

    def builder_session(self, rule: AlertRule) -> dict[str, Any]:
        """Session values that open `rule` in the builder (InputError naming what the builder cannot show)."""
        from ..errors import InputError
        from .builder import builder_session

        try:
            return builder_session(rule, self.signal_choices())
        except ValueError as exc:
            raise InputError(str(exc)) from None

    @staticmethod
    def apply_builder_extra(conditions: List[Dict[str, Any]], scope: Dict[str, List[str]],
                            extra: dict[str, Any] | None) -> tuple[List[Dict[str, Any]], Dict[str, List[str]], dict[str, Any]]:
        from .builder import apply_extra

        return apply_extra(conditions, scope, extra)
