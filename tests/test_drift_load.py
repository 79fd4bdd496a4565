"""The drift loaders: SQL-side flags agree with the Python checks, sampling is bounded and reported."""
from __future__ import annotations

import random

from tracedesk import store
from tracedesk.drift import drift_report
from tracedesk.drift.load import load_llm, model_family, window_strides
from tracedesk.drift.synthetic import write_synthetic
from tracedesk.drift.windows import Window
from tracedesk.models import Span
from tracedesk.analysis.textchecks import is_refusal

DAY = 86_400 * 10**9
T0 = 1_790_000_000 * 10**9

FIXED = [
    "I'm sorry, but I can't help with that.", "Sorry, I can't do that", "¡I'm sorry, but no", "  i cannot help",
    "Unfortunately, I am unable to", "As an AI, I cannot", "I must decline.", "I can help with that!",
    "Bonjour", "9 apples", "_I'm sorry, but", '"I\'m sorry, but I can\'t"', "**I am unable to assist**",
    "Sure! Here is", "Ich kann nicht", "{\"answer\": 1}", "[1, 2]", "Äh, I'm sorry, but", "",
    # refusals that do not open with i/s/u/a (a first-letter shortcut in SQL once read these as "no")
    "Lo siento, no puedo ayudar con eso.", "My apologies, but I can't assist with that request.",
    "Je ne peux pas vous aider avec cela.", "Desculpe, não posso ajudar com isso.", "Non posso aiutarti con questo.",
]


def _random_texts(n: int) -> list[str]:
    rng = random.Random(7)
    heads = ["", " ", "\n", "*", "¡", "«", "_", "1", "Z", "é", "Ω", "-"]
    bodies = ["I'm sorry, but I can't", "sorry, I won't", "unfortunately, I can't", "as an AI I don't",
              "i must refuse", "It works", "Sure", "apples", "I am not able to help", "I'm not allowed to"]
    return [rng.choice(heads) + rng.choice(heads) + rng.choice(bodies) for _ in range(n)]


def test_sql_refusal_flag_matches_is_refusal(db_path):
    texts = FIXED + _random_texts(300)
    spans = [Span(trace_id=f"{i:032x}", span_id=f"{i:016x}", kind="LLM", start_ns=T0 + i, end_ns=T0 + i + 1,
                  output_text=text or None) for i, text in enumerate(texts)]
    db = store.connect(db_path)
    store.write_batch(db, spans)
    ref, cur = Window(T0 - 10, T0), Window(T0, T0 + 10_000)
    frame = load_llm(db, None, ref, cur, window_strides(db, "LLM", ref, cur, 0))
    by_row = dict(zip(frame["start_ns"] - T0, frame["refusal"]))
    for i, text in enumerate(texts):
        expected = float(is_refusal(text)) if text else None
        got = by_row[i]
        assert (got != got and expected is None) or got == expected, text  # NaN for no output text
    json_flags = dict(zip(frame["start_ns"] - T0, frame["json_output"]))
    assert json_flags[FIXED.index('{"answer": 1}')] == 1.0 and json_flags[FIXED.index("Sure! Here is")] == 0.0


def test_sampling_caps_rows_per_window_and_is_reported(db_path):
    write_synthetic(db_path, 900, T0, T0 + 7 * DAY, seed=1)
    full = drift_report(db_path, since="1d", families=["output", "retrieval", "evaluator"])
    capped = drift_report(db_path, since="1d", families=["output", "retrieval", "evaluator"],
                          max_rows_per_window=100)
    llm = capped.sampling["llm"]
    assert llm["reference"]["rows"] == full.sampling["llm"]["reference"]["rows"]
    assert llm["reference"]["stride"] == -(-llm["reference"]["rows"] // 100)
    assert full.sampling["llm"]["current"]["stride"] == 1
    r_full, r_capped = full.get("output_tokens"), capped.get("output_tokens")
    assert r_full.reference_n == llm["reference"]["rows"]
    # the hashed 1-in-k sample is close to rows/k (not aliased by the 3-spans-per-trace rowid pattern)
    assert abs(r_capped.reference_n - llm["reference"]["rows"] / llm["reference"]["stride"]) < 25
    assert capped.sampling["evaluations"]["stride"] == -(-900 // 200)
    assert capped.to_dict(series=False)["sampling"] == capped.sampling


def test_model_family_strips_version_suffixes():
    assert model_family("gemini-2.5-flash-preview-09-2025") == "gemini-2.5-flash"
    assert model_family("claude-haiku-4-5-20251001") == "claude-haiku-4-5"
    assert model_family("gpt-4o-2024-08-06") == "gpt-4o"
    assert model_family("gpt-4o-mini") == "gpt-4o-mini"
    assert model_family("o1-preview") == "o1"
    assert model_family("gpt-4o-mini,gemini-2.5-flash-preview-09-2025") == "gemini-2.5-flash,gpt-4o-mini"
