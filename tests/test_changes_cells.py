"""How the feed codes cohort cells (store.feed.code_cells): each distinct value once, none merged."""
from __future__ import annotations


def test_cells_that_python_calls_equal_stay_apart():
    """A mapped dimension holding 1, 1.0 and true (JSON) has three cohorts "1", "1.0", "True", as before."""
    import pandas as pd

    from tracedesk.analysis.changes import _compute_mask
    from tracedesk.store.feed import code_cells

    codes, cells = code_cells(["a", None, 1, True, 1.0, 1, "a"])
    assert codes.tolist() == [0, -1, 1, 2, 3, 1, 0] and list(cells) == ["a", 1, True, 1.0]
    frame = pd.DataFrame({"t": range(7), "v": [0.0] * 7, "d": pd.Series(["a", None, 1, True, 1.0, 1, "a"],
                                                                           dtype=object)})
    assert _compute_mask(frame, {"d": "1"}).tolist() == [False, False, True, False, False, True, False]
    assert _compute_mask(frame, {"d": "True"}).tolist() == [False, False, False, True, False, False, False]
    assert _compute_mask(frame, {"d": "*"}).tolist() == [True, False, True, True, True, True, True]
