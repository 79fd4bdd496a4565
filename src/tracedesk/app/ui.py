"""The one library module that imports streamlit: shared helpers for app.py and pages/.

- `require_workspace()` opens the app's database once per process (cached), or shows what to do when the
  file is missing or holds no traces, and stops the page — pages never show a traceback for that.
- `sidebar_filters(ws)` draws the filters every page shares; the choice survives page switches (kept in
  session state) and is mirrored into the URL query string, so a filtered view is a shareable link.
- `show_text` renders span content as plain text, and `md()` makes any string that came from data or a
  URL safe to put inside Markdown (captions, warnings, expander labels): nothing a span or a link carries
  is ever interpreted as HTML, Markdown, KaTeX, a Streamlit directive (`:red[]`), a link or an image.
- `error_boundary()` shows the library's user-facing errors (`tracedesk.errors.TracedeskError`) as a
  message, never a traceback; `app.main` runs every page inside one, pages wrap the parts that may fail.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import streamlit as st

from ..errors import TracedeskError, describe
from ..dbpath import default_db_path  # not the store (pandas): the title is drawn before it loads
from .first_paint import SPAN_PICKERS as _SPAN_PICKERS  # no pandas either: the title is drawn before it loads
from .main import page_file  # noqa: F401  (pages link to each other through ui)

if TYPE_CHECKING:  # the heavy imports happen inside the functions that need them
    import pandas as pd

    from ..alerts.definition import AlertRule  # noqa: F401  (pages name it ui.AlertRule)
    from ..evals.runner import RunReport  # noqa: F401  (pages name it ui.RunReport)
    from .first_paint import EarlyRead
    from ..receiver.handle import LiveHandle
    from ..store.query import Filters
    from ..workspace import Workspace

MISSING_DB_MESSAGE = "No tracedesk database at `{path}`."
MISSING_DB_NEXT = (
    "Next step: open the **home page** (it builds the bundled sample week there), or load your own traces "
    "with `tracedesk ingest FILE --db {path}`, or start a live receiver on the **Live** page."
)
EMPTY_DB_MESSAGE = "The database `{path}` holds no traces yet."
EMPTY_DB_NEXT = (
    "Next step: load trace files with `tracedesk ingest FILE --db {path}` (OTLP JSON/protobuf or JSONL), "
    "or send live OpenTelemetry traffic to the receiver on the **Live** page."
)
NO_MATCH_MESSAGE = "No traces match the filters."
NO_MATCH_NEXT = "Next step: widen the time range or clear some filters in the sidebar (**Clear filters**)."

_STATE_KEY = "_td_filters"  # Filters.to_query_params() of the current choice, shared by every page
_WIDGET_PREFIX = "tdf_"
_URL_KEY = "_td_url"  # the filter params this session last wrote to the URL


def db_path() -> str:
    """The database the app shows: $TRACEDESK_DB, else ./tracedesk.db."""
    return os.environ.get("TRACEDESK_DB") or default_db_path()


@st.cache_resource(show_spinner=False)
def open_workspace(path: str) -> "Workspace":
    """One Workspace per database file and process (it hands each thread its own connection)."""
    from ..workspace import Workspace

    return Workspace(path)


#: Set once a page's script has run in this process (the server's preload stops then: app/serve.py).
PAGE_RUN = threading.Event()


def page_setup(title: str) -> None:
    """Wide layout and a title; the first call on every page."""
    PAGE_RUN.set()
    st.set_page_config(page_title=f"{title} · tracedesk", page_icon=":mag:", layout="wide")
    st.title(title)


def ensure_database(path: str) -> str | None:
    """Build the bundled sample week at `path` when no file is there. Returns the sample's note when it
    was built (or was built earlier in this session), else None."""
    if Path(path).expanduser().exists():
        return st.session_state.get("_td_sample_note")
    try:
        from .. import sample
    except ImportError:
        return None
    with st.spinner("No database yet: building the bundled sample week (once)..."):
        sample.ensure_demo_db(path)
    note = sample.sample_note()
    st.session_state["_td_sample_note"] = note
    return note


def require_workspace(path: str | None = None, *, allow_empty: bool = False) -> "Workspace":
    """The app's workspace; on a missing file (or, unless allow_empty, an empty database) explain and stop."""
    path = path or db_path()
    if path != ":memory:" and not Path(path).expanduser().exists():
        st.warning(MISSING_DB_MESSAGE.format(path=path))
        st.info(MISSING_DB_NEXT.format(path=path))
        st.stop()
    _await_early_read()  # the launcher's reads of this page's first figures, if they are on their way
    try:
        ws = open_workspace(str(Path(path).expanduser()))
    except Exception as exc:  # a corrupt or foreign file: say so instead of a traceback
        st.error(f"Cannot open {md_code(path)} as a tracedesk database: {md(exc)}")
        st.info("Next step: point TRACEDESK_DB at a database made by `tracedesk ingest`, or move this file away.")
        st.stop()
    if not allow_empty and ws.is_empty():
        st.info(EMPTY_DB_MESSAGE.format(path=path))
        st.markdown(EMPTY_DB_NEXT.format(path=path))
        st.stop()
    return ws


