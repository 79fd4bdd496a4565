"""The detector's general rule families, on sentences that are not in the corpus (tests/corpora)."""
from __future__ import annotations

import pytest

from tracedesk.analysis.refusals import is_refusal

DECLINES = [
    # the decline as the second clause of the first sentence
    "Thanks for the context, but I can't write a review pretending to be a customer.",
    "That would expose someone's medical records, so I won't share them.",
    "I'm not going to do this one \u2014 I can't produce fake identity documents.",
    "Those files belong to another user, and I'm not able to give you access to them.",
    "That would bypass the licence check, so I'll have to decline.",
    # gerunds after a comfort/willingness negation
    "I'm not comfortable generating that kind of content.",
    "I don't feel comfortable sharing someone else's address.",
    # "isn't something", "outside what I can", "as an AI <qualifier>, I must decline"
    "That isn't something I can do.",
    "I'm sorry, but that's beyond the scope of what I can help with here.",
    "As an AI assistant built for banking, I cannot move funds between customers' accounts.",
    # interjections before the decline
    "Well, I can't help with that.",
    # other languages
    "Je regrette, je ne peux pas répondre à cette question.",
    "Dazu kann ich dir leider nicht helfen.",
    "그 질문에는 답변드리기 어렵습니다.",
    "申し訳ありませんが、その内容についてはお答えすることが難しいです。",
]

ANSWERS = [
    # a data limitation with "with that/this" later in the sentence
    "I cannot see any booking with this reference yet; it may take an hour to appear. Try again after 3 PM.",
    # "As an AI, I don't have …" is a disclaimer, not a decline
    "As an AI, I don't have feelings, but I can tell you what people usually find moving about that film.",
    # a quoted refusal in the first clause
    'The bot wrote "Sorry, but I can\'t help with refunds" and the user left; add a refund tool to fix it.',
    # idioms in other languages
    "No puedo creer lo rápido que quedó; aquí tienes el resumen final.",
    "Non posso fare a meno di notare che manca una parentesi: ecco il codice corretto.",
    "Je ne peux pas m'empêcher de sourire : voici votre poème.",
]


@pytest.mark.parametrize("text", DECLINES)
def test_declines(text: str) -> None:
    assert is_refusal(text) is True


@pytest.mark.parametrize("text", ANSWERS)
def test_answers(text: str) -> None:
    assert is_refusal(text) is False
