"""Which database a command or the app uses when none is given, without importing the store (which loads
sqlite_utils and pandas): `tracedesk app` and the app's first paint read it before anything heavy."""
from __future__ import annotations

import os

DEFAULT_DB_PATH = "tracedesk.db"
DB_ENV_VAR = "TRACEDESK_DB"


def default_db_path() -> str:
    """The database a command uses when none is given: $TRACEDESK_DB, else ./tracedesk.db."""
    return os.environ.get(DB_ENV_VAR) or DEFAULT_DB_PATH
