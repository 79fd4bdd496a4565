"""Cohort dimensions: the one definition of every way traffic is sliced.

A dimension has one name (``agent_name``, never ``agent``), a level and a description. The store turns
a dimension into SQL (`tracedesk.store.cohort_sql`); every feature that groups or filters by a cohort
(the Cohorts page and KPIs, alerts, drift, the notebook) goes through this module and that one.

Levels, and how a row of each kind reads a dimension:

- a *trace-level* dimension (route, tenant, prompt_version, environment, session_id, user_id and the
  user-mapped ones kept in the ``dims`` JSON) describes the request. A span row reads its own value,
  else its trace's (instrumentations often set route/tenant on the root span only); a trace row and an
  evaluation row read the trace's. The trace's value is its root span's, else the largest over its spans;
  under a root no LLM instrumentation wrote (a web framework's server span with only `http.route`), the
  route, tenant, prompt_version, environment and mapped values the LLM spans state win (docs/ingest.md,
  "Per trace").
- a *span-level* dimension (model, provider, agent_name, service, response_model) varies inside one
  trace. A span row reads its own value, else its trace's; an evaluation row reads the span it judges
  (else its trace's); a trace row belongs to EVERY value its spans carry (membership: a trace that
  called gpt-4o and gpt-4o-mini counts once in each cohort). The same holds for a span row that falls
  back to its trace's list. So a trace-level signal grouped by model counts each trace in each of its
  models, and a joint alert mixing span-level and trace-level signals compares the same cohorts.
- filtering traces by a dimension is membership too: ``model = gpt-4o`` keeps the traces with a
  gpt-4o span.

Old spellings still load (saved alert rules, shared URLs): ``agent`` is ``agent_name``; ``dims.X`` and
``dim.X`` are the mapped dimension ``X``. `canonical` is the one conversion.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .errors import InputError

SPAN = "span"
TRACE = "trace"
#: Cohort value shown for rows that have no value for the dimension.
NO_VALUE = "(none)"


class CohortError(InputError):
    """An unknown or malformed dimension name; the message lists the valid choices."""


@dataclass(frozen=True)
class Dimension:
    """One cohort dimension. The store reads `span_column` on spans and `trace_column` on traces; a
    `mapped` dimension is a key of the `dims` JSON column of both tables."""

    name: str
    level: str  # SPAN or TRACE
    description: str
    span_column: str | None = None
    trace_column: str | None = None  # None for a span-level dimension the traces table does not summarise
    #: the trace column holds a comma list of every value its spans carry (membership)
    trace_list: bool = False
    mapped: bool = False
    #: the spans column may be missing on older databases (then the dimension has no values)
    optional_column: bool = False
    #: a dimension computed from another one's value in Python (model_family from model)
    derived_from: str | None = None
    #: offered by default in the cohort views (the sidebar, worst cohorts): not ids with one value per
    #: conversation or user, nor span-level dimensions the traces table does not summarise (grouping
    #: traces by them reads every trace's spans); the Cohorts page and alerts still take them
    browse: bool = True

    @property
    def membership(self) -> bool:
        """A trace row belongs to several values of this dimension."""
        return self.level == SPAN


DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("route", TRACE, "The route / use case the request went to (e.g. billing, search).", "route", "route"),
    Dimension("tenant", TRACE, "The customer or tenant the request was made for.", "tenant", "tenant"),
    Dimension("model", SPAN, "The model an LLM call asked for (request model).", "model", "models", trace_list=True),
    Dimension("provider", SPAN, "The provider serving an LLM call (openai, anthropic...).", "provider",
              browse=False),
    Dimension("prompt_version", TRACE, "The prompt / template version the request used.", "prompt_version",
              "prompt_version"),
    Dimension("environment", TRACE, "The deployment environment (prod, staging...).", "environment", "environment"),
    Dimension("agent_name", SPAN, "The agent that ran a span (multi-agent systems).", "agent_name", "agents",
              trace_list=True),
    Dimension("service", SPAN, "The OpenTelemetry service.name that emitted a span.", "service", browse=False),
    Dimension("session_id", TRACE, "The conversation / session a request belongs to.", "session_id", "session_id",
              browse=False),
    Dimension("user_id", TRACE, "The end user who made the request.", "user_id", "user_id", browse=False),
    Dimension("tool_name", SPAN, "The tool a TOOL span called (a trace belongs to every tool it called).",
              "tool_name", browse=False),
    Dimension("response_model", SPAN, "The model that actually answered an LLM call, as the provider reported it "
              "(absent on databases written before it was recorded).", "response_model", optional_column=True,
              browse=False),
)
#: Derived dimensions: read another dimension's value and map it in Python.
MODEL_FAMILY = Dimension("model_family", SPAN, "The model without its version/date suffix "
                         "(gemini-2.5-flash-preview-09-2025 -> gemini-2.5-flash).", "model", "models",
                         trace_list=True, derived_from="model")

BY_NAME: dict[str, Dimension] = {d.name: d for d in (*DIMENSIONS, MODEL_FAMILY)}
#: Old spellings -> the one name.
ALIASES: dict[str, str] = {"agent": "agent_name"}
#: Prefixes old documents wrote before a mapped dimension's key.
_MAPPED_PREFIXES = ("dims.", "dim.")
_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,127}$")
#: Version/date suffixes a provider appends to a model name; stripping them gives the model family,
#: so a silent provider refresh ("gemini-2.5-flash" -> "gemini-2.5-flash-preview-09-2025") stays one cohort.
_MODEL_SUFFIX_RE = re.compile(r"(?:-(?:preview|latest|exp|\d{2}-\d{4}|\d{4}-\d{2}-\d{2}|\d{8}|\d{3,4}))+$")


def names(*, derived: bool = False) -> list[str]:
    """The built-in dimension names, in display order."""
    return [d.name for d in DIMENSIONS] + ([MODEL_FAMILY.name] if derived else [])


def browse_names(level: str | None = None) -> list[str]:
    """The built-in dimensions the cohort views offer by default (optionally of one level)."""
    return [d.name for d in DIMENSIONS if d.browse and (level is None or d.level == level)]


def canonical(name: str) -> str:
    """The one spelling of a dimension name: 'agent' -> 'agent_name', 'dims.team' / 'dim.team' -> 'team'."""
    text = str(name).strip()
    text = ALIASES.get(text, text)
    for prefix in _MAPPED_PREFIXES:
        if text.startswith(prefix) and len(text) > len(prefix):
            key = text[len(prefix):]
            return ALIASES.get(key, key)
    return text


def mapped(key: str) -> Dimension:
    """The Dimension of a user-mapped key of the `dims` JSON (a trace-level dimension)."""
    if not _KEY_RE.match(key):
        raise CohortError(f"Dimension {key!r} is not a valid name: use letters, digits, '_', '.', ':' or '-', "
                          f"starting with a letter, digit or '_'.")
    return Dimension(key, TRACE, f"User-mapped dimension {key!r} (from the dims JSON).", mapped=True)


def resolve(name: str, known_mapped: Iterable[str] | None = None, *, derived: bool = True,
            bare_mapped: bool = False) -> Dimension:
    """The Dimension a name (in any accepted spelling) refers to.

    `known_mapped` lists the mapped keys the database holds: a bare name that is neither built-in nor
    listed is an error naming the valid choices. Without it (no database at hand), a mapped dimension
    must be written 'dims.NAME', unless `bare_mapped` (a filter's keys, where any other name is a
    mapped key by definition).
    """
    if not isinstance(name, str) or not name.strip():
        raise CohortError(f"Choose a cohort dimension: {choices_text(known_mapped, derived=derived)}.")
    raw = name.strip()
    key = canonical(raw)
    dim = BY_NAME.get(key)
    if dim is not None and (derived or dim.derived_from is None):
        return dim
    explicit = any(raw.startswith(p) for p in _MAPPED_PREFIXES)
    listed = known_mapped is not None and key in set(known_mapped)
    if explicit or listed or bare_mapped:
        return mapped(key)
    raise CohortError(f"Unknown dimension {raw!r}; choose one of: {choices_text(known_mapped, derived=derived)}.")


def sample_spellings(requested: Iterable[str], known_mapped: Iterable[str]) -> list[str]:
    """Dimension names a user asked for, checked against the database, in the spelling the sample readers
    take: a built-in dimension by its name, a mapped one as 'dims.KEY'.

    An unknown name is an error listing the valid choices (it used to become a mapped dimension no row
    carries, so the feed or explanation silently covered all traffic only)."""
    known = list(known_mapped)
    out: list[str] = []
    for name in requested:
        dim = resolve(name, known)
        out.append(f"dims.{dim.name}" if dim.mapped else dim.name)
    return out


def choices_text(known_mapped: Iterable[str] | None = None, *, derived: bool = False) -> str:
    """'route, tenant, ... or a mapped one (team, region)' for error messages."""
    builtin = ", ".join(names(derived=derived))
    keys = [k for k in (known_mapped or ()) if k not in BY_NAME]
    if known_mapped is None:
        return f"{builtin}, or dims.NAME for a mapped dimension"
    return f"{builtin}" + (f", or a mapped one: {', '.join(keys)}" if keys else "")


def available(mapped_keys: Sequence[str], *, derived: bool = False) -> list[str]:
    """Built-in names then the database's mapped keys (those not shadowed by a built-in)."""
    return names(derived=derived) + [k for k in mapped_keys if k not in BY_NAME]