def live_handle(path: str | None = None) -> "LiveHandle":
    """The receiver handle of the app's database: `ws.live` once the file exists, else one by path (the
    receiver creates the file; looking at the Live page never does)."""
    path = path or db_path()
    if path != ":memory:" and Path(path).expanduser().exists():
        return open_workspace(str(Path(path).expanduser())).live
    from ..receiver.handle import LiveHandle

    return LiveHandle(path)


def show_error(exc: BaseException) -> None:
    """A user-facing error as message(s): one per JSON path when the error lists them (rule validation)."""
    problems = getattr(exc, "errors", None)
    if isinstance(problems, list) and problems and all(isinstance(p, tuple) and len(p) == 2 for p in problems):
        for path, message in problems:
            st.error(f"{md_code(path)}: {md(message)}")  # the message may quote the document: inert
    else:
        st.error(describe(exc))


@contextmanager
def error_boundary(*, stop: bool = False) -> Iterator[None]:
    """Show a TracedeskError raised inside the block as a message (the rest of the block is skipped);
    with stop=True the page stops there too. Other exceptions are bugs and keep their traceback."""
    try:
        yield
    except TracedeskError as exc:
        show_error(exc)
        if stop:
            _halt()


def text_search_note(ws: Any, filters: Any) -> None:
    """A caption when the page's text search read every span: how to make it fast (tracedesk index text)."""
    note = ws.text_search_note(filters)
    if note:
        st.caption(note)


def stop_if_no_match(count: int) -> None:
    if count == 0:
        st.warning(NO_MATCH_MESSAGE)
        st.info(NO_MATCH_NEXT)
        stop()


# ---------------------------------------------------------------------------------------------
# Filters shared by every page


def _url_filters() -> dict[str, str]:
    """The filter parameters the URL carries (pages' own keys such as trace_id left out)."""
    from ..store.query import Filters

    try:
        return Filters.from_query_params(st.query_params.to_dict()).to_query_params()
    except Exception:  # noqa: BLE001 - a malformed link is reported by current_filters
        return {}


def current_filters() -> "Filters":
    """The filters chosen so far in this session, unless the URL names others: a link that was
    followed (a feed finding's "open traces", a shared URL) wins over what the widgets last held."""
    from ..store.query import Filters, FilterError

    try:
        url = Filters.from_query_params(st.query_params.to_dict())
    except FilterError as exc:
        st.sidebar.warning(f"Ignored the filters in the link: {md(exc)}")
        url = None
    if _STATE_KEY in st.session_state:
        state = st.session_state[_STATE_KEY]
        url_params = url.to_query_params() if url is not None else {}
        # the URL as this session last wrote it is ours (widgets moved on since); any other URL was
        # opened from a link
        if not url_params or url_params == state or url_params == st.session_state.get(_URL_KEY):
            return Filters.from_query_params(state)
        for k in [k for k in st.session_state if str(k).startswith(_WIDGET_PREFIX)]:
            del st.session_state[k]  # the link's values seed the widgets again
        st.session_state[_STATE_KEY] = url_params
    return url if url is not None else Filters()


def _seed(key: str, value: Any) -> str:
    key = _WIDGET_PREFIX + key
    if key not in st.session_state:
        st.session_state[key] = value
    return key


def _clear_filters() -> None:
    for k in [k for k in st.session_state if str(k).startswith(_WIDGET_PREFIX)]:
        del st.session_state[k]
    st.session_state[_STATE_KEY] = {}


NS_PER_MIN = 60 * 1_000_000_000
#: quick ranges, counted back from the newest trace (a stored week works like live data)
QUICK_RANGES: dict[str, int | None] = {"Custom": None, "Last 1 h": 3_600, "Last 6 h": 6 * 3_600,
                                       "Last 24 h": 24 * 3_600, "Last 7 d": 7 * 86_400}


def _utc(ns: int) -> dt.datetime:
    # integer arithmetic: a float of Unix ns loses the last digits (and used to shift links by a day)
    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=ns // 1_000)


def _minute_floor(ns: int) -> int:
    return ns - ns % NS_PER_MIN


def _minute_ceil(ns: int) -> int:
    return -(-ns // NS_PER_MIN) * NS_PER_MIN


def _ns_of(day: dt.date, at: dt.time) -> int:
    moment = dt.datetime.combine(day, at.replace(second=0, microsecond=0), tzinfo=dt.timezone.utc)
    return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1) * 1_000


