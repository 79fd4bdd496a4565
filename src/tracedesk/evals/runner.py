"""Run evaluators over a sample of stored spans and write the scores back as evaluation rows.

Judges run on a bounded thread pool (`concurrency` requests in flight; litellm's sync client is
thread-safe and this works the same from a script, Streamlit or a running Jupyter loop). The main
thread owns the database: it reads inputs, checks the cache, decides what may start under the
budget, and writes results in batches.

* Retries: rate limits (429), timeouts, connection and 5xx errors are retried up to `max_retries`
  times with exponential backoff (`backoff_s * 2**attempt`, plus up to 10% jitter); other errors
  (bad request, auth) fail at once. A call that never succeeds becomes an error row.
* Budget: no new judge request starts once `max_calls` requests have started or the USD spent
  (litellm's price for the judge model; 0 for models it does not price) reaches `max_usd`.
  Requests already in flight finish, so spend can pass `max_usd` by at most `concurrency - 1` calls.
* Cache: a verdict is stored under (evaluator version, judge model, the exact prompt, which holds
  every input); a re-run reuses it and makes no call. Error rows are not cached.
"""
from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from .. import store
from ..errors import EvalError
from ..store import evals as store_evals
from ..store.connect import with_database
from ..models import Evaluation, EvaluationSource
from . import data, registry
from .base import EvalInput, Evaluator, Score, applies, missing_inputs
from .sampling import Sample, sample as draw


@dataclass
class RunConfig:
    evaluators: Sequence["str | Evaluator"]
    model: str | None = None  # judge model, any litellm model string
    api_base: str | None = None
    api_key: str | None = None  # else litellm reads the provider's env var (OPENAI_API_KEY, ...)
    sample: str = "failure-biased"  # failure-biased | uniform | all
    limit: int | None = None  # units (spans / traces) to judge; None = all candidates
    seed: int = 0
    max_calls: int | None = None
    max_usd: float | None = None
    concurrency: int = 4
    timeout_s: float = 60.0
    max_retries: int = 3
    backoff_s: float = 1.0
    use_cache: bool = True
    baseline_share: float = 0.2
    filters: dict[str, Any] | None = None  # column -> value, see data.FILTER_COLUMNS
    since_ns: int | None = None
    until_ns: int | None = None
    slo_latency_ms: float | None = None
    slo_cost_usd: float | None = None


@dataclass
class EvaluatorStats:
    name: str
    family: str
    scored: int = 0
    passed: int = 0
    errors: int = 0
    skipped: int = 0  # inputs it needs were missing, or the check did not apply
    budget_skipped: int = 0
    score_sum: float = 0.0

    @property
    def mean(self) -> float | None:
        return self.score_sum / self.scored if self.scored else None


@dataclass
class RunReport:
    sample: Sample | None = None
    jobs: int = 0
    done: int = 0
    written: int = 0
    judge_calls: int = 0  # HTTP requests made, retries included
    cache_hits: int = 0
    retries: int = 0
    errors: int = 0
    cost_usd: float = 0.0
    stopped: str | None = None
    elapsed_s: float = 0.0
    by_evaluator: dict[str, EvaluatorStats] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = []
        if self.sample is not None:
            out.append(f"sample: {self.sample.describe()}")
        out.append(f"{self.written} evaluation rows written; {self.judge_calls} judge calls "
                   f"({self.retries} retries), {self.cache_hits} cache hits, {self.errors} errors, "
                   f"${self.cost_usd:.6f} judge cost, {self.elapsed_s:.1f} s")
        for st in self.by_evaluator.values():
            mean = "-" if st.mean is None else f"{st.mean:.3f}"
            extra = f", {st.budget_skipped} not run (budget)" if st.budget_skipped else ""
            out.append(f"  {st.name:<26} {st.family:<9} scored {st.scored:>5}  mean {mean:>5}  "
                       f"passed {st.passed:>5}  errors {st.errors:>3}  skipped {st.skipped:>5}{extra}")
        if self.stopped:
            out.append(f"stopped early: {self.stopped}")
        return out


ProgressFn = Callable[[int, int, RunReport], None]


@dataclass
class _Job:
    ev: Evaluator
    inp: EvalInput
    reason: str  # the sampling pool


@dataclass
class _Outcome:
    reply: Any = None  # judge.JudgeReply
    attempts: int = 0
    error: str | None = None
    kind: str | None = None  # JudgeCallError.kind of the last failure


