"""The notebook / app API: `tracedesk.open(db)` returns a Workspace over one tracedesk database.

Every page of the app calls these methods and nothing else, so any number on screen can be reproduced
in a notebook with the same call and the same Filters. The features hang off it as small handles that
share its one connection: `ws.evals` (run evaluators, read scores, custom judges), `ws.alerts` (rules,
backtests, suggestions), `ws.drift` (drift reports) and `ws.live` (the OTLP receiver).

Results a handle computes are cached on the workspace, keyed on the database's data version
(`store.data_version`: any commit by any connection invalidates them), never on file mtimes.
"""
from __future__ import annotations

import copy
import functools
import os
import shlex
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd
import sqlite_utils

from .analysis import metrics as _metrics
from .store import query as _query
from .store import workbench as _workbench
from . import store
from .store.query import Filters

if TYPE_CHECKING:
    import networkx as nx

    from .analysis.changes import Finding
    from .analysis.explain import Explanation
    from .alerts.handle import AlertsHandle
    from .drift.handle import DriftHandle
    from .evals.handle import EvalsHandle
    from .receiver.handle import LiveHandle
    from .store.trace_pages import TracePage

T = TypeVar("T")
#: Results kept per workspace (page reads, backtests, drift reports, score frames); all dropped when the
#: data changes. A page makes 5-20 reads; this keeps a few dozen pages' worth, each a small frame.
MEMO_ENTRIES = 256


def _graph() -> Any:
    """tracedesk.analysis.graph, imported on first use: networkx takes ~0.15 s to import, and a page's
    first figures need no graph."""
    from .analysis import graph

    return graph


def _fresh(value: T) -> T:
    """A kept result handed out: frames, dicts and lists copied (pages add columns to what they get),
    graphs and scalars as they are (read-only)."""
    if isinstance(value, pd.DataFrame):
        return value.copy()  # type: ignore[return-value]
    if isinstance(value, (dict, list)):
        return copy.deepcopy(value)
    return value


def _fkey(filters: Filters | None) -> str:
    return repr(filters if filters is not None else Filters())


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a Workspace method while holding its lock: the one connection is shared by Streamlit's threads."""
    @functools.wraps(method)
    def wrapper(self: "Workspace", *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)
    return wrapper


