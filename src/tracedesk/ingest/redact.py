"""PII detection and masking, applied by ingest (`--redact`) before anything reaches the database.

Detectors: e-mail addresses, phone numbers, payment card numbers (Luhn-checked), US SSNs, IBANs
(mod-97 checked), API keys and bearer tokens. `find_pii` is public so evaluators can reuse it.
"""
from __future__ import annotations

import re
from typing import Any

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_SSN = re.compile(r"(?<!\d)(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?!\d)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
# Digit groups glued to more digit groups (order numbers, card-like strings) are not phones.
_PHONE = re.compile(r"(?<![\w+])(?<!\d[ .-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]?"
                    r"\d{3,4}(?!\w)(?![ .-]\d)")
_KEY = re.compile(
    r"(?:\b(?:sk|pk|rk)-(?:proj-|live-|test-|ant-)?[A-Za-z0-9_-]{16,}"  # OpenAI / Anthropic / Stripe style
    r"|\bAKIA[0-9A-Z]{16}\b"  # AWS access key id
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}\b"  # GitHub tokens
    r"|\bxox[abpr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|\bAIza[0-9A-Za-z_-]{35}"  # Google API key
    r"|(?i:\bbearer\s+)[A-Za-z0-9._~+/=-]{15,}[A-Za-z0-9_~+/=-]"  # Authorization: Bearer <token>
    r"|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"  # JWT
)

MASKS = {"email": "[EMAIL]", "phone": "[PHONE]", "card": "[CARD]", "ssn": "[SSN]", "iban": "[IBAN]",
         "api_key": "[API_KEY]"}


def luhn_ok(digits: str) -> bool:
    """True when a digit string passes the Luhn checksum (payment card numbers)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    """True when an IBAN candidate passes the ISO 13616 mod-97 check."""
    s = text.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


def find_pii(text: str) -> list[tuple[str, int, int]]:
    """[(kind, start, end)] of PII found in text, non-overlapping, in order."""
    if not text:
        return []
    found: list[tuple[str, int, int]] = []
    for m in _KEY.finditer(text):
        found.append(("api_key", m.start(), m.end()))
    for m in _EMAIL.finditer(text):
        found.append(("email", m.start(), m.end()))
    for m in _IBAN.finditer(text):
        if iban_ok(m.group()):
            found.append(("iban", m.start(), m.end()))
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            found.append(("card", m.start(), m.end()))
    for m in _SSN.finditer(text):
        found.append(("ssn", m.start(), m.end()))
    for m in _PHONE.finditer(text):
        n_digits = sum(c.isdigit() for c in m.group())
        if 7 <= n_digits <= 15:
            found.append(("phone", m.start(), m.end()))
    # Earlier detectors (more specific) win overlaps.
    found_sorted: list[tuple[str, int, int]] = []
    for kind, start, end in found:
        if any(start < e and s < end for _, s, e in found_sorted):
            continue
        found_sorted.append((kind, start, end))
    return sorted(found_sorted, key=lambda f: f[1])


def redact_text(text: str) -> tuple[str, int]:
    """(masked text, number of redactions)."""
    hits = find_pii(text) if isinstance(text, str) else []
    if not hits:
        return text, 0
    parts = []
    pos = 0
    for kind, start, end in hits:
        parts.append(text[pos:start])
        parts.append(MASKS[kind])
        pos = end
    parts.append(text[pos:])
    return "".join(parts), len(hits)


def redact_value(value: Any) -> tuple[Any, int]:
    """Redact strings anywhere inside lists/dicts."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list):
        total = 0
        out = []
        for item in value:
            new, n = redact_value(item)
            out.append(new)
            total += n
        return out, total
    if isinstance(value, dict):
        total = 0
        out_d = {}
        for k, item in value.items():
            new, n = redact_value(item)
            out_d[k] = new
            total += n
        return out_d, total
    return value, 0


#: Attribute keys whose values carry user/model content (checked by substring).
CONTENT_KEY_MARKERS = ("message", "content", "prompt", "completion", "input", "output", "query", "text",
                       "response", "arguments", "result", "document", "authorization", "api_key", "token_value")


def _is_content_key(key: str) -> bool:
    low = key.lower()
    if "tokens" in low or "token_count" in low or low.endswith(("mime_type", ".type", "_type")):
        return False
    return any(m in low for m in CONTENT_KEY_MARKERS)


def redact_span(span: Any) -> int:
    """Mask PII in a Span's text fields, messages, documents, tool I/O and content attributes/events."""
    total = 0
    for name in ("input_text", "output_text", "tool_arguments", "tool_result", "status_message"):
        value = getattr(span, name)
        if value:
            new, n = redact_text(value)
            if n:
                setattr(span, name, new)
                total += n
    for name in ("input_messages", "output_messages", "documents"):
        value = getattr(span, name)
        if value:
            new, n = redact_value(value)
            if n:
                setattr(span, name, new)
                total += n
    attrs = span.attributes
    for key in list(attrs):
        if _is_content_key(key):
            new, n = redact_value(attrs[key])
            if n:
                attrs[key] = new
                total += n
    for event in span.events or ():
        eattrs = event.get("attributes") or {}
        for key in list(eattrs):
            if _is_content_key(key):
                new, n = redact_value(eattrs[key])
                if n:
                    eattrs[key] = new
                    total += n
    return total
