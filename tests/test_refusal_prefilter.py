"""The refusal detector's prefilter: literals read from its own patterns (analysis.regex_literals) rule
out an answer before the patterns run, and never change a verdict."""
from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tracedesk.analysis import refusals
from tracedesk.analysis.refusals import DEFAULT_DETECTOR, RefusalDetector
from tracedesk.analysis.regex_literals import any_of, minimal, required_literals

CORPUS = Path(__file__).parent / "corpora" / "refusals.jsonl"


def _corpus() -> list[str]:
    return [json.loads(line)["text"] for line in CORPUS.read_text(encoding="utf-8").splitlines()]


# -- required_literals: exact values --------------------------------------------------------------

def test_literals_of_a_sequence_are_its_longest_fixed_run():
    assert required_literals(r"ab(?:c|d)e") == {"abce", "abde"}
    assert required_literals(r"x*hello\s+world") == {"hello"}  # two runs as long: the first one
    assert required_literals(r"^(?:sorry|i'm sorry),? but") == {"sorry", "i'm sorry"}
    assert required_literals(r"\bcan't\b(?!wait)") == {"can't"}  # assertions match no text
    assert required_literals(r"(?:ab)+c") == {"ab"}  # a repeat of at least one: its body (longer than "c")
    assert required_literals(r"a{3}b") == {"aaab"}


def test_no_literals_when_a_pattern_can_match_without_fixed_text():
    assert required_literals(r"x?") is None
    assert required_literals(r"\d+") is None
    assert required_literals(r"abc|\w+") is None  # one branch requires nothing
    assert required_literals(r"(?i)refuse") is None  # case-insensitive: a literal is not itself
    assert required_literals(re.compile("refuse", re.IGNORECASE)) is None
    assert required_literals(r"a(?i:b)c") == {"a"}  # the case-insensitive part breaks the run


def test_any_of_finds_each_literal_and_nothing_else():
    rx = any_of(["can't", "cannot", "can't help", "no puedo", "无法"])
    assert minimal(["can't", "can't help", "cannot"]) == ["can't", "cannot"]
    assert rx.pattern == "(?:can(?:'t|not)|no\\ puedo|无法)"
    assert rx.search("well, i cannot do it") and rx.search("我无法帮助") and rx.search("no puedo")
    assert not rx.search("i can do that") and not rx.search("no, puede")
    assert not any_of([]).search("anything")


_ATOMS = ["a", "b", "c", " ", "ab", "ba", "[ab]", "[^a]", ".", r"\s", r"\w", r"\b", "^", "$", "(?=a)", "(?!b)",
          "(?<=a)", "(?<!c)"]


def _patterns() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        group = inner.map(lambda p: f"(?:{p})")
        alternation = st.lists(inner, min_size=2, max_size=3).map(lambda ps: "(?:" + "|".join(ps) + ")")
        quantified = st.tuples(st.one_of(group, alternation), st.sampled_from(["?", "*", "+", "{2}", "{1,3}", "+?", "{0,2}"])
                               ).map("".join)
        sequence = st.lists(st.one_of(inner, group, alternation, quantified), min_size=1, max_size=4).map("".join)
        return st.one_of(sequence, alternation, quantified)

    return st.recursive(st.sampled_from(_ATOMS), extend, max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(_patterns(), st.lists(st.text(alphabet="abc \n", max_size=12), min_size=1, max_size=6))
def test_every_match_contains_a_required_literal(pattern, texts):
    rx = re.compile(pattern)
    need = required_literals(rx)
    if need is None:
        return
    assert "" not in need
    for text in texts:
        for pos in range(len(text) + 1):
            m = rx.match(text, pos)
            if m:
                assert any(lit in m.group() for lit in need), (pattern, text, pos, sorted(need))


# -- the refusal detector with and without its prefilter ---------------------------------------------

def test_every_pattern_of_the_detector_has_literals():
    assert refusals._LITERALS is not None  # a pattern without any would switch the prefilter off
    assert DEFAULT_DETECTOR._may_decline is not None
    assert {"can't", "cannot", "decline", "no puedo", "无法", "as an ai"} <= refusals._LITERALS


def test_ordinary_answers_are_ruled_out_and_declines_are_not():
    may = DEFAULT_DETECTOR._may_decline
    assert may is not None
    assert may.search(refusals.normalise("Sure, the invoice is attached.")) is None
    assert may.search(refusals.normalise("Your order #4411 ships on Monday.")) is None
    assert may.search(refusals.normalise("I can\u2019t help with that.")) is not None  # after the typography
    assert DEFAULT_DETECTOR.is_refusal("I can\u2019t help with that.") is True


def test_corpus_verdicts_are_unchanged_by_the_prefilter():
    texts = _corpus()
    detectors = [DEFAULT_DETECTOR, RefusalDetector(extra=("nope, not today",), ignore=("i can't wait",))]
    for d in detectors:
        for text in texts:
            assert d._decide(text, prefilter=True) == d._decide(text, prefilter=False), text
    # and on the corpus the prefilter skips the patterns for most answers that are no refusal
    negatives = [json.loads(line)["text"] for line in CORPUS.read_text(encoding="utf-8").splitlines()
                 if not json.loads(line)["refusal"]]
    skipped = [t for t in negatives if DEFAULT_DETECTOR._may_decline.search(  # type: ignore[union-attr]
        refusals._strip_lead(refusals.normalise(t))[:refusals.OPENING_CHARS]) is None]
    assert len(skipped) > len(negatives) // 3


def test_an_extra_phrase_counts_although_no_pattern_literal_is_in_it():
    d = RefusalDetector(extra=("Nope, not today",))
    assert d.is_refusal("Nope, not today. Ask someone else.") is True
    assert d.is_refusal("Well. Nope, not today.") is True  # the second sentence starts with it
    assert DEFAULT_DETECTOR.is_refusal("Nope, not today. Ask someone else.") is False


_FRAGMENTS = ["I can't help with that", "I'm sorry, but", "I cannot", "Lo siento, pero no puedo ayudar",
              "As an AI,", "that's not something I can help with", "I must decline", "unfortunately",
              "Sure, here's how", "you can reset it", "I can't wait", "申し訳ありませんが、お手伝いできません",
              "抱歉，我无法帮助", "Es tut mir leid, aber ich kann das nicht", "\u201cI can\u2019t\u201d",
              "I\u2019m unable to", "won't", "> quoted", "**", "- ", "1. ", "🙂 ", "ｃａｎ’ｔ", "ﬁne", "\u00a0",
              ". ", "! ", "? ", "\n\n", ", but here's what you can do instead: " + "x" * 170, "help", "with that"]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=8)), max_size=8).map("".join))
def test_prefilter_never_changes_a_verdict(text):
    for d in (DEFAULT_DETECTOR, RefusalDetector(extra=("nope nope",), ignore=("i'm sorry, but",))):
        assert d._decide(text, prefilter=True) == d._decide(text, prefilter=False)
