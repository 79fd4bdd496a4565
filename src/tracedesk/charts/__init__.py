"""Altair chart builders for every feature: `workbench` (overview, traces, agents, cohorts), `alerts`
(backtests) and `drift`. The workbench builders are re-exported here, as `tracedesk.charts.X`."""
from .workbench import *  # noqa: F401,F403
from .workbench import LABELS  # noqa: F401
