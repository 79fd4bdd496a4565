"""Attribute names per instrumentation convention -> normalized span fields, as DATA.

Every table below is read by `tracedesk.ingest.normalize`; adding a convention or a renamed attribute
is a table edit, not new code. Facts come from /work/shared/semconv.md (sections cited per table).

Lookup rule for the field tables: the FIRST key present wins. That is how alias pairs (old and new
OTel GenAI names emitted side by side, `prompt_tokens` next to `input_tokens`) are read once, never summed.
"""
from __future__ import annotations

from ..models import SpanKind

K = SpanKind

# ---------------------------------------------------------------------------------------------
# Convention detection (§1). Checked in order; the first convention with a marker present wins.
# A marker is an exact attribute key, a key prefix ending in ".", or "scope:<prefix>" for the
# instrumentation scope name.
CONVENTION_MARKERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("openinference", ("openinference.span.kind",)),
    ("traceai", ("fi.span.kind", "gen_ai.span.kind")),
    ("mlflow", ("mlflow.",)),
    ("langsmith", ("langsmith.",)),
    ("vercel_ai", ("ai.operationId", "ai.",)),
    ("langfuse", ("langfuse.",)),
    ("pydantic_ai", ("logfire.", "pydantic_ai.", "gen_ai.aggregated_usage.", "scope:pydantic-ai",
                     "scope:pydantic_ai", "scope:logfire")),
    ("openlit", ("scope:openlit", "gen_ai.usage.cost", "gen_ai.application_name", "gen_ai.eval.",
                 "gen_ai.endpoint")),
    ("openllmetry", ("traceloop.", "llm.request.type", "llm.usage.total_tokens", "gen_ai.prompt.0.",
                     "gen_ai.completion.0.", "scope:opentelemetry.instrumentation.openai.v1")),
    ("genkit", ("genkit:",)),
    ("google_adk", ("gcp.vertex.agent.",)),
    # OpenInference spans without the kind attribute (older emitters) still carry these.
    ("openinference", ("llm.token_count.", "llm.model_name", "llm.input_messages.", "input.value")),
    ("otel_genai", ("gen_ai.",)),
)

