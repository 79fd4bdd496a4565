"""Cost from tokens with the price table that ships inside the litellm package, read as plain JSON.

`import litellm` costs 10+ s; we only locate its package folder (importlib.util.find_spec does not run
the package) and read `model_prices_and_context_window_backup.json` once per process.

litellm is optional (the `[judges]` extra). Without it, cost comes from `prices.json` next to this module:
a snapshot of the same table's per-token prices (scripts/update-prices.py refreshes it), so a lean install
prices the same models, only as of the snapshot. `TRACEDESK_PRICE_FILE` overrides both. A model in no
table still costs None ("unknown"), never 0.

Token semantics (OTel GenAI, as ingest stores them): cache reads and cache writes are INSIDE input_tokens,
reasoning tokens INSIDE output_tokens. Cache reads are charged at the cache-read price and cache writes at
the cache-write price (`cache_creation_input_token_cost`: Anthropic's 5-minute cache costs 1.25x input)
instead of the input price, never twice; a table without one of those prices charges the input price.
Reasoning tokens at the reasoning price where the table has one. Unknown model -> None.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
from functools import lru_cache
from typing import Any

PRICE_FILE = "model_prices_and_context_window_backup.json"
#: the snapshot shipped in this package, read when litellm is not installed
SNAPSHOT_FILE = "prices.json"
_DATE_SUFFIX = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-\d{4}|@\d{8})$")
#: Provider names as spans spell them -> the prefix litellm uses in its keys.
PROVIDER_PREFIXES: dict[str, str] = {
    "openai": "openai", "anthropic": "anthropic", "aws.bedrock": "bedrock", "bedrock": "bedrock",
    "azure.ai.openai": "azure", "azure.ai.inference": "azure_ai", "azure": "azure", "cohere": "cohere",
    "deepseek": "deepseek", "gcp.gemini": "gemini", "gemini": "gemini", "google": "gemini",
    "gcp.vertex_ai": "vertex_ai", "vertex_ai": "vertex_ai", "vertexai": "vertex_ai", "gcp.gen_ai": "gemini",
    "groq": "groq", "mistral_ai": "mistral", "mistral": "mistral", "perplexity": "perplexity", "x_ai": "xai",
    "xai": "xai", "moonshot_ai": "moonshot", "ibm.watsonx.ai": "watsonx", "together_ai": "together_ai",
    "fireworks_ai": "fireworks_ai", "ollama": "ollama", "openrouter": "openrouter",
}


def _price_path() -> str | None:
    override = os.environ.get("TRACEDESK_PRICE_FILE")
    if override:
        return override
    return litellm_price_path() or snapshot_path()


def snapshot_path() -> str | None:
    """The packaged price snapshot (None only in a broken install that lost its data files)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), SNAPSHOT_FILE)
    return path if os.path.exists(path) else None


def price_source() -> str:
    """Where prices come from right now: 'litellm', 'snapshot', 'TRACEDESK_PRICE_FILE' or 'none'."""
    if os.environ.get("TRACEDESK_PRICE_FILE"):
        return "TRACEDESK_PRICE_FILE"
    if litellm_price_path():
        return "litellm"
    return "snapshot" if snapshot_path() else "none"


def litellm_price_path() -> str | None:
    """litellm's bundled price table, found without importing litellm; None when it is not installed."""
    try:
        spec = importlib.util.find_spec("litellm")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, PRICE_FILE)
        if os.path.exists(path):
            return path
    return None


@lru_cache(maxsize=1)
def price_table() -> dict[str, dict[str, Any]]:
    """The whole table {model id: prices}: litellm's when installed, else the packaged snapshot."""
    path = _price_path()
    if path is None:
        return {}
    with open(path, "rb") as fh:
        data = json.load(fh)
    data.pop("sample_spec", None)
    data.pop("_source", None)
    return data


def _provider_prefix(provider: str | None) -> str | None:
    if not provider:
        return None
    low = provider.lower()
    return PROVIDER_PREFIXES.get(low) or PROVIDER_PREFIXES.get(low.split(".")[0]) or low.split(".")[0]


@lru_cache(maxsize=4096)
def lookup(model: str, provider: str | None = None) -> dict[str, Any] | None:
    """Prices for a model: exact -> strip `provider/` -> add `<provider>/` -> strip a date suffix."""
    table = price_table()
    if not model or not table:
        return None
    candidates = [model, model.lower()]
    if "/" in model:
        candidates.append(model.split("/", 1)[1])
    prefix = _provider_prefix(provider)
    bare = candidates[-1]
    if prefix:
        candidates.append(f"{prefix}/{bare}")
    for name in list(candidates):
        stripped = _DATE_SUFFIX.sub("", name)
        if stripped != name:
            candidates.append(stripped)
    for name in candidates:
        entry = table.get(name)
        if entry and ("input_cost_per_token" in entry or "output_cost_per_token" in entry):
            return entry
    return None


def listed_provider(model: str) -> str | None:
    """The provider the price table names for a model (`litellm_provider` of the entry `lookup` finds: the
    provider litellm sends that bare name to), as litellm spells it; None for a model the table does not price."""
    entry = lookup(model) if model else None
    found = entry.get("litellm_provider") if entry else None
    return found if isinstance(found, str) and found else None


def compute_cost(model: str, provider: str | None, input_tokens: int, output_tokens: int,
                 cached_tokens: int = 0, reasoning_tokens: int = 0, cache_write_tokens: int = 0) -> float | None:
    """USD for one call, or None when the model is not in the table (unknown is not zero)."""
    entry = lookup(model, provider)
    if entry is None:
        return None
    in_rate = entry.get("input_cost_per_token") or 0.0
    out_rate = entry.get("output_cost_per_token") or 0.0
    whole = max(input_tokens, 0)
    cached = min(max(cached_tokens, 0), whole)
    written = min(max(cache_write_tokens, 0), whole - cached)
    cache_rate = entry.get("cache_read_input_token_cost")
    if cache_rate is None:
        cache_rate = in_rate
    write_rate = entry.get("cache_creation_input_token_cost")
    if write_rate is None:
        write_rate = in_rate
    cost = (whole - cached - written) * in_rate + cached * cache_rate + written * write_rate
    reasoning_rate = entry.get("output_cost_per_reasoning_token")
    if reasoning_rate is not None and reasoning_tokens:
        reasoning = min(reasoning_tokens, output_tokens)
        cost += (output_tokens - reasoning) * out_rate + reasoning * reasoning_rate
    else:
        cost += output_tokens * out_rate
    return round(cost, 12)
