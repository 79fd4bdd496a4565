"""Read a judge's reply into a `Score`, whatever wrapping the model put around its JSON.

Survives: ```json fences, prose before/after the object, single quotes are NOT guessed at (a reply
that is not JSON is an error, not a guess), numeric strings ("0.8"), booleans, and a label without a
score when the rubric's labels say which verdict it is.

Out-of-range numbers: a score within 0.05 of [0, 1] (1.02, -0.01: rounding noise) is clamped;
anything further out (7, 85, -3) is REJECTED as an error row keeping the raw reply, because we
cannot know which scale the model used. Several JSON objects with *different* scores are rejected
too (the judge may be quoting the content it judged).
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

from .base import Score

_FENCE_RE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_CLAMP_SLACK = 0.05
_REASON_KEYS = ("reason", "explanation", "reasoning", "rationale")


class ParseError(ValueError):
    pass


def _objects(text: str) -> list[dict[str, Any]]:
    """Every top-level JSON object found in `text` (fenced blocks first, then a brace scan)."""
    found: list[dict[str, Any]] = []
    for block in _FENCE_RE.findall(text):
        try:
            value = json.loads(block.strip())
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    if found:
        return found
    try:
        value = json.loads(text.strip())
        if isinstance(value, dict):
            return [value]
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    i = text.find("{")
    while i != -1:
        try:
            value, end = decoder.raw_decode(text, i)
        except ValueError:
            i = text.find("{", i + 1)
            continue
        if isinstance(value, dict):
            found.append(value)
        i = text.find("{", end)
    return found


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def parse_reply(
    reply: str | None,
    *,
    threshold: float,
    good_label: str,
    bad_label: str,
) -> Score:
    """Turn the judge's reply into a Score; on failure a Score with `error` and the raw reply."""
    raw = reply or ""
    try:
        score, label, reason = _parse(raw, good_label, bad_label)
    except ParseError as exc:
        return Score(error=f"unreadable judge reply: {exc}", raw=raw)
    passed = score >= threshold
    return Score(score=score, label=label or (good_label if passed else bad_label), passed=passed,
                 reason=reason, raw=raw)


def _parse(raw: str, good_label: str, bad_label: str) -> tuple[float, str | None, str | None]:
    if not raw.strip():
        raise ParseError("empty reply")
    objects = [o for o in _objects(raw) if "score" in o or "label" in o]
    if not objects:
        raise ParseError("no JSON object with a 'score' in the reply")
    distinct = {json.dumps(o.get("score"), sort_keys=True) for o in objects}
    if len(distinct) > 1:
        raise ParseError(f"{len(objects)} JSON objects with different scores")
    obj = objects[-1]
    label = obj.get("label")
    label = str(label).strip().lower() if label not in (None, "") else None
    score = _number(obj.get("score"))
    if score is None:
        if "score" in obj and obj["score"] is not None:
            raise ParseError(f"score {obj['score']!r} is not a number")
        if label == good_label:
            score = 1.0
        elif label == bad_label:
            score = 0.0
        else:
            raise ParseError("no score and no recognised label")
    if math.isnan(score) or math.isinf(score):
        raise ParseError(f"score {score} is not a finite number")
    if score < 0 or score > 1:
        if -_CLAMP_SLACK <= score <= 1 + _CLAMP_SLACK:
            score = min(1.0, max(0.0, score))
        else:
            raise ParseError(f"score {score:g} is outside [0, 1]")
    reason = next((str(obj[k]) for k in _REASON_KEYS if obj.get(k) not in (None, "")), None)
    return score, label, reason
