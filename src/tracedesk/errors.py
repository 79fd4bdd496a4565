"""One base class for the errors tracedesk raises on purpose.

Anything derived from `TracedeskError` is a problem with what the user gave us (a filter, a rule file, a
database path, a time window) and carries a message that names the input and the fix. The CLI's `main`
and the app's error boundary (`tracedesk.app.ui.run_page`) catch it and show that message instead of a
traceback; anything else is a bug and keeps its traceback.

The feature modules keep their own subclasses where they were (`tracedesk.store.query.FilterError`,
`tracedesk.alerts.definition.AlertValidationError`, ...), so existing imports and `except ValueError`
clauses keep working: most subclasses also derive from the builtin they used to be.

This module imports nothing, so any module (and `tracedesk --help`) can use it for free.
"""
from __future__ import annotations


class TracedeskError(Exception):
    """A user-facing error: its message says what was wrong and how to fix it."""


class InputError(TracedeskError, ValueError):
    """A value the user typed or passed is not valid (times, durations, filters, options)."""


class TimeParseError(InputError):
    """A time or duration string does not match any accepted form (the message lists them)."""


class IngestError(TracedeskError, ValueError):
    """A record or file could not be read as traces (names file, line/index and the reason)."""


class StoreError(TracedeskError):
    """The database cannot be used: missing, not a tracedesk database, or an unsupported URL."""


class NotATracedeskDatabase(StoreError, ValueError):
    """The file is SQLite (or not even that) but was not created by tracedesk; it is never migrated."""


class EvalError(TracedeskError, ValueError):
    """An evaluator or judge definition is invalid (unknown name, bad rubric, unusable judge model)."""


class ReceiverError(TracedeskError, RuntimeError):
    """The live receiver cannot start or write (port taken, folder missing, writer closed)."""


def describe(exc: BaseException) -> str:
    """The one-line text shown for a user-facing error (its message, or its class name if it has none)."""
    text = str(exc).strip()
    return text or type(exc).__name__
