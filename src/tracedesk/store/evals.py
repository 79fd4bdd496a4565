"""Store access for evaluators: the judge-reply cache table and the custom-judge settings.

Writes SQL, so it lives beside store.py (the rule: only store modules modify data). Its migration
is appended to `store.MIGRATIONS` as "m201_eval_cache". It imports nothing from store.py at module
level (store.py imports the migration from here).
"""
from __future__ import annotations

import json
import time
from typing import Any

import sqlite_utils

CUSTOM_JUDGES_KEY = "evals.custom_judges"


def m201_eval_cache(db: sqlite_utils.Database) -> None:
    """Judge verdicts keyed by (evaluator version, judge model, inputs): a re-run makes no call."""
    db.execute(
        """
        CREATE TABLE eval_cache (
          key TEXT PRIMARY KEY,
          evaluator TEXT NOT NULL,
          evaluator_version TEXT,
          judge_model TEXT,
          result TEXT NOT NULL,
          created_ns INTEGER
        )
        """
    )


def cache_get(db: sqlite_utils.Database, key: str) -> dict[str, Any] | None:
    row = db.execute("SELECT result FROM eval_cache WHERE key = ?", [key]).fetchone()
    return json.loads(row[0]) if row else None


def cache_put_many(db: sqlite_utils.Database, entries: list[tuple[str, str, str, str, dict[str, Any]]]) -> None:
    """Store (key, evaluator, version, judge_model, result) rows; last write wins."""
    if not entries:
        return
    now = time.time_ns()
    with db.conn:
        db.conn.executemany(
            "INSERT OR REPLACE INTO eval_cache VALUES (?, ?, ?, ?, ?, ?)",
            [(k, name, ver, model, json.dumps(result, default=str), now) for k, name, ver, model, result in entries],
        )


def cache_clear(db: sqlite_utils.Database, evaluator: str | None = None) -> int:
    with db.conn:
        if evaluator is None:
            cur = db.execute("DELETE FROM eval_cache")
        else:
            cur = db.execute("DELETE FROM eval_cache WHERE evaluator = ?", [evaluator])
    return cur.rowcount


def load_custom_judges(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    from . import get_setting

    return list(get_setting(db, CUSTOM_JUDGES_KEY, []) or [])


def save_custom_judges(db: sqlite_utils.Database, judges: list[dict[str, Any]]) -> None:
    from . import set_setting

    set_setting(db, CUSTOM_JUDGES_KEY, judges)
