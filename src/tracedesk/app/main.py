"""The app's navigation: every page, its title and its URL path, in one list.

Pages are registered with `st.navigation` by absolute path, so the app runs the same from a checkout
(`streamlit run app.py`) and from an installed wheel (`tracedesk app`), with no copy of the files.
"""
from __future__ import annotations

from collections.abc import Callable
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


#: the landing page's identity inside Streamlit (its URL is "/"); set so that "home" is free for an alias
_HOME_ID = "index"


def url_aliases() -> dict[str, str]:
    """URL paths that are not a page but name one: {alias: url path}. Streamlit matches a path exactly
    (case-sensitive) and otherwise covers the page with a "Page not found" dialog, so a typed or lower-cased
    link (`/trace?trace_id=...`, `/home`) would meet that dialog; these redirect to the page instead."""
    aliases = {"home": "", "Home": ""}
    for _rel, _title, path, _icon in PAGES:
        if path and path.lower() != path:
            aliases[path.lower()] = path
    return aliases


def _redirect(url_path: str) -> Callable[[], None]:
    def redirect() -> None:
        import streamlit as st

        st.switch_page(page_file(url_path), query_params=st.query_params.to_dict())  # the link's parameters go along

    return redirect


def run() -> None:
    """Run the app: register every page (and the URL aliases that redirect to one) and render the one the
    URL names."""
    import streamlit as st

    from . import ui

    pages = [st.Page(str(HERE / rel), title=title, icon=icon, url_path=path or _HOME_ID, default=not path)
             for rel, title, path, icon in PAGES]
    pages += [st.Page(_redirect(target), title=next(t for _, t, p, _ in PAGES if p == target),
                      url_path=alias, visibility="hidden")
              for alias, target in url_aliases().items()]
    with ui.error_boundary():  # a user-facing error anywhere on a page: its message, not a traceback
        with ui.deferred_widgets():  # slow option lists (tags) are drawn after the page's content
            st.navigation(pages).run()