def time_range_picker(container: Any, cur: "Filters", lo: int | None, hi: int | None) -> tuple[int | None, int | None]:
    """From/to date and hour:minute inputs (UTC) plus quick ranges. A bound the link gave to the
    nanosecond is kept exactly while the widgets still show it (minute resolution), so reloading or
    sharing a link never changes it; None means "from the first / to the last trace"."""
    if lo is None or hi is None:  # an empty store: nothing to pick from
        return None, None
    quick = container.selectbox("Time range (UTC)", list(QUICK_RANGES), key=_seed("quick", "Custom"))
    seconds = QUICK_RANGES.get(quick)
    if seconds is not None:
        return max(lo, hi + 1 - seconds * 1_000_000_000), None
    start0 = cur.start_ns if cur.start_ns is not None else lo
    end0 = cur.end_ns if cur.end_ns is not None else _minute_ceil(hi + 1)
    c1, c2 = container.columns(2)
    d1 = c1.date_input("From (UTC)", key=_seed("from_day", _utc(_minute_floor(start0)).date()))
    t1 = c2.time_input("at (UTC)", key=_seed("from_time", _utc(_minute_floor(start0)).time()), step=60)
    c3, c4 = container.columns(2)
    d2 = c3.date_input("To (UTC)", key=_seed("to_day", _utc(_minute_floor(end0)).date()))
    t2 = c4.time_input("at (UTC) ", key=_seed("to_time", _utc(_minute_floor(end0)).time()), step=60)
    start = end = None
    if isinstance(d1, dt.date) and isinstance(t1, dt.time):
        start = _ns_of(d1, t1)
        if cur.start_ns is not None and start == _minute_floor(cur.start_ns):
            start = cur.start_ns  # exact, as the link gave it
        elif cur.start_ns is None and start == _minute_floor(lo):
            start = None
    if isinstance(d2, dt.date) and isinstance(t2, dt.time):
        end = _ns_of(d2, t2)
        if cur.end_ns is not None and end == _minute_floor(cur.end_ns):
            end = cur.end_ns
        elif cur.end_ns is None and end == _minute_ceil(hi + 1):
            end = None
    if start is not None and end is not None and end <= start:
        container.warning("The range ends before it starts; showing from the start on.")
        end = None
    return start, end


def sidebar_options(ws: "Workspace") -> dict[str, list[str]]:
    """Every option list the shared filters draw with the page, by value source: the trace-level
    dimensions, model, agent and span kind (the tags are drawn after the page: deferred_widgets). One
    function for `sidebar_filters` and `read_ahead` (first_paint.option_sources), so the reads ahead are
    the page's own."""
    from .first_paint import option_sources

    return {source: ws.values(source) for source in option_sources(ws)}


#: The launcher's read of the first paint in a process of its own (app/first_paint.py), while it is
#: pending: a page waits for it (require_workspace) instead of reading the same figures again.
EARLY_READ: "EarlyRead | None" = None
#: how long a page waits for it at most (it takes about a second of CPU at 1M spans)
EARLY_READ_WAIT_S = 60.0


def _await_early_read() -> None:
    early = EARLY_READ
    if early is not None and not early.done.is_set():
        early.done.wait(EARLY_READ_WAIT_S)


def read_ahead(path: str | None = None) -> list[str]:
    """Read what a page draws first (the sidebar's option lists, the trace count and key figures of
    the unfiltered view) into the app's workspace (`open_workspace`, the one every page gets), so a
    page opened next finds them kept (Workspace.memo, until the data changes). A page asking meanwhile
    waits on the workspace's lock for the read in progress, then takes its result: nothing is read
    twice. The server calls it while the browser loads Streamlit's scripts (app/serve.py) when the
    launcher's read in a process of its own (first_paint.EarlyRead) kept nothing. A missing or empty
    database is left alone (the page explains it). Returns the steps read, in order."""
    from ..store.query import Filters
    from .first_paint import read_steps

    path = path or db_path()
    if path == ":memory:" or not Path(path).expanduser().exists():
        return []
    ws = open_workspace(str(Path(path).expanduser()))
    done = ["is_empty"]
    if ws.is_empty():
        return done
    # the key figures on a connection of their own: the sidebar is not held up
    for name, read in read_steps(ws, kpis=lambda: ws.read_ahead_kpis(Filters())):
        read()
        done.append(name)
    return done


