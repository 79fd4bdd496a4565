"""One stored meaning for prompt-cache counts, whatever convention reported them.

Stored: `input_tokens` is every input token of the call, cache reads (`cached_tokens`) and cache writes
(`cache_write_tokens`) included, as OTel GenAI says (`gen_ai.usage.input_tokens` SHOULD include cached
tokens; `cache_read` and `cache_creation`/`cache_write` are parts of it). `total_tokens` is input + output.

Reported counts do not all mean that. Anthropic's API counts `input_tokens` WITHOUT cache reads and writes
(they are `cache_read_input_tokens` / `cache_creation_input_tokens` beside it), and an instrumentation may
copy that number as is. The instrumentations checked add the cache counts back before writing their input
attribute: OpenLLMetry's Anthropic instrumentor (`gen_ai.usage.input_tokens`, earlier
`gen_ai.usage.prompt_tokens`), OpenInference's (`llm.token_count.prompt`), the OTel contrib Anthropic
instrumentation, Logfire's `instrument_anthropic`, Pydantic AI, and the Vercel AI SDK's LanguageModelV3
usage (`inputTokens.total`). So the convention's rule is "input includes the cache", and a count is
treated as excluding it only on evidence in the span itself:

0. AI SDK 5 on Anthropic (`ai.model.provider` anthropic.*, no v6 `ai.usage.inputTokenDetails.*`): its
   LanguageModelV2 usage is `inputTokens: usage.input_tokens`, `totalTokens: input_tokens + output_tokens`,
   `cachedInputTokens: cache_read_input_tokens`, the writes only in `ai.response.providerMetadata`
   (`anthropic.cacheCreationInputTokens`); v6 made `inputTokens` the total (noCache + cacheRead + cacheWrite);
1. the counts come from a raw Anthropic API usage object (`input_tokens` beside `cache_read_input_tokens`
   / `cache_creation_input_tokens`, no OpenAI or LangChain detail keys): Anthropic's own counting; or
   from Langfuse `usage_details`, whose usage types are disjoint (Langfuse sums them for the total, and
   its LangChain handler subtracts each input detail from `input`);
2. the span's reported total is input + output + cache reads + cache writes: the input left them out
   (an inclusive input makes the total input + output);
3. cache reads + writes exceed the input: parts cannot exceed the whole.

The earlier rule (only 3, with reads alone) missed every exclusive count whose cached prefix was smaller
than the rest of the prompt: 2,000 fresh tokens after a 500-token cached prefix were stored as 2,000.
"""
from __future__ import annotations

from typing import Any

from ..models import Span
from . import semconv as sc
from . import validate

#: OpenAI chat / Responses and LangChain usage dicts: their input count includes the cache.
_INCLUSIVE_DETAIL_KEYS = ("prompt_tokens", "input_tokens_details", "prompt_tokens_details", "input_token_details")


def is_anthropic_usage(usage: dict[str, Any]) -> bool:
    """Whether a usage dict is Anthropic's API `usage` object (input counted without the cache)."""
    return ("input_tokens" in usage
            and ("cache_read_input_tokens" in usage or "cache_creation_input_tokens" in usage)
            and not any(k in usage for k in _INCLUSIVE_DETAIL_KEYS))


def vercel_v2_anthropic(span: Span, attrs: dict[str, Any]) -> bool:
    """AI SDK 5 on Anthropic (rule 0): True when the span's input count is Anthropic's (without the cache).
    (Its cache writes, only in the provider metadata, are surfaced before this: realworld.surface_provider_metadata.)"""
    provider = attrs.get(sc.VERCEL_PROVIDER_KEY)
    if not isinstance(provider, str) or "anthropic" not in provider.lower():
        return False
    if any(k in attrs for k in sc.VERCEL_V3_INPUT_DETAIL_KEYS):
        return False
    return span.input_tokens is not None


def settle(span: Span, anthropic_native: bool = False) -> None:
    """Make `span.input_tokens` include its cache reads and writes (see the module doc for when a reported
    count is read as excluding them), then fill `total_tokens` = input + output when none was reported.

    `anthropic_native`: the counts were read from a raw Anthropic API usage object or Langfuse's disjoint
    usage details (rule 1)."""
    read, write = span.cached_tokens or 0, span.cache_write_tokens or 0
    inp, out = span.input_tokens, span.output_tokens
    if (inp is not None and read + write > 0 and inp + read + write <= validate.INT64_MAX // 4
            and _excludes_cache(inp, out, span.total_tokens, read, write, anthropic_native)):
        span.input_tokens = inp = inp + read + write
        if out is not None:
            span.total_tokens = inp + out  # a reported total was either this or input + output without the cache
    if span.total_tokens is None and inp is not None and out is not None:
        span.total_tokens = inp + out
    if span.total_tokens is not None and span.total_tokens > validate.INT64_MAX:
        span.total_tokens = None


def _excludes_cache(inp: int, out: int | None, total: int | None, read: int, write: int, native: bool) -> bool:
    if native:
        return True
    if total is not None and out is not None and total == inp + out + read + write:
        return True
    return read + write > inp
