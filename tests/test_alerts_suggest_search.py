"""The suggester's rule search (suggest._best_rule) on hand-made options: which conditions are combined, how
a condition keeps its own window, and the order of preference between on time and robust."""
from __future__ import annotations

import numpy as np

from tracedesk.alerts.definition import Condition
from tracedesk.alerts.suggest import _best_rule, _Option

NS = 10**9
STEP = 300 * NS
N = 100
TIMES = np.arange(N, dtype=np.int64) * STEP
START, END = int(TIMES[50]), int(TIMES[60])  # the incident: steps 50 to 59
GAP = 12  # resolve after an hour clear


def _steps(*runs: tuple[int, int]) -> np.ndarray:
    out = np.zeros(N, dtype=bool)
    for a, b in runs:
        out[a:b] = True
    return out


def _option(threshold: float, firing: np.ndarray, loose: np.ndarray | None = None) -> _Option:
    cond = Condition({"type": "ttft"}, "p95", ">", threshold)
    return _Option(cond, firing, np.zeros(0, dtype=bool), 0.5, firing if loose is None else loose,
                   np.ones(N, dtype=bool))


def _search(pooled: list[tuple[int, str, _Option]], movers: int = 1) -> tuple[tuple | None, tuple | None]:
    overlap = (TIMES > START - 3600 * NS) & (TIMES - 3600 * NS < END + 3600 * NS)
    return _best_rule(pooled, {"5m": overlap, "1h": overlap}, TIMES, START, END, STEP, [GAP] * movers, 3, 0, [])


def test_a_condition_quiet_on_the_incident_is_in_no_rule() -> None:
    # it never fires during the incident, so no AND with it can: the search never combines it (an AND with
    # the catching one would have been quieter than the catching one alone, which pages once outside)
    catching = _option(1.0, _steps((50, 58), (20, 22)))
    elsewhere = _option(2.0, _steps((80, 90)))
    best, robust = _search([(0, "5m", catching), (1, "5m", elsewhere)], movers=2)
    assert best is not None
    assert [c.threshold for c in best[1]] == [1.0]
    assert best[3].false_pages == 1  # the one page at step 20
    assert robust is None  # ... which its loosened thresholds page too: no rule here stays quiet


def test_one_signal_over_two_windows_keeps_each_window() -> None:
    # the 5-minute condition is fast and pages on a blip; the hour's is slow and pages elsewhere; their AND
    # pages on the incident alone, at the short one's speed, the rule's window being the shortest
    fast = _option(1.0, _steps((50, 60), (10, 11)))
    steady = _option(2.0, _steps((45, 65), (30, 40)))
    best, _robust = _search([(0, "5m", fast), (0, "1h", steady)])
    assert best is not None
    _rank, conditions, window, score, _elsewhere, _slowest, fragile = best
    assert window == "5m"
    assert [(c.threshold, c.window) for c in conditions] == [(1.0, None), (2.0, "1h")]
    assert (score.caught, score.false_pages, score.delay_steps, fragile) == (True, 0, 0.0, 0)


def test_a_fragile_rule_on_time_beats_a_robust_late_one_which_is_kept() -> None:
    # both page once, on the incident alone; the first at its start, but moved towards the baseline it would
    # also page at step 20; the second 6 steps late and quiet however it is moved
    fragile = _option(1.0, _steps((50, 60)), loose=_steps((50, 60), (20, 21)))
    late = _option(2.0, _steps((56, 60)))
    best, robust = _search([(0, "5m", fragile), (1, "5m", late)], movers=2)
    assert best is not None and robust is not None
    assert ([c.threshold for c in best[1]], best[3].delay_steps, best[6]) == ([1.0], 0.0, 1)
    assert ([c.threshold for c in robust[1]], robust[3].delay_steps, robust[6]) == ([2.0], 6.0, 0)


def test_among_rules_on_time_the_robust_one_wins() -> None:
    fragile = _option(1.0, _steps((50, 60)), loose=_steps((50, 60), (20, 21)))
    robust_on_time = _option(2.0, _steps((51, 60)))
    best, robust = _search([(0, "5m", fragile), (1, "5m", robust_on_time)], movers=2)
    assert best is not None and robust is not None
    assert [c.threshold for c in best[1]] == [c.threshold for c in robust[1]] == [2.0]
    assert best[3].delay_steps == 1.0
