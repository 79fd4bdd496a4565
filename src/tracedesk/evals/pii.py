"""PII and secret detectors (regex + checksums; no model). Values are never returned, only kinds.

Checksums cut false positives: card numbers must pass Luhn, IBANs the ISO 13616 mod-97 check, and
SSNs exclude the never-issued areas (000, 666, 9xx) and zero groups.
"""
from __future__ import annotations

import re
from collections.abc import Callable

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
# International (+CC ...) or North-American style numbers with separators; bare digit runs are not
# phones (they are ids, amounts, timestamps).
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){2,4}"
    r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}|\b\d{3}[.-]\d{3}[.-]\d{4})\b"
)
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
_API_KEY = re.compile(
    r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|sk_(?:live|test)_[A-Za-z0-9]{16,})"
)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    s = candidate.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in moved))
    except ValueError:
        return False
    return number % 97 == 1


def _cards(text: str) -> bool:
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn_ok(digits):
            return True
    return False


_DETECTORS: dict[str, Callable[[str], bool]] = {
    "email": lambda t: bool(_EMAIL.search(t)),
    "credit_card": _cards,
    "ssn": lambda t: bool(_SSN.search(t)),
    "iban": lambda t: any(iban_ok(m.group()) for m in _IBAN.finditer(t)),
    "api_key": lambda t: bool(_API_KEY.search(t)),
    "phone": lambda t: bool(_PHONE.search(t)),
}

PII_KINDS: tuple[str, ...] = tuple(_DETECTORS)


def find_pii_kinds(text: str | None) -> list[str]:
    """The kinds of PII/secrets present in `text`, in PII_KINDS order."""
    if not text:
        return []
    return [kind for kind, found in _DETECTORS.items() if found(text)]