# ---------------------------------------------------------------------------------------------
# Span kind (§1): attribute key -> {lowercased value: SpanKind}. First key present with a known value wins.
_OPENINFERENCE_KINDS = {
    "llm": K.LLM, "embedding": K.EMBEDDING, "chain": K.CHAIN, "retriever": K.RETRIEVER,
    "reranker": K.RERANKER, "tool": K.TOOL, "agent": K.AGENT, "guardrail": K.GUARDRAIL,
    "evaluator": K.EVALUATOR, "prompt": K.CHAIN, "unknown": K.UNKNOWN,
}
_TRACEAI_KINDS = {
    **_OPENINFERENCE_KINDS, "conversation": K.CHAIN, "vector_db": K.RETRIEVER,
    "a2a_client": K.AGENT, "a2a_server": K.AGENT,
}
_GENAI_OPERATIONS = {
    "chat": K.LLM, "text_completion": K.LLM, "generate_content": K.LLM, "completion": K.LLM,
    "embeddings": K.EMBEDDING, "embedding": K.EMBEDDING, "retrieval": K.RETRIEVER,
    "execute_tool": K.TOOL, "create_agent": K.AGENT, "invoke_agent": K.AGENT, "invoke_workflow": K.CHAIN,
    "plan": K.CHAIN, "create_memory": K.TOOL, "search_memory": K.RETRIEVER, "update_memory": K.TOOL,
    "upsert_memory": K.TOOL, "delete_memory": K.TOOL, "create_memory_store": K.TOOL,
    "delete_memory_store": K.TOOL,
    # OpenLIT extras
    "image": K.LLM, "audio": K.LLM, "vectordb": K.RETRIEVER, "workflow": K.CHAIN, "team": K.AGENT,
    "execute_task": K.CHAIN, "graph_execution": K.CHAIN, "model_request": K.LLM, "retrieve": K.RETRIEVER,
    "agent": K.AGENT, "task": K.CHAIN,
    # LangSmith's non-standard value
    "chain": K.CHAIN,
    # Semantic Kernel's operation names (its chat spans carry no other kind signal)
    "chat.completions": K.LLM, "chat.streaming_completions": K.LLM, "text.completions": K.LLM,
    "text.streaming_completions": K.LLM,
    # OpenLLMetry's OpenAI Agents handoff span: a routing step (its handoff_from/to columns carry it), not a
    # tool call the agent made
    "handoff": K.CHAIN,
}
SPAN_KIND_ATTRIBUTES: tuple[tuple[str, dict[str, SpanKind]], ...] = (
    ("openinference.span.kind", _OPENINFERENCE_KINDS),
    ("fi.span.kind", _TRACEAI_KINDS),
    ("gen_ai.span.kind", _TRACEAI_KINDS),
    ("langfuse.observation.type", {
        "generation": K.LLM, "span": K.CHAIN, "event": K.CHAIN, "agent": K.AGENT, "tool": K.TOOL,
        "chain": K.CHAIN, "retriever": K.RETRIEVER, "evaluator": K.EVALUATOR, "embedding": K.EMBEDDING,
        "guardrail": K.GUARDRAIL,
    }),
    ("traceloop.span.kind", {
        "workflow": K.CHAIN, "task": K.CHAIN, "agent": K.AGENT, "tool": K.TOOL, "unknown": K.UNKNOWN,
        "handoff": K.CHAIN,
    }),
    ("langsmith.span.kind", {
        "chain": K.CHAIN, "tool": K.TOOL, "llm": K.LLM, "retriever": K.RETRIEVER, "prompt": K.CHAIN,
        "embedding": K.EMBEDDING, "parser": K.CHAIN,
    }),
    ("mlflow.spanType", {
        "llm": K.LLM, "chat_model": K.LLM, "tool": K.TOOL, "agent": K.AGENT, "retriever": K.RETRIEVER,
        "chain": K.CHAIN, "embedding": K.EMBEDDING, "reranker": K.RERANKER, "parser": K.CHAIN,
        "guardrail": K.GUARDRAIL, "evaluator": K.EVALUATOR, "unknown": K.UNKNOWN,
    }),
    ("genkit:metadata:subtype", {"model": K.LLM, "tool": K.TOOL, "flow": K.CHAIN, "embedder": K.EMBEDDING,
                                 "retriever": K.RETRIEVER}),
    ("genkit:type", {"util": K.CHAIN, "flowstep": K.CHAIN}),  # `generate` and flow steps wrap the model call
    ("ai.operationId", {
        # Vercel AI SDK: the do* spans are the provider calls; the outer spans are wrappers.
        "ai.generatetext": K.CHAIN, "ai.generatetext.dogenerate": K.LLM,
        "ai.streamtext": K.CHAIN, "ai.streamtext.dostream": K.LLM,
        "ai.generateobject": K.CHAIN, "ai.generateobject.dogenerate": K.LLM,
        "ai.streamobject": K.CHAIN, "ai.streamobject.dostream": K.LLM,
        "ai.embed": K.CHAIN, "ai.embed.doembed": K.EMBEDDING,
        "ai.embedmany": K.CHAIN, "ai.embedmany.doembed": K.EMBEDDING,
        "ai.toolcall": K.TOOL,
    }),
    ("logfire.span_type", {"annotation": K.EVALUATOR}),
    # Logfire's OpenAI Agents integration: the span name is a template; the template names the span type.
    ("logfire.msg_template", {
        "agent run: {name!r}": K.AGENT, "function: {name}": K.TOOL, "handoff: {from_agent} → {to_agent}": K.CHAIN,
        "guardrail {name!r} triggered={triggered!r}": K.GUARDRAIL, "openai agents trace: {name}": K.CHAIN,
        "mcp: list tools from server {server}": K.TOOL, "speech {model!r}": K.LLM, "transcription {model!r}": K.LLM,
    }),
    ("sdk_span_type", {"turn": K.CHAIN, "task": K.CHAIN}),
    ("llm.request.type", {"chat": K.LLM, "completion": K.LLM, "embedding": K.EMBEDDING,
                          "rerank": K.RERANKER}),
    ("gen_ai.operation.name", _GENAI_OPERATIONS),
)
#: Attributes whose mere presence decides the kind when no kind attribute matched.
KIND_BY_PRESENCE: tuple[tuple[str, SpanKind], ...] = (
    ("gen_ai.tool.name", K.TOOL),
    ("tool.name", K.TOOL),
    ("retrieval.documents.0.document.id", K.RETRIEVER),
    ("gen_ai.agent.name", K.AGENT),
    # Strands Agents' `execute_event_loop_cycle` span (strands/telemetry/tracer.py start_event_loop_cycle_span):
    # one reason-act cycle of the agent loop, wrapping that cycle's `chat` and `execute_tool` spans. It carries
    # no gen_ai.operation.name, only event_loop.cycle_id (+ parent_cycle_id and the app's trace attributes).
    ("event_loop.cycle_id", K.CHAIN),
)
#: The same, per convention, read after KIND_BY_PRESENCE: an attribute that decides the kind only inside one
#: instrumentation (elsewhere a wrapper may name a model too: litellm's request span around its provider calls).
CONVENTION_KIND_BY_PRESENCE: dict[str, tuple[tuple[str, SpanKind], ...]] = {
    # Google ADK's `call_llm` span (telemetry/tracing.py trace_call_llm) wraps one model call and records it:
    # gen_ai.system, gen_ai.request.model, gen_ai.usage.*, gen_ai.response.finish_reasons and
    # gcp.vertex.agent.llm_request / llm_response, but no gen_ai.operation.name. ADK's other spans say what
    # they are: execute_tool, invoke_agent (read above); its tool spans name no model.
    "google_adk": (("gen_ai.request.model", K.LLM),),
}

