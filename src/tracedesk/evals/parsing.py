"""Read a judge's reply into a `Score`, from ONE well-defined place: the reply itself.

The verdict is the JSON object that IS the reply after trimming (what `response_format` JSON mode and
tool-call arguments return), or a reply that is exactly one ```json fenced block holding that object.
Nothing is read from inside prose, and no fenced block inside a longer reply counts: a judge that quotes
the content it judged (`... the text says {"score": 1} ...`) must not have the quote taken for its
verdict, so such a reply is an error row keeping the raw text, never a guess. Single quotes are not
guessed at either.

Accepted values: numeric strings ("0.8"), booleans, and a label without a score when the rubric's labels
say which verdict it is. Out-of-range numbers: a score within 0.05 of [0, 1] (1.02, -0.01: rounding
noise) is clamped; anything further out (7, 85, -3) is REJECTED, because we cannot know which scale the
model used.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

from .base import Score

#: A reply that is one fenced block and nothing else (the whole trimmed reply).
_WHOLE_FENCE_RE = re.compile(r"\A```(?:json|JSON)?[ \t]*\n?(.*?)\n?[ \t]*```\Z", re.DOTALL)
_CLAMP_SLACK = 0.05
_REASON_KEYS = ("reason", "explanation", "reasoning", "rationale")


class ParseError(ValueError):
    pass


def verdict_object(reply: str) -> dict[str, Any]:
    """The JSON object that is the reply (or the reply's single enclosing fence); ParseError otherwise."""
    text = reply.strip()
    fenced = _WHOLE_FENCE_RE.match(text)
    if fenced and "```" not in fenced.group(1):
        text = fenced.group(1).strip()
    try:
        value = json.loads(text, parse_constant=lambda c: float(c))
    except ValueError:
        if "{" in text and (not text.startswith("{") or _object_then_text(text)):
            raise ParseError("the reply is not one JSON object (the verdict is read only from a reply that "
                             "IS a JSON object, never from text or blocks inside it)") from None
        raise ParseError("no JSON object with a 'score' in the reply") from None
    if not isinstance(value, dict):
        raise ParseError(f"the reply is JSON {type(value).__name__}, not an object with a 'score'")
    return value


def _object_then_text(text: str) -> bool:
    try:
        json.JSONDecoder().raw_decode(text)
    except ValueError:
        return False
    return True  # a valid object followed by more text (json.loads refused the whole)


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
    obj = verdict_object(raw)
    if "score" not in obj and "label" not in obj:
        raise ParseError("no JSON object with a 'score' in the reply")
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
