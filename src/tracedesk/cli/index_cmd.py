"""`tracedesk index text`: build, show or drop the opt-in text-search index (store.text_index)."""
from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "index", help="build (or drop) the optional index that makes the Traces page's text filter fast",
        description="Optional indexes. `index text` builds a trigram index of every span's name, input and "
                    "output, so a text search reads the index instead of every span (10M spans: 6-18 s CPU "
                    "-> under 2 s for most words; a word in every trace still takes seconds). It costs ~270 bytes per span on disk; once built, ingest keeps it current.",
    )
    sub = p.add_subparsers(dest="index_command", metavar="INDEX")
    t = sub.add_parser("text", help="build or refresh the text-search index (or --drop it, or --status)",
                       description="Build the text-search index, or bring it up to date (it is kept current "
                                   "by ingest and by searches; a rebuild also drops the postings of replaced "
                                   "spans).")
    t.add_argument("--db", default=None, help="database file (default: $TRACEDESK_DB or ./tracedesk.db)")
    action = t.add_mutually_exclusive_group()
    action.add_argument("--drop", action="store_true", help="remove the index (VACUUM returns its bytes to the disk)")
    action.add_argument("--rebuild", action="store_true", help="drop what is stored and index every span again")
    action.add_argument("--status", action="store_true", help="print what the index holds; change nothing")
    t.set_defaults(func=run_text)
    p.set_defaults(func=_help(p))


def _help(parser: argparse.ArgumentParser):  # type: ignore[no-untyped-def]
    def show(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return show


def run_text(args: argparse.Namespace) -> int:
    import sys
    import time

    from .. import store
    from ..store import text_index

    db = store.open_existing(args.db or store.default_db_path())
    if args.status:
        if not text_index.present(db):
            print("No text index: text searches read every span. Build it with: tracedesk index text")
            return 0
        s = text_index.stats(db)
        trusted = "" if text_index.usable(db) else " (its triggers are missing: rebuild it with --rebuild)"
        print(f"Text index{trusted}: spans up to rowid {s['upto']:,} indexed in {s['documents']:,} documents "
              f"({s['garbage']:,} replaced documents still in the postings); "
              f"{'new spans wait to be folded in' if s['pending'] else 'up to date'}.")
        return 0
    if args.drop:
        had = text_index.present(db)
        text_index.drop(db)
        print("Text index dropped." if had else "There was no text index.")
        return 0

    def progress(done: int, total: int) -> None:
        print(f"\rindexing spans: {done:,} / {total:,}", end="", file=sys.stderr, flush=True)

    started = time.perf_counter()
    read = text_index.build(db, rebuild=args.rebuild, progress=progress if sys.stderr.isatty() else None)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    s = text_index.stats(db)
    print(f"Text index up to date: {read:,} spans read in {time.perf_counter() - started:.1f} s; "
          f"{s['documents']:,} documents.")
    return 0