#: Spans that carry no attributes at all, known by their instrumentation scope and name template
#: (scope prefix, name prefix, name suffix, kind): the part between names the agent. Google ADK before
#: invoke_agent (agents/base_agent.py run_async: `tracer.start_as_current_span(f'agent_run [{self.name}]')`).
SPAN_NAME_KINDS: tuple[tuple[str, str, str, SpanKind], ...] = (
    ("gcp.vertex.agent", "agent_run [", "]", K.AGENT),
)

# ---------------------------------------------------------------------------------------------
# Scalar fields (§2-§8): field -> ordered attribute keys (first present wins).
FIELD_KEYS: dict[str, tuple[str, ...]] = {
    # Langfuse's resolution order (§2) extended with the other conventions.
    # The REQUESTED model first (one cohort per model the application asked for); the snapshot that
    # answered is `response_model`. Response names stay as the fallback when no request name is sent.
    "model": (
        "langfuse.observation.model.name", "gen_ai.request.model", "ai.model.id", "llm.request.model_name",
        "langsmith.metadata.ls_model_name", "gen_ai.response.model", "ai.response.model", "llm.response.model_name",
        "llm.model_name", "reranker.model_name", "embedding.model_name", "llm.openai.model", "mlflow.llm.model",
        "model",  # MLflow autolog flattens the request's keyword arguments (JSON-quoted)
    ),
    "response_model": (
        "gen_ai.response.model", "ai.response.model", "llm.response.model_name", "llm.model_name",
        "llm.openai.model", "mlflow.llm.model",
    ),
    "provider": (
        "gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system", "ai.model.provider",
        "langsmith.metadata.ls_provider",
    ),
    "input_tokens": (
        "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt",
        "ai.usage.inputTokens", "ai.usage.promptTokens", "ai.usage.tokens", "llm.usage.prompt_tokens",
    ),
    "output_tokens": (
        "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion",
        "ai.usage.outputTokens", "ai.usage.completionTokens", "llm.usage.completion_tokens",
    ),
    "total_tokens": (
        "llm.token_count.total", "gen_ai.usage.total_tokens", "llm.usage.total_tokens", "ai.usage.totalTokens",
    ),
    # Prompt-cache reads and writes (§3): parts of the input count (token_usage.settle makes sure of it).
    "cached_tokens": (
        "gen_ai.usage.cache_read.input_tokens", "llm.token_count.prompt_details.cache_read",
        "gen_ai.usage.cache_read_input_tokens", "gen_ai.usage.cache_read_tokens",
        "gen_ai.usage.input_tokens.cache_read", "ai.usage.cachedInputTokens",
        "ai.usage.inputTokenDetails.cacheReadTokens",  # Vercel AI SDK v6
        # Pydantic AI: its own count, then the Anthropic usage fields it copies into details
        "gen_ai.usage.details.cache_read_tokens", "gen_ai.usage.details.cache_read_input_tokens",
    ),
    "cache_write_tokens": (
        "gen_ai.usage.cache_write.input_tokens",  # OTel GenAI latest (genai repo, PR #440)
        "gen_ai.usage.cache_creation.input_tokens",  # OTel GenAI v1.40-1.41, OpenLLMetry, OTel contrib Anthropic
        "llm.token_count.prompt_details.cache_write",  # OpenInference
        "gen_ai.usage.cache_creation_input_tokens",  # OpenLLMetry before the OTel names
        "ai.usage.inputTokenDetails.cacheWriteTokens",  # Vercel AI SDK v6
        "gen_ai.usage.details.cache_write_tokens", "gen_ai.usage.details.cache_creation_input_tokens",  # Pydantic AI
    ),
    "reasoning_tokens": (
        "gen_ai.usage.reasoning.output_tokens", "llm.token_count.completion_details.reasoning",
        "gen_ai.usage.reasoning_tokens", "gen_ai.usage.output_tokens.reasoning", "ai.usage.reasoningTokens",
        "gen_ai.usage.details.reasoning_tokens",  # Pydantic AI
    ),
    # Reported cost in USD (§4, §12: prefer it over recomputing).
    "cost_usd": (
        "llm.cost.total", "gen_ai.cost.total", "gen_ai.cost.total_cost", "gen_ai.usage.cost.amount",
        "gen_ai.usage.cost", "operation.cost",
    ),
    "agent_name": (
        "gen_ai.agent.name", "agent.name", "agent_name", "graph.node.name",
    ),
    "tool_name": (
        "gen_ai.tool.name", "tool.name", "ai.toolCall.name",
    ),
    "tool_arguments": (
        "gen_ai.tool.call.arguments", "ai.toolCall.args", "tool_arguments", "gen_ai.tool.args",
        "gcp.vertex.agent.tool_call_args",  # (OpenInference `tool.parameters` is the JSON schema, not the call)
    ),
    "tool_result": (
        "gen_ai.tool.call.result", "ai.toolCall.result", "tool_response", "gcp.vertex.agent.tool_response",
    ),
    "session_id": (
        "gen_ai.conversation.id", "session.id", "langfuse.session.id",
        "traceloop.association.properties.session_id", "ai.telemetry.metadata.sessionId", "fi.session.id",
        "thread_id", "langsmith.metadata.thread_id", "langsmith.metadata.session_id",
        "gcp.vertex.agent.session_id",  # ADK call_llm: the session its invoke_agent sends as gen_ai.conversation.id
    ),
    "user_id": (
        "user.id", "langfuse.user.id", "traceloop.association.properties.user_id",
        "ai.telemetry.metadata.userId", "fi.user.id", "enduser.id",
        "llm.user",  # litellm / OpenLLMetry: the `user` the application passed to the provider
        "langsmith.metadata.user_id",
    ),
    "input_text": (
        "input.value", "gen_ai.prompt", "traceloop.entity.input", "langfuse.observation.input",
        "langfuse.trace.input", "mlflow.spanInputs", "gcp.vertex.agent.llm_request", "genkit:input",
        "ai.prompt", "gen_ai.retrieval.query.text", "gen_ai.retrieval.query", "query",
    ),
    "output_text": (
        "output.value", "gen_ai.completion", "traceloop.entity.output", "langfuse.observation.output",
        "langfuse.trace.output", "mlflow.spanOutputs", "gcp.vertex.agent.llm_response", "genkit:output",
        "ai.response.text", "ai.response.object", "ai.result.text", "final_result", "response",
        "ai.response.toolCalls",  # Vercel: an answer that is only tool calls
    ),
    "finish_reason": (
        "gen_ai.response.finish_reasons", "llm.finish_reason", "ai.response.finishReason",
        "ai.finishReason", "gen_ai.completion.0.finish_reason",
        "gen_ai.response.finish_reason",  # Semantic Kernel (singular, as its enum: FinishReason.STOP)
    ),
    "status_message": ("error.message", "langfuse.observation.status_message", "exception.message"),
}

