"""The one library module that imports streamlit: shared helpers for app.py and pages/."""
from __future__ import annotations

import os

import streamlit as st

from .store import default_db_path


def db_path() -> str:
    """The database the app shows: $TRACEDESK_DB, else ./tracedesk.db."""
    return os.environ.get("TRACEDESK_DB") or default_db_path()
