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

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable


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


def choices_hint(value: object, valid: Iterable[str], *, limit: int = 40) -> str:
    """'did you mean 'groundedness'? valid choices: a, b, c' for an unknown name a user typed.

    The closest valid name comes first because a typo is the usual cause; the list follows so the message
    still helps when nothing is close. Long lists are cut at `limit` names with a count of the rest."""
    import difflib  # only when an error is being worded: keeps this module free to import

    names = [str(v) for v in valid]
    close = difflib.get_close_matches(str(value), names, n=1) if isinstance(value, str) else []
    listed = ", ".join(names[:limit]) + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")
    guess = f"did you mean {close[0]!r}? " if close else ""
    return f"{guess}valid choices: {listed}"