def sidebar_filters(ws: "Workspace", *, sync_url: bool = True) -> "Filters":
    """Draw the shared filters in the sidebar and return the choice."""
    from ..store.query import Filters
    from .. import cohorts

    cur = current_filters()
    sb = st.sidebar
    sb.header("Filters")
    lo, hi = ws.time_bounds()
    lists = sidebar_options(ws)
    f = Filters()
    f.start_ns, f.end_ns = time_range_picker(sb, cur, lo, hi)
    # trace-level dimensions here; model and agent (span-level) have their own pickers below
    for dim in cohorts.browse_names(cohorts.TRACE) + ws.extra_dimensions():
        options = lists[dim]
        if not options:
            continue
        chosen = [v for v in cur.dims.get(dim, []) if v in options]
        values = sb.multiselect(dim.replace("_", " "), options, key=_seed(f"dim_{dim}", chosen))
        if values:
            f.dims[dim] = list(values)
    for attr, source, label in _SPAN_PICKERS:
        options = lists[source]
        if options:
            chosen = [v for v in getattr(cur, attr) if v in options]
            setattr(f, attr, list(sb.multiselect(label, options, key=_seed(attr, chosen))))
    for dim in ("session_id", "user_id"):  # one value per conversation / user: kept from the link, not listed
        if cur.dims.get(dim):
            f.dims[dim] = list(cur.dims[dim])
            sb.caption(f"{dim.replace('_', ' ')}: {', '.join(cur.dims[dim])} (from the link; Clear filters drops it)")
    with sb.expander("More filters", expanded=bool(cur.kinds or cur.statuses or cur.scores or cur.text or cur.tags
                                                     or cur.min_cost is not None or cur.max_cost is not None
                                                     or cur.min_latency_ms is not None
                                                     or cur.max_latency_ms is not None)):
        deferred = st.session_state.get(_DEFERRED_KEY)
        if deferred is None:  # a page run on its own: list the tags here
            tags = ws.values("tag")
            if tags:
                f.tags = list(st.multiselect("tags", tags, key=_seed("tags", [t for t in cur.tags if t in tags])))
        else:
            # Listing the tags reads every span's (compressed) attributes, 2.8 s at 1M spans: the picker is
            # drawn here once the page has run (main.run), so the page does not wait for it. The choice
            # is already known (this session's or the link's); one the store does not hold is dropped
            # then and the page runs again, as when the picker was drawn first.
            # A widget's value cannot be read before the widget is drawn in the run (Streamlit hands the
            # new value over when it is drawn), so the choice lives in its own key, set by the picker.
            chosen_key = _seed("tags_chosen", list(cur.tags))
            f.tags = list(st.session_state[chosen_key])
            deferred.append(lambda slot=st.container(), key=chosen_key: _tag_picker(ws, slot, key))
        kinds = lists["kind"]
        f.kinds = list(st.multiselect("span kind", kinds, key=_seed("kinds", [k for k in cur.kinds if k in kinds])))
        statuses = ["ERROR", "OK", "UNSET"]
        f.statuses = list(st.multiselect("span status", statuses,
                                         key=_seed("statuses", [s for s in cur.statuses if s in statuses])))
        names = ws.evaluator_names()
        if names:
            current = next(iter(cur.scores), None)
            ev = st.selectbox("evaluator score", ["(any)", *names],
                              key=_seed("ev", current if current in names else "(any)"))
            if ev != "(any)":
                lo_s, hi_s = cur.scores.get(ev, (None, None))
                # a (lo, hi) value seeded through session state makes a range slider; the stub sees a float
                rng = cast(tuple[float, float], st.slider(
                    "score range", 0.0, 1.0, key=_seed(f"ev_range_{ev}", (lo_s or 0.0, 1.0 if hi_s is None else hi_s)),
                    step=0.05))
                f.scores[ev] = (None if rng[0] <= 0 else rng[0], None if rng[1] >= 1 else rng[1])
        c1, c2 = st.columns(2)
        f.min_latency_ms = _opt(c1.number_input("min latency ms", min_value=0.0, value=None,
                                                key=_seed("min_lat", cur.min_latency_ms)))
        f.max_latency_ms = _opt(c2.number_input("max latency ms", min_value=0.0, value=None,
                                                key=_seed("max_lat", cur.max_latency_ms)))
        f.min_cost = _opt(c1.number_input("min cost $", min_value=0.0, value=None, format="%.4f",
                                          key=_seed("min_cost", cur.min_cost)))
        f.max_cost = _opt(c2.number_input("max cost $", min_value=0.0, value=None, format="%.4f",
                                          key=_seed("max_cost", cur.max_cost)))
        f.text = st.text_input("text in span name / input / output", key=_seed("text", cur.text or "")) or None
    sb.button("Clear filters", on_click=_clear_filters)
    params = f.to_query_params()
    st.session_state[_STATE_KEY] = params
    if sync_url:
        set_url_params(params)
        st.session_state[_URL_KEY] = params
    return f


#: session-state key of the drawers main.run calls once the page has run (see deferred_widgets)
_DEFERRED_KEY = "_td_deferred"