#: Keys whose value names the tool/agent only on spans of that kind (OpenLLMetry decorators).
ENTITY_NAME_KEYS: dict[str, tuple[str, ...]] = {
    "TOOL": ("traceloop.entity.name", "name"),
    "AGENT": ("traceloop.entity.name", "name", "traceloop.workflow.name"),
}
#: Of those, the keys that name a workflow rather than an agent (the agent name is then only a guess).
WORKFLOW_NAME_KEYS: frozenset[str] = frozenset({"traceloop.workflow.name"})
#: Tool arguments / results that only apply on TOOL spans (OpenInference and OpenLLMetry reuse in/out).
TOOL_IO_KEYS: tuple[tuple[str, str], ...] = (
    ("input.value", "output.value"),
    ("traceloop.entity.input", "traceloop.entity.output"),
    ("input", "output"),  # Logfire's OpenAI Agents function spans
    ("mlflow.spanInputs", "mlflow.spanOutputs"),
    ("langfuse.observation.input", "langfuse.observation.output"),
    ("genkit:input", "genkit:output"),
)

#: Reported cost parts summed when no total is reported.
COST_PART_KEYS: tuple[tuple[str, ...], ...] = (
    ("llm.cost.prompt", "llm.cost.completion"),
    ("gen_ai.cost.input", "gen_ai.cost.output"),
    ("gen_ai.cost.input_cost", "gen_ai.cost.output_cost"),  # litellm
)