class Workspace:
    """Read access to one database: frames, KPIs, cohorts, graphs.

    One SQLite connection serves every thread (calls are serialised by a lock), so what the library keeps
    on the connection — the refusal check of every LLM output, recent per-trace frames — survives across
    Streamlit reruns and sessions, and is invalidated when anyone writes to the database."""

    def __init__(self, db: "str | os.PathLike[str] | sqlite_utils.Database") -> None:
        self._lock = threading.RLock()
        self._memo: OrderedDict[Hashable, Any] = OrderedDict()
        self._memo_version: tuple[int, int] | None = None
        self._handles: dict[str, Any] = {}
        self._job: sqlite_utils.Database | None = None  # a second connection for long writes (eval runs)
        self._job_lock = threading.Lock()
        self._ahead: dict[Hashable, threading.Event] = {}  # memo keys being read ahead (read_ahead_kpis)
        self._owned = not isinstance(db, sqlite_utils.Database)
        if isinstance(db, sqlite_utils.Database):
            store.ensure_migrated(db)
            self.path: str | None = None
            self._db = db
            return
        self.path = str(db)
        # One connection shared by Streamlit's threads (calls are serialised by the lock).
        self._db = store.connect(self.path, check_same_thread=False)

    def __repr__(self) -> str:
        return f"Workspace({self.path or 'sqlite_utils.Database'!r})"

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections this workspace opened (not a Database it was handed)."""
        with self._lock:
            if self._job is not None:
                self._job.close()
                self._job = None
            if self._owned:
                self._db.close()

    @property
    def db(self) -> sqlite_utils.Database:
        """The workspace's connection (for the library's functions; hold no cursor across threads)."""
        return self._db

    # -- the feature handles ---------------------------------------------------------------------

    def _handle(self, name: str, factory: Callable[["Workspace"], T]) -> T:
        with self._lock:
            if name not in self._handles:
                self._handles[name] = factory(self)
            return self._handles[name]  # type: ignore[no-any-return]

    @property
    def evals(self) -> "EvalsHandle":
        """Evaluators: catalog, run, scores by cohort, review queue, custom judges."""
        from .evals.handle import EvalsHandle

        return self._handle("evals", EvalsHandle)

    @property
    def alerts(self) -> "AlertsHandle":
        """Alert rules: list, save, evaluate now, backtest over history, suggest from an incident."""
        from .alerts.handle import AlertsHandle

        return self._handle("alerts", AlertsHandle)

    @property
    def drift(self) -> "DriftHandle":
        """Drift reports between a reference and a current window, per cohort."""
        from .drift.handle import DriftHandle

        return self._handle("drift", DriftHandle)

    @property
    def live(self) -> "LiveHandle":
        """The OTLP/HTTP receiver for this database: status, start, stop, recent arrivals."""
        from .receiver.handle import LiveHandle

        return self._handle("live", LiveHandle)

    # -- shared plumbing for the handles ---------------------------------------------------------

    def data_version(self) -> tuple[int, int]:
        """Changes whenever anyone commits to the database: the key of every cache (see store.data_version)."""
        with self._lock:
            return store.data_version(self._db)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(db, *args, **kwargs)` on the workspace's connection, holding its lock."""
        with self._lock:
            return fn(self._db, *args, **kwargs)

    def memo(self, key: Hashable, compute: Callable[[sqlite_utils.Database], T]) -> T:
        """`compute(db)`, or the result kept from an earlier call with the same key and data version.

        Results are shared between callers: treat them as read-only.
        """
        with self._lock:
            version = store.data_version(self._db)
            if version != self._memo_version:
                self._memo.clear()
                self._memo_version = version
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]  # type: ignore[no-any-return]
            value = compute(self._db)
            if store.data_version(self._db) == version:  # computing wrote nothing: safe to keep
                self._memo[key] = value
                while len(self._memo) > MEMO_ENTRIES:
                    self._memo.popitem(last=False)
            return value

    def job(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a long write (an evaluation run) as `fn(db, ...)` on a second connection, so the pages'
        reads on the main one are not blocked meanwhile. One job at a time per workspace."""
        if self.path is None or self.path == ":memory:":
            return self.call(fn, *args, **kwargs)  # only one connection can see this database
        with self._job_lock:
            if self._job is None:
                self._job = store.connect(self.path, check_same_thread=False)
            return fn(self._job, *args, **kwargs)

    def memo_items(self) -> list[tuple[Hashable, Any]]:
        """What memo() keeps now, as (key, value) pairs, oldest first: the reads another workspace on the
        same content may take over (`keep_items`; the app's launcher reads a page's first figures in a
        process of its own, app/first_paint.py)."""
        with self._lock:
            if self._memo_version != store.data_version(self._db):
                return []
            return list(self._memo.items())

    def keep_items(self, items: Sequence[tuple[Hashable, Any]], unchanged: Callable[[], bool]) -> int:
        """Keep `memo_items()` of another workspace as this one's own reads, if `unchanged()` says nobody
        committed since they were read (asked after this connection's version is taken, so the content
        that version stands for is the one they were read from). Keys kept already stay as they are.
        Returns how many were kept."""
        with self._lock:
            version = store.data_version(self._db)
            if not unchanged():
                return 0
            if version != self._memo_version:
                self._memo.clear()
                self._memo_version = version
            kept = 0
            for key, value in items:
                if key not in self._memo:
                    self._memo[key] = value
                    kept += 1
            while len(self._memo) > MEMO_ENTRIES:
                self._memo.popitem(last=False)
            return kept

    def kept(self, key: Hashable, compute: Callable[[sqlite_utils.Database], T]) -> T:
        """memo() for the pages' reads: a frame, dict or list comes out as a copy the caller may change."""
        return _fresh(self.memo(key, compute))

    # -- what is there ---------------------------------------------------------------------------

    @_locked
    def is_empty(self) -> bool:
        return not self.memo(("has_traces",), _workbench.has_traces)

    @_locked
    def is_sample(self) -> bool:
        """Whether this database was built from the bundled sample week."""
        return bool((store.get_setting(self.db, "sample") or {}).get("sample"))

    def sample_note(self) -> str | None:
        """What the bundled sample week holds (its incidents, where to look), if this database is it."""
        if not self.is_sample():
            return None
        from .sample.demo import sample_note

        return sample_note()

    @_locked
    def stats(self) -> dict[str, Any]:
        return store.stats(self.db)

    @_locked
    def time_bounds(self) -> tuple[int | None, int | None]:
        return self.memo(("time_bounds",), _query.time_bounds)

    @_locked
    def dimensions(self) -> list[str]:
        """Cohort dimensions (tracedesk.cohorts) with at least one value, then mapped ones kept in `dims`."""
        out = [d for d in _metrics.COHORT_DIMENSIONS if self.has_values(d)]
        return out + self.extra_dimensions()

    @_locked
    def has_values(self, dimension: str) -> bool:
        """Whether a dimension (or model / agent / kind / status / tag) holds any value: `values(...)` not empty."""
        return self.kept(("has_values", dimension), lambda db: _query.has_values(db, dimension))

    @_locked
    def extra_dimensions(self) -> list[str]:
        """Mapped cohort dimensions kept in the `dims` JSON (beyond route/tenant/prompt_version/environment)."""
        return self.kept(("extra_dimensions",), _query.extra_dimensions)

    @_locked
    def values(self, dimension: str, limit: int = 500) -> list[str]:
        """Values of a dimension, or of model / agent / kind / status / tag, most frequent first."""
        # every page's sidebar lists them (span-level ones scan the spans): kept until the data changes
        name = "tag" if dimension in ("tag", "tags") else dimension
        return self.kept(("values", name, limit), lambda db: _query.distinct_values(db, name, limit))

    @_locked
    def evaluator_names(self) -> list[str]:
        return self.kept(("evaluator_names",), _query.evaluator_names)

    # -- frames ----------------------------------------------------------------------------------

    #: Columns `traces()` can sort by.
    trace_sort_columns: tuple[str, ...] = tuple(_query.TRACE_SORT_COLUMNS)

    @_locked
    def traces(self, filters: Filters | None = None, *, sort: str = "start_ns", descending: bool = True,
               limit: int | None = None, offset: int = 0, with_evals: bool = False) -> pd.DataFrame:
        """Trace summaries; with_evals adds evals / eval_pass_rate / min_score for the returned rows."""
        def compute(db: sqlite_utils.Database) -> pd.DataFrame:
            df = _query.traces(db, filters, sort=sort, descending=descending, limit=limit, offset=offset)
            if with_evals:
                ev = _query.trace_eval_summary(db, df["trace_id"].tolist())
                df = df.merge(ev, on="trace_id", how="left")
                df["evals"] = df["evals"].fillna(0).astype(int)
            return df
        if limit is None:  # a whole-table frame (a notebook): not kept
            return compute(self.db)
        return self.kept(("traces", _fkey(filters), sort, descending, limit, offset, with_evals), compute)

    @_locked
    def count_traces(self, filters: Filters | None = None) -> int:
        return self.memo(("count_traces", _fkey(filters)), lambda db: _query.count_traces(db, filters))

    @_locked
    def text_search_note(self, filters: Filters | None = None) -> str | None:
        """A line for the Traces page when its text search reads every span: how to index it (or None)."""
        from .store import text_index

        text = filters.text if filters is not None else None
        db_arg = f" --db {shlex.quote(self.path)}" if self.path and self.path != ":memory:" else ""
        return self.kept(("text_search_note", text), lambda db: text_index.scan_note(db, text, db_arg))

    @_locked
    def spans(self, filters: Filters | None = None, *, kinds: Sequence[str] | None = None,
              limit: int | None = None) -> pd.DataFrame:
        return _query.spans(self.db, filters, kinds=kinds, limit=limit)

    def iter_spans(self, filters: Filters | None = None, *, kinds: Sequence[str] | None = None,
                   columns: Sequence[str] = _query.SPAN_LIGHT_COLUMNS,
                   chunk_size: int = _query.FRAME_CHUNK_ROWS) -> Iterator[pd.DataFrame]:
        """`spans(...)` as frames of at most `chunk_size` rows, for exports too big for one frame.

        Reads on its own connection, so other calls on this workspace can run between chunks; any
        span column may be asked for (attributes and events come back as JSON text)."""
        conn = store.open_database(self.path) if self.path and self.path != ":memory:" else None
        try:
            yield from _query.iter_spans(conn or self.db, filters, kinds=kinds, columns=columns,
                                         chunk_size=chunk_size)
        finally:
            if conn is not None:
                conn.close()

    # -- sessions (conversations) ----------------------------------------------------------------

    @_locked
    def sessions(self, filters: Filters | None = None, *, limit: int = 500) -> pd.DataFrame:
        """One row per conversation among the matching traces (turns, users, cost, latency, errors, eval
        pass rate, lowest score), most recent first."""
        from .store import sessions as _sessions

        return self.kept(("sessions", _fkey(filters), limit), lambda db: _sessions.sessions(db, filters, limit=limit))

    @_locked
    def session(self, session_id: str) -> pd.DataFrame:
        """One conversation as turns in time order: user_input, assistant_output, cost, latency and a
        `scores` column ({evaluator: mean score}) and `passed` (passed/judged or None) per turn."""
        return self.kept(("session", session_id), lambda db: self._session(db, session_id))

    @staticmethod
    def _session(db: sqlite_utils.Database, session_id: str) -> pd.DataFrame:
        from .store import sessions as _sessions

        turns = _sessions.session_turns(db, session_id)
        scores: dict[str, dict[str, float | None]] = {}
        passed: dict[str, list[int]] = {}
        for trace_id, name, score, ok, judged in _sessions.turn_scores(db, session_id):
            scores.setdefault(trace_id, {})[name] = None if score is None else float(score)
            tally = passed.setdefault(trace_id, [0, 0])
            tally[0] += int(ok or 0)
            tally[1] += int(judged or 0)
        turns["scores"] = [scores.get(t, {}) for t in turns["trace_id"]]
        turns["pass_rate"] = [(passed[t][0] / passed[t][1]) if t in passed and passed[t][1] else None
                              for t in turns["trace_id"]]
        return turns

    @_locked
    def export(self, what: str, path: str, *, format: str | None = None,  # noqa: A002
               filters: Filters | None = None, chunk_rows: int | None = None) -> Any:
        """Write spans / traces / evaluations matching `filters` to a CSV or Parquet file, streamed in
        chunks (Parquet through pyarrow). Returns an ExportReport (rows, chunks)."""
        from .exporting import export

        return export(self.db, what, path, format=format, filters=filters, chunk_rows=chunk_rows)

    @_locked
    def export_columns(self, what: str) -> list[str]:
        """The columns an export of `what` writes, in order (the stored ones)."""
        from .store import export as _export

        return [c for c, _ in _export.columns(self.db, what)]

    @_locked
    def export_bytes(self, what: str, filters: Filters | None = None, format: str = "csv") -> bytes:  # noqa: A002
        """The same export in memory, for a download button."""
        from .exporting import to_bytes

        return to_bytes(self.db, what, format, filters=filters)

    @_locked
    def trace(self, trace_id: str) -> pd.DataFrame:
        """All columns of one trace's spans (JSON decoded), in start order; empty if unknown."""
        return self.kept(("trace", trace_id), lambda db: _query.trace_spans(db, trace_id))

    @_locked
    def trace_page(self, trace_id: str, page_size: int = 100, *, page: int | None = None,
                   span_id: str | None = None) -> "TracePage":
        """One page of a trace's spans in start order (for traces too big for `trace`): page `page`
        (0-based), or the page holding `span_id`; with the exact span count and the evaluations of the
        page's spans and of the trace. An unknown trace gives span_count 0."""
        from .store import trace_pages

        return trace_pages.trace_page(self.db, trace_id, page_size, page=page, span_id=span_id)

    @_locked
    def trace_steps(self, trace_id: str) -> pd.DataFrame:
        """A trace's trajectory as counts: its agent, LLM, tool, retriever... spans grouped by kind and
        step name (spans, errors, total_ms, cost_usd), in order of first appearance."""
        from .store import trace_pages

        return trace_pages.step_counts(self.db, trace_id, _graph().KEPT_KINDS)

    @_locked
    def trace_summary(self, trace_id: str) -> dict[str, Any] | None:
        df = self.memo(("trace_summary", trace_id), lambda db: _workbench.trace_summary(db, trace_id))
        return None if df.empty else df.iloc[0].to_dict()

    @_locked
    def evaluations(self, filters: Filters | None = None, *, trace_id: str | None = None,
                    names: Sequence[str] | None = None) -> pd.DataFrame:
        if trace_id is None:  # every evaluation (a notebook frame): not kept
            return _query.evaluations(self.db, filters, trace_id=trace_id, names=names)
        return self.kept(("evaluations", _fkey(filters), trace_id, tuple(names or ())),
                         lambda db: _query.evaluations(db, filters, trace_id=trace_id, names=names))

    # -- metrics ---------------------------------------------------------------------------------

    def kpis(self, filters: Filters | None = None) -> dict[str, Any]:
        key = ("kpis", _fkey(filters))
        reading = self._ahead.get(key)
        if reading is not None:  # read ahead right now (read_ahead_kpis): its result, not a second read
            reading.wait()
        with self._lock:
            return self.kept(key, lambda db: _metrics.kpis(db, filters))

    def read_ahead_kpis(self, filters: Filters | None = None) -> bool:
        """Compute kpis(filters) on a connection of its own, without holding the workspace's lock, and keep
        the result (unless anyone wrote meanwhile). The app's server reads the key figures this way while
        the browser loads (app/ui.read_ahead): a page's other reads (its filters' option lists) go on
        meanwhile, so its sidebar is drawn before the figures; `kpis` with the same filters waits for
        this read instead of reading twice. Returns whether a result was kept."""
        key = ("kpis", _fkey(filters))
        if self.path is None or self.path == ":memory:":  # one connection only sees this database
            self.kpis(filters)
            return True
        with self._lock:
            version = store.data_version(self._db)
            if (version == self._memo_version and key in self._memo) or key in self._ahead:
                return False
            done = self._ahead[key] = threading.Event()
        try:
            db = store.connect(self.path, check_same_thread=False)
            try:
                value = _metrics.kpis(db, filters)
            finally:
                db.close()
            with self._lock:
                # data_version moves on any commit by another connection, total_changes on this one's:
                # unchanged, the second connection read what this one sees
                if store.data_version(self._db) != version:
                    return False
                if version != self._memo_version:
                    self._memo.clear()
                    self._memo_version = version
                self._memo[key] = value
                return True
        finally:
            with self._lock:
                del self._ahead[key]
            done.set()

    @_locked
    def eval_summary(self, filters: Filters | None = None) -> pd.DataFrame:
        return self.kept(("eval_summary", _fkey(filters)), lambda db: _metrics.eval_summary(db, filters))

    @_locked
    def timeseries(self, filters: Filters | None = None, freq: str | None = None) -> pd.DataFrame:
        return self.kept(("timeseries", _fkey(filters), freq), lambda db: _metrics.timeseries(db, filters, freq))

    @_locked
    def cohort_matrix(self, dimension: str, filters: Filters | None = None, *,
                      evaluator: str | None = None) -> pd.DataFrame:
        return self.kept(("cohort_matrix", dimension, _fkey(filters), evaluator),
                         lambda db: _metrics.cohort_matrix(db, dimension, filters, evaluator=evaluator))

    @_locked
    def ranked_cohorts(self, dimension: str, filters: Filters | None = None, *, min_traces: int = 5,
                       evaluator: str | None = None, side: str = "both") -> pd.DataFrame:
        """Cohorts by distance from the global figure (side="worse": only how much worse they are)."""
        return self.kept(("ranked_cohorts", dimension, _fkey(filters), min_traces, evaluator, side),
                         lambda db: _metrics.ranked_cohorts(db, dimension, filters, min_traces=min_traces,
                                                            evaluator=evaluator, side=side))

    @_locked
    def worst_cohorts(self, filters: Filters | None = None, *, top: int = 5, min_traces: int = 5) -> pd.DataFrame:
        return self.kept(("worst_cohorts", _fkey(filters), top, min_traces),
                         lambda db: _metrics.worst_cohorts(db, filters, top=top, min_traces=min_traces))

    @_locked
    def compare_windows(self, dimension: str, window_a: tuple[Any, Any], window_b: tuple[Any, Any],
                        filters: Filters | None = None, *, evaluator: str | None = None) -> pd.DataFrame:
        """Windows are (start, end) as ns ints, datetimes or ISO strings."""
        a = (_query.to_ns(window_a[0]), _query.to_ns(window_a[1]))
        b = (_query.to_ns(window_b[0]), _query.to_ns(window_b[1]))
        return self.kept(("compare_windows", dimension, a, b, _fkey(filters), evaluator),
                         lambda db: _metrics.compare_windows(db, dimension, a, b, filters, evaluator=evaluator))

    @_locked
    def signal(self, name: str, dimension: str | None = None, filters: Filters | None = None, *,
               aggregation: str | None = None, since: Any = None, until: Any = None, **params: str) -> pd.Series:
        """A registered signal's figure (tracedesk.signals; its default aggregation unless given) per cohort
        of `dimension`, or under "(all)": the number the Cohorts page, an alert window over the same
        samples and drift compute. since < sample time <= until (ns, datetime or ISO)."""
        from . import signals

        lo = _query.to_ns(since) if since is not None else None
        hi = _query.to_ns(until) if until is not None else None
        return signals.cohort_values(self.db, {"type": name, **params}, dimension, aggregation=aggregation,
                                     filters=filters, since_ns=lo, until_ns=hi)

    @_locked
    def signal_samples(self, name: str, group_by: Sequence[str] = (), filters: Filters | None = None,
                       **params: str) -> pd.DataFrame:
        """A registered signal's samples: columns t (ns), v, one per group-by dimension, trace_id."""
        from . import signals

        return signals.samples(self.db, {"type": name, **params},
                               signals.SampleQuery({}, tuple(group_by), filters=filters))

    @_locked
    def health(self, filters: Filters | None = None) -> dict[str, Any]:
        return self.kept(("health", _fkey(filters)), lambda db: _metrics.monitoring_health(db, filters))

    # -- graphs ----------------------------------------------------------------------------------

    @_locked
    def trajectory(self, trace_id: str, *, collapse: bool = True) -> nx.DiGraph:
        """One trace's trajectory graph (kept until the data changes: treat it as read-only)."""
        return self.memo(("trajectory", trace_id, collapse),
                         lambda db: _graph().trajectory(db, trace_id, collapse=collapse))

    @_locked
    def agent_topology(self, filters: Filters | None = None, *, max_traces: int = 5_000) -> nx.DiGraph:
        """Who hands off to whom (kept until the data changes: treat the graph as read-only)."""
        return self.memo(("agent_topology", _fkey(filters), max_traces),
                         lambda db: _graph().agent_topology(db, filters, max_traces=max_traces))

    @staticmethod
    def topology_frames(g: nx.DiGraph) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(agents, handoffs) tables of an agent topology from `agent_topology`."""
        return _graph().topology_frames(g)

    @staticmethod
    def span_tree(spans: pd.DataFrame) -> pd.DataFrame:
        """One trace's spans (from `trace`) in call-tree order with `depth` and an indented `tree_label`."""
        return _graph().span_tree(spans)


    # -- what changed ------------------------------------------------------------------------------

    def changes(self, since: Any = None, until: Any = None, *, dimensions: Sequence[str] | None = None,
                top: int | None = 20, progress: Callable[[int, int, str], None] | None = None) -> list["Finding"]:
        """The changes feed over [since, until) (times in any timeutil form; default: all data), ranked by
        impact. Kept per data version: reruns of a page recompute nothing. `progress(done, total, what)`
        hears of each step when the feed's stored samples are brought up to date (the first feed after
        an ingest reads every row once)."""
        from .analysis.changes import find_changes
        from .timeutil import parse_optional_time

        lo, hi = self.time_bounds()
        s_ns = parse_optional_time(since, now_ns=hi, name="since")
        u_ns = parse_optional_time(until, now_ns=hi, name="until")
        dims = tuple(dimensions) if dimensions else None
        return self.memo(("changes", s_ns, u_ns, dims, top),
                         lambda db: find_changes(db, s_ns, u_ns, dimensions=dims, top=top, progress=progress))

    def explain(self, signal: str, since: Any, until: Any, *, baseline_since: Any = None,
                baseline_until: Any = None, dimensions: Sequence[str] | None = None) -> "Explanation":
        """Attribute a signal's change between two windows to segments (rate vs mix); see analysis.explain."""
        from .analysis.explain import explain_signal
        from .timeutil import parse_optional_time, parse_time

        _lo, hi = self.time_bounds()
        args = (parse_time(since, now_ns=hi, name="since"), parse_time(until, now_ns=hi, name="until"))
        kw = dict(baseline_since=parse_optional_time(baseline_since, now_ns=hi, name="baseline_since"),
                  baseline_until=parse_optional_time(baseline_until, now_ns=hi, name="baseline_until"),
                  dimensions=tuple(dimensions) if dimensions else None)
        return self.memo(("explain", signal, args, tuple(sorted(kw.items()))),
                         lambda db: explain_signal(db, signal, *args, **kw))  # type: ignore[arg-type]

    def finding_series(self, finding: "Finding") -> pd.DataFrame:
        """A finding's signal for its cohort and for the rest, around its window (for a sparkline)."""
        from .analysis.changes import finding_series

        key = ("finding_series", finding.signals[0], tuple(sorted(finding.cohort.items())), finding.start_ns,
               finding.end_ns, finding.window_start_ns, finding.window_end_ns)
        return self.memo(key, lambda db: finding_series(db, finding))

    def signals_over_time(self, filters: Filters | None = None) -> pd.DataFrame:
        """Mean score per evaluator, refusal rate and tool calls per trace over time, of the traces the
        filters select (every field applies)."""
        from .analysis.changes import signals_over_time

        return self.kept(("signals_over_time", _fkey(filters)), lambda db: signals_over_time(db, filters))


def open(db: "str | os.PathLike[str] | sqlite_utils.Database", *, create: bool = False) -> Workspace:  # noqa: A001
    """Open a tracedesk database for reading. A missing file is an error (with the way to make one)
    unless create=True."""
    if not isinstance(db, sqlite_utils.Database) and str(db) != ":memory:" and not create:
        if not Path(db).expanduser().exists():
            raise FileNotFoundError(
                f"No tracedesk database at {str(db)!r}. Load traces with `tracedesk ingest FILE --db {db}`, "
                f"build the sample with tracedesk.sample.ensure_demo_db({str(db)!r}), or pass create=True."
            )
    return Workspace(Path(db).expanduser() if isinstance(db, (str, os.PathLike)) and str(db) != ":memory:" else db)
