"""Readers for what real instrumentation libraries send beyond the plain attribute tables.

Each function here was written against a captured export of an unmodified library (tests/captures/) and
handles that library's actual behaviour: OpenInference's requested model hidden in JSON, MLflow's
JSON-quoted strings, litellm's Python-repr usage dicts, Logfire's usage JSON, Responses-API and
chat-completion blobs as "output text", LangGraph node spans, and each agent SDK's handoff signal.
Attribute names live in `tracedesk.semconv`; this module only knows how to read them.
"""
from __future__ import annotations

import ast
import json
import re
from typing import TYPE_CHECKING, Any

from . import semconv as sc
from . import validate
from .pricing import listed_provider
from .token_usage import is_anthropic_usage
from .wire import maybe_json, to_int

if TYPE_CHECKING:
    from ..models import Span

#: Python-repr dicts longer than this are not parsed (usage dicts are a few hundred characters).
_MAX_REPR = 20_000


def plain_model(value: Any) -> str | None:
    """A model name as text: MLflow JSON-quotes plain strings (`"gpt-4o-mini"` with the quotes)."""
    if value is None:
        return None
    text = str(value).strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = maybe_json(text)
        text = inner.strip() if isinstance(inner, str) else text.strip('"')
    return text or None


_BEDROCK_MODEL = re.compile(sc.BEDROCK_MODEL_ID)


def model_provider(model: Any) -> str | None:
    """The provider of a span that sends no provider attribute, or only its agent framework's name
    (sc.FRAMEWORK_SYSTEMS), read from its model: what the model id's shape names (a Bedrock id ->
    `aws.bedrock`), else the provider the price table lists for the model (pricing.listed_provider), in the
    canonical spelling; None for a model in neither (unknown, never the framework's name)."""
    if not isinstance(model, str) or not model:
        return None
    if _BEDROCK_MODEL.match(model):
        return "aws.bedrock"
    listed = listed_provider(model)
    if listed is None:
        return None
    low = listed.lower()
    if low not in sc.PROVIDER_ALIASES and "-" in low:
        # litellm names a provider's model family after a dash (`vertex_ai-language-models`,
        # `fireworks_ai-embedding-models`) or before it (`text-completion-openai`)
        parts = low.split("-")
        low = next((part for part in parts if part in sc.PROVIDER_ALIASES), parts[0])
    return canonical_provider(low)


def is_framework_system(value: Any) -> bool:
    return isinstance(value, str) and value.lower() in sc.FRAMEWORK_SYSTEMS


def surface_provider_metadata(attrs: dict[str, Any], notes: list[str]) -> None:
    """Vercel AI SDK do* spans: copy the cache figures only `ai.response.providerMetadata` carries (Anthropic's
    cache writes, AI SDK 4's cache reads) to the canonical gen_ai.usage.cache_* attributes, so every reader of
    the canonical names sees them. Called only on spans that carry the attribute; never overwrites a
    canonical attribute the span sent, and adds no cache read when the span sends one (ai.usage.cachedInputTokens).

    Bad input (ingest.validate's policy): metadata that is not a JSON object (malformed text, a list, a number)
    is left as the attribute it is, surfacing nothing; a figure in it that is not a token count (negative,
    fractional text, a boolean, beyond int64) is dropped with a note naming its path, and the next path is read."""
    meta = maybe_json(attrs.get(sc.AI_PROVIDER_METADATA_KEY))
    if not isinstance(meta, dict):
        return
    for canonical, field, paths in sc.AI_PROVIDER_METADATA_CACHE:
        if canonical in attrs or (field is not None and any(k in attrs for k in sc.FIELD_KEYS[field])):
            continue
        for path in paths:
            value: Any = meta
            for part in path.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            n = validate.count(value, f"{sc.AI_PROVIDER_METADATA_KEY} {path}", notes)
            if n is not None:
                attrs[canonical] = n
                break


