"""Message lists in every shape the conventions use -> [{"role", "content", "tool_calls"?, ...}].

Shapes handled: OpenAI chat messages, OTel GenAI "parts" messages (gen_ai.input/output.messages),
OpenInference / OpenLLMetry flattened lists after re-nesting, Vercel AI SDK prompts
({system, prompt, messages} with typed content parts), LangChain-style {"type": "human"} messages,
{"messages": [...]} wrappers (LangSmith, MLflow), and Gemini `Content` (google-genai: role user/model, untyped
parts {"text"} / {"function_call"} / {"function_response"}, thinking parts marked "thought"), in a request
({"contents": [...]}) or a response ({"content": {...}, "finish_reason"}), as Google ADK records them.
"""
from __future__ import annotations

from typing import Any

from .wire import as_text, maybe_json

_ROLE_ALIASES = {"human": "user", "ai": "assistant", "model": "assistant", "bot": "assistant",
                 "function": "tool", "developer": "system"}


def unflatten(attrs: dict[str, Any], prefix: str, strip: str = "") -> list[dict[str, Any]]:
    """Re-nest `prefix.{i}.rest` keys into a list ordered by index (sparse indexes are compacted).

    `strip` removes a per-item sub-prefix (OpenInference's "message." / "document.").
    Nested lists inside items (`tool_calls.{k}.…`, `contents.{j}.…`) are re-nested too.
    """
    items: dict[int, dict[str, Any]] = {}
    plen = len(prefix)
    for key, value in attrs.items():
        if not key.startswith(prefix):
            continue
        rest = key[plen:]
        idx_text, _, sub = rest.partition(".")
        if not idx_text.isdigit() or not sub:
            continue
        if strip and sub.startswith(strip):
            sub = sub[len(strip):]
        items.setdefault(int(idx_text), {})[sub] = value
    return [_nest(items[i]) for i in sorted(items)]


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """{"a.b": 1, "tool_calls.0.x": 2} -> {"a": {"b": 1}, "tool_calls": [{"x": 2}]}."""
    out: dict[str, Any] = {}
    lists: dict[str, dict[int, dict[str, Any]]] = {}
    for key, value in flat.items():
        parts = key.split(".")
        # find a numeric segment: everything before is the list name
        for i, part in enumerate(parts):
            if part.isdigit() and i > 0:
                name = ".".join(parts[:i])
                lists.setdefault(name, {}).setdefault(int(part), {})[".".join(parts[i + 1:])] = value
                break
        else:
            cur = out
            for part in parts[:-1]:
                nxt = cur.get(part)
                if not isinstance(nxt, dict):
                    nxt = cur[part] = {}
                cur = nxt
            cur[parts[-1]] = value
    for name, entries in lists.items():
        out[name] = [_nest(entries[i]) if "" not in entries[i] else entries[i][""] for i in sorted(entries)]
    return out


def content_text(content: Any) -> str | None:
    """Message content (string, parts list, OpenInference contents) -> plain text."""
    if content is None:
        return None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                inner = part.get("message_content", part)
                if isinstance(inner, dict):
                    kind = inner.get("type")
                    if kind in (None, "text", "input_text", "output_text") or "text" in inner:
                        text = inner.get("text", inner.get("content"))
                        if isinstance(text, str):
                            texts.append(text)
        return "\n".join(texts) if texts else None
    if isinstance(content, dict):
        text = content.get("text", content.get("content"))
        return text if isinstance(text, str) else as_text(content)
    return str(content)


def _tool_call(tc: Any) -> dict[str, Any] | None:
    if not isinstance(tc, dict):
        return None
    tc = tc.get("tool_call", tc)  # OpenInference nests under tool_call
    fn = tc.get("function") if isinstance(tc.get("function"), dict) else {}
    name = fn.get("name") or tc.get("name") or tc.get("toolName")
    args = fn.get("arguments", tc.get("arguments", tc.get("args", tc.get("input"))))
    call_id = tc.get("id") or tc.get("toolCallId")
    if name is None and args is None:
        return None
    out: dict[str, Any] = {"name": name, "arguments": args if isinstance(args, str) or args is None
                           else as_text(args)}
    if call_id is not None:
        out["id"] = call_id
    return out


