"""OpenAI chat -> Anthropic Messages: the request a Claude channel receives, and (for Claude clients
served by an OpenAI channel) the chat completion turned into a Claude message.

Wire formats: https://docs.anthropic.com/en/api/messages and
https://platform.openai.com/docs/api-reference/chat/create. Image URLs are passed on as
`{"type": "url"}` sources for Anthropic to fetch; we never fetch them ourselves.
"""

from __future__ import annotations

from typing import Any

from app.relay.translate import TranslationError
from app.relay.translate.common import (
    IMAGE_TYPES,
    count,
    is_http_url,
    loose_arguments,
    new_id,
    parse_arguments,
    parse_data_url,
    text_of,
    usage_from_openai,
)
from app.relay.types import Usage

DEFAULT_MAX_TOKENS = 4096
# reasoning_effort -> extended thinking budget (https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking)
THINKING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384}
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
                "content_filter": "refusal"}
_COPIED = ("temperature", "top_p", "top_k", "stream")


def _image_block(url: Any, where: str) -> dict[str, Any]:
    if not isinstance(url, str) or not url:
        raise TranslationError(f"{where}: image_url.url must be a non-empty string")
    parsed = parse_data_url(url)
    if parsed is not None:
        media_type, data = parsed
        if media_type == "application/pdf":
            return {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": data}}
        if media_type not in IMAGE_TYPES:
            raise TranslationError(f"{where}: image type {media_type} is not supported "
                                   f"(use one of {', '.join(IMAGE_TYPES)})")
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if is_http_url(url):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise TranslationError(f"{where}: image_url.url must be an http(s) URL or a base64 data URL")


def _part_block(part: Any, where: str) -> dict[str, Any] | None:
    """One OpenAI content part as a Claude content block (None for an empty text part)."""
    if not isinstance(part, dict):
        raise TranslationError(f"{where}: a content part must be an object")
    kind = part.get("type")
    if kind in ("text", "input_text", "refusal"):
        text = part.get("text") if kind != "refusal" else part.get("refusal")
        if not isinstance(text, str):
            raise TranslationError(f"{where}: a text part needs a string 'text'")
        if not text:
            return None
        block: dict[str, Any] = {"type": "text", "text": text}
    elif kind == "image_url":
        image = part.get("image_url")
        block = _image_block(image.get("url") if isinstance(image, dict) else image, where)
    elif kind == "file":
        file = part.get("file") if isinstance(part.get("file"), dict) else {}
        parsed = parse_data_url(file.get("file_data") or "") if isinstance(file.get("file_data"), str) else None
        if parsed is None or parsed[0] != "application/pdf":
            raise TranslationError(f"{where}: only PDF files given as base64 file_data are supported")
        block = {"type": "document", "source": {"type": "base64", "media_type": parsed[0], "data": parsed[1]}}
    else:
        raise TranslationError(f"{where}: content part type {kind!r} is not supported by this model")
    if isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]
    return block


def _content_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise TranslationError(f"{where}: content must be a string or an array of parts")
    blocks = [_part_block(part, f"{where}.content[{i}]") for i, part in enumerate(content)]
    return [b for b in blocks if b is not None]


def _tool_use_blocks(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    calls = message.get("tool_calls")
    if calls is None:
        legacy = message.get("function_call")
        calls = [{"id": message.get("tool_call_id"), "type": "function", "function": legacy}] if legacy else []
    if not isinstance(calls, list):
        raise TranslationError(f"{where}.tool_calls must be an array")
    blocks = []
    for j, call in enumerate(calls):
        at = f"{where}.tool_calls[{j}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise TranslationError(f"{at}: a tool call needs function.name")
        if not isinstance(call.get("id"), str) or not call["id"]:
            raise TranslationError(f"{at}: a tool call needs an id (tool results refer to it)")
        blocks.append({"type": "tool_use", "id": call["id"], "name": fn["name"],
                       "input": parse_arguments(fn.get("arguments"), at)})
    return blocks


def _system_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    blocks = _content_blocks(content, where)
    if any(b["type"] != "text" for b in blocks):
        raise TranslationError(f"{where}: system messages may only contain text")
    return blocks


def _messages(messages: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, Claude messages) with consecutive same-role turns merged, tool results first."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise TranslationError(f"{where} must be an object")
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_system_blocks(message.get("content"), where))
            continue
        if role == "user":
            claude_role, blocks = "user", _content_blocks(message.get("content"), where)
        elif role == "assistant":
            blocks = _content_blocks(message.get("content"), where) + _tool_use_blocks(message, where)
            claude_role = "assistant"
        elif role in ("tool", "function"):
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise TranslationError(f"{where}: a tool message needs the tool_call_id it answers")
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
            content = message.get("content")
            result["content"] = (content if isinstance(content, str)
                                 else _content_blocks(content, where) or text_of(content))
            claude_role, blocks = "user", [result]
        else:
            raise TranslationError(f"{where}: unknown role {role!r}")
        if not blocks:
            continue
        if turns and turns[-1]["role"] == claude_role:
            previous = turns[-1]["content"]
            # Claude wants the tool_result blocks of a user turn before any other block.
            results = [b for b in previous + blocks if b["type"] == "tool_result"]
            others = [b for b in previous + blocks if b["type"] != "tool_result"]
            turns[-1]["content"] = results + others
        else:
            turns.append({"role": claude_role, "content": blocks})
    for turn in turns:  # a lone text block reads better (and caches the same) as a plain string
        content = turn["content"]
        if len(content) == 1 and content[0]["type"] == "text" and len(content[0]) == 2:
            turn["content"] = content[0]["text"]
    return system, turns


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise TranslationError("'tools' must be an array")
    out = []
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) and tool.get("type", "function") == "function" else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise TranslationError(f"tools[{i}]: only function tools with a name are supported")
        schema = fn.get("parameters")
        item: dict[str, Any] = {"name": fn["name"],
                                "input_schema": schema if isinstance(schema, dict) and schema
                                else {"type": "object", "properties": {}}}
        if isinstance(fn.get("description"), str):
            item["description"] = fn["description"]
        if isinstance(tool.get("cache_control"), dict):
            item["cache_control"] = tool["cache_control"]
        out.append(item)
    return out


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    result: dict[str, Any] | None
    if choice is None:
        result = None
    elif choice in ("auto", "none"):
        result = {"type": choice}
    elif choice == "required":
        result = {"type": "any"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict) and choice["function"].get("name"):
        result = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise TranslationError("'tool_choice' must be 'auto', 'none', 'required' or a named function")
    if parallel is False:
        result = result or {"type": "auto"}
        if result["type"] != "none":
            result["disable_parallel_tool_use"] = True
    return result


