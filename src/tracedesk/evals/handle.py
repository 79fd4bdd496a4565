"""`ws.evals`: the evaluators of one workspace (the Evaluations page and notebooks use only this).

    ws = tracedesk.open("traces.db")
    ws.evals.run(["pii", "refusal"], sample="all")
    ws.evals.by_cohort("pii", "route")
    ws.evals.review_queue(limit=20)
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .base import Info
from .runner import ProgressFn, RunConfig, RunReport
from .sampling import STRATEGIES

if TYPE_CHECKING:
    import pandas as pd

    from ..workspace import Workspace


class EvalsHandle:
    """Run evaluators and read their results over the workspace's connection."""

    strategies: tuple[str, ...] = tuple(STRATEGIES)

    def __init__(self, ws: "Workspace") -> None:
        self._ws = ws

    def __repr__(self) -> str:
        return f"<evals of {self._ws!r}>"

    @property
    def cohort_columns(self) -> tuple[str, ...]:
        """What scores can be grouped by (route, tenant, prompt_version, environment, model, ...)."""
        from .results import COHORT_COLUMNS

        return COHORT_COLUMNS

    def catalog(self) -> list[Info]:
        """Every evaluator available here: built-in checks and judges, then this database's custom judges."""
        from .registry import catalog

        return self._ws.call(catalog)

    def names(self) -> list[str]:
        return [i.name for i in self.catalog()]

    def run(self, evaluators: "Sequence[str] | RunConfig", *, progress: ProgressFn | None = None,
            **options: Any) -> RunReport:
        """Sample, evaluate and store (see `RunConfig` for the options: model, api_base, sample, limit,
        max_usd, concurrency...). Runs on the workspace's second connection, so pages keep reading."""
        from .runner import run

        config = evaluators if isinstance(evaluators, RunConfig) else RunConfig(list(evaluators), **options)
        return self._ws.job(run, config, progress=progress)

    @property
    def judges_missing(self) -> str | None:
        """Why LLM judges cannot run here (litellm not installed: the message names the pip command), or None."""
        from ..extras import MissingExtra, available

        return None if available("judges") else str(MissingExtra("judges"))

    def scores(self, names: Sequence[str] | None = None) -> "pd.DataFrame":
        """One row per evaluation with its span's cohort fields (cached until the data changes)."""
        from .results import scores

        key = tuple(names) if names else None
        return self._ws.memo(("evals.scores", key), lambda db: scores(db, key))

    def evaluated(self) -> list[str]:
        """Evaluators with stored evaluations, by name (what the page's distributions can show)."""
        from ..store.eval_views import evaluated_names

        return self._ws.memo(("evals.evaluated",), evaluated_names)

    def _score_counts(self, name: str, by: str) -> "pd.DataFrame":
        from .results import score_counts

        return self._ws.memo(("evals.score_counts", name, by), lambda db: score_counts(db, name, by))

    def by_cohort(self, name: str, by: str) -> "pd.DataFrame":
        """Per cohort value of `by`: count, mean score, pass rate, p10 for evaluator `name` (aggregated in
        SQLite: no evaluation row is fetched; equal to results.by_cohort over the scores() rows)."""
        from .results import by_cohort_counts

        return by_cohort_counts(self._score_counts(name, by), name, by)

    def histogram(self, name: str, by: str) -> "pd.DataFrame":
        """Evaluator `name`'s scores in ten bins over [0, 1] per cohort value of `by`: columns `by`,
        bin_start, bin_end, count (for charts.evals.score_histogram)."""
        from .results import histogram_counts

        return histogram_counts(self._score_counts(name, by), by)

    def review_queue(self, limit: int = 50) -> "pd.DataFrame":
        """Worst first: error rows, then failed rows by ascending score (sorted and cut in SQLite)."""
        from .results import review_queue_rows

        return self._ws.memo(("evals.review_queue", int(limit)),
                             lambda db: review_queue_rows(db, limit)).copy()

    # -- custom judges -----------------------------------------------------------------------------

    def pass_rules(self) -> list[dict[str, Any]]:
        """Each stored evaluator's pass rule (threshold, direction, origin) and its verdict counts (kept per
        data version; the counts from the per-hour aggregates, analysis.eval_summary)."""
        from ..analysis.metrics import eval_tallies
        from ..store.evals import evaluator_rules

        return self._ws.kept(("evals.pass_rules",),
                             lambda db: evaluator_rules(db, eval_tallies(db, None, derived=True)))

    def set_pass_rule(self, name: str, threshold: float, direction: str) -> int:
        """Set one evaluator's pass rule; its score-only verdicts are re-derived. Returns rows updated."""
        from ..errors import InputError
        from ..store.evals import save_pass_rule

        try:
            return save_pass_rule(self._ws.db, name, threshold, direction)
        except ValueError as exc:
            raise InputError(str(exc)) from None

    def custom_judges(self) -> list[dict[str, Any]]:
        from . import custom

        return self._ws.call(custom.list_specs)

    def add_custom_judge(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Validate and save a custom judge; raises CustomJudgeError (a TracedeskError) saying what to fix."""
        from . import custom

        return self._ws.call(custom.add, spec)

    def remove_custom_judge(self, name: str) -> bool:
        from . import custom

        return self._ws.call(custom.remove, name)

    def export_custom_judges(self) -> str:
        from . import custom

        return self._ws.call(custom.export_json)

    def import_custom_judges(self, text: str) -> list[str]:
        from . import custom

        return self._ws.call(custom.import_json, text)