#: Time to first token: (key, multiplier to milliseconds).
TTFT_KEYS: tuple[tuple[str, float], ...] = (
    ("gen_ai.response.time_to_first_chunk", 1000.0),
    ("gen_ai.server.time_to_first_token", 1000.0),
    ("gen_ai.server.ttft", 1000.0),
    ("ai.response.msToFirstChunk", 1.0),
    ("ai.stream.msToFirstChunk", 1.0),
)

#: "Was this call streamed": a first-token time on a call that was NOT streamed is its whole latency (OpenLIT
#: sends gen_ai.server.time_to_first_token on every call), so it is not read as TTFT.
STREAM_FLAG_KEYS: tuple[str, ...] = ("gen_ai.request.stream", "gen_ai.is_streaming", "llm.is_streaming")

#: Span events whose time marks the first token/chunk of a stream (OpenInference, OpenLLMetry, Vercel):
#: TTFT = the first such event's time - span start, when no TTFT attribute is sent.
TTFT_EVENTS: frozenset[str] = frozenset({"First Token Stream Event", "gen_ai.content.completion.chunk",
                                         "llm.content.completion.chunk", "ai.stream.firstChunk"})

#: Keys that hold JSON text in some emitters (Langfuse usage/cost details, MLflow's quoted values).
JSON_TEXT_KEYS: frozenset[str] = frozenset({
    "langfuse.observation.usage_details", "langfuse.observation.cost_details", "mlflow.spanType",
    "mlflow.spanInputs", "mlflow.spanOutputs", "mlflow.spanFunctionName", "metadata",
    "langsmith.metadata.usage_metadata", "events", "mlflow.chat.tokenUsage", "genkit:input", "genkit:output",
})
#: JSON usage dicts read with LANGFUSE_USAGE_KEYS (free-form key names), in order.
USAGE_DETAIL_KEYS: tuple[str, ...] = ("langfuse.observation.usage_details", "mlflow.chat.tokenUsage")
#: Of those, the one whose counts are disjoint: Langfuse's `input` leaves out the cache reads/writes beside it.
DISJOINT_USAGE_DETAILS_KEY = "langfuse.observation.usage_details"
#: Vercel AI SDK: v6 (LanguageModelV3) splits its input count (`ai.usage.inputTokenDetails.*`, input includes
#: the cache); AI SDK 5 (LanguageModelV2) on Anthropic reports Anthropic's `input_tokens` as `ai.usage.inputTokens`
#: (the cache writes only in the provider metadata JSON: AI_PROVIDER_METADATA_CACHE below).
VERCEL_V3_INPUT_DETAIL_KEYS: tuple[str, ...] = ("ai.usage.inputTokenDetails.noCacheTokens",
                                                "ai.usage.inputTokenDetails.cacheReadTokens",
                                                "ai.usage.inputTokenDetails.cacheWriteTokens")
VERCEL_PROVIDER_KEY = "ai.model.provider"
#: Langfuse usage_details / cost_details JSON keys -> field.
LANGFUSE_USAGE_KEYS: dict[str, tuple[str, ...]] = {
    "input_tokens": ("input", "input_tokens", "prompt_tokens", "promptTokens", "inputTokens"),
    "output_tokens": ("output", "output_tokens", "completion_tokens", "completionTokens", "outputTokens"),
    "total_tokens": ("total", "total_tokens", "totalTokens"),
    "cached_tokens": ("cache_read_input_tokens", "input_cached_tokens", "cached_tokens", "input_cache_read"),
    "cache_write_tokens": ("cache_creation_input_tokens", "input_cache_creation", "input_cache_write",
                           "cache_write_input_tokens"),
    "reasoning_tokens": ("reasoning_tokens", "output_reasoning_tokens", "output_reasoning"),
}

