"""The one place that calls a judge model, through litellm (imported lazily: it costs seconds).

`complete()` makes exactly one HTTP request (litellm's and the OpenAI client's own retries are off;
the runner owns retries, so it can count them and back off across its worker threads). Any model
string litellm accepts works: "gpt-4o-mini" with OPENAI_API_KEY set, "anthropic/claude-...",
"ollama/llama3", or "openai/<name>" plus `api_base` for an OpenAI-compatible local server.
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
        import litellm  # noqa: PLC0415 - deliberately lazy

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


def _default_key(model: str, api_base: str | None, api_key: str | None) -> str | None:
    # A local OpenAI-compatible server (Ollama, vLLM, LM Studio) needs no key, but the OpenAI client
    # refuses to start without one: give it a placeholder rather than make the user invent one.
    if api_key or not api_base:
        return api_key
    if model.startswith("openai/") and not os.environ.get("OPENAI_API_KEY"):
        return "not-needed"
    return None


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
    try:
        response = lm.completion(model=model, messages=messages, **kwargs)
    except Exception as exc:  # litellm maps provider errors to its own exception types
        raise _classify(exc) from exc
    latency = (time.perf_counter() - start) * 1000
    choice = response.choices[0]
    text = getattr(choice.message, "content", None) or ""
    usage = getattr(response, "usage", None)
    return JudgeReply(
        text=text,
        cost_usd=cost_of(response, model),
        latency_ms=latency,
        model=model,
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
    )
