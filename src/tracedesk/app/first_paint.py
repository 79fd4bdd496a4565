"""What a page draws first (the sidebar's option lists, the trace count, the key figures of the unfiltered
view), read in a process of its own while the Streamlit server starts. No streamlit here.

Measured at 1M spans (benchmarks/first_look.py --launch), the server's process spent ~1.0 s of CPU starting
(Streamlit's import and its server), ~0.65 s importing what a page needs (pandas, the store), then ~0.95 s
reading the first figures (app/serve.py's read-ahead), all on one core and all before the page's key
figures, while the second core mostly waited for the browser to ask for the page. `tracedesk app`
therefore starts `python -m tracedesk.app.first_paint DB` before Streamlit is even imported: it does
the same reads (`read_steps`, the ones `ui.read_ahead` does) on the other core and hands the results to the
server's workspace (`Workspace.keep_items`) as soon as the server has imported the store. A page that
starts before they arrive waits for them (ui.require_workspace) rather than read them a second time.

The results are kept only if nothing was committed to the database between the moment the process opened
its watch (`store.commit_watch`, before its reads) and the moment they are kept (the server asks the process,
which is still running then: nothing of the store is imported before the server starts, its package loads
pandas); otherwise, or
if the process fails or finds a schema to migrate (it never writes), the server reads them itself as
before (ui.read_ahead), so the figures shown are always those of the data as it is.
"""
from __future__ import annotations

import pickle
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..workspace import Workspace

#: the sidebar's span-level pickers: (Filters attribute, value source, label)
SPAN_PICKERS: tuple[tuple[str, str, str], ...] = (("models", "model", "model"), ("agents", "agent_name", "agent"))


def option_sources(ws: "Workspace") -> list[str]:
    """The value sources of every option list the shared filters draw with the page: the trace-level
    dimensions, model, agent and span kind (the tags are drawn after the page: ui.deferred_widgets)."""
    from .. import cohorts

    return [*cohorts.browse_names(cohorts.TRACE), *ws.extra_dimensions(), *(s for _a, s, _l in SPAN_PICKERS), "kind"]


def read_steps(ws: "Workspace", kpis: Callable[[], Any] | None = None) -> list[tuple[str, Callable[[], Any]]]:
    """The reads of a page's first paint, in the order a page makes them (after `ws.is_empty()`).
    `kpis` replaces the key figures' read (the server's thread reads them on a connection of its own)."""
    from ..store.query import Filters

    return [("time_bounds", ws.time_bounds),
            ("sidebar_options", lambda: {source: ws.values(source) for source in option_sources(ws)}),
            ("evaluator_names", ws.evaluator_names), ("count_traces", lambda: ws.count_traces(Filters())),
            ("kpis", kpis or (lambda: ws.kpis(Filters())))]


def read(path: str) -> list[tuple[Any, Any]]:
    """The first paint's reads on a workspace of this process, as `Workspace.memo_items()`; nothing for a
    database whose schema is not current (migrating is the server's job: this process never writes) or
    that holds no traces."""
    from .. import store
    from ..store import migrations
    from ..workspace import Workspace

    db = store.open_database(path)
    try:
        if not migrations.is_current(db):
            return []
        ws = Workspace(db)
        if ws.is_empty():
            return []
        for _name, step in read_steps(ws):
            step()
        return ws.memo_items()
    finally:
        db.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m tracedesk.app.first_paint DB` (for EarlyRead only): open a commit watch, make the reads,
    write them pickled to stdout (an 8-byte length, then the payload), then answer each line on stdin with
    b"1" while nobody has committed since the watch was opened, else b"0"; ends at the end of stdin."""
    from ..store.commit_watch import CommitWatch

    args = sys.argv[1:] if argv is None else argv
    out = sys.stdout.buffer
    try:
        watch = CommitWatch(args[0])  # before the reads: a commit after this makes them stale
        items = read(args[0])
    except Exception:  # the server reads them itself, and a page shows what went wrong
        return 1
    blobs = []
    for key, value in items:
        try:
            blobs.append(pickle.dumps((key, value), protocol=pickle.HIGHEST_PROTOCOL))
        except Exception:  # noqa: BLE001 - a value that does not pickle is read by the server instead
            continue
    payload = pickle.dumps(blobs, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(len(payload).to_bytes(8, "big") + payload)
    out.flush()
    try:
        for _line in sys.stdin.buffer:
            out.write(b"1" if watch.unchanged() else b"0")
            out.flush()
    finally:
        watch.close()
    return 0


class EarlyRead:
    """The first paint read in a process of its own, started before the server imports anything heavy
    (nothing of the store here: its package imports pandas; the process opens the commit watch itself)."""

    def __init__(self, path: str, proc: "subprocess.Popen[bytes]") -> None:
        self.path = path
        self._proc = proc
        #: set once the reads are kept in the server's workspace, or known to be unusable
        self.done = threading.Event()

    @classmethod
    def start(cls, path: str | None) -> "EarlyRead | None":
        """Start the reads for the database at `path`; None when there is nothing to read (no file yet:
        the page builds or explains it) or the process cannot be started."""
        if not path or path == ":memory:" or not Path(path).expanduser().is_file():
            return None
        path = str(Path(path).expanduser())
        try:
            proc = subprocess.Popen([sys.executable, "-m", "tracedesk.app.first_paint", path],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except OSError:
            return None
        return cls(path, proc)

    def _unchanged(self) -> bool:
        """Asked of the process, whose watch was opened before its reads."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(b"?\n")
        self._proc.stdin.flush()
        return self._proc.stdout.read(1) == b"1"

    def adopt(self, ws: "Workspace") -> int:
        """Wait for the process and keep its reads in `ws` (unless anyone committed meanwhile); returns how
        many were kept (0: the server reads them itself). Sets `done` and ends the process in every case."""
        try:
            assert self._proc.stdout is not None
            head = self._proc.stdout.read(8)
            if len(head) != 8:
                return 0
            payload = self._proc.stdout.read(int.from_bytes(head, "big"))
            items = [pickle.loads(blob) for blob in pickle.loads(payload)]
            return ws.keep_items(items, self._unchanged)
        except Exception:  # noqa: BLE001 - the server reads them itself
            return 0
        finally:
            self._end()

    def abandon(self) -> None:
        """Stop waiting (the server reads for itself)."""
        self._end()

    def _end(self) -> None:
        try:
            if self._proc.stdin is not None:
                self._proc.stdin.close()  # the process ends at the end of its stdin
            self._proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait()
        finally:
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self.done.set()


if __name__ == "__main__":
    sys.exit(main())
