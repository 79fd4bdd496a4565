"""Refusal detection: does an answer decline the task?

Written from how models actually refuse, not from one data set. A refusal *leads* with the decline:
"I'm sorry, but I can't help with that.", "I can't assist with that request.", "I apologize, but I
cannot…", "That's not something I can help with.", "As an AI, I cannot…", "I must decline…", and the
same in other languages ("Lo siento, pero no puedo ayudar con eso."). So the detector reads only the
opening of the answer (its first two sentences), after normalising typography (curly quotes, NFKC,
case), and asks whether one of them is a decline:

- a capability/willingness negation ("can't", "cannot", "won't", "am unable to", "am not able to",
  "must decline", "am not comfortable") whose object is the task ("help", "assist", "provide",
  "comply", "fulfil", "generate", "write", "share", "answer", "do that", …), optionally after an
  apology or "unfortunately";
- or a fixed decline formula ("that's not something I can…", "I'm just a language model").
- or the same negation + task as the second clause of a short first clause ("I'm sorry you're going
  through this, but I can't provide…", "…is prohibited and I won't do it", "…, so I'll have to decline").

What keeps ordinary text out:
- only the opening counts, so an answer that *quotes* a refusal later ("the bot replied 'I can't help
  with that'") is not one, and a quoted opening (a leading quote mark or blockquote) is not either;
- an apology alone is not a refusal ("Sorry for the confusion — here is the fixed query");
- idioms are not declines ("I can't wait", "I can't help but notice", "I can't stress enough");
- "we cannot" in a policy quote is the company's rule, not the model declining; only first person
  singular counts (and the other languages' equivalents);
- a decline of one thing followed by the help itself ("I can't access your account, but here's how to
  reset it: …") is an answer, not a refusal, once the help is substantial (PIVOT_MIN_CHARS).

Users extend or override it with phrases stored in the database settings (`refusal_phrases`: `extra`
openings that count as refusals, `ignore` openings that never do), and may take refusals from an
evaluator instead of text (see `tracedesk.signals`).
"""
from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .regex_literals import any_of, required_literals

#: settings key of the user-editable phrase lists
SETTING_KEY = "refusal_phrases"
#: how much of the answer is read: a refusal says so at once
OPENING_CHARS = 400
#: after "…, but here's …", this much more text makes it an answer that helps, not a refusal
PIVOT_MIN_CHARS = 160

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'", "`": "'",
                              "\u201c": '"', "\u201d": '"', "\u00ab": '"', "\u00bb": '"'})

_NEG = (r"(?:can't|cannot|can not|won't|will not|am unable to|'m unable to|am not able to|'m not able to|"
        r"am not going to|'m not going to|must decline to|have to decline to|need to decline to|"
        r"must refuse to|refuse to|am not allowed to|'m not allowed to|am not permitted to|'m not permitted to|"
        r"am not comfortable|'m not comfortable|don't feel comfortable|do not feel comfortable|"
        r"won't be able to|will not be able to|am not in a position to|'m not in a position to|"
        r"shouldn't|should not|don't think i can|do not think i can|don't think i should|"
        r"can't really|cannot really|'d rather not|would rather not|"
        r"am afraid i can't|'m afraid i can't|am afraid i cannot|'m afraid i cannot)")
# the task being declined; "help" but not the idiom "can't help but / can't help thinking"
_TASK = (r"(?:help(?! but\b| (?:thinking|feeling|wondering|noticing|laughing|smiling)\b)|assist|provide|comply|"
         r"fulfil|fulfill|support|engage|do (?:that|this|so|it)\b|create|generate|write|produce|draft|"
         r"answer|respond|discuss|share|give|offer|continue|participate|complete|process|"
         r"go along|go ahead|proceed|make|build|design|recommend|advise|"
         r"talk about|get involved|accommodate|carry out|perform|facilitate|"
         r"be of (?:help|assistance)|in good conscience|"
         # gerunds: "I'm not comfortable writing that", "I don't feel comfortable providing…"
         r"(?:provid|writ|creat|generat|produc|shar|giv|answer|discuss|respond|mak|draft|engag|continu|"
         r"offer|complet|process)ing\b)")
