"""Provider cohorts for the changes feed, as roll-ups of the models it already scans.

Why: a provider-wide failure (an organisation's rate limit answering 429 to every model it serves: the fourth
week's W4-01) moves every one of that provider's models at once, so no single model holds it (each model's
parent, all traffic, still moves without it) and the feed named it on all traffic, then on the tenant where
the traffic was. A provider cohort holds it. But `provider` is a span-level dimension the traces table does not
summarise: a trace, trace-summary or evaluation sample reads it with a sub-query over the trace's spans, and
reading it that way for every feed signal cost +29% feed CPU (session 7, reverted).

How: the LLM-call samples read the provider of each call with its model (one more column of the rows they
read anyway). From them, each model is mapped to the provider serving its calls, when that is one provider; a
trace, trace-summary or evaluation sample then belongs to the providers of the models it lists (its `model`
cell, already read: a trace that called a claude and a gpt model is in both providers' cohorts). The
provider's series is the union of its models' samples: no new read, and a trace counted once however many of
that provider's models it called. The feed scans each provider alone (no pairs: a provider's pairs with a
route or a tenant are its models' pairs, scanned already).

Limits: a model whose calls name two providers (gpt-4o through openai and through azure) is mapped to neither,
so its traces are in no provider cohort by that model (its LLM calls still are, by their own provider); a
model seen on no LLM call with a provider in the range (an embedding model, a model only a CHAIN span names)
puts its traces in no provider cohort. The traces page filters a provider by any span of the trace, so its
list of a provider's traces can hold a few more (a trace whose only span of that provider is an embedding).
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

#: the rolled-up dimension and the one it rolls up
ROLLUP, SOURCE = "provider", "model"


def _coded(column: pd.Series) -> tuple[np.ndarray, list[object]]:
    """(codes, cells) of a column: a categorical's own, else factorized (-1: missing)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return np.asarray(column.cat.codes, dtype=np.int64), list(column.cat.categories)
    codes, uniques = pd.factorize(column.astype(object), use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64), list(uniques)


def _single(cell: object) -> str | None:
    """A cell naming one value (not a membership list, not empty), else None."""
    return cell if isinstance(cell, str) and cell and "," not in cell else None


def model_providers(frames: Iterable[pd.DataFrame]) -> dict[str, str]:
    """model -> the one provider its calls name, from frames of LLM calls holding both columns (a model with
    calls naming two providers is left out; calls without a model or a provider, or with a membership list of
    either, say nothing)."""
    seen: dict[str, set[str]] = {}
    for frame in frames:
        if SOURCE not in frame.columns or ROLLUP not in frame.columns or not len(frame):
            continue
        m_codes, m_cells = _coded(frame[SOURCE])
        p_codes, p_cells = _coded(frame[ROLLUP])
        both = (m_codes >= 0) & (p_codes >= 0)
        width = len(p_cells) + 1
        for key in np.unique(m_codes[both] * width + p_codes[both]).tolist():
            model, provider = _single(m_cells[key // width]), _single(p_cells[key % width])
            if model is not None and provider is not None:
                seen.setdefault(model, set()).add(provider)
    return {m: next(iter(ps)) for m, ps in sorted(seen.items()) if len(ps) == 1}


def providers_column(models: pd.Series, mapping: dict[str, str]) -> pd.Categorical:
    """Per sample, the providers of the models its `model` cell lists (comma-joined, sorted; missing when
    none is mapped), as a categorical: computed once per distinct cell."""
    codes, cells = _coded(models)
    names: list[str] = []
    index: dict[str, int] = {}
    lut = np.full(len(cells) + 1, -1, dtype=np.int64)  # code -1 (no model) picks the last entry: missing
    for i, cell in enumerate(cells):
        listed = str(cell).split(",") if isinstance(cell, str) else []
        found = sorted({mapping[m] for m in listed if m in mapping})
        if found:
            name = ",".join(found)
            lut[i] = index.setdefault(name, len(names))
            if lut[i] == len(names):
                names.append(name)
    return pd.Categorical.from_codes(lut[codes], pd.Index(names, dtype=object))