def canonical_provider(value: Any) -> str | None:
    """One lowercase spelling per provider (`OpenAI`, `openai.responses` -> `openai`; `google`, `Gemini`,
    `gcp.gemini` -> `gcp.gemini`). Unknown names are kept, lowercased."""
    text = plain_model(value)
    if text is None:
        return None
    low = text.lower()
    found = sc.PROVIDER_ALIASES.get(low)
    if found is None and "." in low:
        head = low.split(".", 1)[0]
        # "mistral.chat" / "openai.whatever": an API-family suffix on a known provider name
        found = sc.PROVIDER_ALIASES.get(head) if head in sc.PROVIDER_ALIASES else None
    return found or low


def requested_model(attrs: dict[str, Any], convention: str) -> str | None:
    """The requested model where a convention hides it in JSON: OpenInference's `llm.model_name` carries the
    response model when known, while the request's model is in `llm.invocation_parameters` (LangChain,
    OpenAI) or LangChain's `metadata.ls_model_name`."""
    if convention == "mlflow" and attrs.get("model") is not None:
        return plain_model(attrs["model"])  # autolog's request kwargs; mlflow.llm.model is the response's
    if convention != "openinference" or "llm.request.model_name" in attrs or "gen_ai.request.model" in attrs:
        return None
    params = maybe_json(attrs.get("llm.invocation_parameters"))
    if isinstance(params, dict):
        for key in ("model", "model_name", "model_id"):
            if isinstance(params.get(key), str) and params[key]:
                return params[key]
    meta = attrs.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("ls_model_name"), str) and meta["ls_model_name"]:
        return meta["ls_model_name"]
    return None


def python_literal(value: Any, limit: int = _MAX_REPR) -> Any:
    """A dict/list sent as JSON text or as a Python repr (litellm: `{'prompt_tokens': 120, ...}`), else None.
    Only literals are evaluated (ast.literal_eval), and only up to `limit` characters."""
    if isinstance(value, (dict, list)):
        return value
    if not isinstance(value, str) or value[:1] not in ("{", "[") or len(value) > limit:
        return None
    decoded = maybe_json(value)
    if isinstance(decoded, (dict, list)):
        return decoded
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return None
    return parsed if isinstance(parsed, (dict, list)) else None


def raw_python_usage(value: Any) -> dict[str, Any] | None:
    parsed = python_literal(value)
    return parsed if isinstance(parsed, dict) else None


def litellm_raw_content(attrs: dict[str, Any]) -> tuple[Any, str | None]:
    """litellm's `raw_gen_ai_request` span: the request messages and the provider's choices, as Python
    reprs (`llm.<provider>.messages` / `.choices`) -> (message list or None, answer text or None)."""
    messages = python_literal(attrs.get("llm.openai.messages"), 1_000_000)
    choices = python_literal(attrs.get("llm.openai.choices"), 1_000_000)
    text = blob_text({"choices": choices}) if isinstance(choices, list) else None
    return (messages if isinstance(messages, list) else None), text


#: Usage dicts that sit beside (or instead of) the usage attributes, by key; first one present wins.
_USAGE_DICT_KEYS = ("gen_ai.usage.raw", "usage", "llm.openai.usage", "metadata.usage_object",
                    "langfuse.observation.usage_details", "langsmith.metadata.usage_metadata")


