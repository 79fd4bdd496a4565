"""`python -m tracedesk.app.serve run APP [streamlit options]`: the Streamlit server of `tracedesk app`, with
the app's own modules imported while the server starts.

`python -m streamlit run` imports nothing of the app until a browser connects: the first page's script
then spends ~1.5 s importing tracedesk's pages, charts and store (altair, pandas, sqlite_utils,
networkx) before it draws the title. Here a background thread imports them as soon as the server runs,
while the browser is still loading Streamlit's own scripts: first what a page needs before its key
figures, then, unless a page runs already, the charts (altair), which a page needs only after them
(a busy machine takes the browser's whole loading time for the first imports; altair imported beside
the page's run would cost it 0.3 s of CPU before its key figures). The page's imports then find them
loaded (Python's import locks make the page wait for a module being imported rather than import it
twice).

Between the two, unless a page runs already, it reads what a page draws first (`ui.read_ahead`: the
sidebar's option lists and the trace count on the app's cached workspace, then the key figures of the
unfiltered view on a connection of their own, `Workspace.read_ahead_kpis`). The browser spends seconds
loading Streamlit's scripts before the page's run starts; measured at 1M spans on a busy machine, the
key figures (0.5-0.6 s of CPU) were the page's longest step before it was usable, read only after its
title and filters. A page that starts meanwhile draws its title and filters (its option lists are kept
already, and the key figures' read holds no lock), then waits for the key figures' read and takes its
result: nothing is read twice. (Session 5 measured a thread reading the figures *beside* the page's
run, on the page's own connection and after altair's import, as later: 5.4-6.3 s against 4.1-4.7 s;
here the read starts before the run, and altair is imported after it only if no page runs yet.)
Before all that, before Streamlit itself is imported, `main` starts the same reads in a process of its own
(app/first_paint.py: `first_paint.EarlyRead`) when the machine has a core to spare (`spare_core`), on that core
while this one starts the server;
once the store is imported here, the preload thread takes that process's results into the app's workspace
(kept only if nobody committed meanwhile) and reads ahead itself only if it kept nothing. A page that starts
before they arrive waits for them (ui.require_workspace).
Everything else is `streamlit run` itself (same options, same exit).
"""
from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .first_paint import EarlyRead

#: What a page's first run imports before its key figures (app/ui.py, the workspace and its readers;
#: PIL: `st.set_page_config` tries the ":mag:" shortcode as an image before it sends it as it is, which
#: imports PIL, 0.009-0.010 s of CPU on the page's thread before its title).
PRELOAD: tuple[str, ...] = ("tracedesk.app.ui", "tracedesk.app.main", "tracedesk.workspace",
                            "tracedesk.analysis.metrics", "tracedesk.signals", "tracedesk.cohorts", "PIL.Image")
#: What it imports after them: the chart builders (altair); preloaded only while no page runs yet.
PRELOAD_AFTER: tuple[str, ...] = ("tracedesk.charts.workbench", "tracedesk.charts.changes")


def preload(modules: tuple[str, ...] = PRELOAD, after: tuple[str, ...] = PRELOAD_AFTER,
            early: "EarlyRead | None" = None, deferred: Callable[[], None] | None = None) -> None:
    """Import `modules`, take the early reads (or read ahead), import `after` unless a page runs, then run
    `deferred` (the server's start-up work moved past the first paint: defer_component_scan) in every case."""
    try:
        _preload(modules, after, early)
    finally:
        if deferred is not None:
            deferred()


def _preload(modules: tuple[str, ...], after: tuple[str, ...], early: "EarlyRead | None") -> None:
    try:
        from . import ui

        ui.EARLY_READ = early  # a page that starts from now on waits for it rather than read twice
        kept = 0
        try:
            for name in modules:
                importlib.import_module(name)
            if early is not None:
                kept = early.adopt(ui.open_workspace(early.path))
        finally:
            if early is not None and not early.done.is_set():  # failed before adopting: do not hold pages
                early.abandon()
        if not kept and not ui.PAGE_RUN.is_set():  # a page that runs already reads what it needs itself
            ui.read_ahead()
        for name in after:
            if ui.PAGE_RUN.is_set():  # the page imports the rest itself, after its key figures
                return
            importlib.import_module(name)
    except Exception:  # the page's own import will raise it where the user sees it
        return


