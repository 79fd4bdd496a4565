"""PII and secret kinds present in a text, for the `pii` evaluator. Values are never returned, only kinds.

Detection itself lives in `tracedesk.ingest.redact` (the same detectors ingest uses to mask before storage), so
what `--redact` masks and what the evaluator flags can never disagree.
"""
from __future__ import annotations

from ..ingest.redact import find_pii, iban_ok, luhn_ok

__all__ = ["PII_KINDS", "find_pii_kinds", "iban_ok", "luhn_ok"]

# The evaluator's vocabulary for each detector kind of tracedesk.ingest.redact, in reporting order.
_KIND_NAMES = {"email": "email", "card": "credit_card", "ssn": "ssn", "iban": "iban", "api_key": "api_key",
               "phone": "phone"}
PII_KINDS: tuple[str, ...] = tuple(_KIND_NAMES.values())


def find_pii_kinds(text: str | None) -> list[str]:
    """The kinds of PII/secrets present in `text`, in PII_KINDS order."""
    if not text:
        return []
    present = {_KIND_NAMES[kind] for kind, _start, _end in find_pii(text)}
    return [kind for kind in PII_KINDS if kind in present]
