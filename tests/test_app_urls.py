"""The app's URL aliases: a lower-cased page path or /home redirects to its page (Streamlit would otherwise
show "Page not found"); the browser check is in test_browser_hostile.py."""
from __future__ import annotations

from tracedesk.app.main import PAGES, page_file, url_aliases


def test_every_page_in_lower_case_and_home_are_aliases_of_real_pages():
    paths = [p for _, _, p, _ in PAGES]
    aliases = url_aliases()
    assert aliases == {"home": "", "Home": "", **{p.lower(): p for p in paths if p}}
    assert not set(aliases) & set(paths)  # an alias never shadows a page
    for target in aliases.values():
        assert page_file(target).endswith(".py")


def test_no_pages_folder_beside_either_entry_script():
    """Streamlit, once per server, runs the first session's first script run as an old-style multipage app
    when a `pages/` folder is beside the main script, and that run covers a deep link (/Trace?...) with
    "Page not found". The entries are the checkout's app.py and the packaged app/entry/streamlit_app.py."""
    from pathlib import Path

    from tracedesk.sample.demo import app_path

    repo = Path(__file__).resolve().parent.parent
    for entry in (repo / "app.py", app_path()):
        assert entry.is_file()
        assert not (entry.parent / "pages").exists(), f"{entry.parent / 'pages'} makes Streamlit's first run old-style"
