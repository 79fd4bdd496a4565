"""Issue 14: strings from spans and URLs are inert in Markdown (ui.md / ui.md_code), and bad URL filters
give a message (the browser check of the same is tests/test_browser_hostile.py)."""
from __future__ import annotations

import pytest

from tracedesk.app.ui import md, md_code
from tracedesk.store.query import FilterError, Filters


@pytest.mark.parametrize("raw,shown", [
    ("plain id_with_underscores a-b 0..0.5 'quoted': ok", "plain id_with_underscores a-b 0..0.5 'quoted': ok"),
    ("![x](http://h/a.png)", "!\\[x\\](http\\:\u200b//h/a.png)"),
    ("[click](javascript:alert(1))", "\\[click\\](javascript\\:alert(1))"),
    (":red[alert] :material/home:", "\\:red\\[alert\\] \\:material/home:"),
    ("$x^2$ and $$y$$", "\\$x^2\\$ and \\$\\$y\\$\\$"),
    ("<img src=x onerror=alert(1)>", "\\<img src=x onerror=alert(1)\\>"),
    ("**bold** _em_ ~~del~~ `code`", "\\*\\*bold\\*\\* \\_em\\_ \\~\\~del\\~\\~ \\`code\\`"),
    ("## OUTPUT\nnext line", "\\## OUTPUT next line"),
    ("- item", "\\- item"),
    ("3. item", "3\\. item"),
    ("www.example.com mail a@b.co", "www\u200b\\.example.com mail a@\u200bb.co"),
    ("back\\slash | pipe", "back\\\\slash \\| pipe"),
])
def test_md_escapes_what_markdown_would_act_on(raw, shown):
    assert md(raw) == shown


def test_md_cuts_long_text_and_md_code_cannot_be_closed_from_inside():
    assert md("x" * 400) == "x" * 300 + "…"
    assert md_code("abc") == "`abc`"
    assert md_code("a`b``c") == "```a`b``c```"
    assert md_code("`x") == "`` `x ``"


@pytest.mark.parametrize("params,phrase", [
    ({"start": "99999999999999999999"}, "outside 1970..2262"),
    ({"end": "1" * 40}, "outside 1970..2262"),
    ({"latency_ms": "nan..inf"}, "bounds must be finite numbers"),
    ({"cost": "..inf"}, "bounds must be finite numbers"),
    ({"score.quality": "-inf..0.5"}, "bounds must be finite numbers"),
])
def test_out_of_range_url_filters_are_filter_errors(params, phrase):
    with pytest.raises(FilterError, match=phrase):
        Filters.from_query_params(params)
    assert Filters.from_query_params({"latency_ms": "10..", "start": "1700000000000000000"}).min_latency_ms == 10.0