def llm_usage_details(span: "Span", attrs: dict[str, Any]) -> bool:
    """Fill tokens an LLM span reports only inside a usage dict (Logfire's `gen_ai.usage.raw`, litellm's
    Python-repr `llm.openai.usage` / `metadata.usage_object`): OpenAI chat or Responses API shape, or
    Anthropic's `usage` object (Logfire's `instrument_anthropic` puts only the input total in
    `gen_ai.usage.input_tokens`; the cache counts are in `gen_ai.usage.raw`).

    True when the input count itself was read from an Anthropic usage object: it excludes the cache
    (token_usage.settle adds it back)."""
    if (span.reasoning_tokens is not None and span.cached_tokens is not None and span.input_tokens is not None
            and span.cache_write_tokens is not None):
        return False
    usage = None
    for key in _USAGE_DICT_KEYS:
        if key in attrs:
            usage = raw_python_usage(attrs[key])
            if usage:
                break
    if not usage and span.reasoning_tokens is None and sc.LOGFIRE_RESPONSES_KEY in attrs and str(
            attrs.get("logfire.msg_template", "")).startswith(sc.LOGFIRE_RESPONSES_TEMPLATE_PREFIX):
        # Logfire's OpenAI Agents Responses span: the usage details are only in the Response object (JSON)
        response = maybe_json(attrs[sc.LOGFIRE_RESPONSES_KEY])
        found = response.get("usage") if isinstance(response, dict) else None
        usage = found if isinstance(found, dict) else None
    if not usage:
        return False
    native = False
    if span.input_tokens is None and span.output_tokens is None:
        span.input_tokens = _nonneg(usage.get("input_tokens", usage.get("prompt_tokens")))
        span.output_tokens = _nonneg(usage.get("output_tokens", usage.get("completion_tokens")))
        span.total_tokens = _nonneg(usage.get("total_tokens"))
        native = span.input_tokens is not None and is_anthropic_usage(usage)
    if span.cached_tokens is None:
        span.cached_tokens = _nonneg(usage.get("cache_read_input_tokens"))
    if span.cache_write_tokens is None:
        span.cache_write_tokens = _nonneg(usage.get("cache_creation_input_tokens"))
    # OpenAI chat / Responses API, and LangChain's usage_metadata (input_token_details.cache_read...)
    in_details = (usage.get("input_tokens_details") or usage.get("prompt_tokens_details")
                  or usage.get("input_token_details"))
    out_details = (usage.get("output_tokens_details") or usage.get("completion_tokens_details")
                   or usage.get("output_token_details"))
    if span.cached_tokens is None and isinstance(in_details, dict):
        span.cached_tokens = _nonneg(in_details.get("cached_tokens", in_details.get("cache_read")))
    if span.cache_write_tokens is None and isinstance(in_details, dict):
        span.cache_write_tokens = _nonneg(in_details.get("cache_write_tokens", in_details.get("cache_creation")))
    if span.reasoning_tokens is None and isinstance(out_details, dict):
        span.reasoning_tokens = _nonneg(out_details.get("reasoning_tokens", out_details.get("reasoning")))
    return native


def adk_gemini_usage(span: "Span", attrs: dict[str, Any], notes: list[str]) -> None:
    """Google ADK `call_llm` spans: the cache reads and thinking tokens only the response JSON's Gemini
    usage_metadata carries (sc.GEMINI_USAGE_FIELDS), and the thinking tokens added to an output count that
    is the visible answer alone (candidates_token_count), so output includes reasoning as OTel says. Counts
    the span sent itself are kept; a figure that is no token count is dropped with a note (ingest.validate)."""
    response = maybe_json(attrs.get(sc.ADK_LLM_RESPONSE_KEY))
    usage = response.get(sc.GEMINI_USAGE_KEY) if isinstance(response, dict) else None
    if not isinstance(usage, dict):
        return
    got = {f: validate.count(usage.get(k), f"{sc.ADK_LLM_RESPONSE_KEY} {sc.GEMINI_USAGE_KEY}.{k}", notes)
           for f, k in sc.GEMINI_USAGE_FIELDS.items()}
    if span.input_tokens is None:
        span.input_tokens = got["input_tokens"]
    thoughts = got["reasoning_tokens"]
    if span.output_tokens is None:
        span.output_tokens = got["output_tokens"]
    if thoughts and (span.output_tokens or 0) + thoughts > validate.INT64_MAX:
        # an output holding them would not be a count either: kept as reasoning alone it would exceed the output
        notes.append(f"{sc.ADK_LLM_RESPONSE_KEY} {sc.GEMINI_USAGE_KEY}.{sc.GEMINI_USAGE_FIELDS['reasoning_tokens']} "
                     f"{thoughts} added to the output count passes 2^63-1; field dropped")
        thoughts = None
    if (thoughts and span.reasoning_tokens is None and span.output_tokens == got["output_tokens"]
            and (span.output_tokens or 0) + thoughts <= validate.INT64_MAX):
        span.output_tokens = (span.output_tokens or 0) + thoughts
    if span.reasoning_tokens is None:
        span.reasoning_tokens = thoughts
    if span.cached_tokens is None:
        span.cached_tokens = got["cached_tokens"]


