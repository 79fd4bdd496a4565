"""Saved rules: parse/serialize around the store_alerts table (no SQL here)."""
from __future__ import annotations

import json

import sqlite_utils

from ..store import alerts as store_alerts
from ..store import connect
from ..store.connect import with_database
from .definition import AlertRule, dumps_rule, parse_rule


@with_database  # a path is opened for the call and closed after it
def save_rule(db: "str | sqlite_utils.Database", rule: AlertRule) -> None:
    """Save (or replace, by name) a rule as its canonical JSON document."""
    store_alerts.save_rule_document(connect(db), rule.name, dumps_rule(rule, indent=None))


@with_database  # a path is opened for the call and closed after it
def list_rules(db: "str | sqlite_utils.Database") -> list[AlertRule]:
    return [parse_rule(json.loads(doc)) for _name, doc in store_alerts.rule_documents(connect(db))]


def get_rule(db: "str | sqlite_utils.Database", name: str) -> AlertRule | None:
    return next((r for r in list_rules(db) if r.name == name), None)


@with_database  # a path is opened for the call and closed after it
def delete_rule(db: "str | sqlite_utils.Database", name: str) -> bool:
    return store_alerts.delete_rule_document(connect(db), name)
