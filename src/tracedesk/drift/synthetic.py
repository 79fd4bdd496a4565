"""Synthetic RAG traffic with known shifts: for drift tests, the benchmark and demos.

Each trace is AGENT (root) -> RETRIEVER + LLM, with a groundedness evaluation on the LLM span.
From `shift_at_ns` on, traces in `shift_cohort` change in the ways named by `shifts`:
  "input"      prompts about another topic, and longer
  "output"     answers twice as long, more often cut off (finish_reason "length")
  "refusal"    refusal rate 2% -> 40%
  "evaluator"  groundedness mean 0.85 -> 0.65
  "retrieval"  documents from a rebuilt index (new ids), lower scores, slower retriever
`slide` lowers the groundedness mean of `shift_cohort` linearly over the whole period (a slow drift
with no step: 0.08 = from 0.85 at the start to 0.77 at the end).
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..models import Evaluation, Span

if TYPE_CHECKING:
    import sqlite_utils

SHIFTS = ("input", "output", "refusal", "evaluator", "retrieval")
_TOPIC_A = ("invoice payment refund charge billing account card subscription plan renewal receipt "
            "balance overdue credit statement").split()
_TOPIC_B = ("kubernetes cluster deploy container pod node scaling ingress helm latency outage "
            "rollback registry image").split()
_FILLER = "please can you help me with my the a of to and on for about this question".split()


def synthetic_traffic(
    n_traces: int,
    start_ns: int,
    end_ns: int,
    *,
    cohorts: Sequence[str] = ("billing", "search"),
    shift_at_ns: int | None = None,
    shift_cohort: str | None = None,
    shifts: Sequence[str] = (),
    seed: int = 0,
    docs_per_retrieval: int = 5,
    slide: float = 0.0,
) -> Iterator[tuple[list[Span], list[Evaluation]]]:
    """Yield (spans, evaluations) in batches of up to 2,000 traces, in time order."""
    bad = set(shifts) - set(SHIFTS)
    if bad:
        raise ValueError(f"unknown shift(s) {sorted(bad)}; choose from {SHIFTS}")
    rng = np.random.default_rng(seed)
    times = np.sort(rng.integers(start_ns, end_ns, size=n_traces))
    batch_spans: list[Span] = []
    batch_evals: list[Evaluation] = []
    for i, t0 in enumerate(times.tolist()):
        cohort = cohorts[i % len(cohorts)]
        shifted = shift_at_ns is not None and t0 >= shift_at_ns and (shift_cohort in (None, cohort))
        on = set(shifts) if shifted else set()
        trace_id = f"{seed:04x}{i:028x}"
        root, ret, llm = (f"{i:012x}{k:04x}" for k in (1, 2, 3))
        # retrieval
        pool_offset = 10_000 if "retrieval" in on else 0
        popularity = rng.zipf(1.6, size=docs_per_retrieval) % 200
        doc_ids = [f"{cohort}-doc-{pool_offset + int(p)}" for p in popularity]
        score_mean = 0.62 if "retrieval" in on else 0.8
        documents = [{"id": d, "score": float(np.clip(rng.normal(score_mean, 0.05), 0, 1))} for d in doc_ids]
        ret_ms = float(rng.lognormal(np.log(250 if "retrieval" in on else 120), 0.3))
        # prompt
        topic = _TOPIC_B if "input" in on else _TOPIC_A
        n_words = int(rng.integers(12, 30)) * (2 if "input" in on else 1)
        words = [topic[j % len(topic)] if rng.random() < 0.5 else _FILLER[j % len(_FILLER)]
                 for j in rng.integers(0, 100, size=n_words)]
        prompt = " ".join(words)
        # answer
        refusal_p = 0.4 if "refusal" in on else 0.02
        refused = rng.random() < refusal_p
        out_words = int(rng.integers(20, 60)) * (2 if "output" in on else 1)
        answer = ("I'm sorry, but I can't help with that request." if refused
                  else " ".join(_FILLER[j % len(_FILLER)] for j in rng.integers(0, 100, size=out_words)))
        length_p = 0.3 if "output" in on else 0.05
        finish = "length" if rng.random() < length_p else "stop"
        llm_ms = float(rng.lognormal(np.log(900), 0.3))
        ns = lambda ms: int(ms * 1_000_000)  # noqa: E731
        total_ms = ret_ms + llm_ms + 5
        common: dict[str, Any] = dict(trace_id=trace_id, route=cohort, service="rag-app")
        batch_spans += [
            Span(span_id=root, name="agent.run", kind="AGENT", status="OK", start_ns=t0, end_ns=t0 + ns(total_ms),
                 duration_ms=total_ms, agent_name="rag", **common),
            Span(span_id=ret, parent_span_id=root, name="retrieve", kind="RETRIEVER", status="OK", start_ns=t0 + ns(1),
                 end_ns=t0 + ns(1 + ret_ms), duration_ms=ret_ms, documents=documents, input_text=prompt, **common),
            Span(span_id=llm, parent_span_id=root, name="chat", kind="LLM", status="OK",
                 start_ns=t0 + ns(2 + ret_ms), end_ns=t0 + ns(2 + ret_ms + llm_ms), duration_ms=llm_ms,
                 model="gpt-4o-mini", provider="openai", input_text=prompt, output_text=answer,
                 input_tokens=len(words) + 40, output_tokens=len(answer.split()), finish_reason=finish, **common),
        ]
        g_mean = 0.65 if "evaluator" in on else 0.85
        if slide and cohort == shift_cohort:
            g_mean -= slide * (t0 - start_ns) / (end_ns - start_ns)
        score = float(np.clip(rng.normal(g_mean, 0.1), 0, 1))
        batch_evals.append(Evaluation(trace_id=trace_id, span_id=llm, name="groundedness", score=score,
                                      passed=score >= 0.7, source="heuristic", created_ns=t0))
        if len(batch_evals) >= 2000:
            yield batch_spans, batch_evals
            batch_spans, batch_evals = [], []
    if batch_evals:
        yield batch_spans, batch_evals


def write_synthetic(db: str | os.PathLike[str] | sqlite_utils.Database, n_traces: int, start_ns: int, end_ns: int,
                    **kwargs: Any) -> int:
    """Write synthetic traffic into `db` (path or Database); returns the number of spans written."""
    from .. import store

    database = store.connect(db)
    total = 0
    for spans, evals in synthetic_traffic(n_traces, start_ns, end_ns, **kwargs):
        store.write_batch(database, spans, evals)
        total += len(spans)
    return total