# ---------------------------------------------------------------------------------------------
# Messages (§5): where structured messages live.
#: Flattened lists (OpenInference / OpenLLMetry): prefix -> direction. Items are re-nested by index.
FLAT_MESSAGE_PREFIXES: tuple[tuple[str, str, str], ...] = (
    # (prefix, direction, item sub-prefix stripped from each item's keys)
    ("llm.input_messages.", "input", "message."),
    ("llm.output_messages.", "output", "message."),
    ("gen_ai.prompt.", "input", ""),
    ("gen_ai.completion.", "output", ""),
)
#: Attributes holding a whole message list (JSON text or structured): key -> direction.
MESSAGE_LIST_KEYS: tuple[tuple[str, str], ...] = (
    ("gen_ai.input.messages", "input"),
    ("gen_ai.output.messages", "output"),
    ("ai.prompt.messages", "input"),
    ("pydantic_ai.all_messages", "input"),
    ("ai.prompt", "input"),
    ("gen_ai.prompt", "input"),
    ("gen_ai.completion", "output"),
    ("mlflow.spanInputs", "input"),
    ("mlflow.spanOutputs", "output"),
    ("langfuse.observation.input", "input"),  # the drop-in OpenAI client: {"messages": [...], "tools": ...}
    ("genkit:input", "input"),  # Genkit model spans: {"messages": [{"role", "content": [{"text"}]}]}
    # Google ADK call_llm: the Gemini request ({"model", "config", "contents"}) and response JSON
    ("gcp.vertex.agent.llm_request", "input"),
    ("gcp.vertex.agent.llm_response", "output"),
)
SYSTEM_INSTRUCTION_KEYS: tuple[str, ...] = ("gen_ai.system_instructions",)

#: GenAI message events (1.28-1.36), as span events or log records: event name -> (direction, role).
MESSAGE_EVENTS: dict[str, tuple[str, str]] = {
    "gen_ai.system.message": ("input", "system"),
    "gen_ai.user.message": ("input", "user"),
    "gen_ai.assistant.message": ("input", "assistant"),
    "gen_ai.tool.message": ("input", "tool"),
    "gen_ai.choice": ("output", "assistant"),
}
#: Events that carry whole lists / legacy content: event name -> ((attribute key, direction), ...).
CONTENT_EVENTS: dict[str, tuple[tuple[str, str], ...]] = {
    "gen_ai.client.inference.operation.details": (
        ("gen_ai.input.messages", "input"), ("gen_ai.output.messages", "output"),
        ("gen_ai.system_instructions", "system"),
    ),
    "gen_ai.content.prompt": (("gen_ai.prompt", "input"),),
    "gen_ai.content.completion": (("gen_ai.completion", "output"),),
}

# ---------------------------------------------------------------------------------------------
# Retrieval documents (§7).
FLAT_DOCUMENT_PREFIXES: tuple[tuple[str, str], ...] = (
    ("retrieval.documents.", "document."),
    ("reranker.output_documents.", "document."),
)
DOCUMENT_LIST_KEYS: tuple[str, ...] = ("gen_ai.retrieval.documents", "retrieval.documents")
#: Outputs that are a document list only on RETRIEVER spans.
RETRIEVER_OUTPUT_KEYS: tuple[str, ...] = ("mlflow.spanOutputs",)
#: Span events carrying one retrieved document each (OpenLLMetry vector DBs): event -> attribute prefix.
DOCUMENT_EVENTS: dict[str, str] = {"db.query.result": "db.query.result.", "db.search.result": "db.search.result."}

# ---------------------------------------------------------------------------------------------
# Evaluations on spans (§9).
FLAT_EVALUATION_PREFIXES: tuple[tuple[str, str], ...] = (
    ("evaluations.", "evaluation."),
    ("annotations.", "annotation."),
)
#: Single evaluation attributes (OTel GenAI event attributes, also used on spans and log records).
GENAI_EVALUATION_FIELDS: dict[str, str] = {
    "name": "gen_ai.evaluation.name",
    "score": "gen_ai.evaluation.score.value",
    "label": "gen_ai.evaluation.score.label",
    "reason": "gen_ai.evaluation.explanation",
    "evaluator_version": "gen_ai.evaluation.evaluator.version",
    "target_span_id": "gen_ai.evaluation.target_span_id",
}
EVALUATION_EVENT = "gen_ai.evaluation.result"
#: OpenLIT: `gen_ai.eval.<name>` numeric attributes.
OPENLIT_EVAL_PREFIX = "gen_ai.eval."
#: Labels read as a verdict.
PASS_LABELS = frozenset({"pass", "passed", "true", "yes", "correct", "good", "ok", "grounded", "relevant",
                         "thumbs_up", "positive", "success"})
FAIL_LABELS = frozenset({"fail", "failed", "false", "no", "incorrect", "bad", "hallucinated", "irrelevant",
                         "ungrounded", "thumbs_down", "negative", "error"})

