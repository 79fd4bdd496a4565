"""Decoded OTel span (ids, times, attributes, events) -> normalized `Span` + `Evaluation`s.

All attribute names come from `tracedesk.ingest.semconv` tables; this module only knows HOW to read a table
(first key present wins, re-nest flattened lists, decode JSON text), not which names exist.
"""
from __future__ import annotations

import math
import re
from typing import Any

from . import semconv as sc
from .dimensions import DimensionExtractor
from ..models import COLUMN_DIMENSIONS, CostSource, Evaluation, EvaluationSource, Span, SpanKind, SpanStatus
from .messages import last_text, normalize_message, normalize_messages, system_messages, unflatten
from .realworld import (_HANDOFF_SOURCES, adk_gemini_usage, agent_was_inferred, call_input_text, genkit_model_call, canonical_provider, handoff_signal, langgraph_node, llm_usage_details,
                        model_provider, is_framework_system, is_vector_text, litellm_raw_content,
                        output_text_of, plain_model, requested_model, retriever_documents,
                        surface_provider_metadata, tool_result_text)
from . import token_usage, validate
from .wire import as_text, maybe_json, to_float, to_int

# Enum `.value` is a descriptor call: resolve once, use plain strings per span.
_KIND_TABLES = tuple((key, {v: kind.value for v, kind in table.items()}) for key, table in sc.SPAN_KIND_ATTRIBUTES)
_REPORTED, _COMPUTED = CostSource.REPORTED.value, CostSource.COMPUTED.value
_UNSET, _ERROR = SpanStatus.UNSET.value, SpanStatus.ERROR.value


def _compile_markers() -> list[tuple[str, str, str, str]]:
    out = []
    for convention, markers in sc.CONVENTION_MARKERS:
        for marker in markers:
            if marker.startswith("scope:"):
                out.append((convention, "scope", marker[6:], ""))
            elif marker.endswith((".", ":")):
                head = marker[: marker.find(".") + 1] if "." in marker else ""
                out.append((convention, "prefix", marker, head))
            else:
                out.append((convention, "key", marker, ""))
    return out


_MARKERS = _compile_markers()


def detect_convention(attrs: dict[str, Any], scope: str | None, heads: set[str]) -> str:
    for convention, how, marker, head in _MARKERS:
        if how == "key":
            if marker in attrs:
                return convention
        elif how == "prefix":
            if head and head not in heads:
                continue
            if marker == head or any(k.startswith(marker) for k in attrs):
                return convention
        elif scope and scope.startswith(marker):
            return convention
    return "unknown"


