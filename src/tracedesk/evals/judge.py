"""The one place that calls a judge model, through litellm (imported lazily: it costs seconds).

`complete()` makes exactly one HTTP request (litellm's and the OpenAI client's own retries are off;
the runner owns retries, so it can count them and back off across its worker threads). Any model
string litellm accepts works: "gpt-4o-mini" with OPENAI_API_KEY set, "anthropic/claude-...",
"ollama/llama3", or "openai/<name>" plus `api_base` for an OpenAI-compatible local server.

Structured output: where litellm says the provider supports it, the request asks for a JSON verdict
(`response_format` json_schema, else json_object), so the reply IS the JSON object the parser reads; a
server that refuses the parameter is asked again once without it.

Keys and endpoints (issue 14): a provider's key (OPENAI_API_KEY, ANTHROPIC_API_KEY, ...) goes only to
that provider's own endpoint. With a custom `api_base` the key must be paired with it explicitly: the
`api_key` argument (`--api-key`) or TRACEDESK_JUDGE_API_KEY; otherwise a placeholder is sent, never the
provider key, so typing a host into "API base" cannot send the server's key (or span content with it)
to that host with the user's credentials.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any
from ..errors import TracedeskError

_LITELLM: Any = None


def litellm_module() -> Any:
    """Import litellm once, offline-safe (the bundled price map, never a download)."""
    global _LITELLM
    if _LITELLM is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        try:
            import litellm  # noqa: PLC0415 - deliberately lazy
        except ImportError:
            from ..extras import MissingExtra

            raise MissingExtra("judges") from None

        litellm.suppress_debug_info = True
        litellm.drop_params = True  # e.g. models that reject temperature=0
        _LITELLM = litellm
    return _LITELLM


@dataclass(slots=True)
class JudgeReply:
    text: str
    cost_usd: float
    latency_ms: float
    model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    #: the structured-output mode the call used ("json_schema", "json_object") or None
    response_format: str | None = None


class JudgeCallError(TracedeskError):
    """A judge call failed. `retryable` says whether backing off and trying again may help."""

    def __init__(self, message: str, *, retryable: bool, kind: str) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.kind = kind  # rate_limit | timeout | connection | server | config | fatal


def _classify(exc: BaseException) -> JudgeCallError:
    lm = litellm_module()
    pairs = (
        ("rate_limit", (lm.RateLimitError,)),
        ("timeout", (lm.Timeout, TimeoutError)),
        ("connection", (lm.APIConnectionError,)),
        ("server", (lm.InternalServerError, lm.ServiceUnavailableError, lm.BadGatewayError)),
    )
    for kind, types in pairs:
        if isinstance(exc, types):
            return JudgeCallError(f"{kind}: {exc}", retryable=True, kind=kind)
    # A wrong key or model name fails every call the same way: the runner stops instead of repeating it.
    if isinstance(exc, (lm.AuthenticationError, lm.PermissionDeniedError, lm.NotFoundError)):
        return JudgeCallError(f"{type(exc).__name__}: {exc}", retryable=False, kind="config")
    return JudgeCallError(f"{type(exc).__name__}: {exc}", retryable=False, kind="fatal")


#: The key variable paired with a custom api_base (the provider's own variable never is).
BASE_KEY_ENV = "TRACEDESK_JUDGE_API_KEY"
#: A placeholder for servers that need no key (Ollama, vLLM, LM Studio): the OpenAI client refuses to
#: start without one, and it must not fall back to the provider's key.
NO_KEY = "not-needed"
#: Each provider's own endpoint(s): an api_base equal to one of these is not "custom".
_DEFAULT_BASES = {
    "openai": ("https://api.openai.com/v1", "https://api.openai.com"),
    "anthropic": ("https://api.anthropic.com", "https://api.anthropic.com/v1"),
    "gemini": ("https://generativelanguage.googleapis.com", "https://generativelanguage.googleapis.com/v1beta"),
    "mistral": ("https://api.mistral.ai/v1", "https://api.mistral.ai"),
    "groq": ("https://api.groq.com/openai/v1",),
    "deepseek": ("https://api.deepseek.com", "https://api.deepseek.com/v1"),
    "cohere": ("https://api.cohere.ai", "https://api.cohere.com"),
}


def provider_of(model: str) -> str | None:
    try:
        return str(litellm_module().get_llm_provider(model)[1])
    except Exception:  # noqa: BLE001 - an unknown model: the prefix is the best guess
        return model.split("/", 1)[0] if "/" in model else None


def is_default_base(model: str, api_base: str | None) -> bool:
    if not api_base:
        return True
    provider = provider_of(model)
    return api_base.strip().rstrip("/") in _DEFAULT_BASES.get(provider or "", ())


def _default_key(model: str, api_base: str | None, api_key: str | None) -> str | None:
    """The key to send: an explicit one; for a custom api_base only TRACEDESK_JUDGE_API_KEY or a
    placeholder; else None (litellm then reads the provider's own variable for its own endpoint)."""
    if api_key:
        return api_key
    if is_default_base(model, api_base):
        return None
    return os.environ.get(BASE_KEY_ENV) or NO_KEY


#: The verdict every judge returns (rubrics' system message describes the same object).
VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "score": {"type": "number"},
        "label": {"type": "string"},
        "reason": {"type": "string"},
    },
    "required": ["score", "label", "reason"],
    "additionalProperties": False,
}