# "I'm not comfortable with that" / "I can't with this": only right after the negation, so a data limitation
# ("I cannot find any order with that number") is not taken for a decline
_WITH_THAT = r"\s*with (?:that|this|your)\b"

# "can't" that is not a decline: "I can't wait", "I can't stress enough", "I can't help but…"
_IDIOMS = (r"\s*(?:wait|stress|believe|thank|imagine|emphasi[sz]e|overstate|get enough|say enough|"
           r"help but|help (?:thinking|feeling|wondering|noticing)|recommend [^.!?]{0,40}enough|"
           r"tell you how|express how)")

_OPENERS = (r"(?:(?:i'm|i am) (?:so |really |very |truly |terribly )?sorry|i apologi[sz]e|my apologies|apologies|"
            r"sorry|unfortunately|regrettably|hmm+|well|oh|ah|alas|okay|ok|i'm afraid|i am afraid|i understand[^.!?]{0,80}|"
            r"thanks? (?:you )?for [^.!?]{0,80}|i appreciate [^.!?]{0,80})")

# "i" then a space or the apostrophe of "i'm"/"i'd"
_I = r"i(?:\s+|(?='))"

_ENGLISH = re.compile(
    (r"^(?:OPENERS\s*[,;:.!\u2014\u2013-]?\s*)?(?:(?:but|however|though|that said),?\s*)?"
     r"(?:I NEG\b(?!IDIOM)(?:WITHTHAT|[^.!?]{0,60}?\bTASK)"
     r"|(?:that|this|it)(?:'s| is| isn't) (?:not something|something) (?:that )?I (?:can(?:'t)?|am (?:not )?able to|'m (?:not )?able to|won't|will not)\b[^.!?]{0,20}?\b(?:help|assist|do|provide|support|engage)"
     r"|(?:that|this)(?:'s| is) (?:not )?(?:a request|something) I (?:can't|cannot|won't|will not|must decline)"
     r"|(?:that|this|it)(?:'s| is) (?:outside|beyond) (?:what I can|the scope of what I can|my scope|the scope of (?:this|my))"
     r"|i(?:'ll| will)? (?:must|have to|need to) (?:respectfully |politely )?decline"
     r"|I (?:must|have to|need to) refuse"
     r"|as an ai(?: language model| assistant| model)?(?: [^,.!?]{0,40})?,? I (?:can't|cannot|can not|am unable|'m unable|won't|am not able|'m not able|must decline|have to decline|must refuse)"
     r"|as an ai(?: language model| assistant| model)?(?: [^,.!?]{0,40})?,? I (?:don't|do not) (?:provide|give|offer|generate|create|engage|support|share|help|assist|produce)"
     r"|I'm (?:just |only )?(?:a |an )?(?:text-based |large )?(?:ai|language model|llm)(?: model)?,? (?:and|so) (?:i )?(?:can't|cannot|don't|am unable|'m unable|am not able|'m not able)"
     r"|(?:i'm |i am )?unable to (?:help|assist|comply|fulfil|fulfill|provide|process) (?:with )?(?:that|this|your|the request)"
     r"|no,? I (?:can't|cannot|won't|will not) (?:do|help|provide|write|create|generate)"
     r"|(?:sorry|i'm sorry|i am sorry|i'm afraid|i am afraid|unfortunately),? (?:but )?(?:no|not possible|that's not possible)\s*[.!]?$"
     r")").replace("OPENERS", _OPENERS).replace("IDIOM", _IDIOMS).replace("NEG", _NEG).replace("TASK", _TASK).replace("WITHTHAT", _WITH_THAT).replace("I ", _I)
     .replace("I'm", "i'm")
)