@contextmanager
def deferred_widgets() -> Iterator[None]:
    """Run a page, then draw the widgets it deferred (into the places it reserved): the page's own
    content is not held up by slow option lists. A page that stops early calls `stop` (st.stop
    refuses every element after it)."""
    st.session_state[_DEFERRED_KEY] = []
    try:
        yield
        draw_deferred()
    finally:
        st.session_state.pop(_DEFERRED_KEY, None)


def draw_deferred() -> None:
    """Draw the widgets deferred so far (nothing can be drawn after st.stop: `stop` calls this first)."""
    drawers = st.session_state.get(_DEFERRED_KEY) or []
    while drawers:
        drawers.pop(0)()


def stop() -> NoReturn:
    """st.stop() once the deferred widgets are drawn (a page that stops early still shows its filters)."""
    _halt()


def _halt() -> NoReturn:
    draw_deferred()
    st.stop()


def _tag_picker(ws: "Workspace", slot: Any, chosen_key: str) -> None:
    tags = ws.values("tag")
    chosen = list(st.session_state.get(chosen_key) or [])
    valid = [t for t in chosen if t in tags]
    if valid != chosen:  # a tag the store does not hold (an old link): drop it and run the page again
        st.session_state[chosen_key] = valid
        st.rerun()
    if tags:
        key = _WIDGET_PREFIX + "tags"
        st.session_state[key] = valid

        def keep() -> None:
            st.session_state[chosen_key] = list(st.session_state[key])
        slot.multiselect("tags", tags, key=key, on_change=keep)


def _opt(v: Any) -> float | None:
    return None if v is None else float(v)


#: The Trace page draws a trace of up to this many spans whole (tree, waterfall, graph); a bigger one is
#: shown TRACE_PAGE_SPANS spans at a time with its steps counted (a 100k-span trace took a minute whole).
TRACE_WHOLE_MAX_SPANS = 2_000
TRACE_PAGE_SPANS = 100

#: URL keys that are not filters but a page's own state (kept when the filters are written)
PAGE_PARAMS: tuple[str, ...] = ("trace_id", "span_id", "sort", "desc", "page", "since", "until", "cohort")


def set_url_params(params: dict[str, str], *, keep: tuple[str, ...] = PAGE_PARAMS) -> None:
    """Make the URL query string carry `params` (plus the page's own keys in `keep`), writing only on change."""
    current = st.query_params.to_dict()
    wanted = {k: v for k, v in current.items() if k in keep}
    wanted.update(params)
    if current != wanted:
        st.query_params.from_dict(wanted)


# ---------------------------------------------------------------------------------------------
# Formatting and rendering


def fmt_time(ns: int) -> str:
    """A time as the shortest ISO-8601 UTC text that reads back to the same nanosecond."""
    from ..timeutil import format_time

    return format_time(int(ns))


def fmt_int(v: Any) -> str:
    return "—" if v is None else f"{int(v):,}"


def fmt_pct(v: Any) -> str:
    return "—" if v is None else f"{v:.1%}"


def fmt_ms(v: Any) -> str:
    if v is None:
        return "—"
    return f"{v / 1000:,.1f} s" if v >= 10_000 else f"{v:,.0f} ms"


def fmt_usd(v: Any) -> str:
    return "—" if v is None else f"${v:,.4f}"


#: (label, kpis key, formatter) of the headline KPI row; tests compare the page's metrics with these.
KPI_TILES: tuple[tuple[str, str, Any], ...] = (
    ("Traces", "traces", fmt_int),
    ("Spans", "spans", fmt_int),
    ("Error rate", "error_rate", fmt_pct),
    ("p50 latency", "latency_p50_ms", fmt_ms),
    ("p95 latency", "latency_p95_ms", fmt_ms),
    ("p99 latency", "latency_p99_ms", fmt_ms),
    ("TTFT p50", "ttft_p50_ms", fmt_ms),
    ("Tokens", "total_tokens", fmt_int),
    ("Cost / trace", "cost_per_trace", fmt_usd),
    ("Eval pass rate", "eval_pass_rate", fmt_pct),
)


def kpi_row(kpis: dict[str, Any], keys: tuple[str, ...] | None = None, per_row: int = 5) -> None:
    tiles = [t for t in KPI_TILES if keys is None or t[1] in keys]
    for i in range(0, len(tiles), per_row):
        cols = st.columns(per_row)
        for col, (label, key, fmt) in zip(cols, tiles[i:i + per_row]):
            col.metric(label, fmt(kpis.get(key)))


