"""Findings on cohorts that cannot be the same traffic are never merged into one incident (analysis.changes
_may_share_traffic): two values of a trace-level dimension are different customers or requests; two values of a
span-level one (models, tools) can meet in one trace. The sixth week's W6-01 (tenant=koala-post) was folded into
W6-06 (tenant=siam-express) this way and dated 45.6 h early."""
from __future__ import annotations

import pytest

from tracedesk.analysis.changes import _may_share_traffic


@pytest.mark.parametrize("a, b, shared", [
    ({"tenant": "koala-post"}, {"tenant": "siam-express"}, False),
    ({"route": "returns_desk"}, {"route": "dispatch_crew"}, False),
    ({"route": "billing", "model": "gpt-4o"}, {"route": "search"}, False),
    ({"prompt_version": "v3"}, {"prompt_version": "v4"}, False),
    ({"route": "billing", "model": "gpt-4o"}, {"model": "gpt-4o"}, True),
    ({"route": "billing"}, {"tenant": "acme"}, True),
    ({"model": "gpt-4o"}, {"model": "gpt-4o-mini"}, True),  # a router's model and the agent's: one trace
    ({"tool_name": "search"}, {"tool_name": "lookup"}, True),
    ({"provider": "anthropic"}, {"route": "kb_answers"}, True),
    ({"route": "billing"}, {"route": "billing"}, False),  # the same cohort is not a second view of itself
])
def test_which_cohorts_may_be_one_incident(a, b, shared) -> None:
    assert _may_share_traffic(a, b) is shared
    assert _may_share_traffic(b, a) is shared
