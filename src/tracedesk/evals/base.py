"""The evaluator interface: small typed records shared by judges, heuristics and the runner.

An evaluator turns one `EvalInput` (what a span, or a whole trace, said and did) into one `Score`.
Two families share the interface:

* heuristics (`kind="heuristic"`) compute the score in-process with `evaluate(inp)`;
* judges (`kind="judge"`) build chat messages with `messages(inp)` and read the model's reply with
  `parse(reply)`; the runner makes the call (through litellm) in between.

Scores are in [0, 1] and HIGHER IS BETTER (1 = grounded, safe, relevant...). `passed` is
`score >= threshold`. An evaluator that cannot score returns a `Score` with `error` set and no score,
never a made-up number.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

#: Every input field an evaluator may require (see `EvalInput`).
INPUT_FIELDS: tuple[str, ...] = (
    "input", "output", "context", "trajectory", "expected_tool", "tool_name", "duration_ms", "cost_usd",
)

Scope = Literal["span", "trace"]
Family = Literal["judge", "heuristic"]


@dataclass(slots=True)
class EvalInput:
    """What an evaluator sees about one span (scope "span") or one trace (scope "trace").

    For a trace-scope evaluator the ids are the trace's root span, `input`/`output` are the
    trajectory's first user input and final answer, and `trajectory` lists every step.
    """

    trace_id: str
    span_id: str
    kind: str = "UNKNOWN"
    name: str = ""
    status: str = "UNSET"
    input: str | None = None
    output: str | None = None
    #: retrieved documents' text, joined (the span's own documents, else its trace's retrievals)
    context: str | None = None
    #: the trace's steps in time order, one line each (kind, name, tool calls with arguments, results)
    trajectory: str | None = None
    #: the tool the step should have called, when the trace says so (attribute `expected_tool`)
    expected_tool: str | None = None
    #: tools the step called (its own tool_name, or tool calls in its output messages)
    tool_name: str | None = None
    available_tools: str | None = None
    duration_ms: float | None = None
    cost_usd: float | None = None
    model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        value = getattr(self, name)
        return value is not None and value != ""


@dataclass(slots=True)
class Score:
    """One evaluator's verdict on one input."""

    score: float | None = None
    label: str | None = None
    passed: bool | None = None
    reason: str | None = None
    #: set when no score could be produced (unreadable judge reply, timeout, missing input...)
    error: str | None = None
    #: the judge's raw reply (kept for audit, and for error rows)
    raw: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Evaluator(Protocol):
    """What the registry and the runner need from any evaluator (read-only: evaluators are frozen)."""

    @property
    def name(self) -> str: ...  # lowercase snake_case; the evaluation row's name
    @property
    def version(self) -> str: ...  # bump when the rubric / logic changes: it is part of the cache key
    @property
    def family(self) -> Family: ...
    @property
    def description(self) -> str: ...
    @property
    def applies_to(self) -> tuple[str, ...]: ...  # span kinds; () = any kind
    @property
    def scope(self) -> Scope: ...
    @property
    def requires(self) -> tuple[str, ...]: ...  # EvalInput fields that must be present
    @property
    def threshold(self) -> float: ...  # passed = score >= threshold


@dataclass(frozen=True, slots=True)
class Info:
    """A printable summary of an evaluator (for `tracedesk eval list` and the page)."""

    name: str
    family: str
    version: str
    scope: str
    applies_to: tuple[str, ...]
    requires: tuple[str, ...]
    threshold: float
    description: str


def info(ev: Evaluator) -> Info:
    return Info(ev.name, ev.family, ev.version, ev.scope, tuple(ev.applies_to), tuple(ev.requires),
                ev.threshold, ev.description)


def missing_inputs(ev: Evaluator, inp: EvalInput) -> list[str]:
    return [f for f in ev.requires if not inp.has(f)]


def applies(ev: Evaluator, kind: str) -> bool:
    return not ev.applies_to or kind in ev.applies_to


def verdict(score: float, threshold: float) -> bool:
    return score >= threshold