def _nonneg(value: Any) -> int | None:
    n = to_int(value)
    return n if n is not None and n >= 0 else None


def genkit_model_call(span: "Span", attrs: dict[str, Any]) -> None:
    """Genkit model spans (`genkit:metadata:subtype` = model): the model is `genkit:name` (`openai/gpt-4o-mini`,
    its prefix the provider) and usage sits in the `genkit:output` JSON (`usage.inputTokens`...; outputTokens
    already includes `thoughtsTokens`). Wrapper spans (`generate`) repeat it and are not read."""
    if attrs.get("genkit:metadata:subtype") != "model":
        return
    name = attrs.get("genkit:name")
    if span.model is None and isinstance(name, str) and name:
        span.model = name
        if span.provider is None and "/" in name:
            span.provider = canonical_provider(name.split("/", 1)[0])
    out = maybe_json(attrs.get("genkit:output"))
    usage = out.get("usage") if isinstance(out, dict) else None
    if isinstance(usage, dict) and span.input_tokens is None and span.output_tokens is None:
        span.input_tokens = _nonneg(usage.get("inputTokens"))
        span.output_tokens = _nonneg(usage.get("outputTokens"))
        span.total_tokens = _nonneg(usage.get("totalTokens"))
        span.cached_tokens = _nonneg(usage.get("cachedContentTokens"))
        span.reasoning_tokens = _nonneg(usage.get("thoughtsTokens"))
        if span.total_tokens is None and span.input_tokens is not None and span.output_tokens is not None:
            span.total_tokens = span.input_tokens + span.output_tokens


# -- output text --------------------------------------------------------------------------------------

def output_text_of(outputs: list[dict[str, Any]] | None, fallback: Any, kind: str) -> str | None:
    """The answer as text when the output has no plain assistant text: tool calls as `name(args)`, or the
    text inside a raw response blob (chat completion `choices`, Responses API `output`, LangChain
    `generations`, `{"messages": ...}`). Embedding vectors are not text."""
    for msg in reversed(outputs or ()):
        calls = msg.get("tool_calls")
        if msg.get("role") == "assistant" and calls:
            rendered = [t for t in (_call_text(c) for c in calls if isinstance(c, dict)) if t]
            if rendered:
                return "\n".join(rendered)
    value = maybe_json(fallback) if isinstance(fallback, str) else fallback
    if kind == "EMBEDDING" and _is_vector(value):
        return None
    text = blob_text(value)
    if text is not None:
        return text
    return fallback if isinstance(fallback, str) or fallback is None else json.dumps(fallback, default=str)


def _call_text(call: dict[str, Any]) -> str | None:
    inner = call.get("function")
    fn: dict[str, Any] = inner if isinstance(inner, dict) else call
    name = fn.get("name") or fn.get("toolName")  # OpenAI / OTel parts, Vercel's ai.response.toolCalls
    if not name:
        return None
    args = fn.get("arguments", fn.get("args", fn.get("input")))
    if args is None or args == "":
        args = "{}"
    if isinstance(args, str):
        decoded = maybe_json(args)
        if isinstance(decoded, (dict, list)):
            args = decoded
    if not isinstance(args, str):
        args = json.dumps(args, ensure_ascii=False)  # one spelling whatever spacing the library used
    return f"{name}({args})"


_LANGCHAIN_TYPES = frozenset({"tool", "ai", "human", "system", "AIMessage", "ToolMessage", "HumanMessage",
                              "AIMessageChunk"})


def call_input_text(value: Any) -> Any:
    """A decorated function's captured call (Langfuse @observe: `{"args": [...], "kwargs": {...}}`) with one
    text argument -> that text; anything else unchanged."""
    decoded = maybe_json(value) if isinstance(value, str) and value.startswith('{"args"') else value
    if isinstance(decoded, dict) and set(decoded) == {"args", "kwargs"}:
        args, kwargs = decoded["args"], decoded["kwargs"]
        if isinstance(args, list) and len(args) == 1 and isinstance(args[0], str) and not kwargs:
            return args[0]
    return value


def tool_result_text(value: str | None) -> str | None:
    """A tool result sent as a serialized framework message (LangChain's ToolMessage) -> its content."""
    if value is None or value[:1] != "{":
        return value
    text = blob_text(maybe_json(value))
    return text if text is not None else value


