"""`python -m tracedesk.app.serve run APP [streamlit options]`: the Streamlit server of `tracedesk app`, with
the app's own modules imported, and the first page's first figures read, while the server starts.

`python -m streamlit run` imports nothing of the app until a browser connects: the first page's script
then spends ~1.5 s importing tracedesk's pages, charts and store (altair, pandas, sqlite_utils,
networkx) and then reads the sidebar's lists and the key figures before the page is usable. Here a
background thread does that as soon as the server runs, while the browser is still loading Streamlit's
own scripts (~1.5 s): it imports what a page needs before its key figures, reads them at the filters a
new session starts with (`ui.warm_first_look`; the workspace keeps them until the data changes), then
imports the charts (altair), which a page needs only after its key figures. The page's imports find
the modules loaded (Python's import locks make it wait for a module being imported rather than import
it twice), and its reads find the figures kept (the workspace's lock makes it wait for one being read).
Everything else is `streamlit run` itself (same options, same exit).
"""
from __future__ import annotations

import importlib
import sys
import threading
from typing import Any

#: What a page's first run imports before its key figures (app/ui.py, the workspace and its readers).
PRELOAD: tuple[str, ...] = ("tracedesk.app.ui", "tracedesk.app.main", "tracedesk.workspace",
                            "tracedesk.analysis.metrics", "tracedesk.signals", "tracedesk.cohorts")
#: What it imports after them: the chart builders (altair).
PRELOAD_AFTER: tuple[str, ...] = ("tracedesk.charts.workbench", "tracedesk.charts.changes")


def preload(modules: tuple[str, ...] = PRELOAD, after: tuple[str, ...] = PRELOAD_AFTER, *,
            warm: bool = True) -> None:
    """Import `modules`, read the first page's first figures (warm), import `after`. Any failure ends it
    quietly: the page's own import or read raises it where the user sees it."""
    try:
        for name in modules:
            importlib.import_module(name)
        if warm:
            from . import ui

            ui.warm_first_look()
        for name in after:
            importlib.import_module(name)
    except Exception:
        return


def _start_preload() -> None:
    threading.Thread(target=preload, name="tracedesk-preload", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    from streamlit.web import bootstrap, cli  # streamlit first: the preload thread then finds it imported

    # Start once the server listens (its own start is not slowed down by imports holding the GIL); a
    # Streamlit without that hook gets the preload at once.
    hook = getattr(bootstrap, "_on_server_start", None)
    if callable(hook):
        def started(server: Any) -> None:
            hook(server)
            _start_preload()
        bootstrap._on_server_start = started  # type: ignore[attr-defined]
    else:  # pragma: no cover - another Streamlit
        _start_preload()
    sys.argv = ["streamlit", *(sys.argv[1:] if argv is None else argv)]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
