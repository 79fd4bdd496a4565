"""`ws.drift`: drift reports over one workspace (the Drift page and notebooks use only this).

    ws = tracedesk.open("traces.db")
    report = ws.drift.report(since="24h", dimension="route")
    report.drifted[:3]

Reports are cached on the workspace until the data changes (any commit).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .result import FAMILIES

if TYPE_CHECKING:
    from ..workspace import Workspace
    from .result import DriftReport


def _key(value: object) -> object:
    """A hashable cache-key part for a time argument (datetimes and strings hash as they are)."""
    return value if value is None or isinstance(value, (str, int, float)) else repr(value)


class DriftHandle:
    """Which (signal, cohort) pairs moved between a reference and a current window."""

    families: tuple[str, ...] = tuple(FAMILIES)

    def __init__(self, ws: "Workspace") -> None:
        self._ws = ws

    def __repr__(self) -> str:
        return f"<drift of {self._ws!r}>"

    def dimensions(self) -> list[str]:
        """Dimensions drift can slice by: cohort columns, model/service/agent, model_family, mapped dims."""
        from .load import available_dimensions

        return self._ws.memo(("drift.dimensions",), available_dimensions)

    def report(self, since: object = None, until: object = None, *, reference_since: object = None,
               reference_until: object = None, dimension: str | None = None,
               families: Iterable[str] | None = None, **overrides: Any) -> "DriftReport":
        """Drift of every signal per cohort of `dimension` (None: all traffic as one cohort).

        Times follow tracedesk.timeutil ('24h' and '-7d' count back from the newest span); empty strings
        mean "not given". `overrides` set DriftConfig fields (min_samples=..., alpha=...).
        """
        from .report import drift_report

        args = [None if value == "" else value for value in (since, until, reference_since, reference_until)]
        fams = tuple(families) if families else None
        key = ("drift.report", *map(_key, args), dimension, fams, tuple(sorted(overrides.items())))
        return self._ws.memo(key, lambda db: drift_report(db, args[0], args[1], reference_since=args[2],
                                                          reference_until=args[3], dimension=dimension,
                                                          families=fams, **overrides))
