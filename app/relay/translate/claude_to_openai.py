"""Anthropic Messages -> OpenAI chat: the request of a Claude client served by a non-Claude channel,
and a Claude channel's answer turned into a chat completion.

Wire formats: https://docs.anthropic.com/en/api/messages (content blocks text, image, document,
tool_use, tool_result, thinking) and https://platform.openai.com/docs/api-reference/chat/object.
"""

from __future__ import annotations

from typing import Any

from app.relay.translate import TranslationError
from app.relay.translate.common import count, data_url, dumps, now, openai_usage
from app.relay.types import Usage

FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
                  "pause_turn": "stop", "refusal": "content_filter", "model_context_window_exceeded": "length"}
ROLES = ("user", "assistant")


def usage(obj: Any) -> Usage | None:
    """OpenAI-sense `Usage` from a Claude `usage` object (None when there is none).

    Claude's `input_tokens` excludes cache reads and writes; ours includes them.
    """
    if not isinstance(obj, dict):
        return None
    read = count(obj.get("cache_read_input_tokens"))
    creation = count(obj.get("cache_creation_input_tokens"))
    if not creation and isinstance(obj.get("cache_creation"), dict):
        creation = sum(count(v) for v in obj["cache_creation"].values())
    return Usage(prompt_tokens=count(obj.get("input_tokens")) + read + creation,
                 completion_tokens=count(obj.get("output_tokens")), cached_tokens=read,
                 cache_creation_tokens=creation)


def finish_reason(stop_reason: Any) -> str | None:
    if stop_reason is None:
        return None
    return FINISH_REASONS.get(stop_reason, "stop")


# -- requests -------------------------------------------------------------------------------------------
def _source_url(block: dict[str, Any], where: str) -> str:
    source = block.get("source")
    if not isinstance(source, dict):
        raise TranslationError(f"{where}: an {block.get('type')} block needs a source object")
    kind = source.get("type")
    if kind == "base64" and isinstance(source.get("data"), str) and isinstance(source.get("media_type"), str):
        return data_url(source["media_type"], source["data"])
    if kind == "url" and isinstance(source.get("url"), str) and source["url"]:
        return source["url"]
    raise TranslationError(f"{where}: source type {kind!r} is not supported on this model")


