"""The landing page renders progressively: the changes feed keeps its place at the top but is computed
after the key figures and charts are drawn (the first look at a big store spends seconds in the feed),
and its "scanning" note is gone once it is filled in."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from tracedesk.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]


def test_the_feed_is_computed_after_the_key_figures_and_drawn_above_them(sample_db_path, monkeypatch):
    calls: list[str] = []
    for name in ("changes", "kpis", "timeseries", "signals_over_time"):
        real = getattr(Workspace, name)

        def spy(self, *args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(self, *args, **kwargs)
        monkeypatch.setattr(Workspace, name, spy)
    monkeypatch.setenv("TRACEDESK_DB", sample_db_path)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert calls == ["kpis", "timeseries", "signals_over_time", "changes"]
    assert [h.value for h in at.subheader][:3] == ["What changed", "Key figures", "Over time"]
    assert not any(c.value.startswith("Scanning every signal") for c in at.caption)
    assert at.main.expander[0].label.startswith("1. ")  # the first finding, above the figures