# ---------------------------------------------------------------------------------------------
# Errors (§10).
#: Attribute value meaning "this span failed" when the OTLP status is UNSET.
ERROR_MARKERS: tuple[tuple[str, frozenset[str] | None], ...] = (
    ("langfuse.observation.level", frozenset({"ERROR"})),
    ("error.type", None),  # any value
)
LOGFIRE_ERROR_LEVEL = 17  # logfire.level_num >= 17 is error

# ---------------------------------------------------------------------------------------------
# Handoffs (§8).
# Each SDK's own signal (semconv.md §14); stored as the spans' handoff_from / handoff_to columns.
HANDOFF_TARGET_KEYS: tuple[str, ...] = ("gen_ai.handoff.to_agent", "to_agent", "handoff.to_agent")
HANDOFF_SOURCE_KEYS: tuple[str, ...] = ("gen_ai.handoff.from_agent", "from_agent", "handoff.from_agent",
                                        "gen_ai.caller.name", "graph.node.parent_id")
#: Span-kind values that mark a span as a handoff even before its target is known (resolved per trace).
HANDOFF_SPAN_MARKERS: tuple[tuple[str, str], ...] = (
    ("traceloop.span.kind", "handoff"), ("gen_ai.operation.name", "handoff"),
)
HANDOFF_NAME_PREFIXES: tuple[str, ...] = ("handoff to ", "transfer_to_")
#: Tools whose call IS a handoff, and the argument naming the target (Google ADK).
HANDOFF_TOOLS: dict[str, str] = {"transfer_to_agent": "agent_name"}
#: An agent-graph parent on an agent span (OpenInference OpenAI Agents): the agent that handed off.
AGENT_GRAPH_PARENT_KEY = "graph.node.parent_id"
#: LangGraph node metadata (OpenInference `metadata` JSON, LangSmith flattened): the node IS the agent/step.
LANGGRAPH_NODE_KEYS: tuple[tuple[str, str], ...] = (("metadata", "langgraph_node"),
                                                     ("langsmith.metadata.langgraph_node", ""))
#: Nodes that are plumbing, not agents: LangGraph's prebuilt ToolNode and the graph's own start/end.
LANGGRAPH_NON_AGENT_NODES: frozenset[str] = frozenset({"tools", "__start__", "__end__"})

# ---------------------------------------------------------------------------------------------
# Vercel AI SDK provider metadata (semconv.md §3): cache figures the SDK's `ai.usage.*` does not carry.
#: The do* spans' JSON attribute holding the provider's own response metadata.
AI_PROVIDER_METADATA_KEY = "ai.response.providerMetadata"
#: (canonical attribute, normalized field whose attributes the span may already send, paths ("provider.key.key")
#: inside that JSON, first present wins). @ai-sdk/anthropic
#: returns {"anthropic": {"cacheCreationInputTokens": N, "usage": <Anthropic's raw usage>}} (AI SDK 5; AI SDK 4
#: also sent "cacheReadInputTokens" there, and had no ai.usage.cachedInputTokens); @ai-sdk/amazon-bedrock
#: returns {"bedrock": {"usage": {"cacheWriteInputTokens": N}}} (its reads are in ai.usage.cachedInputTokens). A canonical attribute the
#: span already sends is never overwritten, nor added when the span sends the field under any of its names
#: (cache reads: ai.usage.cachedInputTokens).
AI_PROVIDER_METADATA_CACHE: tuple[tuple[str, str | None, tuple[str, ...]], ...] = (
    ("gen_ai.usage.cache_creation.input_tokens", None, (
        "anthropic.cacheCreationInputTokens", "anthropic.usage.cache_creation_input_tokens",
        "bedrock.usage.cacheWriteInputTokens",
    )),
    ("gen_ai.usage.cache_read.input_tokens", "cached_tokens", (
        "anthropic.cacheReadInputTokens", "anthropic.usage.cache_read_input_tokens",
    )),
)

#: Google ADK's `call_llm` span: the LlmResponse as JSON (model_dump_json, snake_case), whose Gemini
#: usage_metadata holds what trace_call_llm's gen_ai.usage.* leave out. ADK 1.x sends input = prompt_token_count
#: (which includes cached_content_token_count, as OTel's input does) and output = candidates_token_count, which
#: leaves out thoughts_token_count; ADK's own semconv-aligned path (_experimental_semconv.py) counts output as
#: candidates + thoughts ("reasoning SHOULD be included in output"), and so does Gemini's billing.
ADK_LLM_RESPONSE_KEY = "gcp.vertex.agent.llm_response"
GEMINI_USAGE_KEY = "usage_metadata"
#: normalized field -> usage_metadata key
GEMINI_USAGE_FIELDS: dict[str, str] = {
    "input_tokens": "prompt_token_count", "output_tokens": "candidates_token_count",
    "cached_tokens": "cached_content_token_count", "reasoning_tokens": "thoughts_token_count",
}

