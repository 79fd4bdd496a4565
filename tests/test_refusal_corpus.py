"""Refusal detector acceptance: recall and false-positive rate on tests/corpora/refusals.jsonl.

The corpus was written independently of the detector (see tests/corpora/README.md); the targets are
issue 12's: recall >= 0.95 and false-positive rate <= 0.02.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracedesk.analysis.refusals import is_refusal

CORPUS = Path(__file__).parent / "corpora" / "refusals.jsonl"
LANGS = {"en", "fr", "es", "de", "pt", "it", "nl", "ja", "zh", "ko"}


def load_corpus() -> list[dict]:
    rows = []
    for lineno, line in enumerate(CORPUS.read_text(encoding="utf-8").splitlines(), 1):
        row = json.loads(line)
        assert set(row) == {"text", "refusal", "kind", "lang"}, f"{CORPUS.name}:{lineno}: keys {sorted(row)}"
        assert isinstance(row["refusal"], bool), f"{CORPUS.name}:{lineno}: refusal must be true/false"
        assert row["lang"] in LANGS, f"{CORPUS.name}:{lineno}: lang {row['lang']!r} not in {sorted(LANGS)}"
        rows.append(row)
    return rows


def test_corpus_shape() -> None:
    rows = load_corpus()
    assert sum(r["refusal"] for r in rows) >= 80
    assert sum(not r["refusal"] for r in rows) >= 80
    assert len({r["text"] for r in rows}) == len(rows), "duplicate texts"
    assert {r["lang"] for r in rows if r["refusal"]} == LANGS
    assert {r["lang"] for r in rows if not r["refusal"]} == LANGS


@pytest.fixture(scope="module")
def results() -> list[tuple[dict, bool]]:
    return [(r, is_refusal(r["text"])) for r in load_corpus()]


def test_recall(results: list[tuple[dict, bool]]) -> None:
    positives = [(r, got) for r, got in results if r["refusal"]]
    misses = [r for r, got in positives if not got]
    recall = 1 - len(misses) / len(positives)
    assert recall >= 0.95, f"recall {recall:.3f} < 0.95; missed refusals:\n" + "\n".join(
        f"  [{r['lang']}/{r['kind']}] {r['text']!r}" for r in misses)


def test_false_positive_rate(results: list[tuple[dict, bool]]) -> None:
    negatives = [(r, got) for r, got in results if not r["refusal"]]
    false_pos = [r for r, got in negatives if got]
    rate = len(false_pos) / len(negatives)
    assert rate <= 0.02, f"false-positive rate {rate:.3f} > 0.02; answers taken for refusals:\n" + "\n".join(
        f"  [{r['lang']}/{r['kind']}] {r['text']!r}" for r in false_pos)
