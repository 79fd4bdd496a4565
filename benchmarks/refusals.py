"""Benchmark: the refusal detector on the labelled corpus tests/corpora/refusals.jsonl.

Prints recall and false-positive rate overall, per language and per kind, the misses (refusals not
detected, answers taken for refusals), and the detector's speed against a bare loop over the same texts.

    python benchmarks/refusals.py [--corpus tests/corpora/refusals.jsonl]
Target (issue 12): recall >= 0.95, false-positive rate <= 0.02.
"""
from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

DEFAULT = Path(__file__).resolve().parent.parent / "tests" / "corpora" / "refusals.jsonl"


def main() -> None:
    from tracedesk.analysis.refusals import is_refusal

    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, default=DEFAULT)
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    got = [is_refusal(r["text"]) for r in rows]

    def figures(idx: list[int]) -> str:
        pos = [i for i in idx if rows[i]["refusal"]]
        neg = [i for i in idx if not rows[i]["refusal"]]
        rec = f"{sum(got[i] for i in pos) / len(pos):.3f} ({sum(got[i] for i in pos)}/{len(pos)})" if pos else "-"
        fpr = f"{sum(got[i] for i in neg) / len(neg):.3f} ({sum(got[i] for i in neg)}/{len(neg)})" if neg else "-"
        return f"recall {rec:<16} false-positive rate {fpr}"

    all_idx = list(range(len(rows)))
    print(f"corpus {args.corpus.name}: {len(rows)} texts, {sum(r['refusal'] for r in rows)} refusals")
    print(f"overall  {figures(all_idx)}")
    for key in ("lang", "kind"):
        groups: dict[str, list[int]] = defaultdict(list)
        for i, r in enumerate(rows):
            groups[r[key]].append(i)
        print(f"\nper {key}:")
        for name in sorted(groups):
            print(f"  {name:<22} {figures(groups[name])}")
    print("\nmissed refusals:")
    for i, r in enumerate(rows):
        if r["refusal"] and not got[i]:
            print(f"  [{r['lang']}/{r['kind']}] {r['text']!r}")
    print("answers taken for refusals:")
    for i, r in enumerate(rows):
        if not r["refusal"] and got[i]:
            print(f"  [{r['lang']}/{r['kind']}] {r['text']!r}")

    texts = [r["text"] for r in rows] * 200
    t = time.perf_counter()
    for s in texts:
        is_refusal(s)
    det = time.perf_counter() - t
    t = time.perf_counter()
    for s in texts:
        s.lower()
    bare = time.perf_counter() - t
    print(f"\nspeed: {len(texts) / det:,.0f} texts/s; {det / bare:.1f}x a bare lower() loop over the same texts")


if __name__ == "__main__":
    main()
