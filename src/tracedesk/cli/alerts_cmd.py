"""`tracedesk alerts`: print the schema, check rules headless (cron/CI), backtest over history."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("alerts", help="joint-condition alerts: schema, check (cron/CI), backtest",
                              description="Work with alert rule files (tracedesk_alert v1 JSON).")
    sub = p.add_subparsers(dest="alerts_command", metavar="SUBCOMMAND")
    sp = sub.add_parser("schema", help="print the alert JSON Schema")
    sp.set_defaults(func=_schema)

    vp = sub.add_parser("validate", help="validate rule files (exit 2 and the JSON path of each problem if invalid)")
    vp.add_argument("rules", nargs="+", metavar="RULES.json")
    vp.set_defaults(func=_validate)

    cp = sub.add_parser(
        "check", help="evaluate rules on the latest window; exit 1 if any fired, 0 if none, 2 on invalid rules",
        description="Evaluate each rule on the window ending at --at (default: the latest span stored) and "
                    "print one JSON line per firing event. Exit code: 1 if any fired, 0 if none, 2 on "
                    "invalid rules or arguments. Fit for cron and CI.")
    cp.add_argument("rules", nargs="+", metavar="RULES.json", help="a rule, a bundle, or a JSON list of rules")
    cp.add_argument("--db", default=None, help="database file (default: $TRACEDESK_DB or ./tracedesk.db)")
    cp.add_argument("--at", default=None,
                    help="evaluate the window ending here: ISO time (2026-11-20T14:00:00Z), Unix ns, or 'now' "
                         "(default: the latest span in the database)")
    cp.add_argument("--webhook", default=None, metavar="URL", help="POST each firing event as JSON to URL")
    cp.add_argument("--retries", type=int, default=3, help="webhook retries on failure (default 3)")
    cp.add_argument("--all", action="store_true", help="print events that did not fire too")
    cp.set_defaults(func=_check)

    bp = sub.add_parser("backtest", help="replay rules over stored history and print firing episodes (JSON lines)")
    bp.add_argument("rules", nargs="+", metavar="RULES.json")
    bp.add_argument("--db", default=None, help="database file (default: $TRACEDESK_DB or ./tracedesk.db)")
    bp.add_argument("--since", default=None, help="first evaluation time (ISO-8601, Unix time, 'now' or -6h; default: data start + window)")
    bp.add_argument("--until", default=None, help="last evaluation time (ISO-8601, Unix time, 'now' or -6h; default: latest span)")
    bp.add_argument("--conditions", action="store_true",
                    help="also print the episodes each condition alone would have fired")
    bp.set_defaults(func=_backtest)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _parse_time(text: str | None, option: str) -> int | None:
    from . import UsageError
    from ..timeutil import TimeParseError, parse_time

    if text is None:
        return None
    try:
        return parse_time(text)
    except TimeParseError as exc:
        raise UsageError(f"{option} {exc}") from None


def _load_rules(paths: list[str]):
    import json

    from . import UsageError
    from ..alerts.definition import AlertValidationError, parse_document

    rules, problems = [], []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise UsageError(f"cannot read rules file {path!r}: {exc.strerror}") from None
        try:
            rules.extend(parse_document(json.loads(text)))
        except json.JSONDecodeError as exc:
            problems.append(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
        except AlertValidationError as exc:
            problems.extend(f"{path}: {p}: {m}" for p, m in exc.errors)
    names = [r.name for r in rules]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"two rules are named {dup!r}; names must be unique")
    if problems:
        raise UsageError("invalid alert rules:\n  " + "\n  ".join(problems))
    return rules


def _open_db(path: str | None):
    import os

    from . import UsageError
    from ..store import connect, default_db_path

    db = path or default_db_path()
    if not os.path.isfile(db):
        raise UsageError(f"database {db!r} does not exist; pass --db FILE (ingest traces first)")
    return connect(db)


def _schema(args: argparse.Namespace) -> int:
    import json

    from ..alerts.definition import schema

    print(json.dumps(schema(), indent=2))
    return 0


def _validate(args: argparse.Namespace) -> int:
    rules = _load_rules(args.rules)
    for rule in rules:
        print(f"ok: {rule.name} ({len(rule.leaves())} conditions)")
    return 0


def _check(args: argparse.Namespace) -> int:
    import json
    import sys

    from ..alerts.evaluate import evaluate
    from ..alerts.webhook import WebhookError, post_json

    if args.retries < 0:
        from . import UsageError
        raise UsageError("--retries must be >= 0")
    rules = _load_rules(args.rules)
    at = _parse_time(args.at, "--at")
    db = _open_db(args.db)
    fired = 0
    for rule in rules:
        for event in evaluate(db, rule, at_ns=at):
            if event["firing"]:
                fired += 1
            if event["firing"] or args.all:
                print(json.dumps(event, ensure_ascii=False), flush=True)
            if event["firing"] and args.webhook:
                try:
                    post_json(args.webhook, event, retries=args.retries)
                except WebhookError as exc:
                    print(f"tracedesk alerts check: {exc}", file=sys.stderr)
    return 1 if fired else 0


def _backtest(args: argparse.Namespace) -> int:
    import json
    import sys

    from ..alerts.evaluate import backtest

    rules = _load_rules(args.rules)
    since, until = _parse_time(args.since, "--since"), _parse_time(args.until, "--until")
    db = _open_db(args.db)
    for rule in rules:
        result = backtest(db, rule, since_ns=since, until_ns=until)
        for ep in result.episodes:
            print(json.dumps(ep.to_dict(), ensure_ascii=False))
        if args.conditions:
            for eps in result.condition_episodes.values():
                for ep in eps:
                    print(json.dumps(ep.to_dict(), ensure_ascii=False))
        summary = ", ".join(f"{r['condition']}: {r['episodes']}" for r in result.summary())
        print(f"{rule.name}: {len(result.times)} evaluations, episodes {summary}", file=sys.stderr)
    return 0