def blob_text(value: Any) -> str | None:
    """Text inside a known response shape, else None."""
    if isinstance(value, list) and value and all(isinstance(c, dict) and (c.get("toolName") or (
            c.get("name") and ("arguments" in c or "args" in c or "input" in c))) for c in value):
        return "\n".join(t for t in (_call_text(c) for c in value) if t)  # a list of tool calls
    if not isinstance(value, dict):
        return None
    if set(value) == {"output"} and isinstance(value["output"], str):
        return str(value["output"])  # LangSmith @traceable: {"output": <return value>}
    message = value.get("message")
    if isinstance(message, dict) and message.get("role") in ("model", "assistant"):  # Genkit's generate output
        texts = [p["text"] for p in message.get("content") or [] if isinstance(p, dict) and isinstance(p.get("text"), str)]
        calls = [_call_text({"name": p["toolRequest"].get("name"), "input": p["toolRequest"].get("input")})
                 for p in message.get("content") or [] if isinstance(p, dict) and isinstance(p.get("toolRequest"), dict)]
        found = [t for t in texts if t] or [c for c in calls if c]
        if found:
            return "\n".join(found)
    if value.get("role") == "assistant":  # one chat message (Langfuse's generation output)
        if isinstance(value.get("content"), str) and value["content"]:
            return str(value["content"])
        calls = [_call_text(c) for c in value.get("tool_calls") or [] if isinstance(c, dict)]
        if any(calls):
            return "\n".join(c for c in calls if c)
    data = value.get("data")
    if isinstance(data, dict) and isinstance(data.get("content"), str) and value.get("type") in _LANGCHAIN_TYPES:
        return str(data["content"])  # a LangChain-serialized message (ToolMessage, AIMessage...)
    choices = value.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        first = choices[0]
        msg = first.get("message") or first.get("delta") or {}
        if isinstance(msg, dict):
            if isinstance(msg.get("content"), str) and msg["content"]:
                return str(msg["content"])
            calls = [_call_text(c) for c in msg.get("tool_calls") or [] if isinstance(c, dict)]
            if any(calls):
                return "\n".join(c for c in calls if c)
        if isinstance(first.get("text"), str):
            return str(first["text"])
    output = value.get("output")
    if isinstance(output, list) and value.get("object") in ("response", None):
        texts = []
        for item in output:
            if not isinstance(item, dict):
                continue
            if item.get("type") == "message":
                for part in item.get("content") or []:
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        texts.append(part["text"])
            elif item.get("type") == "function_call":
                call = _call_text(item)
                if call:
                    texts.append(call)
        if texts:
            return "\n".join(texts)
    generations = value.get("generations")
    if isinstance(generations, list) and generations:
        first = generations[0][0] if isinstance(generations[0], list) and generations[0] else generations[0]
        if isinstance(first, dict):
            if isinstance(first.get("text"), str) and first["text"]:
                return str(first["text"])
            msg = first.get("message")
            if isinstance(msg, dict):
                content = (msg.get("kwargs") or msg).get("content")
                if isinstance(content, str):
                    return content
    messages = value.get("messages")
    if isinstance(messages, list):
        # OpenAI-style {"role", "content"} or LangChain-serialized {"type": "ai", "data"|"kwargs": {...}}
        for msg in reversed(messages):
            if not isinstance(msg, dict):
                continue
            body = msg.get("data") or msg.get("kwargs") or msg
            role = msg.get("role") or msg.get("type") or body.get("type")
            if role not in ("assistant", "ai", "AIMessage", "AIMessageChunk", None) or not isinstance(body, dict):
                continue
            content = body.get("content")
            if isinstance(content, str) and content:
                return content
            calls = [_call_text(c) for c in body.get("tool_calls") or [] if isinstance(c, dict)]
            if any(calls):
                return "\n".join(c for c in calls if c)
    return None