#: What Markdown, GFM, KaTeX and Streamlit act on inside one line of text: links and images and
#: directives (`[`, `]` — `![x](url)`, `[x](javascript:..)`, `:red[x]`), autolinks and HTML (`<`, `>`),
#: code (`` ` ``), emphasis and strikethrough (`*`, `~`), formulas (`$`), and our own escapes (`\`).
_MD_ALWAYS = re.compile(r"([\\`*\[\]<>$~|])")
#: `_` emphasises only at a word edge; `:` starts a shortcode/icon only when a word follows it
#: (`:smile:`, `:material/x:`, and the scheme of `http://`, a GFM autolink); `www.` autolinks.
_MD_EDGE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])|:(?=[0-9A-Za-z/])|(?<=\bwww)\.", re.IGNORECASE)
#: What starts a block at the beginning of a line: headers, lists (`-`, `+`, `1.`); `>` is escaped always.
_AUTOLINK = re.compile(r"(?<=[A-Za-z])\\?:(?=//)|(?<![0-9A-Za-z])www(?=\\?\.)|@", re.IGNORECASE)
_MD_NUMBERED = re.compile(r"^(\d+)([.)])")


def md(value: Any, *, limit: int = 300) -> str:
    """A string from data or a URL, made inert for Markdown (captions, warnings, expander labels): one
    line, at most `limit` characters, with every character that could make a link, an image, a header, a
    formula, a colour, an icon or HTML escaped. Ordinary text (ids, `snake_case`, `a-b`, `0..0.5`)
    reads unchanged."""
    text = "" if value is None else str(value)
    text = " ".join(text.split())  # a newline could start a header, list or block of its own
    if len(text) > limit:
        text = text[:limit] + "…"
    text = _MD_ALWAYS.sub(r"\\\1", text)
    text = _MD_EDGE.sub(lambda m: "\\" + m.group(0), text)
    # GFM links bare URLs, `www.` names and e-mail addresses after parsing, whatever is escaped: a
    # zero-width space after the scheme, `www` and `@` keeps the text as shown and makes no link.
    text = _AUTOLINK.sub(lambda m: m.group(0) + "\u200b", text)
    text = _MD_NUMBERED.sub(lambda m: f"{m.group(1)}\\{m.group(2)}", text)  # "1. x" is a list item
    return re.sub(r"^[#+=-]", lambda m: "\\" + m.group(0), text)


