"""redact.has_pii: the changes feed's PII verdict, each detector gated by what it cannot match without,
always equal to bool(find_pii(text))."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tracedesk.ingest.redact import find_pii, has_pii

CASES = {
    "Write to jane.doe@example.com for a refund.": True,
    "Call +1 415-555-0134 tomorrow.": True,
    "Card 4111 1111 1111 1111 on file.": True,  # Luhn-valid
    "Card 4111 1111 1111 1112 on file.": False,  # Luhn-invalid, and no phone in it
    "SSN 123-45-6789.": True,
    "IBAN GB82 WEST 1234 5698 7654 32 please.": True,  # mod-97 valid
    "IBAN GB82 WEST 1234 5698 7654 33 please.": False,
    "key sk-proj-abcdefghijklmnop1234 leaked": True,
    "Authorization: BeArEr abcdefghijklmnop12345": True,
    "token ghp_" + "a" * 36: True,
    "Your order ORD-48213 ships Monday.": False,
    "Sure, the invoice is attached.": False,
    "": False,
}


def test_exact_verdicts():
    for text, expected in CASES.items():
        assert has_pii(text) is expected, text
        assert bool(find_pii(text)) is expected, text
    assert has_pii(None) is False


_PIECES = ["jane.doe@example.com", "@", "a@b.c", "+1 415-555-0134", "(415) 555-0134", "415.555.0134",
           "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "123-45-6789", "000-12-3456",
           "GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432", "DE89 3704 0044 0532 0130 00",
           "sk-", "sk-proj-abcdefghijklmnop1234", "AKIA" + "A" * 16, "ghp_" + "b" * 36, "xoxb-1234567890ab",
           "AIza" + "c" * 35, "Bearer abcdefghijklmnop12345", "bearer", "eyJabcdefgh.ijklmnopq.rstuvwxyz",
           "1 (885) 555-4940", "ORD-48213", "  ", "-", ".", "(", ")", "٣٤٥", "\u00a0", "\n"]


@settings(max_examples=800, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_PIECES), st.text(alphabet="0123456789 -().+@ABCZabz_", max_size=10),
                          st.text(max_size=6)), max_size=8).map("".join))
def test_has_pii_equals_find_pii(text):
    assert has_pii(text) == bool(find_pii(text))
