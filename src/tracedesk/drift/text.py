"""Model-free text representations for input drift: hashed bag-of-words and a rough language guess."""
from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

N_BUCKETS = 256
_WORD_RE = re.compile(r"[^\W\d_]{2,}", re.UNICODE)

# Scripts first (unambiguous), then stopwords for the Latin-script languages.
_SCRIPTS = (
    ("cjk", re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")),
    ("cyrillic", re.compile(r"[\u0400-\u04ff]")),
    ("arabic", re.compile(r"[\u0600-\u06ff]")),
    ("devanagari", re.compile(r"[\u0900-\u097f]")),
    ("greek", re.compile(r"[\u0370-\u03ff]")),
    ("hebrew", re.compile(r"[\u0590-\u05ff]")),
)
_STOPWORDS = {
    "en": "the and is are to of in that it you for with this what how can my please".split(),
    "es": "el la los las que de y en es por para una un cómo qué mi con".split(),
    "fr": "le la les des est et que une un pour dans vous je mon avec comment".split(),
    "de": "der die das und ist nicht ich sie mit ein eine wie mein für auf".split(),
    "pt": "o os as que de e em é um uma para com não meu como você".split(),
    "it": "il lo gli che di e è un una per con non mio come sono".split(),
    "nl": "de het een en is van ik niet met voor mijn hoe wat dat".split(),
}
_STOP_INDEX: dict[str, list[str]] = {}
for _lang, _words in _STOPWORDS.items():
    for _w in _words:
        _STOP_INDEX.setdefault(_w, []).append(_lang)
LANGUAGES = tuple(name for name, _ in _SCRIPTS) + tuple(_STOPWORDS) + ("other",)

_bucket_cache: dict[str, int] = {}


def _bucket(token: str) -> int:
    # crc32, not hash(): Python salts str hashes per process, and reports must be reproducible.
    b = _bucket_cache.get(token)
    if b is None:
        b = zlib.crc32(token.encode("utf-8")) % N_BUCKETS
        if len(_bucket_cache) < 500_000:
            _bucket_cache[token] = b
    return b


def hashed_bow(texts: Sequence[str]) -> np.ndarray:
    """(len(texts), N_BUCKETS) matrix; each row is the text's word distribution (sums to 1, or 0 if empty)."""
    cells: list[int] = []
    for i, text in enumerate(texts):
        offset = i * N_BUCKETS
        cells.extend(offset + _bucket(w) for w in _WORD_RE.findall(text.lower()))
    counts = np.bincount(np.asarray(cells, dtype=np.int64), minlength=len(texts) * N_BUCKETS)
    matrix = counts.reshape(len(texts), N_BUCKETS).astype(float)
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)


def language(text: str) -> str:
    """A rough language (or script) label: enough to see a mix change, not to classify one text well."""
    head = text[:300]
    if not head.isascii():  # the script checks only matter for non-ASCII text
        for name, pattern in _SCRIPTS:
            if len(pattern.findall(head)) >= 3:
                return name
    votes: dict[str, int] = {}
    for word in _WORD_RE.findall(head.lower()):
        for lang in _STOP_INDEX.get(word, ()):
            votes[lang] = votes.get(lang, 0) + 1
    if not votes:
        return "other"
    best = max(votes.items(), key=lambda kv: (kv[1], kv[0] == "en"))
    return best[0] if best[1] >= 2 else "other"