def normalize_message(msg: Any, default_role: str | None = None) -> dict[str, Any] | None:
    """One message of any supported shape -> {"role", "content", ...}."""
    if isinstance(msg, str):
        return {"role": default_role or "user", "content": msg}
    if not isinstance(msg, dict):
        return None
    role = msg.get("role") or msg.get("type") or default_role or "user"
    role = _ROLE_ALIASES.get(str(role).lower(), str(role).lower())
    out: dict[str, Any] = {"role": role}
    tool_calls = []
    if isinstance(msg.get("parts"), list):  # OTel GenAI parts
        texts = []
        for part in msg["parts"]:
            if not isinstance(part, dict):
                continue
            ptype = part.get("type")
            if ptype in ("text", "reasoning", None) and isinstance(part.get("content"), str):
                if ptype != "reasoning":
                    texts.append(part["content"])
            elif ptype is None and isinstance(part.get("text"), str):  # Gemini: untyped; thinking marked
                if not part.get("thought"):
                    texts.append(part["text"])
            elif ptype is None and isinstance(part.get("function_call"), dict):
                tc = _tool_call(part["function_call"])
                if tc:
                    tool_calls.append(tc)
            elif ptype is None and isinstance(part.get("function_response"), dict):
                texts.append(as_text(part["function_response"].get("response")) or "")
                if role == "user":
                    out["role"] = "tool"  # Gemini sends tool results as the user's turn
            elif ptype == "tool_call":
                tc = _tool_call(part)
                if tc:
                    tool_calls.append(tc)
            elif ptype == "tool_call_response":
                result = part.get("result", part.get("response"))
                texts.append(as_text(result) or "")
                if part.get("id") is not None:
                    out["tool_call_id"] = part["id"]
        out["content"] = "\n".join(texts) if texts else None
    else:
        content = msg.get("content", msg.get("contents", msg.get("text")))
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") in ("tool-call", "tool_call", "tool_use"):
                    tc = _tool_call(part)
                    if tc:
                        tool_calls.append(tc)
                elif isinstance(part, dict) and part.get("type") in ("tool-result", "tool_result"):
                    out["tool_call_id"] = part.get("toolCallId", part.get("tool_use_id"))
                    content = [{"type": "text", "text": as_text(part.get("result", part.get("output",
                                                                                           part.get("content"))))}]
        out["content"] = content_text(content)
    for tc in msg.get("tool_calls") or ():
        norm = _tool_call(tc)
        if norm:
            tool_calls.append(norm)
    if tool_calls:
        out["tool_calls"] = tool_calls
    for key in ("tool_call_id", "name"):
        if msg.get(key) is not None and key not in out:
            out[key] = msg[key]
    if msg.get("finish_reason") is not None:
        out["finish_reason"] = msg["finish_reason"]
    return out


def normalize_messages(value: Any, default_role: str | None = None) -> list[dict[str, Any]] | None:
    """A message list (or a wrapper holding one, or JSON text of either) -> normalized list, else None."""
    value = maybe_json(value)
    if isinstance(value, dict):
        if isinstance(value.get("messages"), list) or "system" in value or "prompt" in value:
            msgs: list[Any] = []
            if isinstance(value.get("system"), str):
                msgs.append({"role": "system", "content": value["system"]})
            if isinstance(value.get("messages"), list):
                msgs.extend(value["messages"])
            if isinstance(value.get("prompt"), str):
                msgs.append({"role": "user", "content": value["prompt"]})
            value = msgs
        elif "role" in value or "parts" in value:
            value = [value]
        elif isinstance(value.get("contents"), list):  # a Gemini request
            value = value["contents"]
        elif isinstance(value.get("content"), dict) and isinstance(value["content"].get("parts"), list):
            # a Gemini response: its finish reason beside the content (the enum's name: STOP)
            reason = value.get("finish_reason")
            value = [{**value["content"], **({"finish_reason": str(reason).lower()} if reason else {})}]
        else:
            return None
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(m, dict) and ("role" in m or "parts" in m or "type" in m or "content" in m)
               for m in value):
        return None
    out = [m for m in (normalize_message(m, default_role) for m in value) if m is not None]
    return out or None


def system_messages(value: Any) -> list[dict[str, Any]]:
    """gen_ai.system_instructions ([{type: text, content}] or text) -> [system message]."""
    value = maybe_json(value)
    text = value if isinstance(value, str) else content_text(
        [{"type": "text", "text": p.get("content")} if isinstance(p, dict) else p for p in value]
        if isinstance(value, list) else None
    )
    return [{"role": "system", "content": text}] if text else []


def last_text(messages: list[dict[str, Any]] | None, roles: tuple[str, ...]) -> str | None:
    for msg in reversed(messages or ()):
        if msg.get("role") in roles and msg.get("content"):
            return msg["content"]
    return None