def _first(attrs: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value
    return None


def _kind(attrs: dict[str, Any], plan: "Plan") -> str:
    for key, table in plan.kind_attributes:
        value = attrs.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            value = maybe_json(value) if value.startswith('"') else value
            kind = table.get(str(value).lower())
            if kind is not None:
                return kind
    return plan.presence_kind




_TOKEN_FIELDS = (("input_tokens", "input tokens"), ("output_tokens", "output tokens"),
                 ("total_tokens", "total tokens"), ("cached_tokens", "cached tokens"),
                 ("reasoning_tokens", "reasoning tokens"), ("cache_write_tokens", "cache write tokens"))


_CACHE_FIELDS = frozenset({"cached_tokens", "cache_write_tokens"})


def _tokens(value: Any, field: str, notes: list[str]) -> int | None:
    return validate.count(value, field, notes)


def _finite_evaluations(evaluations: list[Evaluation], notes: list[str]) -> list[Evaluation]:
    """A non-finite score is dropped; an evaluation left with no score, label or verdict is dropped."""
    kept = []
    for ev in evaluations:
        if ev.score is not None and not math.isfinite(ev.score):
            notes.append(f"evaluation {ev.name!r} score {ev.score} is not finite; score dropped")
            ev.score = None
            if ev.label is None and ev.passed is None:
                notes.append(f"evaluation {ev.name!r} has nothing left (no score, label or pass flag); dropped")
                continue
        kept.append(ev)
    return kept


_MISSING = object()
_EMPTY_JSON = ("{}", "[]")


class Plan:
    """What a span's attribute KEY SET implies (convention, which alias of each field is present...).

    Spans from one instrumentation share key sets, so this is computed once per distinct set and cached;
    per span only values are read. Values that turn out empty fall back to the full ordered lookup.
    """

    __slots__ = ("keyset", "heads", "convention", "json_keys", "kind_attributes", "presence_kind", "_picks",
                 "_prefixes", "fields", "ttft", "cost_parts", "msg_lists", "flat_msgs", "system_keys",
                 "error_markers", "flat_docs", "doc_lists", "flat_evals", "openlit_evals", "handoff",
                 "handoff_sources", "handoff_markers", "stream_flags", "usage_details")

    def __init__(self, attrs: dict[str, Any], scope: str | None) -> None:
        self.keyset = frozenset(attrs)
        self.heads = {k[: k.find(".") + 1] for k in attrs}
        self.convention = detect_convention(attrs, scope, self.heads)
        self.json_keys = tuple(sc.JSON_TEXT_KEYS.intersection(attrs))
        self.kind_attributes = tuple((k, t) for k, t in _KIND_TABLES if k in self.keyset)
        presence = (*sc.KIND_BY_PRESENCE, *sc.CONVENTION_KIND_BY_PRESENCE.get(self.convention, ()))
        self.presence_kind = next((kind.value for key, kind in presence if key in self.keyset), SpanKind.UNKNOWN.value)
        self._picks: dict[int, str | None] = {}
        self._prefixes: dict[str, bool] = {}
        keyset = self.keyset
        present = [(name, next((k for k in keys if k in keyset), None)) for name, keys in sc.FIELD_KEYS.items()]
        self.fields = tuple((name, key) for name, key in present if key is not None)
        self.ttft = tuple((k, scale) for k, scale in sc.TTFT_KEYS if k in keyset)
        self.cost_parts = tuple(parts for parts in sc.COST_PART_KEYS if any(k in keyset for k in parts))
        self.msg_lists = tuple((k, d) for k, d in sc.MESSAGE_LIST_KEYS if k in keyset)
        self.flat_msgs = tuple(item for item in sc.FLAT_MESSAGE_PREFIXES if self.has_prefix(item[0]))
        self.system_keys = tuple(k for k in sc.SYSTEM_INSTRUCTION_KEYS if k in keyset)
        self.error_markers = tuple((k, v) for k, v in sc.ERROR_MARKERS if k in keyset)
        self.flat_docs = tuple(item for item in sc.FLAT_DOCUMENT_PREFIXES if self.has_prefix(item[0]))
        self.doc_lists = tuple(k for k in sc.DOCUMENT_LIST_KEYS if k in keyset)
        self.flat_evals = tuple(item for item in sc.FLAT_EVALUATION_PREFIXES if self.has_prefix(item[0]))
        self.openlit_evals = tuple(k for k in attrs if k.startswith(sc.OPENLIT_EVAL_PREFIX))
        self.handoff = any(k in keyset for k in sc.HANDOFF_TARGET_KEYS)
        # Keys a span of this key set cannot have read as absent: probe only the present ones (the
        # keys normalize adds itself are tracedesk.*, which none of these tables names).
        self.handoff_sources = tuple(k for k in _HANDOFF_SOURCES if k in keyset)
        self.handoff_markers = tuple((k, v) for k, v in sc.HANDOFF_SPAN_MARKERS if k in keyset)
        self.stream_flags = tuple(k for k in sc.STREAM_FLAG_KEYS if k in keyset)
        self.usage_details = tuple(k for k in sc.USAGE_DETAIL_KEYS if k in keyset)

    def pick(self, attrs: dict[str, Any], keys: tuple[str, ...]) -> Any:
        """The value of the first key of `keys` present (and non-empty) in attrs."""
        key = self._picks.get(id(keys), _MISSING)
        if key is _MISSING:
            key = self._picks[id(keys)] = next((k for k in keys if k in self.keyset), None)
        if not isinstance(key, str):  # None: no key of `keys` occurs in this source
            return None
        value = attrs.get(key)
        if value is None or value == "":
            return _first(attrs, keys)
        return value

    def has_prefix(self, prefix: str) -> bool:
        found = self._prefixes.get(prefix)
        if found is None:
            found = self._prefixes[prefix] = any(k.startswith(prefix) for k in self.keyset)
        return found


class Normalizer:
    """Holds the per-run configuration (dimension mapping, pricing) and normalizes spans."""

    def __init__(self, dimensions: dict[str, list[str]] | None = None, price: bool = True) -> None:
        self.dims = DimensionExtractor(dimensions)
        self.price = price
        self.plans: dict[tuple, Plan] = {}
        #: the last resource found clean (spans of one resourceSpans share the dict): not re-checked
        #: per span; held, so its id cannot be reused by another dict
        self._clean_resource: dict[str, Any] | None = None

    def span(
        self,
        *,
        trace_id: str,
        span_id: str,
        parent_span_id: str | None,
        name: str,
        otel_kind: str | None,
        start_ns: int,
        end_ns: int,
        status_code: str,
        status_message: str | None,
        attrs: dict[str, Any],
        events: list[dict[str, Any]],
        resource: dict[str, Any],
        scope: str | None,
        source: str | None,
        notes: list[str] | None = None,
    ) -> tuple[Span, list[Evaluation]]:
        """`notes` collects what was dropped or altered (ingest.validate's policy) for the caller to report."""
        if notes is None:
            notes = []
        if sc.AI_PROVIDER_METADATA_KEY in attrs:
            # before the key-set Plan: the canonical cache attributes it surfaces are read like any others
            surface_provider_metadata(attrs, notes)
        signature = (scope, *attrs)
        plan = self.plans.get(signature)
        if plan is None:
            if len(self.plans) > 20_000:
                self.plans.clear()
            plan = self.plans[signature] = Plan(attrs, scope)
        for key in plan.json_keys:
            attrs[key] = maybe_json(attrs[key])
        validate.clean_mapping(attrs, "attribute", notes)
        if resource and resource is not self._clean_resource:
            noted = len(notes)
            validate.clean_mapping(resource, "resource attribute", notes)
            if len(notes) == noted:
                self._clean_resource = resource
        if events:
            validate.clean_events(events, notes)
        f: dict[str, Any] = {}
        for fname, key in plan.fields:
            value = attrs[key]
            if value is None or value == "":
                value = _first(attrs, sc.FIELD_KEYS[fname])
                if value is None:
                    continue
            f[fname] = value
        convention = plan.convention
        if "logfire.msg" in attrs and "logfire.msg_template" in attrs and attrs["logfire.msg"]:
            name = str(attrs["logfire.msg"])  # the template is the span name; logfire.msg is the rendered text
        kind = _kind(attrs, plan)
        node = langgraph_node(attrs, name) if kind == "CHAIN" else None
        if node is not None:
            kind = "AGENT"  # a LangGraph node runs a step of the agent graph: the node is the agent
        if kind == "UNKNOWN" and name == "raw_gen_ai_request" and "llm.openai.usage" in attrs:
            kind = "LLM"  # litellm's provider-call span: its usage is all an async fan-out keeps
        elif kind == "UNKNOWN" and scope:
            for scope_prefix, head, tail, named_kind in sc.SPAN_NAME_KINDS:
                if scope.startswith(scope_prefix) and name.startswith(head) and name.endswith(tail) \
                        and len(name) > len(head) + len(tail):
                    kind = named_kind.value
                    f.setdefault("agent_name", name[len(head):len(name) - len(tail)])  # the SDK's own agent name
                    break
        span = Span(
            trace_id=trace_id, span_id=span_id, parent_span_id=parent_span_id, name=name, kind=kind,
            start_ns=start_ns, end_ns=end_ns, duration_ms=(end_ns - start_ns) / 1e6,
            convention=convention, otel_kind=otel_kind, scope=scope, attributes=attrs,
            resource=resource, events=events, source=source, status=status_code,
            status_message=status_message or None,
        )
        span.service = resource.get("service.name")
        model = requested_model(attrs, convention) or f.get("model")
        if model is None and convention == "pydantic_ai":
            model = attrs.get("model_name")
        span.model = plain_model(model)
        span.response_model = plain_model(f.get("response_model"))
        provider = f.get("provider")
        if provider is not None and is_framework_system(provider):
            # the framework's name (ADK's gcp.vertex.agent) says nothing of the API: another provider key
            # that names one wins over the model-name mapping
            provider = next((v for v in (attrs.get(k) for k in sc.FIELD_KEYS["provider"])
                             if v is not None and v != "" and not is_framework_system(v)), None)
        # only a span that names no provider falls back to the price table's provider for its model
        span.provider = model_provider(span.model) if provider is None else canonical_provider(provider)
        native = self._usage(span, attrs, f, plan, notes)
        if convention == "vercel_ai":
            native = token_usage.vercel_v2_anthropic(span, attrs) or native
        if kind in ("LLM", "EMBEDDING"):
            native = llm_usage_details(span, attrs) or native
            if convention == "genkit":
                genkit_model_call(span, attrs)
            elif convention == "google_adk":
                adk_gemini_usage(span, attrs, notes)
        token_usage.settle(span, native)
        self._identity(span, attrs, f, kind, name, plan)
        if node is not None:
            span.agent_name = node
            span.handoff_to = node  # entered from the previous node: resolved per trace by the store
            attrs.pop("tracedesk.agent.inferred", None)
        self._content(span, attrs, f, events, kind, plan)
        self._status(span, attrs, f, events, plan)
        dims = self.dims.extract(attrs, resource, plan.keyset)
        if dims:
            for dim in COLUMN_DIMENSIONS:
                if dim in dims:
                    setattr(span, dim, dims.pop(dim))
            span.dims = dims
        if span.input_messages is not None or span.output_messages is not None or span.documents is not None:
            for column in ("input_messages", "output_messages", "documents"):
                if validate.depth_over(getattr(span, column)):
                    setattr(span, column, None)
                    notes.append(f"{column} nested more than {validate.MAX_DEPTH} levels deep; dropped")
        if self.price:
            self._cost(span, attrs, f, plan, notes)
        evaluations = self._evaluations(span, attrs, events, plan)
        if evaluations:
            evaluations = _finite_evaluations(evaluations, notes)
        return span, evaluations

    # -- usage and cost -------------------------------------------------------------------------
    def _usage(self, span: Span, attrs: dict[str, Any], f: dict[str, Any], plan: Plan, notes: list[str]) -> bool:
        """Token fields from the attributes; True when input and cache counts came from a usage dict whose
        counts are disjoint (input without the cache)."""
        # (a field the span does not report is None: only reported ones go through the range check)
        for fieldname, what in _TOKEN_FIELDS:
            value = f.get(fieldname)
            if value is not None:
                setattr(span, fieldname, _tokens(value, what, notes))
        disjoint = False
        for details_key in plan.usage_details:
            details = attrs.get(details_key)
            if isinstance(details, dict):
                read: set[str] = set()
                for fieldname, keys in sc.LANGFUSE_USAGE_KEYS.items():
                    if getattr(span, fieldname) is None:
                        setattr(span, fieldname, _tokens(_first(details, keys), f"usage_details {fieldname}", notes))
                        if getattr(span, fieldname) is not None:
                            read.add(fieldname)
                # Langfuse's usage types are disjoint (its total is their sum; its SDK subtracts each input
                # detail from `input`): an input read there beside cache counts read there excludes them.
                # (MLflow's tokenUsage is OpenAI-shaped: its input includes the cache.)
                disjoint = disjoint or (details_key == sc.DISJOINT_USAGE_DETAILS_KEY and "input_tokens" in read
                                        and bool(read & _CACHE_FIELDS))
        if span.total_tokens is not None and span.total_tokens > validate.INT64_MAX // 4:
            span.total_tokens = None  # sums below must stay inside int64
        # (whether input includes the cache counts, and the total, are settled by token_usage.settle once
        # every source of counts has been read)
        ttft = None
        streamed = _first(attrs, plan.stream_flags) if plan.stream_flags else None
        for key, scale in () if streamed is False or str(streamed).lower() == "false" else plan.ttft:
            value = to_float(attrs.get(key))
            if value is not None:
                ttft = value * scale
                break
        if ttft is None:
            start = attrs.get("langfuse.observation.completion_start_time")
            if start is not None:
                ttft = _iso_delta_ms(maybe_json(start), span.start_ns)
        if ttft is None and span.events:
            times = [int(e["time_ns"]) for e in span.events if e.get("name") in sc.TTFT_EVENTS and e.get("time_ns")]
            if times and span.start_ns and min(times) >= span.start_ns:
                ttft = (min(times) - span.start_ns) / 1e6
        span.ttft_ms = validate.amount(ttft, "time to first token", notes)
        return disjoint

    def _cost(self, span: Span, attrs: dict[str, Any], f: dict[str, Any], plan: Plan, notes: list[str]) -> None:
        cost = to_float(f.get("cost_usd"))
        if cost is None:
            for parts in plan.cost_parts:
                values = [to_float(attrs.get(k)) for k in parts]
                if any(v is not None for v in values):
                    cost = sum(v for v in values if v is not None)
                    break
        if cost is None:
            details = attrs.get("langfuse.observation.cost_details")
            if isinstance(details, dict):
                cost = to_float(details.get("total"))
                if cost is None:
                    costs = [to_float(v) for v in details.values()]
                    cost = sum(p for p in costs if p is not None) if any(p is not None for p in costs) else None
        # A reported cost that is not finite and >= 0 would make every total inf or wrong: drop it (with a
        # note) and price the tokens as if no cost had been reported.
        cost = validate.amount(cost, "reported cost", notes)
        if cost == 0 and (span.input_tokens or span.output_tokens) and span.model:
            # OpenLIT reports 0 when its own price list did not load (offline): a zero that contradicts a
            # known price is not a price. A model the table does not know keeps the reported 0.
            from .pricing import compute_cost

            known = compute_cost(span.model, span.provider, span.input_tokens or 0, span.output_tokens or 0,
                                 span.cached_tokens or 0, span.reasoning_tokens or 0, span.cache_write_tokens or 0)
            if known:
                cost = None
        if cost is not None:
            span.cost_usd = cost
            span.cost_source = _REPORTED
            return
        if span.model and (span.input_tokens or span.output_tokens):
            from .pricing import compute_cost

            computed = compute_cost(span.model, span.provider, span.input_tokens or 0, span.output_tokens or 0,
                                    span.cached_tokens or 0, span.reasoning_tokens or 0,
                                    span.cache_write_tokens or 0)
            if computed is not None:
                span.cost_usd = computed
                span.cost_source = _COMPUTED

    # -- agent / tool / session -------------------------------------------------------------------
    def _identity(self, span: Span, attrs: dict[str, Any], f: dict[str, Any], kind: str, name: str, plan: Plan) -> None:
        agent = f.get("agent_name")
        tool = f.get("tool_name")
        if agent is None and kind == "AGENT":
            agent = plan.pick(attrs, sc.ENTITY_NAME_KEYS["AGENT"])
            if agent_was_inferred(attrs, agent):
                attrs["tracedesk.agent.inferred"] = True  # a workflow/span name, not the SDK's agent name
            if agent is None and name:
                agent = name[len("invoke_agent "):] if name.startswith("invoke_agent ") else name
        if tool is None and kind == "TOOL":
            tool = plan.pick(attrs, sc.ENTITY_NAME_KEYS["TOOL"])
            if tool is None and name:
                tool = name[len("execute_tool "):] if name.startswith("execute_tool ") else name
        span.agent_name = str(agent) if agent is not None else None
        span.tool_name = str(tool) if tool is not None else None
        session = f.get("session_id")
        span.session_id = str(session) if session is not None else None
        user = f.get("user_id")
        span.user_id = str(user) if user is not None else None
        # Handoffs (§8, §14): the SDK's own signal -> handoff_from / handoff_to (missing sides resolved per trace).
        found = handoff_signal(attrs, name, kind, span.agent_name, span.tool_name, plan.handoff,
                               plan.handoff_sources, plan.handoff_markers)
        if found is not None:
            span.handoff_from, span.handoff_to = found
            if span.handoff_to is not None:
                attrs["tracedesk.handoff.to"] = span.handoff_to
            if span.handoff_from is not None:
                attrs["tracedesk.handoff.from"] = span.handoff_from
            if kind == "TOOL" and span.tool_name not in sc.HANDOFF_TOOLS:
                # "handoff to Billing", "Triage → unknown.handoff", "Handoff: Triage → Billing" are span
                # names, not tools: one tool name so handoffs aggregate as one tool
                span.tool_name = "handoff"

    # -- content ----------------------------------------------------------------------------------
    def _content(self, span: Span, attrs: dict[str, Any], f: dict[str, Any], events: list[dict[str, Any]], kind: str,
                 plan: Plan) -> None:
        inputs: list[dict[str, Any]] | None = None
        outputs: list[dict[str, Any]] | None = None
        system: list[dict[str, Any]] = []
        for prefix, direction, strip in plan.flat_msgs:
            if direction == "input" and inputs is not None or direction == "output" and outputs is not None:
                continue
            items = unflatten(attrs, prefix, strip)
            if items:
                msgs = [m for m in (normalize_message(i) for i in items) if m]
                if direction == "input":
                    inputs = msgs
                else:
                    outputs = msgs
        for key, direction in plan.msg_lists:
            if (direction == "input" and inputs is not None) or (direction == "output" and outputs is not None):
                continue
            listed = normalize_messages(attrs[key], "assistant" if direction == "output" else None)
            if listed:
                if direction == "input":
                    inputs = listed
                else:
                    outputs = listed
        for key in plan.system_keys:
            system = system_messages(attrs[key])
        if "llm.openai.choices" in attrs or "llm.openai.messages" in attrs:
            raw_in, raw_out = litellm_raw_content(attrs)
            if inputs is None and raw_in:
                inputs = normalize_messages(raw_in)
            if raw_out is not None and f.get("output_text") is None:
                f["output_text"] = raw_out
        if inputs is None and isinstance(attrs.get("events"), list):
            # Logfire's OpenAI integrations: the GenAI message events as one JSON attribute
            inputs, outputs, system = self._event_content(
                [{"name": e.get("event.name"), "attributes": e} for e in attrs["events"] if isinstance(e, dict)],
                inputs, outputs, system)
        if events:
            inputs, outputs, system = self._event_content(events, inputs, outputs, system)
        if system and not any(m.get("role") == "system" for m in inputs or ()):
            inputs = system + (inputs or [])
        span.input_messages = inputs or None
        span.output_messages = outputs or None
        # an empty JSON object or list is no text: ADK sets llm_request / llm_response to "{}" on tool spans
        # ("as UI expect these") and on every span when content capture is off
        in_text = None if f.get("input_text") in _EMPTY_JSON else f.get("input_text")
        out_text = None if f.get("output_text") in _EMPTY_JSON else f.get("output_text")
        if kind == "TOOL":
            for in_key, out_key in sc.TOOL_IO_KEYS:
                if span.tool_arguments is None and in_key in attrs:
                    span.tool_arguments = as_text(attrs[in_key])
                if span.tool_result is None and out_key in attrs:
                    span.tool_result = as_text(attrs[out_key])
        args = f.get("tool_arguments")
        if args is not None:
            span.tool_arguments = as_text(args)
        result = f.get("tool_result")
        if result is not None:
            span.tool_result = as_text(result)
        if kind == "TOOL":
            span.tool_result = tool_result_text(span.tool_result)
        if inputs and (kind in ("LLM", "EMBEDDING") or in_text is None or _looks_json(in_text)):
            in_text = last_text(inputs, ("user", "tool")) or in_text
        if outputs and (kind == "LLM" or out_text is None or _looks_json(out_text)):
            out_text = last_text(outputs, ("assistant",)) or output_text_of(outputs, out_text, kind)
        elif out_text is not None and _looks_json(out_text):
            out_text = output_text_of(None, out_text, kind)
        if in_text is None and span.tool_arguments is not None:
            in_text = span.tool_arguments
        if out_text is None and span.tool_result is not None:
            out_text = span.tool_result
        if kind == "EMBEDDING":
            texts = [str(i.get("embedding", {}).get("text")) for i in unflatten(attrs, "embedding.embeddings.")
                     if isinstance(i.get("embedding"), dict) and i["embedding"].get("text") is not None]
            in_text = "\n".join(texts) if texts else in_text  # the embedded texts, not the request JSON
        span.input_text = _display_text(call_input_text(in_text))
        span.output_text = None if kind == "EMBEDDING" and is_vector_text(out_text) else _display_text(out_text)
        finish = f.get("finish_reason")
        if isinstance(finish, str) and finish.startswith("["):
            finish = maybe_json(finish)  # litellm sends the finish_reasons list as JSON text
        if isinstance(finish, list):
            finish = finish[0] if finish else None
        if finish is None and outputs:
            finish = outputs[-1].get("finish_reason")
        if isinstance(finish, str) and finish.startswith("FinishReason."):
            finish = finish[len("FinishReason."):].lower()  # Semantic Kernel writes its enum's repr
        span.finish_reason = str(finish) if finish is not None else None
        span.documents = _documents(attrs, events, plan)
        if span.documents is None and kind == "RETRIEVER":
            found = retriever_documents(attrs)
            span.documents = [_doc(d) for d in found] if found else None

    def _event_content(self, events: list[dict[str, Any]], inputs: list[dict[str, Any]] | None,
                       outputs: list[dict[str, Any]] | None, system: list[dict[str, Any]]
                       ) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]] | None, list[dict[str, Any]]]:
        ev_in: list[dict[str, Any]] = []
        ev_out: list[dict[str, Any]] = []
        for event in events:
            ename = event.get("name")
            eattrs = event.get("attributes") or {}
            if ename in sc.MESSAGE_EVENTS:
                direction, role = sc.MESSAGE_EVENTS[ename]
                msg = event_message(ename, eattrs)
                if msg:
                    (ev_in if direction == "input" else ev_out).append(msg)
            elif ename in sc.CONTENT_EVENTS:
                for key, direction in sc.CONTENT_EVENTS[ename]:
                    if key not in eattrs:
                        continue
                    if direction == "system":
                        system = system or system_messages(eattrs[key])
                        continue
                    value = maybe_json(eattrs[key])
                    msgs = normalize_messages(value, "assistant" if direction == "output" else None)
                    if msgs is None and isinstance(value, str):
                        msgs = [{"role": "assistant" if direction == "output" else "user", "content": value}]
                    if msgs:
                        (ev_in if direction == "input" else ev_out).extend(msgs)
        if inputs is None and ev_in:
            inputs = ev_in
        if outputs is None and ev_out:
            outputs = ev_out
        return inputs, outputs, system

    # -- status -----------------------------------------------------------------------------------
    def _status(self, span: Span, attrs: dict[str, Any], f: dict[str, Any], events: list[dict[str, Any]], plan: Plan) -> None:
        if span.status != _UNSET:
            if span.status == _ERROR and not span.status_message:
                span.status_message = _exception_message(events) or f.get("status_message")
            return
        failed = False
        for key, values in plan.error_markers:
            value = attrs.get(key)
            if value is not None and (values is None or str(value).upper() in values):
                failed = True
                break
        level = to_int(attrs.get("logfire.level_num"))
        if level is not None and level >= sc.LOGFIRE_ERROR_LEVEL:
            failed = True
        exc = _exception_message(events)
        if failed or exc is not None:
            span.status = _ERROR
            span.status_message = exc or f.get("status_message") or \
                (str(attrs["error.type"]) if "error.type" in attrs else None)

    # -- evaluations ------------------------------------------------------------------------------
    def _evaluations(self, span: Span, attrs: dict[str, Any], events: list[dict[str, Any]],
                     plan: Plan) -> list[Evaluation]:
        out: list[Evaluation] = []
        for prefix, strip in plan.flat_evals:
            for item in unflatten(attrs, prefix, strip):
                ev = _evaluation_from(span.trace_id, span.span_id, item.get("name"), item.get("score"),
                                      item.get("label"), item.get("explanation"), span.end_ns)
                if ev:
                    kind = str(item.get("annotator_kind") or "").upper()
                    ev.source = EvaluationSource.HUMAN.value if kind == "HUMAN" else EvaluationSource.IMPORTED.value
                    if item.get("identifier"):
                        ev.metadata["key"] = str(item["identifier"])
                    out.append(ev)
        if "gen_ai.evaluation.name" in attrs:
            ev = genai_evaluation(attrs, span.trace_id, span.span_id, span.end_ns)
            if ev:
                out.append(ev)
        for event in events:
            if event.get("name") == sc.EVALUATION_EVENT:
                ev = genai_evaluation(event.get("attributes") or {}, span.trace_id, span.span_id,
                                      event.get("time_ns") or span.end_ns)
                if ev:
                    out.append(ev)
        for key in plan.openlit_evals:
            ev = _evaluation_from(span.trace_id, span.span_id, key[len(sc.OPENLIT_EVAL_PREFIX):],
                                  attrs[key], None, None, span.end_ns)
            if ev:
                out.append(ev)
        if attrs.get("logfire.span_type") == "annotation":
            fname = attrs.get("logfire.feedback.name")
            if fname and span.parent_span_id:
                ev = _evaluation_from(span.trace_id, span.parent_span_id, fname, attrs.get(fname), None,
                                      attrs.get("logfire.feedback.comment"), span.end_ns)
                if ev:
                    out.append(ev)
        return out