def _start_preload(early: "EarlyRead | None" = None, deferred: Callable[[], None] | None = None) -> None:
    threading.Thread(target=preload, kwargs={"early": early, "deferred": deferred}, name="tracedesk-preload",
                     daemon=True).start()


def defer_component_scan() -> Callable[[], None]:
    """Move Streamlit's scan of every installed distribution for custom-component manifests (Runtime's
    constructor, before the server listens) past the first paint; returns the function that runs it.

    The scan reads each distribution's metadata (564 in the measured virtualenv: 0.12-0.14 s of CPU,
    0.13-0.7 s wall on the shared machine, all before the server answered its health check). No page of
    tracedesk draws an installed component, so none waits for the registry; the scan still runs, once,
    on the preload thread after the first paint's reads and imports."""
    from streamlit.components.v2.component_manager import BidiComponentManager

    original = BidiComponentManager.discover_and_register_components
    pending: list[tuple[BidiComponentManager, dict[str, Any]]] = []

    def later(self: BidiComponentManager, **kwargs: Any) -> None:
        pending.append((self, kwargs))

    def run() -> None:
        BidiComponentManager.discover_and_register_components = original  # type: ignore[method-assign]
        while pending:
            manager, kwargs = pending.pop(0)
            original(manager, **kwargs)

    BidiComponentManager.discover_and_register_components = later  # type: ignore[method-assign]
    return run


def spare_core(load: float | None = None, cpus: int | None = None) -> bool:
    """Whether the machine has a core to spare for the first paint's reads: the 1-minute load average
    leaves at least one of its cores free. Measured at 1M spans on 2 cores at load 15-17, the process
    took CPU from the server's start and the browser instead (its imports are done twice: ~0.7 s more
    CPU in all), and the key figures reached the browser 5-7 s later; on a free core it takes ~0.8 s of
    CPU off the server's path to the key figures."""
    try:
        load = os.getloadavg()[0] if load is None else load
    except (AttributeError, OSError):  # no load average (Windows): no way to tell, keep to one process
        return False
    cpus = (os.cpu_count() or 1) if cpus is None else cpus
    return cpus >= 2 and load <= cpus - 1


def start_early_read(spare: bool | None = None) -> "EarlyRead | None":
    """The first paint's reads in a process of their own (first_paint.EarlyRead), for the database the app
    shows, when the machine has a core to spare for it (`spare`, default spare_core()); the preload thread
    announces it to the pages (ui.EARLY_READ)."""
    if not (spare_core() if spare is None else spare):
        return None
    from ..dbpath import default_db_path
    from .first_paint import EarlyRead

    return EarlyRead.start(os.environ.get("TRACEDESK_DB") or default_db_path())


def skip_direct_run_warning() -> None:
    """Tell Streamlit its "use `streamlit run`" warning is settled: this process is `streamlit run`, so the
    warning never prints, but the check runs on the first element a page draws (its title) and walks the
    whole call stack through `inspect.stack()`, which resolves the source file of every loaded module:
    0.053-0.063 s of CPU with the first paint's modules loaded (1,171), on the page's thread before its
    title."""
    from streamlit import delta_generator

    delta_generator._use_warning_has_been_displayed = True


def main(argv: list[str] | None = None) -> None:
    early = start_early_read()  # first: it runs on a spare core while this one starts the server
    from streamlit.web import bootstrap, cli  # streamlit first: the preload thread then finds it imported

    scan = defer_component_scan()
    skip_direct_run_warning()

    # Start once the server listens (its own start is not slowed down by imports holding the GIL); a
    # Streamlit without that hook gets the preload at once.
    hook = getattr(bootstrap, "_on_server_start", None)
    if callable(hook):
        def started(server: Any) -> None:
            hook(server)
            _start_preload(early, scan)
        bootstrap._on_server_start = started  # type: ignore[attr-defined]
    else:  # pragma: no cover - another Streamlit
        _start_preload(early, scan)
    sys.argv = ["streamlit", *(sys.argv[1:] if argv is None else argv)]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