def response_format_for(model: str) -> dict[str, Any] | None:
    """json_schema where litellm says the model supports response schemas, json_object where the
    provider accepts `response_format`, else None (the prompt alone asks for the JSON object)."""
    lm = litellm_module()
    provider = provider_of(model)
    bare = model.split("/", 1)[1] if provider and model.startswith(f"{provider}/") else model
    try:
        if lm.supports_response_schema(model=bare, custom_llm_provider=provider):
            return {"type": "json_schema",
                    "json_schema": {"name": "verdict", "schema": VERDICT_SCHEMA, "strict": True}}
    except Exception:  # noqa: BLE001 - unknown model: ask the provider-level question below
        pass
    try:
        params = lm.get_supported_openai_params(model=bare, custom_llm_provider=provider) or []
    except Exception:  # noqa: BLE001
        params = []
    return {"type": "json_object"} if "response_format" in params else None


def _refuses_response_format(exc: BaseException) -> bool:
    lm = litellm_module()
    return isinstance(exc, (lm.BadRequestError, lm.UnsupportedParamsError)) and "response_format" in str(exc)


def cost_of(response: Any, model: str) -> float:
    """The call's USD cost from litellm's price table; 0.0 for models it does not price (local)."""
    hidden = getattr(response, "_hidden_params", None) or {}
    if isinstance(hidden.get("response_cost"), (int, float)):  # litellm priced it during the call already
        return float(hidden["response_cost"])
    lm = litellm_module()
    try:
        return float(lm.completion_cost(completion_response=response, model=model) or 0.0)
    except Exception:  # unknown model: litellm raises; a local model costs nothing we can know
        return 0.0


def complete(
    messages: list[dict[str, Any]],
    *,
    model: str,
    api_base: str | None = None,
    api_key: str | None = None,
    timeout: float = 60.0,
    structured: bool = True,
) -> JudgeReply:
    """One judge request. Raises JudgeCallError (with `retryable`) on failure."""
    lm = litellm_module()
    start = time.perf_counter()
    kwargs: dict[str, Any] = {"temperature": 0, "timeout": timeout, "num_retries": 0, "max_retries": 0}
    if api_base:
        kwargs["api_base"] = api_base
    key = _default_key(model, api_base, api_key)
    if key:
        kwargs["api_key"] = key
    fmt = response_format_for(model) if structured else None
    try:
        try:
            response = lm.completion(model=model, messages=messages, **kwargs,
                                     **({"response_format": fmt} if fmt else {}))
        except Exception as exc:
            if not (fmt and _refuses_response_format(exc)):
                raise
            fmt = None  # a server that does not take the parameter: the prompt alone asks for JSON
            response = lm.completion(model=model, messages=messages, **kwargs)
    except JudgeCallError:
        raise
    except Exception as exc:  # litellm maps provider errors to its own exception types
        raise _classify(exc) from exc
    latency = (time.perf_counter() - start) * 1000
    choice = response.choices[0]
    text = getattr(choice.message, "content", None) or ""
    if not text.strip():
        # Some providers answer a structured request as a tool call: its arguments are the verdict.
        calls = getattr(choice.message, "tool_calls", None) or []
        if calls:
            text = getattr(getattr(calls[0], "function", None), "arguments", None) or ""
    usage = getattr(response, "usage", None)
    return JudgeReply(
        text=text,
        cost_usd=cost_of(response, model),
        latency_ms=latency,
        model=model,
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        response_format=(fmt or {}).get("type"),
    )
