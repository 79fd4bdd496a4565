"""What a drift comparison returns: one `DriftResult` per (signal, cohort), gathered in a `DriftReport`."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .windows import Window, iso

if TYPE_CHECKING:  # pandas is imported where a frame is built
    import pandas as pd

FAMILIES = ("input", "output", "evaluator", "retrieval")


@dataclass
class DriftConfig:
    """Knobs of a drift report. Defaults suit a day against the week before."""

    min_samples: int = 30  # per window and cohort; fewer is reported as insufficient, never tested
    alpha: float = 0.05  # false discovery rate across every (signal, cohort) pair of the report
    min_magnitude: float = 0.05  # drift smaller than this is not flagged, however significant
    permutations: int = 199  # for the permutation tests (hashed text, top-k overlap, change points)
    seed: int = 0
    max_texts: int = 200  # prompts sampled per window and cohort for the topic / language mix
    top_k: int = 10  # size of each window's set of most-retrieved documents
    rank_depth: int = 3  # only the first `rank_depth` documents of each retrieval count ("rank first")
    max_retrievals: int = 1000  # retrievals per window and cohort kept for the overlap permutation test
    examples: int = 3  # example trace ids per window
    #: rows read per window and family; beyond it a deterministic 1-in-k sample is read (the report's
    #: `sampling` says k). 0 reads everything.
    max_rows_per_window: int = 20_000
    change_points: bool = True  # locate when each flagged numeric/rate signal started to move


@dataclass
class DriftResult:
    """The comparison of one signal in one cohort between the reference and the current window.

    `reference_value`/`current_value` are in the signal's unit (mean, rate, share, Jaccard...);
    `effect` is their difference; `effect_size` is the standardized effect named by
    `effect_size_name` (cohen_d, cohen_h, js_divergence, jaccard_distance...); `magnitude` is the
    common 0..1 scale the ranking uses (KS distance, absolute rate change, total variation, divergence
    or overlap lost beyond what sampling noise gives). `q_value` is the p-value adjusted for every
    pair in the report (Benjamini-Hochberg); `drifted` = q <= alpha and magnitude >= min_magnitude.
    """

    signal: str
    family: str
    dimension: str | None
    cohort: str
    kind: str  # numeric | rate | categorical | divergence | overlap
    reference_n: int
    current_n: int
    reference_value: float | None = None
    current_value: float | None = None
    effect: float | None = None
    effect_size: float | None = None
    effect_size_name: str = ""
    magnitude: float | None = None
    #: what ranks: the magnitude we are confident of (a lower confidence bound), so a large shift
    #: measured on few samples does not outrank a slightly smaller one measured on thousands
    rank_score: float | None = None
    p_value: float | None = None
    q_value: float | None = None
    drifted: bool = False
    insufficient: bool = False
    message: str = ""
    unit: str = ""
    change_point_ns: int | None = None
    change_point_p: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    series: list[dict[str, Any]] = field(default_factory=list)
    # row ids while computing; the report swaps them for trace ids (report._resolve_examples)
    examples: dict[str, list[Any]] = field(default_factory=lambda: {"reference": [], "current": []})
    # (times, values) kept until change points are located; never serialized
    _raw: Any = field(default=None, repr=False)

    @property
    def cohort_label(self) -> str:
        return f"{self.dimension}={self.cohort}" if self.dimension else self.cohort

    @property
    def change_point(self) -> str | None:
        return iso(self.change_point_ns)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "signal": self.signal,
            "family": self.family,
            "dimension": self.dimension,
            "cohort": self.cohort,
            "kind": self.kind,
            "unit": self.unit,
            "reference_n": self.reference_n,
            "current_n": self.current_n,
            "reference_value": _clean(self.reference_value),
            "current_value": _clean(self.current_value),
            "effect": _clean(self.effect),
            "effect_size": _clean(self.effect_size),
            "effect_size_name": self.effect_size_name,
            "magnitude": _clean(self.magnitude),
            "rank_score": _clean(self.rank_score),
            "p_value": _clean(self.p_value),
            "q_value": _clean(self.q_value),
            "drifted": self.drifted,
            "insufficient": self.insufficient,
            "message": self.message,
            "change_point_ns": self.change_point_ns,
            "change_point": self.change_point,
            "change_point_p": _clean(self.change_point_p),
            "details": _clean(self.details),
            "examples": self.examples,
            "series": _clean(self.series),
        }
        return out


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass
class DriftReport:
    reference: Window
    current: Window
    dimension: str | None
    families: tuple[str, ...]
    config: DriftConfig
    bucket_ns: int
    results: list[DriftResult]
    #: per family: rows in each window and the 1-in-k stride read (k=1: every row)
    sampling: dict[str, Any] = field(default_factory=dict)
    #: gaps said in words: empty windows, signals with no data
    notes: list[str] = field(default_factory=list)

    def ranked(self, limit: int | None = None, *, include_insufficient: bool = False) -> list[DriftResult]:
        """Most-drifted first: flagged pairs, then by magnitude; insufficient ones last (or left out)."""
        rows = [r for r in self.results if include_insufficient or not r.insufficient]
        rows.sort(key=_rank_key)
        return rows[:limit] if limit else rows

    @property
    def drifted(self) -> list[DriftResult]:
        return [r for r in self.ranked() if r.drifted]

    @property
    def insufficient(self) -> list[DriftResult]:
        return [r for r in self.results if r.insufficient]

    def get(self, signal: str, cohort: str | None = None) -> DriftResult | None:
        for r in self.results:
            if r.signal == signal and (cohort is None or r.cohort == cohort):
                return r
        return None

    def to_frame(self, *, include_insufficient: bool = True) -> pd.DataFrame:
        """One row per (signal, cohort), ranked; series and examples left out (see `series_frame`)."""
        import pandas as pd

        rows = []
        for rank, r in enumerate(self.ranked(include_insufficient=include_insufficient), start=1):
            d = r.to_dict()
            d.pop("series")
            d.pop("details")
            d["examples_current"] = ",".join(r.examples.get("current", []))
            d["examples_reference"] = ",".join(r.examples.get("reference", []))
            d.pop("examples")
            rows.append({"rank": rank, **d})
        return pd.DataFrame(rows)

    def series_frame(self, result: DriftResult) -> pd.DataFrame:
        """The per-bucket time series of one result (columns time, value, n, window)."""
        import pandas as pd

        frame = pd.DataFrame(result.series, columns=["t_ns", "time", "value", "rolling", "n", "window"])
        frame["time"] = pd.to_datetime(frame["t_ns"], unit="ns", utc=True)
        return frame

    def to_dict(self, *, limit: int | None = None, series: bool = True) -> dict[str, Any]:
        ranked = self.ranked(include_insufficient=True)
        if limit:
            ranked = ranked[:limit]
        results = []
        for r in ranked:
            d = r.to_dict()
            if not series:
                d.pop("series")
            results.append(d)
        return {
            "reference": self.reference.to_dict(),
            "current": self.current.to_dict(),
            "dimension": self.dimension,
            "families": list(self.families),
            "bucket_seconds": self.bucket_ns // 1_000_000_000,
            "config": {k: v for k, v in vars(self.config).items()},
            "sampling": self.sampling,
            "notes": self.notes,
            "summary": {
                "pairs": len(self.results),
                "drifted": sum(r.drifted for r in self.results),
                "insufficient": sum(r.insufficient for r in self.results),
            },
            "results": results,
        }


def _rank_key(r: DriftResult) -> tuple:
    return (r.insufficient, not r.drifted, -(r.rank_score or 0.0), -(r.magnitude or 0.0), r.p_value if r.p_value is not None else 1.0,
            r.signal, r.cohort)
