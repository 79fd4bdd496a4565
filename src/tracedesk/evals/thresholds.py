"""When a score passes: each evaluator's threshold and direction.

Many sources send a score and no verdict (`gen_ai.evaluation.score.value` alone is the common case). A
score-only evaluation gets its pass/fail from its evaluator's rule: the built-in evaluators' own
thresholds (higher is better), a default for names tracedesk does not know (0.5), lower is better for
scores imported under a harm name (hallucination, toxicity, ...: other tools score the harm), or what the user set (stored in the database
settings, editable on the Evaluations page). A verdict the source gave is never overridden; derived
verdicts are marked (`metadata.passed_from = "threshold"`) and re-derived when the user changes a rule.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

SETTING_KEY = "evaluator_thresholds"
DEFAULT_THRESHOLD = 0.5
HIGHER, LOWER = "higher", "lower"
DIRECTIONS = (HIGHER, LOWER)
#: evaluator names whose score measures a harm (a high score is bad), as other tools name them
LOWER_IS_BETTER = frozenset({"hallucination", "toxicity", "bias", "harmfulness", "harm", "jailbreak",
                             "prompt_injection", "pii", "pii_leak", "refusal_rate", "sexism", "racism",
                             "maliciousness", "insensitivity", "stereotype"})
DERIVED_MARK = "threshold"


@dataclass(frozen=True)
class PassRule:
    threshold: float
    direction: str = HIGHER  # "higher": score >= threshold passes; "lower": score <= threshold passes
    origin: str = "default"  # built-in | default | user

    def passes(self, score: float) -> bool:
        return score >= self.threshold if self.direction == HIGHER else score <= self.threshold

    def describe(self) -> str:
        return f"{'≥' if self.direction == HIGHER else '≤'} {self.threshold:g}"


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch not in "_- ")


def default_rule(name: str, *, imported: bool = True) -> PassRule:
    """The rule of an evaluator nobody configured. Scores imported from other tools under a harm name
    (toxicity, hallucination, ...) are "lower is better", as those tools score them; tracedesk's own
    evaluators score "higher is better" and pass at their own thresholds; anything else passes at 0.5."""
    from .registry import builtin

    if imported and _key(name) in {_key(n) for n in LOWER_IS_BETTER}:
        return PassRule(DEFAULT_THRESHOLD, LOWER, "default")
    for ev in builtin():
        if _key(ev.name) == _key(name):
            return PassRule(float(ev.threshold), HIGHER, "built-in")
    return PassRule(DEFAULT_THRESHOLD, HIGHER, "default")


def validate_rule(name: str, threshold: Any, direction: Any) -> PassRule:
    if not isinstance(name, str) or not name.strip():
        raise ValueError("an evaluator threshold needs the evaluator's name")
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"threshold of {name!r} must be a number, got {threshold!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"threshold of {name!r} must be finite, got {threshold!r}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction of {name!r} must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    return PassRule(value, direction, "user")


def rules_from_setting(value: Any) -> dict[str, PassRule]:
    """{evaluator: rule} from the stored setting {name: {"threshold": t, "direction": d}}."""
    if not value:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{SETTING_KEY} must be an object of evaluator name -> rule")
    return {name: validate_rule(name, r.get("threshold"), r.get("direction", HIGHER))
            for name, r in value.items() if isinstance(r, dict)}


def rule_for(name: str, user_rules: dict[str, PassRule], *, imported: bool = True) -> PassRule:
    return user_rules.get(name) or default_rule(name, imported=imported)