def retriever_documents(attrs: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A RETRIEVER span's output list as documents (MLflow: `mlflow.spanOutputs` = [Document, ...])."""
    for key in sc.RETRIEVER_OUTPUT_KEYS:
        value = maybe_json(attrs.get(key))
        if isinstance(value, list) and value and all(isinstance(d, dict) for d in value):
            return value
    return None


def _is_vector(value: Any) -> bool:
    """A list of numbers, or of lists of numbers, or a dict holding one (`{"embeddings": [[...]]}`)."""
    if isinstance(value, dict):
        return any(_is_vector(v) for v in value.values() if isinstance(v, list))
    if not isinstance(value, list) or not value:
        return False
    head = value[0]
    if isinstance(head, (int, float)) and not isinstance(head, bool):
        return True
    if isinstance(head, dict):
        return any(_is_vector(v) for v in head.values() if isinstance(v, list))
    return isinstance(head, list) and _is_vector(head)


def is_vector_text(value: Any) -> bool:
    if isinstance(value, str):
        if not value[:1] in ("[", "{"):
            return False
        value = maybe_json(value)
    return _is_vector(value)


# -- agents and handoffs ----------------------------------------------------------------------------

def agent_was_inferred(attrs: dict[str, Any], agent: Any) -> bool:
    """True when an AGENT span carries no agent name of its own (the name will be its span or workflow
    name): such a span may be a workflow wrapper around the real agents (decided per trace by the store)."""
    if agent is None:
        return True
    return any(agent == attrs.get(k) for k in sc.WORKFLOW_NAME_KEYS) and agent != attrs.get("traceloop.entity.name")


def langgraph_node(attrs: dict[str, Any], name: str) -> str | None:
    """The LangGraph node a span IS (the node's own span is named after it; its children and routing
    functions such as `tools_condition` only inherit the metadata), unless the node is plumbing."""
    for key, sub in sc.LANGGRAPH_NODE_KEYS:
        value = attrs.get(key)
        if sub:
            value = value.get(sub) if isinstance(value, dict) else None
        if isinstance(value, str) and value == name and value not in sc.LANGGRAPH_NON_AGENT_NODES:
            return value
    return None


_HANDOFF_SOURCES = tuple(k for k in sc.HANDOFF_SOURCE_KEYS if k != sc.AGENT_GRAPH_PARENT_KEY)


def handoff_signal(attrs: dict[str, Any], name: str, kind: str, agent: str | None, tool: str | None,
                   has_target_keys: bool, source_keys: tuple[str, ...] = _HANDOFF_SOURCES,
                   markers: tuple[tuple[str, str], ...] = sc.HANDOFF_SPAN_MARKERS
                   ) -> tuple[str | None, str | None] | None:
    """(from, to) of a handoff this span records, either side possibly unknown yet; None if it is none.

    `source_keys` / `markers`: the subsets of HANDOFF_SOURCE_KEYS / HANDOFF_SPAN_MARKERS whose keys the
    span can have (normalize's per-key-set Plan passes only the present ones: the rest read as absent)."""
    target = _first_text(attrs, sc.HANDOFF_TARGET_KEYS) if has_target_keys else None
    source = _first_text(attrs, source_keys) if source_keys else None
    if target is not None:
        return source, target
    if kind == "AGENT":
        parent = attrs.get(sc.AGENT_GRAPH_PARENT_KEY)
        if isinstance(parent, str) and parent and agent and parent != agent:
            return parent, agent
        return None
    if markers and any(str(attrs.get(k, "")).lower() == v for k, v in markers):
        return source or agent, None
    for prefix in sc.HANDOFF_NAME_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return source, name[len(prefix):]
    if tool in sc.HANDOFF_TOOLS:
        args = maybe_json(attrs.get("gen_ai.tool.call.arguments", attrs.get("input.value",
                                                                             attrs.get("gcp.vertex.agent.tool_call_args"))))
        if isinstance(args, dict) and isinstance(args.get(sc.HANDOFF_TOOLS[tool]), str):
            return source or agent, args[sc.HANDOFF_TOOLS[tool]]
        return source or agent, None  # no content captured: the next agent run is the target
    if kind == "TOOL" and name.startswith("handoff") and isinstance(attrs.get("output.value"), str):
        return source, attrs["output.value"]
    return None


def _first_text(attrs: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, str) and value:
            return value
    return None
