"""PII detection and masking, applied by ingest (`--redact`) before anything reaches the database.

Detectors: e-mail addresses, phone numbers, payment card numbers (Luhn-checked), US SSNs, IBANs
(mod-97 checked), API keys and bearer tokens. `find_pii` is public so evaluators can reuse it.

Two mask styles: prose (input/output text, messages, documents, tool I/O, content attributes, log messages)
gets the plain `[EMAIL]`; identifiers and every other string (the user/session/... columns, span names, any
other span, resource or event attribute, evaluation reasons) get a keyed-hash mask `[EMAIL:3f2a9c1e]`, the
same for the same value in every span of the database, so cohorts by user still group after redaction.
The key is random per database (setting `redaction_key`), so a mask cannot be reversed by hashing a list
of guessed e-mails without the database itself. Attribute names in the allow-list (setting `redaction` =
{"keep": [...]}, plus `--redact-keep KEY`) are never masked.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from typing import Any

from ..errors import InputError

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


# What each detector cannot match without (checked before it runs): a key needs one of its prefixes, an
# e-mail an '@'; a card (13+ digits), an SSN (9) and a phone (7+) need a run of digits and separators.
_KEY_PREFIXES = ("sk-", "pk-", "rk-", "AKIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "xox", "AIza", "eyJ")
_BEARER = re.compile(r"(?i:bearer)")
_DIGIT_RUN = re.compile(r"\d[\d ().+-]{5,}\d")


def has_pii(text: str | None) -> bool:
    """bool(find_pii(text)), ~3x cheaper: each detector runs only on a text it could match, and the first
    finding answers (the changes feed asks this of every answer)."""
    if not text:
        return False
    if (any(p in text for p in _KEY_PREFIXES) or _BEARER.search(text)) and _KEY.search(text):
        return True
    if "@" in text and _EMAIL.search(text):
        return True
    # (a search first: most texts have no candidate at all, and finditer costs a generator per text)
    if _IBAN.search(text) and any(iban_ok(m.group()) for m in _IBAN.finditer(text)):
        return True
    if not _DIGIT_RUN.search(text):
        return False
    if _SSN.search(text):
        return True
    if _PHONE.search(text) and any(7 <= sum(c.isdigit() for c in m.group()) <= 15 for m in _PHONE.finditer(text)):
        return True
    return bool(_CARD.search(text)) and any(13 <= len(d := re.sub(r"\D", "", m.group())) <= 19 and luhn_ok(d)
                                            for m in _CARD.finditer(text))


# Cheap gate before the six detectors: every detector needs an '@', a run of digits or a key prefix.
# Most attribute values (model names, short ids, enum-like strings) fail it and cost one regex scan.
_MAYBE = re.compile(r"@|\d[\d ().+-]{5,}\d|\d{2}[ A-Z0-9]{11}|sk-|pk-|rk-|AKIA|gh[pousr]_|xox|AIza|eyJ|(?i:bearer)")

Masker = Any  # Callable[[str, str], str]: (kind, matched text) -> mask


def _plain(kind: str, _found: str) -> str:
    return MASKS[kind]


# Strings known to hold no PII. Traffic repeats itself (system prompts, the same text as an attribute, a
# message and a column, tool names, timestamps): measured on the sample week, 384k strings of which 14k
# distinct, so remembering clean ones skips most scans. Bounded by total characters, then started afresh.
_CLEAN: set[str] = set()
_CLEAN_MAX_CHARS = 32_000_000
_clean_chars = 0


def _remember_clean(text: str) -> None:
    global _clean_chars
    if _clean_chars + len(text) > _CLEAN_MAX_CHARS:
        _CLEAN.clear()
        _clean_chars = 0
    _CLEAN.add(text)
    _clean_chars += len(text)


def redact_text(text: str, mask: Masker = _plain) -> tuple[str, int]:
    """(masked text, number of redactions). `mask(kind, matched)` gives each mask (default `[EMAIL]`, ...)."""
    if not isinstance(text, str) or text in _CLEAN:
        return text, 0
    hits = find_pii(text) if _MAYBE.search(text) else None
    if not hits:
        _remember_clean(text)
        return text, 0
    parts = []
    pos = 0
    for kind, start, end in hits:
        parts.append(text[pos:start])
        parts.append(mask(kind, text[start:end]))
        pos = end
    parts.append(text[pos:])
    return "".join(parts), len(hits)


def redact_value(value: Any, mask: Masker = _plain) -> tuple[Any, int]:
    """Redact strings anywhere inside lists/dicts."""
    if isinstance(value, str):
        return redact_text(value, mask)
    if isinstance(value, list):
        total = 0
        out = []
        for item in value:
            new, n = redact_value(item, mask)
            out.append(new)
            total += n
        return (out, total) if total else (value, 0)
    if isinstance(value, dict):
        total = 0
        out_d = {}
        for k, item in value.items():
            new, n = redact_value(item, mask)
            out_d[k] = new
            total += n
        return (out_d, total) if total else (value, 0)
    return value, 0


#: Attribute keys whose values carry user/model content (checked by substring).
CONTENT_KEY_MARKERS = ("message", "content", "prompt", "completion", "input", "output", "query", "text",
                       "response", "arguments", "result", "document", "authorization", "api_key", "token_value")


@functools.lru_cache(maxsize=8192)  # attribute names repeat across spans: decide each name once
def _is_content_key(key: str) -> bool:
    low = key.lower()
    if "tokens" in low or "token_count" in low or low.endswith(("mime_type", ".type", "_type")):
        return False
    return any(m in low for m in CONTENT_KEY_MARKERS)


#: setting holding the allow-list: {"keep": ["session.id", "user.id", ...]}
SETTING = "redaction"
#: setting holding the per-database hash key of the `[EMAIL:…]` masks
KEY_SETTING = "redaction_key"

#: Span columns that hold prose: plain masks, as before the hashed style existed.
_PROSE_COLUMNS = ("input_text", "output_text", "tool_arguments", "tool_result", "status_message")
_PROSE_JSON_COLUMNS = ("input_messages", "output_messages", "documents")
#: Span columns that identify or label: hashed masks. Model/provider/kind/status/ids are left alone:
#: they come from a closed vocabulary or are hex, and a false positive there would break pricing or joins.
_ID_COLUMNS = ("name", "service", "agent_name", "tool_name", "handoff_from", "handoff_to", "session_id",
               "user_id", "route", "tenant", "prompt_version", "environment", "scope")
#: which attribute names feed a column (semconv aliases), so keeping "user.id" keeps the user_id column
_COLUMN_SOURCES: dict[str, tuple[str, ...]] = {}


def _column_sources() -> dict[str, tuple[str, ...]]:
    if not _COLUMN_SOURCES:
        from .semconv import FIELD_KEYS

        for column in _ID_COLUMNS:
            keys = FIELD_KEYS.get(column)
            if keys:
                _COLUMN_SOURCES[column] = tuple(keys)
    return _COLUMN_SOURCES


class Redactor:
    """Masks PII in spans, evaluations and log messages; `keep` names attributes (or columns) left as they are.

    `key` makes the hashed masks (`[EMAIL:3f2a9c1e]`): the same value gives the same mask for the same key.
    """

    def __init__(self, keep: Iterable[str] = (), key: bytes | str = b"") -> None:
        self.keep = frozenset(k.strip() for k in keep if k and k.strip())
        self.key = key.encode() if isinstance(key, str) else key
        self._cache: dict[str, str] = {}
        # Spans of one OTLP resource share its attribute dict: mask it once, count it per stored copy.
        self._resource: dict[str, Any] | None = None
        self._resource_n = 0

    @classmethod
    def for_database(cls, db: Any, keep: Iterable[str] = ()) -> Redactor:
        """The database's allow-list (setting `redaction`) plus `keep`, with the database's hash key
        (created on first use, so every ingest and the receiver mask a value the same way)."""
        from .. import store

        setting = store.get_setting(db, SETTING) or {}
        stored = setting.get("keep", []) if isinstance(setting, dict) else []
        if not isinstance(stored, list) or not all(isinstance(k, str) for k in stored):
            raise InputError(f"setting {SETTING!r} must be {{\"keep\": [attribute names]}}, got {setting!r}; "
                             f"fix it with store.set_setting(db, {SETTING!r}, {{\"keep\": [\"user.id\"]}})")
        key = store.get_setting(db, KEY_SETTING)
        if not isinstance(key, str) or not key:
            key = secrets.token_hex(16)
            store.set_setting(db, KEY_SETTING, key)
        return cls([*stored, *keep], key)

    def hashed(self, kind: str, found: str) -> str:
        """`[EMAIL:3f2a9c1e]`: the kind's mask with 8 hex digits of HMAC-SHA256(key, value)."""
        mask = self._cache.get(found)
        if mask is None:
            digest = hmac.new(self.key, found.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:8]
            mask = f"{MASKS[kind][:-1]}:{digest}]"
            if len(self._cache) < 100_000:
                self._cache[found] = mask
        return mask

    def _kept_column(self, span: Any, column: str, value: str) -> bool:
        if not self.keep:
            return False
        if column in self.keep:
            return True
        attrs = span.attributes
        return any(k in self.keep and str(attrs.get(k)) == value for k in _column_sources().get(column, ()))

    def _attrs(self, attrs: dict[str, Any]) -> int:
        total = 0
        keep = self.keep
        hashed = self.hashed
        clean = _CLEAN
        for key, value in attrs.items():
            if isinstance(value, str):
                if value in clean or key in keep:  # the common case, without a call per value
                    continue
            elif not isinstance(value, (list, dict)) or key in keep:
                continue
            new, n = redact_value(value, _plain if _is_content_key(key) else hashed)
            if n:
                attrs[key] = new
                total += n
        return total

    def span(self, span: Any) -> int:
        """Mask PII in every string of a Span (columns, attributes, resource, events); returns the count."""
        total = 0
        for name in _PROSE_COLUMNS:
            value = getattr(span, name)
            if value:
                new, n = redact_text(value)
                if n:
                    setattr(span, name, new)
                    total += n
        for name in _PROSE_JSON_COLUMNS:
            value = getattr(span, name)
            if value:
                new, n = redact_value(value)
                if n:
                    setattr(span, name, new)
                    total += n
        clean = _CLEAN
        for name in _ID_COLUMNS:
            value = getattr(span, name)
            if value and isinstance(value, str) and value not in clean and not self._kept_column(span, name, value):
                new, n = redact_text(value, self.hashed)
                if n:
                    setattr(span, name, new)
                    total += n
        if span.dims:
            for dim, value in list(span.dims.items()):
                if dim not in self.keep:
                    new, n = redact_text(value, self.hashed)
                    if n:
                        span.dims[dim] = new
                        total += n
        total += self._attrs(span.attributes)
        resource = span.resource
        if resource:
            if resource is not self._resource:
                self._resource, self._resource_n = resource, self._attrs(resource)
            total += self._resource_n
        for event in span.events or ():
            name = event.get("name")
            if isinstance(name, str):
                new, n = redact_text(name, self.hashed)
                if n:
                    event["name"] = new
                    total += n
            eattrs = event.get("attributes")
            if eattrs:
                total += self._attrs(eattrs)
        return total

    def evaluation(self, ev: Any) -> int:
        """Mask PII in an evaluation's reason, label, error, raw reply and metadata."""
        total = 0
        for name in ("reason", "label", "error", "raw"):
            value = getattr(ev, name)
            if value:
                new, n = redact_text(value, self.hashed)
                if n:
                    setattr(ev, name, new)
                    total += n
        if ev.metadata:
            total += self._attrs(ev.metadata)
        return total


def redact_span(span: Any, keep: Iterable[str] = (), key: bytes | str = b"") -> int:
    """Mask PII in every string of a Span; see Redactor (a BatchWriter uses the database's key and list)."""
    return Redactor(keep, key).span(span)
