"""Usage estimates with the tokenizer, for answers that carry no usage (streams cut short, providers that
never report it). Only the fallback path pays for tiktoken; answers with usage never reach this module.
"""

from __future__ import annotations

import json
from typing import Any

from app.relay import tokenizer
from app.relay.translate import bridge
from app.relay.types import Mode, Usage

_seeded = False


def ensure_tokenizer(cache_dir: str | None) -> None:
    """Point tiktoken at the app's offline cache once per process."""
    global _seeded
    if not _seeded:
        try:
            tokenizer.seed_tiktoken_cache(cache_dir)
        except Exception:  # noqa: BLE001 - counting falls back to bytes / 4
            pass
        _seeded = True


def prompt_tokens(mode: str, model: str, body: dict[str, Any] | None) -> int:
    """Tokens of the client's prompt (chat messages + tools, completion prompt, embedding input)."""
    if not body:
        return 0
    if mode in Mode.SURFACES:  # Claude, Gemini, Responses, rerank bodies
        return bridge.prompt_tokens(mode, model, body)
    if mode == Mode.CHAT:
        return tokenizer.count_chat_prompt_tokens(body.get("messages"), model, body.get("tools"))
    key = "prompt" if mode == Mode.COMPLETIONS else "input"
    value = body.get(key)
    if isinstance(value, list):
        return sum(tokenizer.count_tokens(v, model) for v in value)
    return tokenizer.count_tokens(value, model)


def completion_text(payload: Any) -> str:
    """The generated text of a non-stream chat/completions answer (content, tool call arguments)."""
    parts: list[str] = []
    choices = payload.get("choices") if isinstance(payload, dict) else None
    for choice in choices if isinstance(choices, list) else ():
        if not isinstance(choice, dict):
            continue
        message = choice.get("message") if isinstance(choice.get("message"), dict) else choice
        for key in ("content", "text", "reasoning_content", "refusal"):
            if isinstance(message.get(key), str):
                parts.append(message[key])
        for call in message.get("tool_calls") or ():
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict):
                parts.extend(v for v in (fn.get("name"), fn.get("arguments")) if isinstance(v, str))
    return "".join(parts)


def usage_for_answer(mode: str, model: str, body: dict[str, Any] | None, content: bytes) -> Usage:
    """Estimated usage of a non-stream answer that came without usage."""
    usage = Usage(prompt_tokens=prompt_tokens(mode, model, body), estimated=True)
    if mode in Mode.STREAMABLE:
        try:
            payload = json.loads(content)
        except ValueError:
            payload = None
        usage.completion_tokens = tokenizer.count_tokens(completion_text(payload), model)
    return usage


def usage_for_stream(mode: str, model: str, body: dict[str, Any] | None, delivered: str) -> Usage:
    """Estimated usage of a stream from the prompt and the text actually delivered."""
    return Usage(prompt_tokens=prompt_tokens(mode, model, body),
                 completion_tokens=tokenizer.count_tokens(delivered, model), estimated=True)