def _text(block: dict[str, Any], where: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise TranslationError(f"{where}: a text block needs a string 'text'")
    return text


def _part(block: Any, where: str) -> dict[str, Any] | None:
    """A user-visible Claude block as an OpenAI content part (None for blocks with no OpenAI form)."""
    if not isinstance(block, dict):
        raise TranslationError(f"{where}: a content block must be an object")
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": _text(block, where)}
    if kind == "image":
        return {"type": "image_url", "image_url": {"url": _source_url(block, where)}}
    if kind == "document":
        url = _source_url(block, where)
        if not url.startswith("data:"):
            raise TranslationError(f"{where}: documents must be given as base64 on this model")
        return {"type": "file", "file": {"filename": block.get("title") or "document.pdf", "file_data": url}}
    if kind in ("thinking", "redacted_thinking"):
        return None  # the model's own earlier reasoning: other providers cannot take it back
    raise TranslationError(f"{where}: content block type {kind!r} is not supported here")


def _simplify(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def _tool_result_content(block: dict[str, Any], where: str) -> str:
    content = block.get("content")
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    elif isinstance(content, list):
        parts = [_part(b, where) for b in content]
        text = "".join(p["text"] for p in parts if p is not None and p["type"] == "text")
    else:
        raise TranslationError(f"{where}: tool_result content must be a string or an array")
    return f"Error: {text}" if block.get("is_error") and not text.startswith("Error") else text


def _user_messages(content: Any, where: str) -> list[dict[str, Any]]:
    """One Claude user turn: tool results become `tool` messages, placed first, then the rest."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    tool_messages: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        at = f"{where}.content[{j}]"
        if isinstance(block, dict) and block.get("type") == "tool_result":
            call_id = block.get("tool_use_id")
            if not isinstance(call_id, str) or not call_id:
                raise TranslationError(f"{at}: a tool_result block needs tool_use_id")
            tool_messages.append({"role": "tool", "tool_call_id": call_id,
                                  "content": _tool_result_content(block, at)})
        else:
            part = _part(block, at)
            if part is not None:
                parts.append(part)
    if parts:
        tool_messages.append({"role": "user", "content": _simplify(parts)})
    return tool_messages


def _assistant_message(content: Any, where: str) -> dict[str, Any] | None:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        at = f"{where}.content[{j}]"
        if isinstance(block, dict) and block.get("type") == "tool_use":
            if not isinstance(block.get("id"), str) or not block["id"]:
                raise TranslationError(f"{at}: a tool_use block needs an id")
            if not isinstance(block.get("name"), str) or not block["name"]:
                raise TranslationError(f"{at}: a tool_use block needs a name")
            tool_input = block.get("input", {})
            if not isinstance(tool_input, dict):
                raise TranslationError(f"{at}: tool_use input must be an object")
            calls.append({"id": block["id"], "type": "function",
                          "function": {"name": block["name"], "arguments": dumps(tool_input)}})
            continue
        part = _part(block, at)
        if part is not None:
            if part["type"] != "text":
                raise TranslationError(f"{at}: assistant turns may only hold text and tool_use blocks")
            texts.append(part["text"])
    if not texts and not calls:
        return None
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _system(system: Any) -> str:
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n\n".join(_text(b, f"system[{i}]") for i, b in enumerate(system)
                           if isinstance(b, dict) and b.get("type") == "text")
    raise TranslationError("'system' must be a string or an array of text blocks")


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise TranslationError("'tools' must be an array")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") not in (None, "custom"):
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise TranslationError(f"tools[{i}]: server tool {kind!r} is not available on this model")
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise TranslationError(f"tools[{i}]: a tool needs a name")
        fn: dict[str, Any] = {"name": tool["name"],
                              "parameters": tool.get("input_schema") or {"type": "object", "properties": {}}}
        if isinstance(tool.get("description"), str):
            fn["description"] = tool["description"]
        out.append({"type": "function", "function": fn})
    return out


def _tool_choice(choice: Any) -> tuple[Any, bool]:
    """(OpenAI tool_choice, parallel tool use disabled)."""
    if not isinstance(choice, dict):
        raise TranslationError("'tool_choice' must be an object")
    kind = choice.get("type")
    parallel_off = choice.get("disable_parallel_tool_use") is True
    if kind in ("auto", "none"):
        return kind, parallel_off
    if kind == "any":
        return "required", parallel_off
    if kind == "tool" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}, parallel_off
    raise TranslationError("'tool_choice.type' must be auto, any, tool or none")


def request(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat request from a Claude Messages request (`model` copied as is)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise TranslationError("messages: at least one message is required")
    out_messages: list[dict[str, Any]] = []
    if body.get("system") is not None:
        system = _system(body["system"])
        if system:
            out_messages.append({"role": "system", "content": system})
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise TranslationError(f"{where} must be an object")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise TranslationError(f"{where}.role: expected 'user' or 'assistant', got {role!r}")
        if not isinstance(content, (str, list)):
            raise TranslationError(f"{where}.content must be a string or an array of content blocks")
        if role == "user":
            out_messages.extend(_user_messages(content, where))
        else:
            assistant = _assistant_message(content, where)
            if assistant is not None:
                out_messages.append(assistant)
    out: dict[str, Any] = {"model": body.get("model"), "messages": out_messages}
    if body.get("max_tokens") is not None:
        out["max_tokens"] = body["max_tokens"]
    for key in ("temperature", "top_p", "stream"):
        if body.get(key) is not None:
            out[key] = body[key]
    if isinstance(body.get("stop_sequences"), list) and body["stop_sequences"]:
        out["stop"] = body["stop_sequences"]
    if body.get("tools"):
        out["tools"] = _tools(body["tools"])
        if body.get("tool_choice") is not None:
            choice, parallel_off = _tool_choice(body["tool_choice"])
            out["tool_choice"] = choice
            if parallel_off:
                out["parallel_tool_calls"] = False
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    return out


# -- responses ------------------------------------------------------------------------------------------
def response(message: dict[str, Any], model: str | None = None) -> dict[str, Any]:
    """An OpenAI chat completion from a Claude message."""
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in message.get("content") or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            thinking.append(block["thinking"])
        elif kind in ("tool_use", "server_tool_use"):
            calls.append({"id": block.get("id") or "", "type": "function",
                          "function": {"name": block.get("name") or "",
                                       "arguments": dumps(block.get("input") or {})}})
    out_message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if thinking:
        out_message["reasoning_content"] = "".join(thinking)
    if calls:
        out_message["tool_calls"] = calls
    finish = finish_reason(message.get("stop_reason")) or "stop"
    result: dict[str, Any] = {
        "id": "chatcmpl-" + str(message.get("id") or "").removeprefix("msg_"),
        "object": "chat.completion",
        "created": now(),
        "model": model or message.get("model") or "",
        "choices": [{"index": 0, "message": out_message, "logprobs": None, "finish_reason": finish}],
    }
    found = usage(message.get("usage"))
    if found is not None:
        result["usage"] = openai_usage(found)
    return result
