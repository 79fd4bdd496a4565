"""Literals a regex cannot match without: a sound, cheap prefilter for a set of patterns.

`required_literals(rx)` returns a set of strings such that every match of `rx` (anywhere, with
`match` or `search`) contains at least one of them, or None when no such set is known (a pattern
that can match without any fixed text, or flags this reading does not model). So "none of these
literals occurs in the text" proves "rx cannot match", and one substring search over a text rules
out most texts before the full patterns run (the refusal detector reads ~300k answers per feed).

How: the pattern is read with the standard library's own regex parser (`re._parser`, the parse tree
`re.compile` itself compiles), so the analysis sees exactly the pattern Python runs. A node that can
match only finitely many strings (a literal, a class of a few literals, an alternation or a group of
such) is *exact*: its strings. Adjacent exact nodes in a sequence combine into their concatenations
(zero-width assertions between them — ^, \\b, lookarounds — match no text and keep them adjacent).
A sequence requires what its best element requires (every element's text is part of the match); an
alternation requires one of its branches' requirements; a repeat with a minimum of one requires what
its body requires; anything that can match the empty string or arbitrary text requires nothing.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

try:  # Python 3.11+
    import re._constants as _c  # type: ignore[import-not-found]
    import re._parser as _p  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _p  # type: ignore[no-redef]

#: an exact set (or a cross product of them) larger than this is no longer combined with neighbours
MAX_EXACT = 256

Strings = frozenset[str]

_ZERO_WIDTH = {_c.AT, _c.ASSERT, _c.ASSERT_NOT}
_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT, *((_c.POSSESSIVE_REPEAT,) if hasattr(_c, "POSSESSIVE_REPEAT") else ())}
#: flags under which a literal in the pattern no longer stands for itself
_UNMODELLED = re.IGNORECASE | re.VERBOSE


def required_literals(rx: re.Pattern[str] | str, flags: int = 0) -> Strings | None:
    """Strings one of which every match of `rx` contains, or None (see the module docstring)."""
    pattern, flags = (rx.pattern, rx.flags) if isinstance(rx, re.Pattern) else (rx, flags)
    if not isinstance(pattern, str) or flags & _UNMODELLED:
        return None
    tree = _p.parse(pattern, flags)
    if tree.state.flags & _UNMODELLED:  # inline (?i) / (?x) at the start
        return None
    need = _need_seq(list(tree))
    if need is None or "" in need:
        return None
    return need


def _score(s: Strings) -> tuple[int, int]:
    """Better requirement: longer shortest string first (rarer in text), then fewer strings."""
    return (min(len(x) for x in s), -len(s))


def _best(candidates: list[Strings]) -> Strings | None:
    usable = [c for c in candidates if c and "" not in c]
    return max(usable, key=_score) if usable else None


def _exact(op: Any, av: Any) -> Strings | None:
    """The finite set of strings one node matches, or None (unbounded, or too many, or unmodelled)."""
    if op is _c.LITERAL:
        return frozenset((chr(av),))
    if op is _c.IN:
        if any(o is not _c.LITERAL for o, _a in av):  # NEGATE, RANGE, CATEGORY: a class, not a few literals
            return None
        return frozenset(chr(a) for _o, a in av) if len(av) <= MAX_EXACT else None
    if op is _c.SUBPATTERN:
        _group, add_flags, del_flags, sub = av
        if (add_flags | del_flags) & _UNMODELLED:
            return None
        return _exact_seq(list(sub))
    if op is _c.BRANCH:
        out: set[str] = set()
        for branch in av[1]:
            e = _exact_seq(list(branch))
            if e is None:
                return None
            out |= e
            if len(out) > MAX_EXACT:
                return None
        return frozenset(out)
    if op in _REPEATS:
        lo, hi, sub = av
        if lo == hi and lo <= 4:
            e = _exact_seq(list(sub))
            if e is None:
                return None
            acc: Strings | None = frozenset(("",))
            for _ in range(lo):
                acc = _product(acc, e) if acc is not None else None
            return acc
        return None
    return None


def _exact_seq(items: list[tuple[Any, Any]]) -> Strings | None:
    acc: Strings | None = frozenset(("",))
    for op, av in items:
        if op in _ZERO_WIDTH:
            return None  # an assertion inside a finite set: its strings are not all matchable; keep it simple
        e = _exact(op, av)
        if e is None or acc is None:
            return None
        acc = _product(acc, e)
    return acc


def _product(a: Strings, b: Strings) -> Strings | None:
    if len(a) * len(b) > MAX_EXACT:
        return None
    return frozenset(x + y for x in a for y in b)


def _need(op: Any, av: Any) -> Strings | None:
    """What a non-exact node requires of the text it matches (None: nothing)."""
    if op is _c.SUBPATTERN:
        _group, add_flags, del_flags, sub = av
        if (add_flags | del_flags) & _UNMODELLED:
            return None
        return _need_seq(list(sub))
    if hasattr(_c, "ATOMIC_GROUP") and op is _c.ATOMIC_GROUP:
        return _need_seq(list(av))
    if op is _c.BRANCH:
        out: set[str] = set()
        for branch in av[1]:
            n = _need_seq(list(branch))
            if n is None:
                return None
            out |= n
        return frozenset(out)
    if op in _REPEATS:
        lo, _hi, sub = av
        return _need_seq(list(sub)) if lo >= 1 else None
    return None


def _need_seq(items: list[tuple[Any, Any]]) -> Strings | None:
    candidates: list[Strings] = []
    run: Strings | None = None  # the concatenation of the exact nodes since the last break
    for op, av in items:
        if op in _ZERO_WIDTH:
            continue  # matches no text: its neighbours are adjacent in the match
        e = _exact(op, av)
        if e is not None:
            joined = _product(run, e) if run is not None else e
            if joined is None:  # too many combinations: the run so far stands, a new one starts here
                if run is not None:
                    candidates.append(run)
                joined = e
            run = joined
            continue
        if run is not None:
            candidates.append(run)
            run = None
        n = _need(op, av)
        if n is not None:
            candidates.append(n)
    if run is not None:
        candidates.append(run)
    return _best(candidates)


def minimal(strings: Iterable[str]) -> list[str]:
    """The strings none of the others is part of (a text holding "can't help" holds "can't"), sorted."""
    items = sorted(set(strings))
    return [s for s in items if not any(o != s and o in s for o in items)]


def any_of(strings: Iterable[str]) -> re.Pattern[str]:
    """A pattern whose `search` finds where one of `strings` occurs (None of them: it never matches).

    Written as a trie (common prefixes shared: "can't|cannot" -> "can(?:'t|not)"): Python's regex
    engine tries a flat alternation's branches one by one at every position, ~5x slower on 200 literals."""
    words = minimal(strings)
    if not words:
        return re.compile(r"(?!)")
    root: dict[str, Any] = {}
    for w in words:
        node = root
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        if "" in node:  # a string ends here: what follows is not needed (and minimal() left nothing below)
            return ""
        alts = [re.escape(ch) + emit(node[ch]) for ch in sorted(node)]
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return re.compile(emit(root))
