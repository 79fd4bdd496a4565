"""Cheap text checks shared by evaluators, alert signals and drift (no model, no network)."""
from __future__ import annotations

import re

# Phrases that open a refusal in the major providers' house styles. Matched near the start of the
# answer only: a refusal leads with it, while an answer may quote such a phrase later on.
_REFUSAL_RE = re.compile(
    r"^\W*(?:i['’]m sorry,? but|i am sorry,? but|sorry,? (?:but )?i (?:can(?:no|')t|am unable|won['’]t)|"
    r"i (?:can(?:no|['’])t|am unable to|['’]m unable to|won['’]t|am not able to|['’]m not able to) "
    r"(?:help|assist|provide|share|comply|do that|answer|discuss|complete)|"
    r"unfortunately,? i (?:can(?:no|['’])t|am unable|['’]m unable)|"
    r"as an ai(?: language model)?,? i (?:can(?:no|['’])t|am unable|don['’]t)|"
    r"i must (?:decline|refuse)|i['’]m not (?:allowed|permitted) to)",
    re.IGNORECASE,
)


def is_refusal(text: str | None) -> bool:
    """True when an answer reads as a refusal ("I'm sorry, but I can't help with that...")."""
    if not text:
        return False
    return bool(_REFUSAL_RE.search(text[:300]))
