#!/usr/bin/env python3
"""Refresh src/tracedesk/ingest/prices.json, the price snapshot used when litellm is not installed.

It is the subset of litellm's bundled `model_prices_and_context_window_backup.json` that ingest needs:
the per-token prices of every model that has one, and the provider litellm names for it (`litellm_provider`:
ingest's provider of a span that names only its model, tracedesk.ingest.realworld.model_provider). Run it in an environment with litellm installed
(`pip install -e '.[judges]'`) and commit the result; the file records the litellm version it came from.
"""
from __future__ import annotations

import json
import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from tracedesk.ingest import pricing  # noqa: E402

KEYS = ("input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost",
        "cache_creation_input_token_cost", "output_cost_per_reasoning_token")
#: Text fields kept beside the prices.
TEXT_KEYS = ("litellm_provider",)


def main() -> int:
    path = pricing.litellm_price_path()
    if path is None:
        print("litellm is not installed: pip install -e '.[judges]' first", file=sys.stderr)
        return 2
    with open(path, "rb") as fh:
        table = json.load(fh)
    out: dict[str, object] = {"_source": f"litellm {version('litellm')} {pricing.PRICE_FILE}"}
    for model, entry in sorted(table.items()):
        if model == "sample_spec" or not isinstance(entry, dict):
            continue
        prices: dict[str, object] = {k: entry[k] for k in KEYS if isinstance(entry.get(k), (int, float))}
        if "input_cost_per_token" in prices or "output_cost_per_token" in prices:
            prices.update((k, entry[k]) for k in TEXT_KEYS if isinstance(entry.get(k), str) and entry[k])
            out[model] = prices
    target = ROOT / "src" / "tracedesk" / "ingest" / pricing.SNAPSHOT_FILE
    target.write_text(json.dumps(out, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"wrote {len(out) - 1} model prices to {target} ({target.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