def cache_key(ev: Evaluator, model: str, messages: list[dict[str, Any]]) -> str:
    from .rubrics import NONCE_RE

    # The data-marker nonce is random per call (rubrics); the same question must still hit the cache.
    blob = NONCE_RE.sub("DATA-nonce", json.dumps([ev.name, ev.version, model, messages], sort_keys=True,
                                                 ensure_ascii=False))
    return hashlib.blake2b(blob.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _call(messages: list[dict[str, Any]], cfg: RunConfig) -> _Outcome:
    """One judgement in a worker thread: the request plus retries with backoff."""
    from . import judge

    out = _Outcome()
    rng = random.Random()
    for attempt in range(cfg.max_retries + 1):
        out.attempts += 1
        try:
            out.reply = judge.complete(messages, model=cfg.model or "", api_base=cfg.api_base,
                                       api_key=cfg.api_key, timeout=cfg.timeout_s)
            out.error = None
            return out
        except judge.JudgeCallError as exc:
            out.error, out.kind = str(exc), exc.kind
            if not exc.retryable or attempt == cfg.max_retries:
                break
            delay = cfg.backoff_s * (2 ** attempt)
            time.sleep(delay + rng.uniform(0, delay * 0.1))
        except Exception as exc:  # an odd provider response must cost one row, not the whole run
            out.error, out.kind = f"{type(exc).__name__}: {exc}", "fatal"
            break
    out.error = f"{out.error} (after {out.attempts} attempt{'s' if out.attempts != 1 else ''})"
    return out


def _evaluation(job: _Job, sc: Score, *, model: str | None = None, cost: float | None = None,
                latency: float | None = None, meta: dict[str, Any] | None = None) -> Evaluation:
    metadata = {"sample": job.reason, **(sc.metadata or {}), **(meta or {})}
    return Evaluation(
        trace_id=job.inp.trace_id, span_id=job.inp.span_id, name=job.ev.name, score=sc.score, label=sc.label,
        passed=sc.passed, reason=sc.reason, evaluator_version=job.ev.version, judge_model=model,
        judge_cost_usd=cost, judge_latency_ms=latency,
        source=EvaluationSource.JUDGE.value if job.ev.family == "judge" else EvaluationSource.HEURISTIC.value,
        created_ns=time.time_ns(), error=sc.error, raw=sc.raw, metadata=metadata,
    )


def select(db: sqlite_utils.Database, cfg: RunConfig, evaluators: list[Evaluator]) -> Sample:
    """The units (spans, trace roots) this run evaluates, drawn by the configured sampler."""
    span_evs = [e for e in evaluators if e.scope == "span"]
    trace_evs = [e for e in evaluators if e.scope == "trace"]
    kinds: set[str] | None = set()
    for e in span_evs:
        if not e.applies_to:
            kinds = None
            break
        kinds |= set(e.applies_to)  # type: ignore[operator]
    units = data.candidates(db, kinds, roots=bool(trace_evs), filters=cfg.filters, since_ns=cfg.since_ns,
                            until_ns=cfg.until_ns, ignore_scores_of=[e.name for e in evaluators])
    if trace_evs and not span_evs:
        units = [u for u in units if u.is_root]
    extra = {"baseline_share": cfg.baseline_share} if cfg.sample == "failure-biased" else {}
    if cfg.sample == "all":
        # No count to fill: every candidate is visited and the ones an evaluator cannot judge are
        # counted as skipped per evaluator (RunReport), as before.
        return draw(units, cfg.sample, cfg.limit, seed=cfg.seed, **extra)
    return draw_judgeable(db, units, evaluators, cfg.sample, cfg.limit, seed=cfg.seed, **extra)


def draw_judgeable(db: sqlite_utils.Database, units: list[data.Unit], evaluators: list[Evaluator], strategy: str,
                   limit: int | None, *, seed: int = 0, **extra: float) -> Sample:
    """Draw with the sampler, keep only units some chosen evaluator can judge (it has the input, output,
    context or trajectory it requires), and draw again from the rest until `limit` units are kept or no
    candidate is left: `--limit 20` judges 20 when 20 judgeable units exist. The Sample says how many
    drawn candidates were passed over and which inputs they lacked."""
    from collections import Counter

    kept: list[data.Unit] = []
    reasons: dict[tuple[str, str], str] = {}
    lacking: Counter[str] = Counter()
    unjudgeable = 0
    pool = list(units)
    first: Sample | None = None
    while pool:
        budget = None if limit is None else limit - len(kept)
        if budget is not None and budget <= 0:
            break
        smp = draw(pool, strategy, budget, seed=seed, **extra)
        first = first or smp
        if not smp.units:
            break
        good, missing = _judgeable(db, smp.units, evaluators)
        for u in smp.units:
            key = (u.trace_id, u.span_id)
            if key in missing:
                unjudgeable += 1
                lacking.update(missing[key])
            else:
                kept.append(u)
                reasons[key] = smp.reasons[key]
        if not missing or limit is None:
            break
        drawn = {(u.trace_id, u.span_id) for u in smp.units}
        pool = [u for u in pool if (u.trace_id, u.span_id) not in drawn]
    comp = {p: 0 for p in (first.composition if first else {})}
    for pool_name in reasons.values():
        comp[pool_name] = comp.get(pool_name, 0) + 1
    return Sample(kept, reasons, len(units), strategy, seed, comp, unjudgeable, dict(lacking))


def _judgeable(db: sqlite_utils.Database, units: Sequence[data.Unit], evaluators: list[Evaluator],
               chunk: int = 1000) -> tuple[int, dict[tuple[str, str], set[str]]]:
    """(count judgeable, {unit key: inputs it lacks}) for units no applicable evaluator can run on."""
    missing: dict[tuple[str, str], set[str]] = {}
    good = 0
    for start in range(0, len(units), chunk):
        part = units[start : start + chunk]
        keys = {(u.trace_id, u.span_id, e.scope) for u in part for e in _applicable(u, evaluators)}
        inputs = data.load_inputs(db, sorted(keys))
        for u in part:
            lacks: set[str] = set()
            ok = False
            for e in _applicable(u, evaluators):
                inp = inputs.get((u.trace_id, u.span_id, e.scope))
                gaps = list(e.requires) if inp is None else missing_inputs(e, inp)
                if not gaps:
                    ok = True
                    break
                lacks.update(gaps)
            if ok:
                good += 1
            else:
                missing[(u.trace_id, u.span_id)] = lacks or {"an applicable evaluator"}
    return good, missing


def _applicable(u: data.Unit, evaluators: list[Evaluator]) -> list[Evaluator]:
    return [e for e in evaluators
            if (e.scope == "trace" and u.is_root) or (e.scope == "span" and applies(e, u.kind))]


def iter_jobs(db: sqlite_utils.Database, smp: Sample, evaluators: list[Evaluator],
              chunk: int = 1000) -> Iterator["_Job | Evaluator"]:
    """Jobs in sample order, loading inputs a chunk of units at a time (bounded memory on big runs).

    Yields the bare evaluator for a pair it cannot run (its required inputs are missing)."""
    for start in range(0, len(smp.units), chunk):
        units = smp.units[start : start + chunk]
        keys = {(u.trace_id, u.span_id, e.scope) for u in units for e in _applicable(u, evaluators)}
        inputs = data.load_inputs(db, sorted(keys))
        for u in units:
            reason = smp.reasons[(u.trace_id, u.span_id)]
            for e in _applicable(u, evaluators):
                inp = inputs.get((u.trace_id, u.span_id, e.scope))
                if inp is None or missing_inputs(e, inp):
                    yield e
                else:
                    yield _Job(e, inp, reason)


@with_database  # a path is opened for the call and closed after it
def run(
    db: "sqlite_utils.Database | str",
    config: RunConfig,
    progress: ProgressFn | None = None,
) -> RunReport:
    """Sample, evaluate and store. Raises EvalError (a ValueError) for a bad configuration, saying the fix."""
    started = time.perf_counter()
    db = store.connect(db) if not isinstance(db, sqlite_utils.Database) else db
    store.migrate(db)
    evaluators = registry.resolve(config.evaluators, db, slo_latency_ms=config.slo_latency_ms,
                                  slo_cost_usd=config.slo_cost_usd)
    if not evaluators:
        raise EvalError("No evaluators chosen. Pick one or more: see `tracedesk eval list`.")
    judges = [e.name for e in evaluators if e.family == "judge"]
    if judges:
        from ..extras import require

        require("judges")  # before the model check: without litellm no model string can work
    if judges and not config.model:
        raise EvalError(f"LLM judges ({', '.join(judges)}) need a judge model: pass --model "
                         "(e.g. gpt-4o-mini with OPENAI_API_KEY set, or openai/<name> with --api-base).")
    if config.concurrency < 1:
        raise EvalError("concurrency must be at least 1")
    report = RunReport(by_evaluator={e.name: registry_stats(e) for e in evaluators})
    smp = select(db, config, evaluators)
    report.sample = smp
    report.jobs = sum(len(_applicable(u, evaluators)) for u in smp.units)
    pending_rows: list[Evaluation] = []
    pending_cache: list[tuple[str, str, str, str, dict[str, Any]]] = []

    def flush() -> None:
        if pending_rows:
            report.written += store.write_evaluations(db, pending_rows)
            pending_rows.clear()
        if pending_cache:
            store_evals.cache_put_many(db, pending_cache)
            pending_cache.clear()

    def record(job: _Job, ev_row: Evaluation | None) -> None:
        st = report.by_evaluator[job.ev.name]
        if ev_row is None:
            st.skipped += 1
        elif ev_row.error:
            st.errors += 1
            report.errors += 1
        else:
            st.scored += 1
            st.score_sum += ev_row.score or 0.0
            st.passed += bool(ev_row.passed)
        if ev_row is not None:
            pending_rows.append(ev_row)
        if len(pending_rows) >= 200:
            flush()
        tick()

    def budget_left() -> bool:
        if abort:
            return False
        if config.max_calls is not None and started_calls >= config.max_calls:
            report.stopped = report.stopped or f"max calls ({config.max_calls}) reached"
            return False
        if config.max_usd is not None and report.cost_usd >= config.max_usd:
            report.stopped = report.stopped or f"max USD (${config.max_usd:g}) reached"
            return False
        return True

    def tick() -> None:
        report.done += 1
        if progress is not None:
            progress(report.done, report.jobs, report)

    started_calls = 0
    abort: list[str] = []  # set when the judge rejects the model or key: every further call would too
    in_flight: dict[Future[_Outcome], tuple[_Job, str]] = {}
    fresh: dict[str, dict[str, Any]] = {}  # verdicts of this run, before they reach the cache table
    jobs = iter_jobs(db, smp, evaluators)
    exhausted = False
    try:
        with ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="tracedesk-judge") as pool:
            while not exhausted or in_flight:
                while not exhausted and len(in_flight) < config.concurrency:
                    job = next(jobs, None)
                    if job is None:
                        exhausted = True
                        break
                    if not isinstance(job, _Job):  # required inputs missing
                        report.by_evaluator[job.name].skipped += 1
                        tick()
                        continue
                    if job.ev.family != "judge":
                        try:
                            sc = job.ev.evaluate(job.inp)  # type: ignore[attr-defined]
                        except Exception as exc:  # a check tripping on odd data: an error row, not a crash
                            sc = Score(error=f"{job.ev.name} failed: {type(exc).__name__}: {exc}")
                        record(job, None if sc is None else _evaluation(job, sc))
                        continue
                    messages = job.ev.messages(job.inp)  # type: ignore[attr-defined]
                    key = cache_key(job.ev, config.model or "", messages)
                    hit = None
                    if config.use_cache:
                        hit = fresh.get(key) or store_evals.cache_get(db, key)
                    if hit is not None:
                        report.cache_hits += 1
                        sc = job.ev.parse(hit["raw"])  # type: ignore[attr-defined]
                        record(job, _evaluation(job, sc, model=config.model, cost=hit.get("cost_usd"),
                                                latency=hit.get("latency_ms"), meta={"cached": True}))
                        continue
                    if not budget_left():
                        report.by_evaluator[job.ev.name].budget_skipped += 1
                        tick()
                        continue
                    started_calls += 1
                    in_flight[pool.submit(_call, messages, config)] = (job, key)
                if not in_flight:
                    continue
                finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                for fut in finished:
                    job, key = in_flight.pop(fut)
                    out = fut.result()
                    report.judge_calls += out.attempts
                    report.retries += out.attempts - 1
                    if out.reply is None:
                        if out.kind == "config" and not abort:
                            abort.append(out.error or "")
                            report.stopped = (f"the judge rejected the request ({(out.error or '')[:300]}); "
                                              "check --model and the provider's API key variable")
                        sc = Score(error=f"judge call failed: {out.error}")
                        record(job, _evaluation(job, sc, model=config.model, meta={"attempts": out.attempts}))
                        continue
                    r = out.reply
                    report.cost_usd += r.cost_usd
                    sc = job.ev.parse(r.text)  # type: ignore[attr-defined]
                    meta = {"attempts": out.attempts, "prompt_tokens": r.prompt_tokens,
                            "completion_tokens": r.completion_tokens}
                    if sc.error is None:
                        fresh[key] = {"raw": r.text, "cost_usd": r.cost_usd, "latency_ms": r.latency_ms}
                        pending_cache.append((key, job.ev.name, job.ev.version, config.model or "", fresh[key]))
                    record(job, _evaluation(job, sc, model=config.model, cost=r.cost_usd, latency=r.latency_ms,
                                            meta=meta))

    finally:
        flush()  # whatever finished is kept, even when the run is interrupted
    report.elapsed_s = time.perf_counter() - started
    return report


def registry_stats(ev: Evaluator) -> EvaluatorStats:
    return EvaluatorStats(ev.name, ev.family)
