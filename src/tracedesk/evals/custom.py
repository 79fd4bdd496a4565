"""Custom judges a user defines without code: a name, a rubric with placeholders, a threshold.

    {"name": "polite_tone", "rubric": "Is the {output} polite to the user who wrote {input}?",
     "threshold": 0.7}

Placeholders: {input} {output} {context} {trajectory}. In the prompt each placeholder becomes a
reference to a fenced data section ("the OUTPUT section"), so the user's rubric gets the same
injection defence as the built-in judges. A rubric using {trajectory} judges whole traces.
Definitions live in the database (settings key "evals.custom_judges") and round-trip as JSON.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import sqlite_utils

from ..store import evals as store_evals
from .base import Scope
from .rubrics import SECTIONS, LLMJudge
from ..errors import EvalError

PLACEHOLDERS: tuple[str, ...] = ("input", "output", "context", "trajectory")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
_PLACEHOLDER_RE = re.compile(r"\{(\w+)\}")
EXPORT_FORMAT = "tracedesk.custom_judges/v1"


class CustomJudgeError(EvalError):
    pass


def validate(spec: dict[str, Any], *, builtin_names: set[str] | None = None) -> dict[str, Any]:
    """Check a definition and return it normalised; raises CustomJudgeError saying what to fix."""
    if not isinstance(spec, dict):
        raise CustomJudgeError("a custom judge must be a JSON object with 'name', 'rubric' and 'threshold'")
    name = str(spec.get("name", "")).strip().lower()
    if not _NAME_RE.match(name):
        raise CustomJudgeError(
            f"custom judge name {spec.get('name')!r} must be lowercase snake_case (letters, digits, _), "
            "e.g. 'polite_tone'"
        )
    if builtin_names and name in builtin_names:
        raise CustomJudgeError(f"custom judge name {name!r} is taken by a built-in evaluator; choose another")
    rubric = str(spec.get("rubric", "")).strip()
    used = _PLACEHOLDER_RE.findall(rubric)
    unknown = sorted(set(used) - set(PLACEHOLDERS))
    if unknown:
        raise CustomJudgeError(
            f"custom judge {name!r}: unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)}; "
            f"valid: {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
        )
    if not used:
        raise CustomJudgeError(
            f"custom judge {name!r}: the rubric must use at least one of "
            f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
        )
    try:
        threshold = float(spec.get("threshold", 0.5))
    except (TypeError, ValueError):
        raise CustomJudgeError(f"custom judge {name!r}: threshold must be a number in [0, 1]") from None
    if not 0.0 <= threshold <= 1.0:
        raise CustomJudgeError(f"custom judge {name!r}: threshold {threshold:g} must be in [0, 1]")
    out = {"name": name, "rubric": rubric, "threshold": threshold,
           "good_label": str(spec.get("good_label") or "pass").lower(),
           "bad_label": str(spec.get("bad_label") or "fail").lower(),
           "description": str(spec.get("description") or "")}
    if spec.get("applies_to"):
        out["applies_to"] = [str(k).upper() for k in spec["applies_to"]]
    return out


def to_judge(spec: dict[str, Any]) -> LLMJudge:
    """Build the evaluator for a validated definition. Its version hashes the definition."""
    used: list[str] = []
    for p in _PLACEHOLDER_RE.findall(spec["rubric"]):
        if p not in used:
            used.append(p)
    criteria = _PLACEHOLDER_RE.sub(lambda m: f"the {SECTIONS[m.group(1)]} section", spec["rubric"])
    digest = hashlib.blake2b(json.dumps(spec, sort_keys=True).encode(), digest_size=4).hexdigest()
    scope: Scope = "trace" if "trajectory" in used else "span"
    default_kinds: tuple[str, ...] = () if scope == "trace" else ("LLM", "AGENT", "CHAIN")
    return LLMJudge(
        name=spec["name"], title=spec["name"].replace("_", " "), version=f"custom-{digest}",
        criteria=criteria, fields=tuple(used), requires=tuple(used),
        good=spec["good_label"], bad=spec["bad_label"],
        good_means="the criterion is fully met", bad_means="the criterion is not met at all",
        applies_to=tuple(spec.get("applies_to") or default_kinds), scope=scope,
        threshold=spec["threshold"], description=spec.get("description") or f"custom: {spec['rubric'][:60]}",
    )


def list_specs(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return store_evals.load_custom_judges(db)


def add(db: sqlite_utils.Database, spec: dict[str, Any]) -> dict[str, Any]:
    """Add or replace (same name) a custom judge; returns the stored definition."""
    from .registry import builtin_names

    clean = validate(spec, builtin_names=builtin_names())
    specs = [s for s in list_specs(db) if s["name"] != clean["name"]] + [clean]
    store_evals.save_custom_judges(db, sorted(specs, key=lambda s: s["name"]))
    return clean


def remove(db: sqlite_utils.Database, name: str) -> bool:
    specs = list_specs(db)
    keep = [s for s in specs if s["name"] != name.lower()]
    store_evals.save_custom_judges(db, keep)
    return len(keep) != len(specs)


def export_json(db: sqlite_utils.Database) -> str:
    return json.dumps({"format": EXPORT_FORMAT, "judges": list_specs(db)}, indent=2, sort_keys=True)


def import_json(db: sqlite_utils.Database, text: str) -> list[str]:
    """Import definitions (a list, one object, or an export document); all-or-nothing. Returns names."""
    from .registry import builtin_names

    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise CustomJudgeError(f"custom judges file is not valid JSON: {exc}") from None
    items = doc.get("judges") if isinstance(doc, dict) and "judges" in doc else doc
    items = [items] if isinstance(items, dict) else items
    if not isinstance(items, list):
        raise CustomJudgeError("expected a JSON list of judges or {\"judges\": [...]}")
    names = builtin_names()
    clean = [validate(item, builtin_names=names) for item in items]
    merged = {s["name"]: s for s in list_specs(db)}
    merged.update({s["name"]: s for s in clean})
    store_evals.save_custom_judges(db, sorted(merged.values(), key=lambda s: s["name"]))
    return [s["name"] for s in clean]