def split_members(value: object) -> list[str | None]:
    """The values a membership cell stands for: 'gpt-4o,gpt-4o-mini' -> both; None/'' -> [None]."""
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return [None]
    parts: list[str | None] = [p.strip() for p in str(value).split(",") if p.strip()]
    return parts or [None]


def model_family(model: str) -> str:
    """'gemini-2.5-flash-preview-09-2025' -> 'gemini-2.5-flash'; comma lists map element-wise."""
    if model == NO_VALUE:
        return model
    parts = sorted({_MODEL_SUFFIX_RE.sub("", m.strip()) or m.strip() for m in model.split(",")})
    return ",".join(parts)


def markdown() -> str:
    """The dimension list as Markdown, under docs/cohorts.md's title (tracedesk.docgen writes the page)."""
    lines = [
        (__doc__ or "").split("\n\n", 1)[1].strip(),
        "",
        "| name | level | description |",
        "| --- | --- | --- |",
    ]
    for d in (*DIMENSIONS, MODEL_FAMILY):
        lines.append(f"| `{d.name}` | {d.level} | {d.description} |")
    lines.append("| any key of `dims` | trace | A user-mapped dimension (mapped at ingest); "
                 "written `dims.NAME` in alert rules. |")
    lines += ["", "Aliases: " + ", ".join(f"`{a}` = `{c}`" for a, c in ALIASES.items())
              + ", `dims.NAME` / `dim.NAME` = `NAME`.", ""]
    return "\n".join(lines)
