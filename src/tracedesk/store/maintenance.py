"""Keeping the planner's statistics fresh after bulk writes.

Query plans must not depend on statistics (every filter is written to be fast without them: see
`query.trace_where`), but statistics still help SQLite order joins. `optimize` refreshes them cheaply:
`analysis_limit` makes ANALYZE sample a bounded number of rows per index, so it costs milliseconds
whatever the size, and it only runs when the spans table has grown by half since the last run.
"""
from __future__ import annotations

from typing import Any

#: rows ANALYZE samples per index (SQLite's recommended range is 100-1000)
ANALYSIS_LIMIT = 1000
#: re-analyze when the spans table has grown by this factor since the last ANALYZE
GROWTH = 1.5
_SETTING = "analyzed_spans"


def optimize(db: Any) -> bool:
    """Refresh planner statistics if the data grew enough since the last refresh. Returns whether it ran."""
    from . import get_setting, set_setting

    spans = db.execute("SELECT COALESCE(MAX(rowid), 0) FROM spans").fetchone()[0]
    previous = (get_setting(db, _SETTING) or {}).get("spans", 0)
    has_stats = db.execute(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'").fetchone()[0]
    if has_stats and spans < max(previous, 1) * GROWTH:
        return False
    db.execute(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
    db.execute("ANALYZE")
    db.execute("PRAGMA optimize")
    set_setting(db, _SETTING, {"spans": spans})
    return True