def md_code(value: Any, *, limit: int = 300) -> str:
    """A string from data or a URL as an inline code span (nothing inside one is interpreted): the
    fence is longer than any run of backticks in the value, so it cannot be closed from inside."""
    text = " ".join(("" if value is None else str(value)).split())[:limit]
    longest = max((len(r) for r in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def show_text(label: str, text: Any, *, height: int | None = None) -> None:
    """Span content, shown verbatim as text (a code block without highlighting): HTML, Markdown or
    script in a span is displayed, never interpreted."""
    if text is None or (isinstance(text, float) and text != text) or text == "":
        return
    if not isinstance(text, str):
        text = json.dumps(text, indent=2, ensure_ascii=False, default=str)
    st.caption(md(label))
    st.code(text, language=None, wrap_lines=True, height=height if height else "content")


def show_frame(df: "pd.DataFrame", **kw: Any) -> Any:
    """st.dataframe with the index hidden (cell content is plain text in the grid)."""
    return st.dataframe(df, hide_index=True, **kw)


def span_choice_label(row: Any) -> str:
    """How a span reads in the span picker: tree indentation, name, kind, status, duration."""
    dur = f"{row['duration_ms']:,.0f} ms" if row.get("duration_ms") is not None else "?"
    flag = " ✖" if row.get("status") == "ERROR" else ""
    return f"{'· ' * int(row.get('depth', 0))}{row.get('name') or row['span_id']} [{row.get('kind')}] {dur}{flag}"


def usage_breakdown(span: dict[str, Any]) -> str | None:
    """The token counts of an LLM call, cache reads and writes as parts of the input (ingest stores input
    with both inside): "input 5,000 (cache read 3,000 · cache write 800) · output 150 (reasoning 40)"."""
    inp, out = _nan_none(span.get("input_tokens")), _nan_none(span.get("output_tokens"))
    if inp is None and out is None:
        return None
    parts = [f"{label} {fmt_int(v)}" for label, v in (("cache read", _nan_none(span.get("cached_tokens"))),
                                                     ("cache write", _nan_none(span.get("cache_write_tokens"))))
             if v]
    text = f"input {fmt_int(inp)}" + (f" ({' · '.join(parts)})" if parts else "")
    reasoning = _nan_none(span.get("reasoning_tokens"))
    return text + f" · output {fmt_int(out)}" + (f" (reasoning {fmt_int(reasoning)})" if reasoning else "")


def render_span(span: dict[str, Any], evals: "pd.DataFrame") -> None:
    """Everything about one span, as text: header figures, input/output, messages, tool call, documents,
    evaluation scores with reasons, attributes."""
    st.markdown(f"**{md(span.get('name') or '(no name)')}** · {md(span.get('kind'))} · status "
                f"**{md(span.get('status'))}** · span {md_code(span['span_id'])}")
    if span.get("status_message"):
        show_text("status message", span["status_message"])
    cols = st.columns(4)
    cols[0].metric("Duration", fmt_ms(span.get("duration_ms")))
    tokens = span.get("total_tokens")
    if tokens is None and (span.get("input_tokens") is not None or span.get("output_tokens") is not None):
        tokens = (span.get("input_tokens") or 0) + (span.get("output_tokens") or 0)
    cols[1].metric("Tokens", fmt_int(_nan_none(tokens)))
    cols[2].metric("Cost", fmt_usd(_nan_none(span.get("cost_usd"))))
    cols[3].metric("TTFT", fmt_ms(_nan_none(span.get("ttft_ms"))))
    breakdown = usage_breakdown(span)
    if breakdown:
        st.caption(breakdown)
    facts = {k: span.get(k) for k in ("model", "provider", "agent_name", "tool_name", "finish_reason", "service",
                                       "route", "tenant", "prompt_version", "session_id", "user_id", "convention")
             if _nan_none(span.get(k)) is not None}
    if facts:
        st.caption(" · ".join(f"{k}: {md(v, limit=120)}" for k, v in facts.items()))
    span_evals = evals[evals["span_id"] == span["span_id"]] if not evals.empty else evals
    if not span_evals.empty:
        st.markdown("**Evaluations**")
        show_frame(span_evals[["name", "score", "passed", "label", "reason", "source", "judge_model"]])
    show_text("input", _nan_none(span.get("input_text")))
    show_text("output", _nan_none(span.get("output_text")))
    for which in ("input_messages", "output_messages"):
        for i, msg in enumerate(span.get(which) or []):
            content = msg.get("content") if isinstance(msg, dict) else msg
            role = msg.get("role", "?") if isinstance(msg, dict) else "?"
            show_text(f"{which.split('_')[0]} message {i + 1} · {role}", content)
            if isinstance(msg, dict) and msg.get("tool_calls"):
                show_text(f"{which.split('_')[0]} message {i + 1} · tool calls", msg["tool_calls"])
    show_text("tool arguments", _nan_none(span.get("tool_arguments")))
    show_text("tool result", _nan_none(span.get("tool_result")))
    for i, doc in enumerate(span.get("documents") or []):
        head = f"document {i + 1}"
        if isinstance(doc, dict):
            head += f" · id {doc.get('id')}" + (f" · score {doc['score']}" if doc.get("score") is not None else "")
            show_text(head, doc.get("content") if doc.get("content") is not None else doc)
        else:
            show_text(head, doc)
    with st.expander("Attributes, resource and events"):
        show_text("attributes", span.get("attributes") or {})
        show_text("resource", span.get("resource") or {})
        show_text("events", span.get("events") or [])


def _nan_none(v: Any) -> Any:
    try:
        return None if v is None or v != v else v
    except (TypeError, ValueError):
        return v


def fmt_metric(metric: str, v: Any) -> str:
    """A cohort metric value the way people read it (rates in %, latency in ms/s, cost in $)."""
    v = _nan_none(v)
    if v is None:
        return "—"
    if metric.endswith("_ms"):
        return fmt_ms(v)
    if metric.endswith("rate"):
        return fmt_pct(v)
    if metric.startswith("cost"):
        return fmt_usd(v)
    return f"{v:.2f}"


def worst_display(worst: "pd.DataFrame") -> "pd.DataFrame":
    """worst_cohorts() as a compact table: which cohort, how many traces, worse on what, cohort vs global."""
    import pandas as pd

    from ..charts.workbench import LABELS

    return pd.DataFrame({
        "cohort": [f"{d} = {c}" for d, c in zip(worst["dimension"], worst["cohort"])],
        "same traffic as": [", ".join(same) for same in worst["same_traffic"]],
        "traces": worst["traces"].astype(int),
        "worse on": [LABELS.get(m, m) for m in worst["worst_metric"]],
        "cohort vs global": [f"{fmt_metric(m, a)} vs {fmt_metric(m, b)}"
                             for m, a, b in zip(worst["worst_metric"], worst["cohort_value"], worst["global_value"])],
    })


def signal_label(name: str) -> str:
    """A registered signal's label (tracedesk.signals), so a page names the signal it shows."""
    from .. import signals

    return signals.get(name).label


# ---------------------------------------------------------------------------------------------
# The changes feed


def finding_links(finding: Any) -> dict[str, dict[str, str]]:
    """URL params of a finding's three actions: its cohort's traces in its window, the Alerts
    suggester pre-filled, and the feed narrowed "around this finding" (its window, padded)."""
    from ..analysis.changes import cohort_filters
    from ..timeutil import format_time

    end = finding.end_ns if finding.end_ns is not None else finding.window_end_ns
    traces = cohort_filters(finding.cohort, finding.start_ns, end).to_query_params()
    # the Alerts page's suggester reads ?since=...&until=...&cohort.DIM=VALUE (one per dimension)
    alert = {"since": format_time(finding.start_ns), "until": format_time(end or finding.start_ns + 1)}
    alert.update({f"cohort.{dim}": str(value) for dim, value in finding.cohort.items()})
    length = (end or finding.start_ns) - finding.start_ns
    around = {"start": format_time(finding.start_ns - max(length, 3_600 * 10**9))}
    if end is not None and finding.end_ns is not None:
        around["end"] = format_time(end + max(length, 3_600 * 10**9))
    return {"traces": traces, "alert": alert, "around": around}


def finding_card(ws: "Workspace", finding: Any, index: int, *, expanded: bool = False) -> None:
    """One finding: title, start, magnitude, sparkline of the cohort against the rest, and the actions."""
    from ..charts.changes import finding_sparkline

    d = finding.to_dict()
    rel = f" ({d['relative']:+.0%})" if d.get("relative") is not None else ""
    with st.expander(f"{index + 1}. {finding.title()}", expanded=expanded):
        # markdown, not st.metric: the page's metrics are its KPIs
        st.markdown(
            f"**Since** {d['start'].replace('T', ' ').rstrip('Z')} UTC · **until** "
            f"{(d['end'] or 'ongoing').replace('T', ' ').rstrip('Z')}{' UTC' if d['end'] else ''} · "
            f"**{finding.signals[0]}** ({finding.aggregation}) {finding.baseline:.4g} → **{finding.current:.4g}** "
            f"({finding.effect:+.4g}{rel}) · n {finding.n_baseline:,} → {finding.n_current:,} · q {finding.q:.2g}"
            + (f" · also {', '.join(finding.signals[1:])}" if len(finding.signals) > 1 else ""))
        if finding.aliases:
            st.caption("Same traffic as: " + "; ".join(", ".join(f"{k}={v}" for k, v in a.items())
                                                     for a in finding.aliases))
        st.altair_chart(finding_sparkline(ws.finding_series(finding), finding.start_ns, finding.end_ns,
                                          title=finding.signals[0]), width="stretch")
        links = finding_links(finding)
        a = st.columns(4)
        a[0].page_link(page_file("Traces"), label="Open these traces", query_params=links["traces"])
        a[1].page_link(page_file("Alerts"), label="Make an alert from it", query_params=links["alert"])
        a[2].page_link(page_file(""), label="Around this finding", query_params=links["around"])
        if a[3].toggle("Explain it", key=f"explain_{index}"):
            explain_view(ws, finding)


def explain_view(ws: "Workspace", finding: Any) -> None:
    """The finding's signal explained: which segments moved it (rate vs mix), top rows and drill-down."""
    end = finding.end_ns if finding.end_ns is not None else finding.window_end_ns
    with error_boundary():  # a finding at the start of the data has no baseline before it: said, not a crash
        res = ws.explain(finding.signals[0], finding.start_ns, end)
        _explain_table(res)


def _explain_table(res: Any) -> None:
    out = res.to_dict(top=8)
    st.caption(f"{res.signal}: {res.baseline:.4g} → {res.current:.4g} (mean; the same length before is the "
               "baseline). Rate = the segment got worse; mix = its share of traffic changed. Each dimension's "
               "rows sum to the total change.")
    rows = [{"segment": ", ".join(f"{k}={v}" for k, v in s["cohort"].items()), "rate effect": s["rate_effect"],
             "mix effect": s["mix_effect"], "total": s["contribution"], "explains": s["explains"],
             "share before": s["share"]["baseline"], "share now": s["share"]["current"]}
            for s in [*out["top"], *out["combinations"]]]
    show_frame(rows, column_config={k: st.column_config.NumberColumn(format="%.4g")
                                    for k in ("rate effect", "mix effect", "total")}
               | {k: st.column_config.NumberColumn(format="percent")
                  for k in ("explains", "share before", "share now")})
    for n in res.notes:
        st.caption(n)


def comparison_windows(ws: "Workspace") -> tuple[tuple[dt.date, dt.date], tuple[dt.date, dt.date]]:
    """The Cohorts page's default windows: the first half of the traces' UTC days against the rest
    (timeutil.halves_by_day; benchmarks/queries.py times the same read)."""
    from ..timeutil import halves_by_day

    lo, hi = ws.time_bounds()
    if lo is None or hi is None:  # an empty store (the page stops before asking): today against itself
        today = dt.datetime.now(dt.timezone.utc).date()
        return (today, today), (today, today)
    return halves_by_day(lo, hi)