# The decline as the second clause of the first sentence: "I'm sorry you're going through this, but I can't
# provide…", "…is prohibited and I won't do it.", "I'm going to pass on this one — I can't…", "I'm only able
# to help with X, so I can't help with Y". Only a short lead-in with no quote mark (a quoted refusal is someone
# else's words), and the same negation + task as above.
_CLAUSE_DECLINE = re.compile(
    (r"^[^.!?\"]{0,100}?(?:,?\s+(?:but|so|and)|\s*[;\u2014\u2013]|\s-)\s+"
     r"I NEG\b(?!IDIOM)(?:WITHTHAT|[^.!?]{0,60}?\bTASK)"
     r"|^[^.!?\"]{0,100}?(?:,?\s+(?:so|and))\s+I(?:'ll| will)? (?:must|have to|need to) (?:respectfully |politely )?decline")
    .replace("IDIOM", _IDIOMS).replace("NEG", _NEG).replace("TASK", _TASK).replace("WITHTHAT", _WITH_THAT)
    .replace("I ", _I).replace("I(?:", "i(?:")
)

# Other languages: an apology or "unfortunately" followed by "I cannot/won't", or a direct decline.
_OTHER_LANGUAGES = [
    # French
    re.compile(r"^(?:(?:je suis |je suis vraiment )?d[ée]sol[ée]e?s?|je regrette|malheureusement|excusez-moi|pardon)?[,.!]?\s*"
               r"(?:mais\s*)?,?\s*je (?:ne peux pas(?! (?:attendre|m'emp[êe]cher|croire))|ne suis pas en mesure de|ne peux malheureusement pas|"
               r"ne vais pas|dois refuser|refuse de|ne saurais)"),
    # Spanish
    re.compile(r"^(?:lo siento(?: mucho)?|disculpa|disculpe|lamentablemente|desafortunadamente|perd[óo]n)?[,.!]?\s*"
               r"(?:pero\s*)?,?\s*(?:yo )?(?:no puedo(?! (?:esperar|creer|dejar de|evitar))|no me es posible|no estoy en condiciones de|no voy a|"
               r"debo rechazar|tengo que rechazar|me niego a)"),
    # Portuguese
    re.compile(r"^(?:desculpe|desculpa|sinto muito|lamento|infelizmente)?[,.!]?\s*(?:mas\s*)?,?\s*"
               r"(?:eu )?(?:n[ãa]o posso(?! (?:esperar|acreditar|deixar de))|n[ãa]o consigo ajudar|n[ãa]o sou capaz de|n[ãa]o vou|preciso recusar|devo recusar)"),
    # Italian
    re.compile(r"^(?:mi dispiace(?: molto)?|spiacente|purtroppo|scusa|scusami|mi scuso)?[,.!]?\s*(?:ma\s*)?,?\s*"
               r"(?:io )?(?:non posso(?! (?:aspettare|credere|fare a meno))|non sono in grado di|non riesco ad aiutar|devo rifiutare|non mi [èe] possibile)"),
    # German
    re.compile(r"^(?:es tut mir (?:sehr )?leid|entschuldigung|leider|tut mir leid)?[,.!]?\s*(?:aber\s*)?,?\s*"
               r"(?:ich kann (?:[^.!?]{0,60}?)\bnicht\b|ich darf (?:[^.!?]{0,60}?)\bnicht\b|"
               r"ich bin nicht in der lage|ich werde (?:[^.!?]{0,40}?)\bnicht\b|dabei kann ich (?:dir |ihnen )?nicht|"
               r"(?:das|da(?:bei|mit|zu)|hierbei) kann ich (?:dir |ihnen |euch )?(?:leider )?nicht|ich muss (?:das )?ablehnen)"),
    # Dutch
    re.compile(r"^(?:het spijt me|sorry|helaas|excuses)?[,.!]?\s*(?:maar\s*)?,?\s*"
               r"(?:ik kan (?:[^.!?]{0,60}?)\bniet\b|ik ben niet in staat|ik mag (?:[^.!?]{0,40}?)\bniet\b|daar kan ik (?:je |u )?niet)"),
    # Japanese: "I cannot help/answer", often after 申し訳ありませんが (sorry, but)
    re.compile(r"^(?:申し訳(?:ありません|ございません)(?:が|。)?|すみませんが|残念ながら)?[、,]?\s*"
               r"(?:[^。！？]{0,40}?)(?:お手伝いできません|お答えできません|対応できません|お応えできません|提供できません|"
               r"お手伝いすることはできません|お答えすることはできません|できかねます|お断りします|"
               r"(?:お手伝い|お答え|対応|ご提供)(?:すること)?(?:は|が)難しい)"),
    # Chinese (simplified and traditional)
    re.compile(r"^(?:抱歉|对不起|對不起|很抱歉|非常抱歉|不好意思)?[，,。!！]?\s*(?:但是?)?[，,]?\s*"
               r"(?:我)?(?:无法|無法|不能|不可以|没办法|沒辦法)(?:[^。！？]{0,20}?)(?:帮助|幫助|协助|協助|提供|回答|满足|滿足|完成|处理|處理|帮|幫)"),
    # Korean
    re.compile(r"^(?:죄송합니다|죄송하지만|미안하지만|유감스럽게도)?[,.]?\s*(?:[^.!?]{0,40}?)"
               r"(?:도와드릴 수 없습니다|도와 드릴 수 없습니다|(?:도와드리기|답변(?:드리기|하기)|제공(?:해 드리기|하기)|안내(?:해 드리기|하기)) 어렵습니다|답변(?:해)? 드릴 수 없습니다|제공할 수 없습니다|할 수 없습니다)"),
]

