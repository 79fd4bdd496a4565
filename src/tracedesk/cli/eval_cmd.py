"""`tracedesk eval`: run evaluators over stored spans, list them, export scores, manage custom judges."""
from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI imports its libraries lazily (fast --help)
    import sqlite_utils

    from ..evals.runner import RunReport

_DB_HELP = "database file (default: $TRACEDESK_DB or ./tracedesk.db)"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="run LLM judges and heuristics on stored spans; export scores",
                              description="Evaluators attached to spans: LLM judges through litellm, "
                                          "deterministic checks, failure-biased sampling.")
    sub = p.add_subparsers(dest="eval_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda args: _no_sub(p))

    r = sub.add_parser("run", help="evaluate a sample of spans and store the scores",
                       description="Evaluate a sample of stored spans. With a real provider set only the "
                                   "model and its key, e.g. OPENAI_API_KEY=... tracedesk eval run "
                                   "--evaluator groundedness --model gpt-4o-mini. For a local "
                                   "OpenAI-compatible server: --model openai/NAME --api-base URL.")
    r.add_argument("--db", default=None, help=_DB_HELP)
    r.add_argument("--evaluator", "-e", dest="evaluators", nargs="+", action="extend", required=True,
                   metavar="NAME", help="evaluator name(s), space or comma separated (see `tracedesk eval list`)")
    r.add_argument("--model", default=None, help="judge model, any litellm model string (needed for LLM judges)")
    r.add_argument("--api-base", default=None, help="OpenAI-compatible base URL (Ollama, vLLM...)")
    r.add_argument("--api-key", default=None, help="judge API key (default: the provider's env var for its own endpoint; with "
                        "--api-base only this or $TRACEDESK_JUDGE_API_KEY is sent, never the provider's key)")
    r.add_argument("--sample", default="failure-biased", choices=("failure-biased", "uniform", "all"),
                   help="how to pick spans when --limit is below the candidates (default failure-biased)")
    r.add_argument("--limit", type=int, default=None, help="spans/traces to evaluate (default: all candidates)")
    r.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    r.add_argument("--max-usd", type=float, default=None, help="stop starting judge calls after this spend")
    r.add_argument("--max-calls", type=int, default=None, help="stop after this many judge calls")
    r.add_argument("--concurrency", type=int, default=4, help="judge calls in flight (default 4)")
    r.add_argument("--timeout", type=float, default=60.0, help="seconds per judge call (default 60)")
    r.add_argument("--retries", type=int, default=3, help="retries on 429/timeouts (default 3)")
    r.add_argument("--no-cache", action="store_true", help="call the judge even for cached inputs")
    r.add_argument("--slo-latency-ms", type=float, default=None, help="latency_slo threshold (default 10000)")
    r.add_argument("--slo-cost-usd", type=float, default=None, help="cost_slo threshold per trace (default 0.05)")
    r.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    r.set_defaults(func=_run)

    ls = sub.add_parser("list", help="list the available evaluators")
    ls.add_argument("--db", default=None, help=_DB_HELP + " (to include its custom judges)")
    ls.set_defaults(func=_list)

    ex = sub.add_parser("export", help="write scores as OTLP/JSON gen_ai.evaluation.result events")
    ex.add_argument("--db", default=None, help=_DB_HELP)
    ex.add_argument("out", metavar="OUT", help="output file (.json)")
    ex.add_argument("--evaluator", "-e", dest="evaluators", nargs="+", action="extend", default=None,
                    metavar="NAME", help="only these evaluators")
    ex.set_defaults(func=_export)

    cj = sub.add_parser("custom", help="custom judges: list, add, remove, import, export")
    csub = cj.add_subparsers(dest="custom_command", metavar="ACTION")
    cj.set_defaults(func=lambda args: _no_sub(cj))
    c_list = csub.add_parser("list", help="list custom judges")
    c_add = csub.add_parser("add", help="add (or replace) a custom judge")
    c_add.add_argument("--name", required=True, help="lowercase snake_case name")
    c_add.add_argument("--rubric", required=True,
                       help="rubric text using {input} {output} {context} {trajectory}")
    c_add.add_argument("--threshold", type=float, default=0.5, help="pass threshold in [0,1] (default 0.5)")
    c_rm = csub.add_parser("remove", help="remove a custom judge")
    c_rm.add_argument("name")
    c_imp = csub.add_parser("import", help="import custom judges from a JSON file")
    c_imp.add_argument("path", metavar="FILE")
    c_exp = csub.add_parser("export", help="export custom judges to a JSON file ('-' = stdout)")
    c_exp.add_argument("path", metavar="FILE")
    for c, fn in ((c_list, _custom_list), (c_add, _custom_add), (c_rm, _custom_remove),
                  (c_imp, _custom_import), (c_exp, _custom_export)):
        c.add_argument("--db", default=None, help=_DB_HELP)
        c.set_defaults(func=fn)


def _no_sub(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _open(path: str | None, *, must_exist: bool = True) -> sqlite_utils.Database:
    import os

    from . import UsageError
    from ..store import connect, default_db_path

    db = path or default_db_path()
    if must_exist and db != ":memory:" and not os.path.exists(db):
        raise UsageError(f"no database at {db!r}; ingest traces first (tracedesk ingest FILE --db {db}) "
                         "or pass --db")
    try:
        return connect(db)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None


class _Bar:
    """A one-line progress bar on stderr (redrawn in place on a TTY, every 10% otherwise)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.last_decile = -1

    def __call__(self, done: int, total: int, report: RunReport) -> None:
        if self.quiet or total == 0:
            return
        frac = done / total
        now = time.monotonic()
        if self.tty:
            if done < total and now - self.last < 0.1:
                return
            self.last = now
        else:
            decile = int(frac * 10)
            if decile == self.last_decile and done < total:
                return
            self.last_decile = decile
        width = 30
        fill = int(width * frac)
        line = (f"[{'#' * fill}{'.' * (width - fill)}] {done}/{total} "
                f"calls {report.judge_calls} cached {report.cache_hits} ${report.cost_usd:.4f}")
        end = "\r" if self.tty and done < total else "\n"
        print(line, end=end, file=sys.stderr, flush=True)


def _run(args: argparse.Namespace) -> int:
    from . import EXIT_OK, EXIT_PARTIAL, UsageError
    from ..evals import RunConfig, UnknownEvaluator, run

    names = [n.strip() for item in args.evaluators for n in item.split(",") if n.strip()]
    for flag, value in (("--limit", args.limit), ("--max-calls", args.max_calls)):
        if value is not None and value < 0:
            raise UsageError(f"{flag} must be 0 or more, got {value}")
    if args.concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, got {args.concurrency}")
    if args.max_usd is not None and args.max_usd < 0:
        raise UsageError(f"--max-usd must be 0 or more, got {args.max_usd}")
    db = _open(args.db)
    config = RunConfig(
        evaluators=names, model=args.model, api_base=args.api_base, api_key=args.api_key, sample=args.sample,
        limit=args.limit, seed=args.seed, max_calls=args.max_calls, max_usd=args.max_usd,
        concurrency=args.concurrency, timeout_s=args.timeout, max_retries=max(0, args.retries),
        use_cache=not args.no_cache, slo_latency_ms=args.slo_latency_ms, slo_cost_usd=args.slo_cost_usd,
    )
    try:
        report = run(db, config, progress=_Bar(args.quiet))
    except (UnknownEvaluator, ValueError) as exc:
        raise UsageError(str(exc)) from None
    print("\n".join(report.lines()), flush=True)
    if report.written:
        _fold_in(db)
    return EXIT_PARTIAL if report.errors else EXIT_OK


def _fold_in(db: Any) -> None:
    """Fold the hours the run wrote into the stored aggregates, as `tracedesk ingest` does at its end
    (analysis.feed_ready: the changes feed's samples, whose refresh rebuilds the per-hour cohort and
    evaluator rows of the hours it clears, analysis.cohort_hours): else reads count those hours from their
    rows until the next feed (the landing page) folds them in. The dirty marks are shared, so this is the
    work that next feed would do first: a sample spread over the week dirties every hour (+48 s CPU after
    a 200-span run on 3M spans). The library's run (the app's button, notebooks) leaves it to the feed."""
    from ..analysis import feed_ready

    feed_ready.prepare(db)


def _list(args: argparse.Namespace) -> int:
    from ..evals import catalog

    db = _open(args.db) if args.db else None
    rows = catalog(db)
    print(f"{'name':<26} {'family':<9} {'scope':<5} {'applies to':<22} {'version':<28} description")
    for i in rows:
        kinds = ",".join(i.applies_to) or "any"
        print(f"{i.name:<26} {i.family:<9} {i.scope:<5} {kinds:<22} {i.version:<28} {i.description}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from . import UsageError
    from ..evals import export

    db = _open(args.db)
    try:
        n = export.write(db, args.out, names=args.evaluators)
    except OSError as exc:
        raise UsageError(f"cannot write {args.out!r}: {exc.strerror or exc}") from None
    print(f"wrote {n} evaluation events to {args.out}")
    return 0


def _custom_list(args: argparse.Namespace) -> int:
    from ..evals import custom

    specs = custom.list_specs(_open(args.db, must_exist=False))
    if not specs:
        print("no custom judges (add one with `tracedesk eval custom add`)")
    for s in specs:
        print(f"{s['name']:<24} threshold {s['threshold']:<5g} {s['rubric']}")
    return 0


def _custom_add(args: argparse.Namespace) -> int:
    from . import UsageError
    from ..evals import custom

    db = _open(args.db, must_exist=False)
    try:
        spec = custom.add(db, {"name": args.name, "rubric": args.rubric, "threshold": args.threshold})
    except custom.CustomJudgeError as exc:
        raise UsageError(str(exc)) from None
    print(f"saved custom judge {spec['name']!r}")
    return 0


def _custom_remove(args: argparse.Namespace) -> int:
    from . import UsageError
    from ..evals import custom

    if not custom.remove(_open(args.db, must_exist=False), args.name):
        raise UsageError(f"no custom judge named {args.name!r} (see `tracedesk eval custom list`)")
    print(f"removed custom judge {args.name!r}")
    return 0


def _custom_import(args: argparse.Namespace) -> int:
    from . import UsageError
    from ..evals import custom

    try:
        with open(args.path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise UsageError(f"cannot read {args.path!r}: {exc.strerror or exc}") from None
    try:
        names = custom.import_json(_open(args.db, must_exist=False), text)
    except custom.CustomJudgeError as exc:
        raise UsageError(str(exc)) from None
    print(f"imported {len(names)} custom judge(s): {', '.join(names)}")
    return 0


def _custom_export(args: argparse.Namespace) -> int:
    from . import UsageError
    from ..evals import custom

    text = custom.export_json(_open(args.db, must_exist=False))
    if args.path == "-":
        print(text)
        return 0
    try:
        with open(args.path, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    except OSError as exc:
        raise UsageError(f"cannot write {args.path!r}: {exc.strerror or exc}") from None
    print(f"wrote custom judges to {args.path}")
    return 0
