"""`drift_report`: compare a current window with a reference window, per cohort, for four families."""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import sqlite_utils

from .. import store
from ..store import drift as store_drift
from ..store.connect import with_database
from . import compute, load, stats
from .result import FAMILIES, DriftConfig, DriftReport, DriftResult
from .text import hashed_bow, language
from .windows import DriftError, Window, resolve_windows

_BUCKETS_S = (300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)


def _bucket_ns(reference: Window, current: Window, target: int = 60) -> int:
    span = max(current.end_ns, reference.end_ns) - min(current.start_ns, reference.start_ns)
    for seconds in _BUCKETS_S:
        if span / (seconds * 1_000_000_000) <= target:
            return seconds * 1_000_000_000
    return _BUCKETS_S[-1] * 1_000_000_000


@with_database  # a path is opened for the call and closed after it
def drift_report(
    db: "str | os.PathLike[str] | sqlite_utils.Database",
    since: object = None,
    until: object = None,
    *,
    reference_since: object = None,
    reference_until: object = None,
    dimension: str | None = None,
    families: Iterable[str] | None = None,
    config: DriftConfig | None = None,
    **overrides: Any,  # DriftConfig fields; names are checked below
) -> DriftReport:
    """Drift of every signal in every cohort of `dimension` between a reference and a current window.

    Times accept ISO-8601, Unix s/ns, datetimes, or durations ('24h', '7d') counted back from the newest
    span. Without `since` the current window is the last 24 h of data; without a reference window the
    baseline is the period right before the current one (six times as long, clipped to the data).
    `dimension` is a cohort dimension (route, tenant, prompt_version, environment, model, service,
    agent_name, or any mapped dims key); None compares all traffic as one cohort, "all".
    Keyword `overrides` set `DriftConfig` fields (min_samples=..., alpha=...).
    """
    cfg = config or DriftConfig()
    if overrides:
        unknown = sorted(set(overrides) - set(vars(cfg)))
        if unknown:
            raise DriftError(f"Unknown drift option(s) {', '.join(unknown)}; valid: {', '.join(sorted(vars(cfg)))}.")
        cfg = replace(cfg, **overrides)
    chosen = tuple(families) if families else FAMILIES
    bad = [f for f in chosen if f not in FAMILIES]
    if bad:
        raise DriftError(f"Unknown drift family {', '.join(bad)}; choose from {', '.join(FAMILIES)}.")
    if cfg.min_samples < 2:
        raise DriftError("min_samples must be at least 2.")
    database = store.connect(db)
    reference, current = resolve_windows(database, since, until, reference_since, reference_until)
    load.check_dimension(database, dimension)
    ctx = compute.Context(cfg, reference, current, dimension, _bucket_ns(reference, current))

    results: list[DriftResult] = []
    sampling: dict[str, dict] = {}
    max_rows = cfg.max_rows_per_window
    if "input" in chosen or "output" in chosen:
        sampling["llm"] = load.window_strides(database, "LLM", reference, current, max_rows)
        llm = load.load_llm(database, dimension, reference, current, sampling["llm"])
        if "input" in chosen:
            results += _input_family(ctx, database, llm)
        if "output" in chosen:
            results += _output_family(ctx, llm)
    if "evaluator" in chosen:
        # No time index on evaluations: cap by the table's size (2 windows' worth of max_rows).
        total = store_drift.evaluation_rows(database)
        stride = max(1, -(-int(total) // (2 * max_rows))) if max_rows else 1
        sampling["evaluations"] = {"rows": int(total), "stride": stride}
        results += _evaluator_family(ctx, load.load_evaluations(database, dimension, reference, current, stride))
    if "retrieval" in chosen:
        sampling["retrieval"] = load.window_strides(database, "RETRIEVER", reference, current, max_rows)
        results += _retrieval_family(ctx, load.load_retrieval(database, dimension, reference, current,
                                                              sampling["retrieval"], cfg.rank_depth))

    notes = _notes(sampling, chosen, results)
    # A signal with no data in either window (say, a source that never reports tokens) is a note,
    # not one "insufficient" row per cohort.
    results = [r for r in results if r.reference_n or r.current_n]
    _adjust(ctx, results)
    _resolve_examples(database, results, cfg.examples)
    for r in results:
        r._raw = None
    return DriftReport(reference, current, dimension, chosen, cfg, ctx.bucket_ns, results, sampling, notes)


def _notes(sampling: dict, families: tuple[str, ...], results: list[DriftResult]) -> list[str]:
    """Plain-language gaps: empty windows per family, signals without any data."""
    notes = []
    for key, label in (("llm", "LLM spans"), ("retrieval", "RETRIEVER spans")):
        for window, info in sampling.get(key, {}).items():
            if info["rows"] == 0:
                notes.append(f"No {label} in the {window} window: input/output drift needs them."
                             if key == "llm" else f"No {label} in the {window} window: retrieval drift needs them.")
    if "evaluator" in families and not any(r.family == "evaluator" for r in results):
        notes.append("No scored evaluations in either window: run evaluators (`tracedesk eval run`) for evaluator drift.")
    empty = sorted({r.signal for r in results if not r.reference_n and not r.current_n}
                   - {r.signal for r in results if r.reference_n or r.current_n})
    if empty:
        notes.append(f"No data in either window for: {', '.join(empty)}.")
    return notes


def _cohorts(df: pd.DataFrame) -> Iterable[tuple[str, pd.DataFrame]]:
    if df.empty:
        return []
    return sorted(df.groupby("cohort", sort=False), key=lambda kv: str(kv[0]))


def _cols(g: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (g["start_ns"].to_numpy(dtype=np.int64), g["current"].to_numpy(dtype=bool),
            g["rowid"].to_numpy(dtype=np.int64))


def _input_family(ctx: compute.Context, db: sqlite_utils.Database, llm: pd.DataFrame) -> list[DriftResult]:
    out: list[DriftResult] = []
    samples: dict[str, np.ndarray] = {}
    for cohort, g in _cohorts(llm):
        # Bounded, evenly spread sample of prompts per window for the text representations.
        picks = []
        for mask in (~g["current"].to_numpy(), g["current"].to_numpy()):
            rows = np.flatnonzero(mask & g["input_length"].notna().to_numpy())
            if rows.size > ctx.config.max_texts:
                rows = rows[np.linspace(0, rows.size - 1, ctx.config.max_texts).astype(int)]
            picks.append(rows)
        samples[cohort] = g["rowid"].to_numpy()[np.concatenate(picks)]
    texts = load.load_texts(db, np.concatenate(list(samples.values())).tolist() if samples else [])
    for cohort, g in _cohorts(llm):
        t, cur, tids = _cols(g)
        out.append(compute.numeric(ctx, "input_length", "input", cohort, t, g["input_length"], cur, tids, unit="chars"))
        out.append(compute.numeric(ctx, "input_tokens", "input", cohort, t, g["input_tokens"], cur, tids, unit="tokens"))
        sub = g.set_index("rowid").loc[[r for r in samples[cohort] if r in texts]]
        sample_texts = [texts[r] for r in sub.index]
        st, scur, stids = sub["start_ns"].to_numpy(dtype=np.int64), sub["current"].to_numpy(bool), \
            sub.index.to_numpy(dtype=np.int64)
        out.append(compute.topic(ctx, cohort, st, hashed_bow(sample_texts), scur, stids, sample_texts))
        out.append(compute.categorical(ctx, "input_language_mix", "input", cohort, st,
                                       [language(x) for x in sample_texts], scur, stids))
    return out


def _output_family(ctx: compute.Context, llm: pd.DataFrame) -> list[DriftResult]:
    out: list[DriftResult] = []
    for cohort, g in _cohorts(llm):
        t, cur, tids = _cols(g)
        out.append(compute.numeric(ctx, "output_length", "output", cohort, t, g["output_length"], cur, tids, unit="chars"))
        out.append(compute.numeric(ctx, "output_tokens", "output", cohort, t, g["output_tokens"], cur, tids, unit="tokens"))
        out.append(compute.rate(ctx, "refusal_rate", "output", cohort, t, g["refusal"], cur, tids))
        out.append(compute.rate(ctx, "json_output_share", "output", cohort, t, g["json_output"], cur, tids))
        out.append(compute.rate(ctx, "tool_call_share", "output", cohort, t, g["tool_call"], cur, tids))
        has_reason = g["finish_reason"].notna().to_numpy()
        if has_reason.any():
            out.append(compute.categorical(ctx, "finish_reason", "output", cohort, t[has_reason],
                                           g["finish_reason"].to_numpy()[has_reason], cur[has_reason], tids[has_reason]))
    return out


def _evaluator_family(ctx: compute.Context, evals: pd.DataFrame) -> list[DriftResult]:
    out: list[DriftResult] = []
    if evals.empty:
        return out
    for (name, cohort), g in sorted(evals.groupby(["name", "cohort"], sort=False), key=lambda kv: tuple(map(str, kv[0]))):
        t, cur, tids = _cols(g)
        scores = g["score"].to_numpy(dtype=float)
        signal = f"eval:{name}"
        if np.isin(scores[~np.isnan(scores)], (0.0, 1.0)).all():
            r = compute.rate(ctx, signal, "evaluator", cohort, t, scores, cur, tids)
            r.unit = "score"
        else:
            r = compute.numeric(ctx, signal, "evaluator", cohort, t, scores, cur, tids, unit="score")
        out.append(r)
    return out


def _retrieval_family(ctx: compute.Context, ret: pd.DataFrame) -> list[DriftResult]:
    out: list[DriftResult] = []
    for cohort, g in _cohorts(ret):
        t, cur, tids = _cols(g)
        doc_cols = [c for c in g.columns if c.startswith("doc_") and c != "doc_score"]
        out += compute.retrieval_docs(ctx, cohort, t, g[doc_cols].to_numpy(dtype=object), cur, tids)
        out.append(compute.numeric(ctx, "retrieval_score", "retrieval", cohort, t, g["doc_score"], cur, tids, unit="score"))
        out.append(compute.numeric(ctx, "retriever_latency", "retrieval", cohort, t, g["latency_ms"], cur, tids, unit="ms"))
    return out


def _resolve_examples(db: sqlite_utils.Database, results: list[DriftResult], k: int) -> None:
    """Example rowids -> distinct trace ids (k per window), with one query per table."""
    wanted: dict[str, set[int]] = {"spans": set(), "evaluations": set()}
    for r in results:
        table = "evaluations" if r.family == "evaluator" else "spans"
        for rows in r.examples.values():
            wanted[table].update(rows)
    found = {table: load.trace_ids_for(db, table, rows) for table, rows in wanted.items() if rows}
    for r in results:
        trace_of = found.get("evaluations" if r.family == "evaluator" else "spans", {})
        for window, rows in r.examples.items():
            ids: list[str] = []
            for row in rows:
                tid = trace_of.get(row)
                if tid and tid not in ids:
                    ids.append(tid)
            r.examples[window] = ids[:k]


def _adjust(ctx: compute.Context, results: list[DriftResult]) -> None:
    """False-discovery adjustment over the whole report, the drift verdict, and change points."""
    tested = [r for r in results if r.p_value is not None and not r.insufficient]
    for r, q in zip(tested, stats.benjamini_hochberg([r.p_value for r in tested if r.p_value is not None])):
        r.q_value = q
        r.drifted = q <= ctx.config.alpha and (r.magnitude or 0.0) >= ctx.config.min_magnitude
        # Flagged pairs say when they started; evaluator scores always get the test, since a slow
        # slide that is not yet significant as a window shift may already show a change point.
        if ctx.config.change_points and (r.drifted or r.family == "evaluator"):
            compute.locate_change(ctx, r)
    for r in results:
        if r.insufficient:
            continue
        if r.drifted:
            r.message = f"drifted: {_describe(r)}"
        else:
            r.message = "no significant drift" if (r.q_value or 1.0) > ctx.config.alpha else \
                f"significant but small (magnitude {r.magnitude:.3f} < {ctx.config.min_magnitude})"


def _describe(r: DriftResult) -> str:
    def fmt(v: float | None) -> str:
        if v is None:
            return "?"
        return f"{v:.1%}" if r.unit in ("rate", "share", "jaccard") else f"{v:.3g}"

    text = f"{r.signal} {fmt(r.reference_value)} -> {fmt(r.current_value)}"
    if r.unit and r.unit not in ("rate", "share", "jaccard"):
        text += f" {r.unit}"
    if r.change_point:
        text += f", started around {r.change_point}"
    return text
