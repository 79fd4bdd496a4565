"""`tracedesk alerts`: print the schema, check rules headless (cron/CI), backtest over history, suggest a rule."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports its libraries lazily (fast --help)
    import sqlite_utils

    from ..alerts.definition import AlertRule


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
        "check", help="evaluate rules with their on-call state; exit 0 quiet, 1 firing, 2 invalid input, 3 failure",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Evaluate each rule at --at (default: the latest span stored) with its on-call state\n"
                    "(for, resolve_after, renotify, no_data: replayed from the evaluations before --at, so a\n"
                    "cron job keeps no state file), print one JSON line per firing group or notification,\n"
                    "and POST each notification (firing, renotify, resolved) to --webhook.\n\n"
                    "Exit codes:\n"
                    "  0  quiet: no group is firing\n"
                    "  1  fired: at least one group is firing\n"
                    "  2  invalid input: rule files (each problem with its JSON path), options, a missing\n"
                    "     database or a file that is not a tracedesk database (it is never migrated)\n"
                    "  3  runtime failure: the database could not be read, or a webhook still failed after\n"
                    "     its retries (the events are printed all the same)\n"
                    "Warnings (stderr, exit code unchanged): evaluators, scope values or signals the\n"
                    "database does not hold, so the rule could never fire.")
    cp.add_argument("rules", nargs="+", metavar="RULES.json", help="a rule, a bundle, or a JSON list of rules")
    cp.add_argument("--db", default=None, help="database file (default: $TRACEDESK_DB or ./tracedesk.db)")
    cp.add_argument("--at", default=None,
                    help="evaluate the window ending here: ISO time (2026-11-20T14:00:00Z), Unix time, 'now' or "
                         "-6h (default: the latest span in the database)")
    cp.add_argument("--webhook", default=None, metavar="URL", help="POST each notification to URL")
    cp.add_argument("--webhook-format", default="json", choices=("json", "slack", "pagerduty"),
                    help="json: the event as printed (default); slack: an incoming-webhook message; pagerduty: "
                         "an Events API v2 event (trigger / resolve, dedup_key = the group's dedupe key)")
    cp.add_argument("--routing-key", default=None,
                    help="PagerDuty integration key (default: $TRACEDESK_PAGERDUTY_ROUTING_KEY)")
    cp.add_argument("--retries", type=int, default=3, help="webhook retries on failure (default 3)")
    cp.add_argument("--all", action="store_true", help="print the quiet groups too")
    cp.set_defaults(func=_check)

    gp = sub.add_parser(
        "suggest", help="propose a rule from a marked incident (time range + optional cohort)",
        description="Rank the signals that moved in the cohort during [--since, --until), propose the smallest "
                    "rule that pages on the incident and stays quiet elsewhere, and report its delay and its "
                    "false pages on history outside the incident (warnings when they are bad). A cohort that "
                    "did not exist before is compared with the one it replaced, or the rest of the traffic. "
                    "Exit code: 0 a rule is proposed, 1 none is (the output says why: no signal moved, or no "
                    "threshold separates the incident), 2 invalid input.")
    gp.add_argument("--db", default=None, help="database file (default: $TRACEDESK_DB or ./tracedesk.db)")
    gp.add_argument("--since", required=True, help="incident start (ISO-8601, Unix time, 'now' or -6h)")
    gp.add_argument("--until", required=True, help="incident end")
    gp.add_argument("--cohort", action="append", default=[], metavar="DIM=VALUE",
                    help="the affected cohort, e.g. --cohort route=refunds (repeat for more dimensions)")
    gp.add_argument("--name", default="suggested-alert", help="name of the proposed rule")
    gp.add_argument("--step", default="5m", help="evaluation step (default 5m)")
    gp.add_argument("--json", action="store_true", help="print the whole suggestion as JSON")
    gp.add_argument("--out", default=None, metavar="FILE", help="also write the rule document to FILE")
    gp.set_defaults(func=_suggest)

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


def _load_rules(paths: list[str]) -> list[AlertRule]:
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


def _open_db(path: str | None) -> sqlite_utils.Database:
    """The database, never migrated unless tracedesk made it: a missing or foreign file is invalid input
    (exit 2); a file that cannot be read is a runtime failure (exit 3)."""
    import os
    import sqlite3

    from . import UsageError
    from ..errors import StoreError
    from ..store import default_db_path
    from ..store.connect import open_existing

    db = path or default_db_path()
    if not os.path.isfile(db):
        raise UsageError(f"database {db!r} does not exist; pass --db FILE (ingest traces first)")
    try:
        return open_existing(db)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the database {db!r}: {exc}") from None


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
    import os
    import sqlite3
    import sys

    from . import EXIT_FAILURE, UsageError
    from ..alerts.evaluate import data_range
    from ..alerts.lint import lint
    from ..alerts.states import check_states_and_result
    from ..alerts.webhook import WebhookError, format_payload, post_json
    from ..errors import StoreError

    if args.retries < 0:
        raise UsageError("--retries must be >= 0")
    routing_key = args.routing_key or os.environ.get("TRACEDESK_PAGERDUTY_ROUTING_KEY")
    if args.webhook and args.webhook_format == "pagerduty" and not routing_key:
        raise UsageError("--webhook-format pagerduty needs --routing-key KEY or $TRACEDESK_PAGERDUTY_ROUTING_KEY")
    rules = _load_rules(args.rules)
    at = _parse_time(args.at, "--at")
    db = _open_db(args.db)
    fired, failed = 0, 0
    try:
        if at is None:
            span = data_range(db)
            if span is None:
                print("tracedesk alerts check: warning: the database holds no spans; every rule is quiet",
                      file=sys.stderr)
                return 0
            at = span[1]
        for rule in rules:
            events, replay = check_states_and_result(db, rule, at)
            for warning in lint(db, rule, replay):
                print(f"tracedesk alerts check: warning: {warning}", file=sys.stderr)
            for event in events:
                fired += event["state"] == "firing"
                if event["state"] == "firing" or event["notification"] or args.all:
                    print(json.dumps(event, ensure_ascii=False), flush=True)
                if event["notification"] and args.webhook:
                    try:
                        post_json(args.webhook, format_payload(event, args.webhook_format, routing_key),
                                  retries=args.retries)
                    except WebhookError as exc:
                        failed += 1
                        print(f"tracedesk alerts check: {exc}", file=sys.stderr)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the database: {exc}") from None
    if failed:
        print(f"tracedesk alerts check: {failed} notification(s) not delivered", file=sys.stderr)
        return EXIT_FAILURE
    return 1 if fired else 0


def _suggest(args: argparse.Namespace) -> int:
    import json

    from . import UsageError
    from ..alerts.definition import dumps_rule
    from ..alerts.suggest import suggest_rule

    since, until = _parse_time(args.since, "--since"), _parse_time(args.until, "--until")
    cohort: dict[str, list[str]] = {}
    for item in args.cohort:
        dim, sep, value = item.partition("=")
        if not sep or not dim or not value:
            raise UsageError(f"--cohort {item!r}: write DIM=VALUE, e.g. --cohort route=refunds")
        cohort.setdefault(dim, []).append(value)
    db = _open_db(args.db)
    try:
        s = suggest_rule(db, since, until, cohort, name=args.name, step=args.step)  # type: ignore[arg-type]
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if s.rule is None:  # nothing to propose: say why (and write no --out file), exit 1
        if args.json:
            print(json.dumps(s.to_dict(), ensure_ascii=False, indent=2))
        else:
            print(f"no rule proposed: {s.explanation}")
            for m in s.movers[:8]:
                print(f"  {m.label:<40} {m.direction:<4} {m.baseline:.4g} -> {m.incident:.4g}  effect {m.effect:.2f}")
        return 1
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(dumps_rule(s.rule) + "\n")
    if args.json:
        print(json.dumps(s.to_dict(), ensure_ascii=False, indent=2))
        return 0
    print(dumps_rule(s.rule))
    delay = "not caught" if s.delay_min is None else f"{s.delay_min:.0f} min after the start"
    print(f"\nincident: paged {delay}; pages during it: {s.pages_in_incident}; false pages outside it: "
          f"{s.false_pages}; proposed group_by: {', '.join(s.group_by) or '(none)'}")
    print("signals that moved (effect = |2 AUC - 1|):")
    for m in s.movers[:8]:
        print(f"  {m.label:<40} {m.direction:<4} {m.baseline:.4g} -> {m.incident:.4g}  effect {m.effect:.2f}")
    for w in s.warnings:
        print(f"warning: {w}")
    return 0


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