_PATTERNS = (_ENGLISH, _CLAUSE_DECLINE, *_OTHER_LANGUAGES)

# Every match of every pattern above contains one of these literals (read from the patterns themselves:
# analysis.regex_literals), so an opening holding none of them is no refusal without running the ~11
# patterns on each of its sentences: most answers are ruled out by one search (20 -> ~6 us per answer).
# None (no prefilter) if some pattern could match without a fixed text.
def _pattern_literals() -> frozenset[str] | None:
    found: set[str] = set()
    for rx in _PATTERNS:
        need = required_literals(rx)
        if need is None:
            return None
        found |= need
    return frozenset(found)


_LITERALS = _pattern_literals()

# A decline of one thing followed by the help itself: "…, but here's how …", "However, you can …".
_PIVOT = re.compile(r"\b(?:but|however|that said|instead)\b,?\s*(?:here(?:'s| is| are)|you can|you could|i can|"
                    r"i'd be happy|i would be happy|i'll|let me|try|consider|the (?:best|easiest)|one option)")

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])|\n{2,}")
_LEADING_MARKUP = re.compile(r"^[\s*_#~\-]+")


_SPACES = re.compile(r"[ \t\r\f\v]+")


def normalise(text: str) -> str:
    """Typography-insensitive lower-case text: NFKC, straight quotes, single spaces."""
    # ASCII text is NFKC already and holds no curly quote: only a backtick to straighten (each step
    # skipped is a pass over the text, ~1 us of the ~7 us an answer costs)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES)
    elif "`" in text:
        text = text.translate(_APOSTROPHES)
    return _SPACES.sub(" ", text.lower()).strip()


_LEAD_TAGS = re.compile(r"^(?:<[a-z][^>]{0,40}>\s*)+")


def _strip_lead(text: str) -> str:
    """Drop what may precede the words of an answer: markup, list markers, emoji and symbols, opening
    punctuation (but not quote marks or '>': those say the words are someone else's)."""
    text = _LEAD_TAGS.sub("", text)
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "\"'>":
            break
        cat = unicodedata.category(ch)
        if ch.isspace() or cat[0] in "SPC" or (cat == "Nd" and i + 1 < len(text) and text[i + 1] in ".)"):
            i += 1
            continue
        break
    return text[i:]


