"""Stream translators between Claude's Messages events and OpenAI `chat.completion.chunk`s.

Claude's stream (https://docs.anthropic.com/en/docs/build-with-claude/streaming): `message_start`,
then per content block `content_block_start` / `content_block_delta` (text_delta, input_json_delta,
thinking_delta, signature_delta) / `content_block_stop`, then `message_delta` (stop_reason and the
final usage), `message_stop`; `ping` may come anywhere and `error` ends a failed stream.
Both classes are pure state machines over parsed JSON; the adaptors and views frame the bytes.
"""

from __future__ import annotations

import json
from typing import Any

from app.relay.translate import claude_to_openai
from app.relay.translate.common import new_id, now, openai_usage, usage_from_openai
from app.relay.translate.errors import CLAUDE_TYPES
from app.relay.translate.openai_to_claude import claude_usage, stop_reason
from app.relay.types import Usage

ClaudeEvent = tuple[str, dict[str, Any]]


def event_frame(name: str, data: dict[str, Any]) -> bytes:
    """One Claude server-sent event: `event: <name>` and its JSON `data:` line."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {name}\ndata: {payload}\n\n".encode()


class ClaudeToOpenAI:
    """Claude events in, OpenAI chunk dicts out; keeps usage, the finish reason and errors."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = new_id("chatcmpl-")
        self.created = now()
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.done = False  # message_stop seen
        self.error: dict[str, Any] | None = None
        self.delivered: list[str] = []
        self._tools: dict[int, int] = {}  # Claude block index -> OpenAI tool_calls index

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    def usage_chunk(self) -> dict[str, Any] | None:
        """The final `choices: []` chunk with usage, as OpenAI sends with include_usage."""
        if self.usage is None:
            return None
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [], "usage": openai_usage(self.usage)}

    def _merge_usage(self, raw: Any) -> None:
        if not isinstance(raw, dict):
            return
        found = claude_to_openai.usage(raw)
        if found is None:
            return
        if self.usage is None:
            self.usage = found
            return
        # message_delta's usage is cumulative; fields it omits keep message_start's values.
        if "output_tokens" in raw:
            self.usage.completion_tokens = found.completion_tokens
        if "input_tokens" in raw or "cache_read_input_tokens" in raw or "cache_creation_input_tokens" in raw:
            current = claude_usage(self.usage)
            merged = {**current, **{k: v for k, v in raw.items() if k in current and v is not None}}
            again = claude_to_openai.usage(merged)
            if again is not None:
                self.usage.prompt_tokens = again.prompt_tokens
                self.usage.cached_tokens = again.cached_tokens
                self.usage.cache_creation_tokens = again.cache_creation_tokens

    def feed(self, data: Any) -> list[dict[str, Any]]:
        """The OpenAI chunks for one Claude event (its parsed `data:` JSON)."""
        if not isinstance(data, dict):
            return []
        kind = data.get("type")
        if kind == "content_block_delta":
            delta = data.get("delta") if isinstance(data.get("delta"), dict) else {}
            dtype = delta.get("type")
            if dtype == "text_delta" and isinstance(delta.get("text"), str):
                self.delivered.append(delta["text"])
                return [self.chunk({"content": delta["text"]})]
            if dtype == "input_json_delta" and isinstance(delta.get("partial_json"), str):
                index = self._tools.get(data.get("index", -1))
                if index is None or not delta["partial_json"]:
                    return []
                self.delivered.append(delta["partial_json"])
                return [self.chunk({"tool_calls": [{"index": index,
                                                    "function": {"arguments": delta["partial_json"]}}]})]
            if dtype == "thinking_delta" and isinstance(delta.get("thinking"), str):
                self.delivered.append(delta["thinking"])
                return [self.chunk({"reasoning_content": delta["thinking"]})]
            return []
        if kind == "content_block_start":
            block = data.get("content_block") if isinstance(data.get("content_block"), dict) else {}
            if block.get("type") in ("tool_use", "server_tool_use"):
                index = len(self._tools)
                self._tools[data.get("index", index)] = index
                name = block.get("name") or ""
                self.delivered.append(name)
                return [self.chunk({"tool_calls": [{"index": index, "id": block.get("id") or new_id("call_"),
                                                    "type": "function",
                                                    "function": {"name": name, "arguments": ""}}]})]
            if block.get("type") == "text" and block.get("text"):
                self.delivered.append(block["text"])
                return [self.chunk({"content": block["text"]})]
            return []
        if kind == "message_start":
            message = data.get("message") if isinstance(data.get("message"), dict) else {}
            if isinstance(message.get("id"), str):
                self.id = "chatcmpl-" + message["id"].removeprefix("msg_")
            self._merge_usage(message.get("usage"))
            return [self.chunk({"role": "assistant", "content": ""})]
        if kind == "message_delta":
            self._merge_usage(data.get("usage"))
            delta = data.get("delta") if isinstance(data.get("delta"), dict) else {}
            if delta.get("stop_reason") is not None:
                self.finish_reason = claude_to_openai.finish_reason(delta["stop_reason"])
                return [self.chunk({}, self.finish_reason)]
            return []
        if kind == "message_stop":
            self.done = True
            return []
        if kind == "error":
            err = data.get("error") if isinstance(data.get("error"), dict) else {}
            self.error = {"type": err.get("type") or "api_error",
                          "message": err.get("message") or "the upstream stream failed"}
        return []


