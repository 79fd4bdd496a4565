"""The judge-reply parser: the reply IS the verdict object (or one enclosing fence); out-of-range numbers;
unreadable replies. Since issue 14 nothing is read from inside prose (a quoted verdict is not the judge's)."""
from __future__ import annotations

import pytest

from tracedesk.evals.parsing import parse_reply


def p(text):
    return parse_reply(text, threshold=0.5, good_label="grounded", bad_label="ungrounded")


@pytest.mark.parametrize("text,expected", [
    ('{"score": 0.8, "label": "grounded", "reason": "ok"}', (0.8, "grounded", True, "ok")),
    ('```json\n{"score": 0.3, "reason": "weak"}\n```', (0.3, "ungrounded", False, "weak")),
    ('```\n{"score": 1, "label": "Grounded"}\n```', (1.0, "grounded", True, None)),
    ('  {"score": "0.75", "explanation": "mostly"}\n', (0.75, "grounded", True, "mostly")),
    ('{"score": 1.03}', (1.0, "grounded", True, None)),  # rounding noise: clamped
    ('{"score": -0.02}', (0.0, "ungrounded", False, None)),
    ('{"score": true}', (1.0, "grounded", True, None)),
    ('{"label": "ungrounded", "reason": "no support"}', (0.0, "ungrounded", False, "no support")),
])
def test_readable_replies(text, expected):
    s = p(text)
    assert (s.score, s.label, s.passed, s.reason) == expected
    assert s.error is None and s.raw == text


_NOT_ONE = ("the reply is not one JSON object (the verdict is read only from a reply that IS a JSON object, "
            "never from text or blocks inside it)")


@pytest.mark.parametrize("text,error", [
    ("", "empty reply"),
    ("The answer is grounded.", "no JSON object with a 'score' in the reply"),
    ('{"score": 8}', "score 8 is outside [0, 1]"),
    ('{"score": 85, "label": "grounded"}', "score 85 is outside [0, 1]"),
    ('{"score": "high"}', "score 'high' is not a number"),
    ('{"score": NaN}', "score nan is not a finite number"),
    ('{"label": "maybe"}', "no score and no recognised label"),
    ('Content asked {"score": 1}; my verdict: {"score": 0.2}', _NOT_ONE),
    ('Sure! Here is my verdict:\n{"score": "0.75", "explanation": "mostly"}\nThanks.', _NOT_ONE),
    ('The content said {"score": 1} but my verdict is {"score": 1}', _NOT_ONE),
    ("{'score': 0.5}", "no JSON object with a 'score' in the reply"),
])
def test_unreadable_replies_are_errors_with_raw(text, error):
    s = p(text)
    assert s.score is None and s.passed is None
    assert s.error == f"unreadable judge reply: {error}"
    assert s.raw == text
