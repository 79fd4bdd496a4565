"""`python -m tracedesk.app.serve run APP [streamlit options]`: the Streamlit server of `tracedesk app`, with
the app's own modules imported while the server starts.

`python -m streamlit run` imports nothing of the app until a browser connects: the first page's script
then spends ~1.5 s importing tracedesk's pages, charts and store (altair, pandas, sqlite_utils,
networkx) before it draws the title. Here a background thread imports them as soon as the server runs,
while the browser is still loading Streamlit's own scripts; the page's imports then find them loaded
(Python's import locks make the page wait for a module being imported rather than import it twice).
Everything else is `streamlit run` itself (same options, same exit).
"""
from __future__ import annotations

import importlib
import sys
import threading
from typing import Any

#: What the first page run imports (app/ui.py, the pages, charts, the workspace and its readers).
PRELOAD: tuple[str, ...] = ("tracedesk.app.ui", "tracedesk.app.main", "tracedesk.charts", "tracedesk.workspace",
                            "tracedesk.analysis.metrics", "tracedesk.signals", "tracedesk.cohorts")


def preload(modules: tuple[str, ...] = PRELOAD) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # the page's own import will raise it where the user sees it
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