#: Logfire's OpenAI Agents model-call span (`logfire.instrument_openai_agents()`): its usage details
#: (reasoning, cached input) are only inside the `response` JSON (the Responses API object), under
#: usage.output_tokens_details.reasoning_tokens / usage.input_tokens_details.cached_tokens.
LOGFIRE_RESPONSES_TEMPLATE_PREFIX = "Responses API"
LOGFIRE_RESPONSES_KEY = "response"

# ---------------------------------------------------------------------------------------------
# Provider spellings (§2): one canonical (OTel well-known) name per provider.
PROVIDER_ALIASES: dict[str, str] = {
    "openai": "openai", "openai.chat": "openai", "openai.responses": "openai", "openai.completion": "openai",
    "openai.embedding": "openai", "openai.image": "openai", "openai.transcription": "openai",
    "anthropic": "anthropic", "anthropic.messages": "anthropic", "claude": "anthropic",
    "aws.bedrock": "aws.bedrock", "bedrock": "aws.bedrock", "amazon-bedrock": "aws.bedrock",
    "amazon.bedrock": "aws.bedrock", "aws_bedrock": "aws.bedrock", "bedrock_converse": "aws.bedrock",
    "azure": "azure.ai.openai", "azure.ai.openai": "azure.ai.openai", "azure_openai": "azure.ai.openai",
    "azure-openai": "azure.ai.openai", "azure.openai": "azure.ai.openai", "azure.ai.inference": "azure.ai.inference",
    "gcp.gemini": "gcp.gemini", "gemini": "gcp.gemini", "google": "gcp.gemini", "google.generative-ai": "gcp.gemini",
    "google_genai": "gcp.gemini", "google.genai": "gcp.gemini", "google-genai": "gcp.gemini",
    "google.generative_ai": "gcp.gemini", "googleai": "gcp.gemini", "gcp.gen_ai": "gcp.gemini",
    "gcp.vertex_ai": "gcp.vertex_ai", "vertex_ai": "gcp.vertex_ai", "vertexai": "gcp.vertex_ai",
    "google.vertex": "gcp.vertex_ai", "google.vertex.chat": "gcp.vertex_ai", "vertex": "gcp.vertex_ai",
    "google_vertexai": "gcp.vertex_ai",  # LangChain's ls_provider for ChatVertexAI (ChatGoogleGenerativeAI: google_genai)
    "mistral": "mistral_ai", "mistralai": "mistral_ai", "mistral_ai": "mistral_ai",
    "xai": "x_ai", "x_ai": "x_ai", "x-ai": "x_ai", "groq": "groq", "cohere": "cohere", "cohere_chat": "cohere",
    "deepseek": "deepseek",
    "perplexity": "perplexity", "moonshot_ai": "moonshot_ai", "moonshot": "moonshot_ai",
    "ibm.watsonx.ai": "ibm.watsonx.ai", "watsonx": "ibm.watsonx.ai", "ollama": "ollama",
}
#: `gen_ai.system` / `gen_ai.provider.name` values that name the agent FRAMEWORK, not the model provider:
#: Strands Agents sets "strands-agents" on every span (tracer.py _get_common_attributes), and Google ADK's
#: `call_llm` spans carry its tracer's name "gcp.vertex.agent" (telemetry/tracing.py trace_call_llm), whatever
#: model provider the agent runs on (Gemini, or Claude and OpenAI models through LiteLlm). The provider then
#: comes from the model (realworld.model_provider), else it is unknown (None), never the framework's name.
FRAMEWORK_SYSTEMS: frozenset[str] = frozenset({"strands-agents", "gcp.vertex.agent"})
#: An Amazon Bedrock model id: `[region.]vendor.model-vN[:M]` (`anthropic.claude-3-5-sonnet-20240620-v1:0`,
#: cross-region inference profiles `us.anthropic.claude-sonnet-4-20250514-v1:0`, `amazon.nova-pro-v1:0`), or a
#: Bedrock ARN. Strands' BedrockModel (its default model) sends these as gen_ai.request.model.
BEDROCK_MODEL_ID = r"^(?:arn:aws[a-z-]*:bedrock:|(?:[a-z]{2,7}\.)?[a-z0-9]+\.[a-z0-9][a-z0-9.-]*-v\d+(?::\d+)?$)"
