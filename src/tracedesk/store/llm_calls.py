"""What one LLM call is: the one definition behind `traces.llm_calls` (and so the llm_calls_per_trace
signal, the feed, the workbench totals and alerts, which all read that column).

Real instrumentations nest two LLM spans for ONE provider request:
- Google ADK's `call_llm` around the google-genai instrumentor's `generate_content <model>`;
- a LangChain/LangGraph ChatModel span (OpenInference, OpenLLMetry) around the provider instrumentor's
  `ChatCompletion` / `chat <model>` span;
- litellm's `litellm_request` around its `raw_gen_ai_request`.
The outer span is the framework's view of the request the inner one made. When the outer span made
several requests (an agent framework's LLM step that retried, or called the model twice), each inner
span is one of them. So: an LLM span with an LLM span below it in its trace (non-LLM spans may sit in
between) is not a call itself; the innermost LLM spans are the calls. One LLM span alone is one call.

Malformed parent links that form a cycle: an LLM span on the cycle is below every span of the cycle and
above them too, so it wraps nothing (it counts as a call); an LLM span hanging off the cycle still makes
its nearest LLM ancestor a wrapper. A trace with any LLM span thus counts at least one call (the
workbench's `kind=LLM` filter reads `llm_calls > 0`).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

LLM = "LLM"


def on_cycles(parent_of: Mapping[str, str | None]) -> set[str]:
    """Spans whose own parent chain comes back to them (parents outside the mapping end a chain)."""
    state: dict[str, int] = {}  # 1: on the chain being walked, 2: decided
    found: set[str] = set()
    for start in parent_of:
        if start in state:
            continue
        path: list[str] = []
        node: str | None = start
        while node is not None and node in parent_of and node not in state:
            state[node] = 1
            path.append(node)
            node = parent_of[node]
        if node is not None and state.get(node) == 1:  # the chain closed on itself at `node`
            found.update(path[path.index(node):])
        for n in path:
            state[n] = 2
    return found


def ancestors(parent_of: Mapping[str, str | None], sid: str) -> Iterator[str]:
    """The span's ancestors within the mapping, nearest first (a parent outside it, or one already met on
    a cycle, ends the walk)."""
    seen = {sid}
    node = parent_of[sid]
    while node is not None and node in parent_of and node not in seen:
        yield node
        seen.add(node)
        node = parent_of[node]


def wrappers(parent_of: Mapping[str, str | None], llm: Iterable[str]) -> set[str]:
    """The LLM spans (ids of `llm`, all keys of `parent_of`) that are not calls: each is the nearest LLM
    ancestor of some LLM span not on a parent cycle."""
    llm_ids = set(llm)
    cyclic = on_cycles(parent_of) if llm_ids else set()
    out: set[str] = set()
    for sid in llm_ids:
        nearest = None if sid in cyclic else next((a for a in ancestors(parent_of, sid) if a in llm_ids), None)
        if nearest is not None:
            out.add(nearest)
    return out


def count(parent_of: Mapping[str, str | None], kind_of: Mapping[str, str | None]) -> int:
    """LLM calls among one trace's spans (span id -> parent id, span id -> kind)."""
    llm = [sid for sid, kind in kind_of.items() if kind == LLM]
    if len(llm) < 2:
        return len(llm)
    return len(llm) - len(wrappers(parent_of, llm))