def request(body: dict[str, Any], *, default_max_tokens: int = DEFAULT_MAX_TOKENS) -> dict[str, Any]:
    """A Claude Messages request from an OpenAI chat request (`model` copied as is)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise TranslationError("'messages' must be a non-empty array")
    n = body.get("n")
    if n not in (None, 1):
        raise TranslationError("this model returns one choice per request: 'n' must be 1")
    system, turns = _messages(messages)
    if not turns:
        raise TranslationError("'messages' must contain at least one user or assistant message")
    out: dict[str, Any] = {"model": body.get("model"), "messages": turns}
    if system:
        plain = all(len(b) == 2 for b in system)
        out["system"] = "\n\n".join(b["text"] for b in system) if plain else system
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    out["max_tokens"] = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else default_max_tokens
    for key in _COPIED:
        if body.get(key) is not None:
            out[key] = body[key]
    stop = body.get("stop")
    if isinstance(stop, str):
        out["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        out["stop_sequences"] = [s for s in stop if isinstance(s, str)]
    if body.get("tools"):
        out["tools"] = _tools(body["tools"])
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if choice is not None and out.get("tools"):
        out["tool_choice"] = choice
    if isinstance(body.get("user"), str) and body["user"]:
        out["metadata"] = {"user_id": body["user"]}
    thinking = body.get("thinking")
    effort = body.get("reasoning_effort")
    if isinstance(thinking, dict):
        out["thinking"] = thinking
    elif effort in THINKING_BUDGETS:
        out["thinking"] = {"type": "enabled", "budget_tokens": THINKING_BUDGETS[effort]}
    if "thinking" in out and out["thinking"].get("type") == "enabled":
        # Extended thinking refuses sampling parameters and needs max_tokens above the budget.
        for key in ("temperature", "top_p", "top_k"):
            out.pop(key, None)
        budget = count(out["thinking"].get("budget_tokens"))
        if out["max_tokens"] <= budget:
            out["max_tokens"] = budget + default_max_tokens
    return out


def stop_reason(finish_reason: Any) -> str:
    return STOP_REASONS.get(finish_reason, "end_turn") if isinstance(finish_reason, str) else "end_turn"


def claude_usage(usage: Usage | None) -> dict[str, int]:
    """A Claude `usage` object: `input_tokens` excludes cache reads and writes."""
    usage = usage or Usage()
    cached, creation = usage.cached_tokens, usage.cache_creation_tokens
    return {"input_tokens": max(usage.prompt_tokens - cached - creation, 0),
            "cache_creation_input_tokens": creation, "cache_read_input_tokens": cached,
            "output_tokens": usage.completion_tokens}


def response(completion: dict[str, Any], model: str) -> dict[str, Any]:
    """A Claude message from an OpenAI chat completion (the first choice)."""
    choices = completion.get("choices") if isinstance(completion.get("choices"), list) else []
    choice = choices[0] if choices and isinstance(choices[0], dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    content: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = text_of(message.get("content")) or (message.get("refusal") or "")
    if text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict):
            content.append({"type": "tool_use", "id": call.get("id") or new_id("toolu_"),
                            "name": fn.get("name") or "", "input": loose_arguments(fn.get("arguments"))})
    reason = stop_reason(choice.get("finish_reason"))
    if any(b["type"] == "tool_use" for b in content) and reason == "end_turn":
        reason = "tool_use"
    return {"id": _message_id(completion.get("id")), "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": reason, "stop_sequence": None,
            "usage": claude_usage(usage_from_openai(completion.get("usage")))}


def _message_id(upstream_id: Any) -> str:
    if isinstance(upstream_id, str) and upstream_id.startswith("msg_"):
        return upstream_id
    return new_id("msg_")