def genai_evaluation(attrs: dict[str, Any], trace_id: str, span_id: str | None,
                     time_ns: int | None, notes: list[str] | None = None) -> Evaluation | None:
    f = sc.GENAI_EVALUATION_FIELDS
    target = attrs.get(f["target_span_id"])
    if isinstance(target, str) and len(target) == 16:
        span_id = target.lower()
    ev = _evaluation_from(trace_id, span_id, attrs.get(f["name"]), attrs.get(f["score"]), attrs.get(f["label"]),
                          attrs.get(f["reason"]), time_ns)
    if ev is None:
        return None
    if notes is not None and not _finite_evaluations([ev], notes):
        return None
    ev.evaluator_version = attrs.get(f["evaluator_version"])
    if "error.type" in attrs:
        ev.error = str(attrs["error.type"])
    return ev


_SNAKE = re.compile(r"[^0-9a-zA-Z]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def evaluation_name(name: Any) -> str:
    """"Answer Relevancy" / "answerRelevancy" / "answer-relevancy" -> "answer_relevancy"."""
    text = _CAMEL.sub("_", str(name))
    return _SNAKE.sub("_", text).strip("_").lower() or "unnamed"


def _evaluation_from(trace_id: str, span_id: str | None, name: Any, score: Any, label: Any, reason: Any,
                     time_ns: int | None) -> Evaluation | None:
    if name is None or (score is None and label is None):
        return None
    passed = None
    if isinstance(score, bool):
        passed = score
        score = 1.0 if score else 0.0
    elif isinstance(score, str) and score.lower() in ("true", "false"):
        passed = score.lower() == "true"
        score = 1.0 if passed else 0.0
    value = to_float(score)
    if label is not None:
        low = str(label).lower()
        if low in sc.PASS_LABELS:
            passed = True
        elif low in sc.FAIL_LABELS:
            passed = False
    return Evaluation(
        trace_id=trace_id, span_id=span_id, name=evaluation_name(name), score=value,
        label=str(label) if label is not None else None, passed=passed,
        reason=str(reason) if reason is not None else None, source=EvaluationSource.IMPORTED.value,
        created_ns=time_ns,
    )


def event_message(event_name: str, body: Any) -> dict[str, Any] | None:
    """A GenAI message event's body/attributes -> one normalized message."""
    direction, role = sc.MESSAGE_EVENTS[event_name]
    body = maybe_json(body)
    if isinstance(body, dict):
        if "gen_ai.event.content" in body:
            return event_message(event_name, body["gen_ai.event.content"])
        if event_name == "gen_ai.choice":
            inner = maybe_json(body.get("message"))
            msg = inner if isinstance(inner, dict) else {
                k: v for k, v in body.items() if k not in ("index", "finish_reason")}
            out = normalize_message({"role": role, **msg})
            if out is not None and body.get("finish_reason") is not None:
                out["finish_reason"] = body["finish_reason"]
            return out
        msg = dict(body)
        msg.setdefault("role", role)
        if event_name == "gen_ai.tool.message" and "id" in msg:
            msg.setdefault("tool_call_id", msg.pop("id"))
        return normalize_message(msg)
    if isinstance(body, str):
        return {"role": role, "content": body}
    return None


def _documents(attrs: dict[str, Any], events: list[dict[str, Any]], plan: Plan) -> list[dict[str, Any]] | None:
    docs: list[dict[str, Any]] | None = None
    for prefix, strip in plan.flat_docs:
        items = unflatten(attrs, prefix, strip)
        if items:
            docs = [_doc(i) for i in items]
            break
    if docs is None:
        for key in plan.doc_lists:
            value = maybe_json(attrs.get(key))
            if isinstance(value, list) and value:
                docs = [_doc(d if isinstance(d, dict) else {"content": d}) for d in value]
                break
    if docs is None and events:
        for event in events:
            event_prefix = sc.DOCUMENT_EVENTS.get(event.get("name") or "")
            if event_prefix:
                eattrs = event.get("attributes") or {}
                item = {k[len(event_prefix):]: v for k, v in eattrs.items() if k.startswith(event_prefix)}
                if item:
                    docs = (docs or []) + [_doc({"content": item.pop("document", None), **item})]
    return docs


def _doc(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if item.get("id") is not None:
        out["id"] = str(item["id"])
    score = to_float(item.get("score"))
    if score is not None:
        out["score"] = score
    content = item.get("content", item.get("text", item.get("page_content")))  # page_content: LangChain/MLflow
    if content is not None:
        out["content"] = as_text(content)
    if item.get("metadata") is not None:
        out["metadata"] = maybe_json(item["metadata"])
    return out


def _exception_message(events: list[dict[str, Any]]) -> str | None:
    for event in events:
        if event.get("name") == "exception":
            a = event.get("attributes") or {}
            msg = a.get("exception.message")
            etype = a.get("exception.type")
            if etype and msg:
                return f"{etype}: {msg}"
            return str(msg or etype or "exception")
    return None


def _looks_json(value: Any) -> bool:
    return not isinstance(value, str) or value[:1] in ("{", "[")


def _display_text(value: Any) -> str | None:
    if value is None:
        return None
    value = maybe_json(value) if isinstance(value, str) and value.startswith('"') else value
    return as_text(value)


def _iso_delta_ms(value: Any, start_ns: int) -> float | None:
    from datetime import datetime

    if not isinstance(value, str) or not start_ns:
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    delta = ts * 1000.0 - start_ns / 1e6
    return delta if delta >= 0 else None
