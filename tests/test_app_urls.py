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