def _sentences(opening: str) -> list[str]:
    parts = [p.strip() for p in _SENTENCE_END.split(opening) if p and p.strip()]
    return [_LEADING_MARKUP.sub("", p) for p in parts[:2]]


@dataclass(frozen=True)
class RefusalDetector:
    """Decides whether an answer is a refusal. `extra` openings always count; `ignore` ones never do."""

    extra: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    _extra_norm: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _ignore_norm: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _may_decline: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_extra_norm", tuple(normalise(p) for p in self.extra if p.strip()))
        object.__setattr__(self, "_ignore_norm", tuple(normalise(p) for p in self.ignore if p.strip()))
        # an `extra` phrase counts where a sentence starts with it: it is one more literal a refusal holds
        object.__setattr__(self, "_may_decline",
                           None if _LITERALS is None else _any_of(_LITERALS | frozenset(self._extra_norm)))

    def is_refusal(self, text: str | None) -> bool:
        return self._decide(text, prefilter=True)

    def _decide(self, text: str | None, prefilter: bool) -> bool:
        """prefilter=False: every pattern runs on every sentence (what the prefilter must agree with)."""
        if not text or not isinstance(text, str):
            return False
        full = _strip_lead(normalise(text))
        if not full or full[0] in "\"'>":
            return False  # a quoted or block-quoted opening is someone else's words
        opening = full[:OPENING_CHARS]
        if prefilter and self._may_decline is not None and self._may_decline.search(opening) is None:
            return False  # no pattern can match a sentence of it, and no extra phrase starts one
        if any(opening.startswith(p) for p in self._ignore_norm):
            return False
        if any(opening.startswith(p) for p in self._extra_norm):
            return True
        sentences = _sentences(opening)
        for i, sentence in enumerate(sentences):
            if any(sentence.startswith(p) for p in self._extra_norm):
                return True
            declined = next((m for m in (rx.match(sentence) for rx in _PATTERNS) if m), None)
            if declined is None:
                continue
            rest = full[full.find(sentence) + declined.end():]
            pivot = _PIVOT.search(rest[:200])
            if pivot and len(rest) - pivot.end() >= PIVOT_MIN_CHARS:
                return False  # it declined one thing and then helped
            return True
        return False


@functools.lru_cache(maxsize=16)
def _any_of(literals: frozenset[str]) -> re.Pattern[str]:
    return any_of(literals)


DEFAULT_DETECTOR = RefusalDetector()


def is_refusal(text: str | None) -> bool:
    """True when an answer reads as a refusal, with the built-in rules only."""
    return DEFAULT_DETECTOR.is_refusal(text)


def detector_from_setting(value: Any) -> RefusalDetector:
    """A detector from the stored setting `{"extra": [...], "ignore": [...]}` (missing keys: none)."""
    if not value:
        return DEFAULT_DETECTOR
    if not isinstance(value, dict) or set(value) - {"extra", "ignore"}:
        raise ValueError(f"{SETTING_KEY} must be an object with lists 'extra' and/or 'ignore', got {value!r}")
    lists = {}
    for key in ("extra", "ignore"):
        items = value.get(key) or []
        if not isinstance(items, list) or not all(isinstance(p, str) for p in items):
            raise ValueError(f"{SETTING_KEY}.{key} must be a list of phrases (strings)")
        lists[key] = tuple(items)
    return RefusalDetector(extra=lists["extra"], ignore=lists["ignore"])


def validate_phrases(phrases: Iterable[str]) -> list[str]:
    out = [p.strip() for p in phrases if p and p.strip()]
    too_short = [p for p in out if len(normalise(p)) < 4]
    if too_short:
        raise ValueError(f"refusal phrases must have at least 4 characters: {too_short}")
    return out
