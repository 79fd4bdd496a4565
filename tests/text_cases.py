"""Span texts (name, input, output) of the text-filter tests: case folding across scripts (ÉCOLE, STRASSE/Straße,
Greek final sigma), LIKE's wildcards and escape (%, _, backslash) and a NUL inside a text."""
from __future__ import annotations

TEXT_CASES: dict[int, tuple[str, str | None, str | None]] = {
    1: ("ask", "Où est l'ÉCOLE ?", "answer"),
    2: ("ask", "Die STRASSE ist lang", "ok"),
    3: ("ask", "nothing special", "Straße gesperrt"),
    4: ("ΣΊΣΥΦΟΣ", "greek", "ok"),
    5: ("ask", "100% sure", "under_score"),
    6: ("ask", "plain ascii REFUND", "ok"),
    7: ("ask", "C:\\Temp\\new", "ok"),
    8: ("ask", "before\x00after REFUND-NUL", "ok"),
}
