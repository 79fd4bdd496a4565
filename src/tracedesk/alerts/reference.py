"""The rule language's reference for relative thresholds, rendered from the published schema and the
constants the evaluator uses (`python -m tracedesk.docgen` writes docs/alert-relative.md)."""
from __future__ import annotations

from .definition import NEW_COHORT_WINDOW, VERSUS_CHOICES, schema
from .evaluate import REPLACED_MIN_MISSING


def relative_markdown() -> str:
    """`relative_to`: every field, its type and meaning, from alert-rule.v1.schema.json."""
    props = schema()["$defs"]["relative"]["properties"]
    lines = ["| field | type | meaning |", "| --- | --- | --- |"]
    for name, spec in props.items():
        kind = spec.get("type") or ("one of " + ", ".join(f"`{c}`" for c in spec["enum"]) if "enum" in spec
                                    else spec.get("$ref", "").rsplit("/", 1)[-1] or "object")
        lines.append(f"| `{name}` | {kind} | {spec.get('description', '').replace('|', '/')} |")
    return "\n".join([
        "A condition's threshold may be relative to a baseline: `relative_to` replaces `threshold`. "
        + schema()["$defs"]["relative"]["description"], "",
        *lines, "",
        f"A new-cohort baseline (`new_cohort`) uses a window of `{NEW_COHORT_WINDOW}` unless one is given; "
        f"`versus` takes {', '.join(f'`{v}`' for v in VERSUS_CHOICES)}; the replaced value is chosen once at "
        f"least {REPLACED_MIN_MISSING:g} of its samples are missing since the new value appeared (expected at "
        f"its old share of the traffic). Only samples within three windows before the evaluated time are read, "
        f"so `alerts check` and a backtest agree at every evaluation.", "",
        "```json",
        '{"signal": {"type": "eval_score", "evaluator": "groundedness"}, "aggregation": "mean", "comparator": "<",',
        ' "window": "1d", "relative_to": {"new_cohort": "prompt_version", "versus": "replaced", "delta": -0.12,',
        '                                "resolve_delta": 0}}',
        "```", "",
        "in a rule with `\"group_by\": [\"prompt_version\"]`: a prompt version seen for the first time in the "
        "last day, with a day of history before it, pages when the mean groundedness of its traces so far is "
        "0.12 below the version it replaced, and stays firing until it is back at that version's mean.", "",
        "A peers baseline (`peers`) is the other values of a group_by dimension, pooled, over the condition's own "
        "window at the same evaluation (the other group_by dimensions equal): what moves every group at once, a "
        "daily cycle or a slow shared upstream, moves the line with it.", "",
        "```json",
        '{"signal": {"type": "duration", "span_kind": "RETRIEVER"}, "aggregation": "p95", "comparator": ">",',
        ' "window": "15m", "relative_to": {"peers": "route", "factor": 2, "resolve_factor": 1.5}}',
        "```", "",
        "in a rule with `\"group_by\": [\"route\"]`: a route pages when its retriever p95 over 15 minutes is "
        "twice that of the other routes' retriever spans pooled, and stays firing while it is above 1.5 times it. "
        "A window whose peers hold fewer samples than the condition's min_samples is not judged (a lone group has "
        "no peers).",
    ])
