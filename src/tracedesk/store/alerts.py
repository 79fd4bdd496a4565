"""Store access for alerts: the saved-rules table (the only SQL in the alerts feature that writes).

Its migration is appended to `store.MIGRATIONS` as "m301_alert_rules". It imports nothing from
store.py at module level (store.py imports the migration from here). Rules are stored as their
canonical JSON document, so what is saved is exactly what is exported.
"""
from __future__ import annotations

import time

import sqlite_utils


def m301_alert_rules(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE alert_rules (
          name TEXT PRIMARY KEY,
          document TEXT NOT NULL,
          created_ns INTEGER,
          updated_ns INTEGER
        )
        """
    )


def save_rule_document(db: sqlite_utils.Database, name: str, document: str) -> None:
    """Insert or replace a rule by name (keeps its creation time)."""
    now = time.time_ns()
    with db.conn:
        db.execute(
            "INSERT INTO alert_rules (name, document, created_ns, updated_ns) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET document = excluded.document, updated_ns = excluded.updated_ns",
            [name, document, now, now],
        )


def delete_rule_document(db: sqlite_utils.Database, name: str) -> bool:
    with db.conn:
        cur = db.execute("DELETE FROM alert_rules WHERE name = ?", [name])
    return cur.rowcount > 0


def rule_documents(db: sqlite_utils.Database) -> list[tuple[str, str]]:
    """(name, JSON document) of every saved rule, by name."""
    return [(r[0], r[1]) for r in db.execute("SELECT name, document FROM alert_rules ORDER BY name")]


def m302_alerts_eval_index(db: sqlite_utils.Database) -> None:
    # Alert signals read one evaluator's rows with their trace id and verdict: this index answers them
    # without touching the (wide) evaluations rows — ~10x faster on 1M spans.
    db.execute("CREATE INDEX IF NOT EXISTS idx_evaluations_name_trace ON evaluations "
               "(name, trace_id, score, passed, label)")


# ---------------------------------------------------------------------------------------------
# What `alerts check` compares a rule with, to warn about names the data does not hold

#: Trace-level columns of each scope dimension (spans carry their own for model / agent / service).
_TRACE_COLUMNS = {"route": "route", "tenant": "tenant", "prompt_version": "prompt_version",
                  "environment": "environment", "service": "service"}
_SPAN_COLUMNS = {"model": "model", "agent_name": "agent_name", "service": "service", "route": "route",
                 "tenant": "tenant", "prompt_version": "prompt_version", "environment": "environment"}


#: dimensions dimension_value_exists reads from a column (the others go through cohort_sql)
SCOPE_VALUE_COLUMNS = frozenset({*_TRACE_COLUMNS, *_SPAN_COLUMNS})


def evaluator_names(db: sqlite_utils.Database) -> set[str]:
    """Every evaluation name stored (judges, heuristics, imported, user feedback)."""
    return {r[0] for r in db.execute("SELECT DISTINCT name FROM evaluations")}


def dimension_value_exists(db: sqlite_utils.Database, dimension: str, value: str) -> bool:
    """Whether any trace or span holds `value` for a scope dimension (a column, or dims.NAME)."""
    if dimension.startswith("dims."):
        key = "$." + '"' + dimension[5:].replace('"', '""') + '"'
        sql = ("SELECT 1 FROM traces WHERE json_extract(dims, ?) = ? UNION ALL "
               "SELECT 1 FROM spans WHERE json_extract(dims, ?) = ? LIMIT 1")
        return db.execute(sql, [key, value, key, value]).fetchone() is not None
    if dimension in _TRACE_COLUMNS and db.execute(
            f"SELECT 1 FROM traces WHERE {_TRACE_COLUMNS[dimension]} = ? LIMIT 1", [value]).fetchone():
        return True
    if dimension not in _SPAN_COLUMNS and dimension not in _TRACE_COLUMNS:
        return False
    # spans hold every scope column (a child span may carry a value its root does not)
    return db.execute(f"SELECT 1 FROM spans WHERE {dimension} = ? LIMIT 1", [value]).fetchone() is not None
