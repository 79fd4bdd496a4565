"""The app's navigation: every page, its title and its URL path, in one list.

Pages are registered with `st.navigation` by absolute path, so the app runs the same from a checkout
(`streamlit run app.py`) and from an installed wheel (`tracedesk app`), with no copy of the files.
"""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent

#: (file relative to this package, title, url path, icon); the first is the landing page.
PAGES: tuple[tuple[str, str, str, str], ...] = (
    ("home.py", "Home", "", ":material/home:"),
    ("pages/overview.py", "Overview", "Overview", ":material/monitoring:"),
    ("pages/traces.py", "Traces", "Traces", ":material/list:"),
    ("pages/trace.py", "Trace", "Trace", ":material/account_tree:"),
    ("pages/agents.py", "Agents", "Agents", ":material/hub:"),
    ("pages/sessions.py", "Sessions", "Sessions", ":material/forum:"),
    ("pages/cohorts.py", "Cohorts", "Cohorts", ":material/grid_view:"),
    ("pages/evaluations.py", "Evaluations", "Evaluations", ":material/fact_check:"),
    ("pages/alerts.py", "Alerts", "Alerts", ":material/notifications:"),
    ("pages/drift.py", "Drift", "Drift", ":material/trending_up:"),
    ("pages/live.py", "Live", "Live", ":material/sensors:"),
)


def page_file(url_path: str) -> str:
    """The absolute path of the page with this URL path ("" for home), for `st.page_link`/`st.switch_page`."""
    for rel, _title, path, _icon in PAGES:
        if path == url_path:
            return str(HERE / rel)
    raise KeyError(f"no page {url_path!r}; pages: {', '.join(p for _, _, p, _ in PAGES if p)}")


def run() -> None:
    """Run the app: register every page and render the one the URL names."""
    import streamlit as st

    from . import ui

    pages = [st.Page(str(HERE / rel), title=title, icon=icon, url_path=path or None, default=not path)
             for rel, title, path, icon in PAGES]
    with ui.error_boundary():  # a user-facing error anywhere on a page: its message, not a traceback
        st.navigation(pages).run()