class OpenAIToClaude:
    """OpenAI chunk dicts in, Claude `(event name, data)` pairs out, for a Claude client."""

    def __init__(self, model: str, input_tokens: int = 0) -> None:
        self.model = model
        self.id = new_id("msg_")
        self.input_tokens = input_tokens  # what message_start announces before the real usage arrives
        self.started = False
        self.closed = False
        self.stop_reason: str | None = None
        self.usage: Usage | None = None
        self.delivered: list[str] = []
        self._index = -1
        self._open: str | None = None  # kind of the open block: "text", "thinking", "tool:<n>"
        self._tool_blocks: dict[int, int] = {}  # OpenAI tool index -> Claude block index

    def _start(self) -> list[ClaudeEvent]:
        if self.started:
            return []
        self.started = True
        message = {"id": self.id, "type": "message", "role": "assistant", "model": self.model, "content": [],
                   "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": self.input_tokens, "cache_creation_input_tokens": 0,
                             "cache_read_input_tokens": 0, "output_tokens": 0}}
        return [("message_start", {"type": "message_start", "message": message})]

    def _close(self) -> list[ClaudeEvent]:
        if self._open is None:
            return []
        self._open = None
        return [("content_block_stop", {"type": "content_block_stop", "index": self._index})]

    def _open_block(self, kind: str, block: dict[str, Any]) -> list[ClaudeEvent]:
        events = self._close()
        self._index += 1
        self._open = kind
        events.append(("content_block_start", {"type": "content_block_start", "index": self._index,
                                               "content_block": block}))
        return events

    def _delta(self, delta: dict[str, Any]) -> ClaudeEvent:
        return ("content_block_delta", {"type": "content_block_delta", "index": self._index, "delta": delta})

    def feed(self, chunk: Any) -> list[ClaudeEvent]:
        """The Claude events for one OpenAI chunk."""
        if not isinstance(chunk, dict):
            return []
        events = self._start()
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = usage_from_openai(usage) or self.usage
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
            events.extend(self._feed_delta(delta))
            if choice.get("finish_reason"):
                self.stop_reason = stop_reason(choice["finish_reason"])
        return events

    def _feed_delta(self, delta: dict[str, Any]) -> list[ClaudeEvent]:
        events: list[ClaudeEvent] = []
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            if self._open != "thinking":
                events += self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            events.append(self._delta({"type": "thinking_delta", "thinking": reasoning}))
            self.delivered.append(reasoning)
        text = delta.get("content")
        if isinstance(text, str) and text:
            if self._open != "text":
                events += self._open_block("text", {"type": "text", "text": ""})
            events.append(self._delta({"type": "text_delta", "text": text}))
            self.delivered.append(text)
        for call in delta.get("tool_calls") or ():
            if not isinstance(call, dict):
                continue
            index = call.get("index", 0)
            fn = call.get("function") if isinstance(call.get("function"), dict) else {}
            if index not in self._tool_blocks:
                name = fn.get("name") or ""
                events += self._open_block(f"tool:{index}", {"type": "tool_use", "id": call.get("id") or
                                                             new_id("toolu_"), "name": name, "input": {}})
                self._tool_blocks[index] = self._index
                self.delivered.append(name)
            elif self._open != f"tool:{index}":
                continue  # arguments of a call whose block is closed: Claude blocks cannot reopen
            arguments = fn.get("arguments")
            if isinstance(arguments, str) and arguments:
                events.append(self._delta({"type": "input_json_delta", "partial_json": arguments}))
                self.delivered.append(arguments)
        return events

    def finish(self, usage: Usage | None = None) -> list[ClaudeEvent]:
        """Close the message: the open block, `message_delta` with the stop reason and usage, `message_stop`."""
        if self.closed:
            return []
        self.closed = True
        events = self._start() + self._close()
        final = claude_usage(usage or self.usage)
        reason = self.stop_reason or "end_turn"
        events.append(("message_delta", {"type": "message_delta",
                                         "delta": {"stop_reason": reason, "stop_sequence": None},
                                         "usage": final}))
        events.append(("message_stop", {"type": "message_stop"}))
        return events


def error_event(message: str, error_type: str = "api_error") -> ClaudeEvent:
    """The `error` event a Claude stream ends with when it cannot finish."""
    return ("error", {"type": "error", "error": {"type": error_type, "message": message}})


def error_frame(message: str, error_type: str | None = None) -> bytes:
    """The `error` event a Claude stream ends with (types Claude does not know become `api_error`)."""
    kind = error_type if error_type in CLAUDE_TYPES.values() else "api_error"
    return event_frame(*error_event(message, kind))
