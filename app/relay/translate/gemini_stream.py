"""Stream translators between Gemini's streamGenerateContent and OpenAI `chat.completion.chunk`s.

Gemini's stream (`:streamGenerateContent?alt=sse`) is a series of `data:` events, each a complete
GenerateContentResponse holding the new parts only; the last has `finishReason`, and `usageMetadata`
(cumulative) rides on each or on the last. There is no terminal `[DONE]`.
"""

from __future__ import annotations

import json
from typing import Any

from app.relay.translate.common import loose_arguments, new_id, now, openai_usage, usage_from_openai
from app.relay.translate.errors import GEMINI_CODES, gemini_error
from app.relay.translate.gemini_to_openai import candidate_delta, finish_reason, get, usage
from app.relay.translate.openai_to_gemini import finish_reason as gemini_finish_reason
from app.relay.translate.openai_to_gemini import usage_metadata
from app.relay.types import Usage


class GeminiToOpenAI:
    """Gemini stream responses in, OpenAI chunk dicts out; keeps usage, the finish reason and errors."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = new_id("chatcmpl-")
        self.created = now()
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.error: dict[str, Any] | None = None
        self.delivered: list[str] = []
        self._started = False
        self._calls = 0

    def chunk(self, delta: dict[str, Any], finish: str | None = None, index: int = 0) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    def usage_chunk(self) -> dict[str, Any] | None:
        if self.usage is None:
            return None
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [], "usage": openai_usage(self.usage)}

    def feed(self, data: Any) -> list[dict[str, Any]]:
        """The OpenAI chunks for one Gemini stream response."""
        if isinstance(data, list):  # a JSON-array stream element (streamGenerateContent without alt=sse)
            return [c for item in data for c in self.feed(item)]
        if not isinstance(data, dict):
            return []
        if isinstance(data.get("error"), dict):
            err = data["error"]
            self.error = {"type": err.get("status") or "INTERNAL",
                          "message": err.get("message") or "the upstream stream failed", "code": err.get("code")}
            return []
        chunks: list[dict[str, Any]] = []
        if not self._started:
            self._started = True
            if isinstance(get(data, "responseId"), str):
                self.id = "chatcmpl-" + get(data, "responseId")
            chunks.append(self.chunk({"role": "assistant", "content": ""}))
        found = usage(get(data, "usageMetadata"))
        if found is not None:
            self.usage = found
        for candidate in data.get("candidates") or ():
            if not isinstance(candidate, dict):
                continue
            index = candidate.get("index", 0)
            delta = candidate_delta(candidate.get("content"), self._calls)
            self._calls += len(delta.get("tool_calls", ()))
            for key in ("content", "reasoning_content"):
                if key in delta:
                    self.delivered.append(delta[key])
            for call in delta.get("tool_calls", ()):
                self.delivered.append(call["function"]["name"] + call["function"]["arguments"])
            if delta:
                chunks.append(self.chunk(delta, index=index))
            reason = finish_reason(get(candidate, "finishReason"), self._calls > 0)
            if reason is not None:
                self.finish_reason = reason
                chunks.append(self.chunk({}, reason, index=index))
        if not data.get("candidates") and get(get(data, "promptFeedback"), "blockReason"):
            self.finish_reason = "content_filter"
            chunks.append(self.chunk({}, "content_filter"))
        return chunks


class OpenAIToGemini:
    """OpenAI chunk dicts in, Gemini stream responses out, for a Gemini client."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = new_id("")
        self.usage: Usage | None = None
        self.finish: str | None = None
        self.closed = False
        self.delivered: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}  # tool calls are sent whole, once their arguments are in

    def _response(self, parts: list[dict[str, Any]], finish: str | None = None,
                  usage: Usage | None = None) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish is not None:
            candidate["finishReason"] = finish
        out: dict[str, Any] = {"candidates": [candidate]}
        if usage is not None:
            out["usageMetadata"] = usage_metadata(usage)
        out["modelVersion"] = self.model
        out["responseId"] = self.id
        return out

    def feed(self, chunk: Any) -> list[dict[str, Any]]:
        if not isinstance(chunk, dict):
            return []
        found = usage_from_openai(chunk.get("usage"))
        if found is not None:
            self.usage = found
        parts: list[dict[str, Any]] = []
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                parts.append({"text": reasoning, "thought": True})
                self.delivered.append(reasoning)
            if isinstance(delta.get("content"), str) and delta["content"]:
                parts.append({"text": delta["content"]})
                self.delivered.append(delta["content"])
            for call in delta.get("tool_calls") or ():
                if not isinstance(call, dict):
                    continue
                entry = self._calls.setdefault(call.get("index", 0), {"id": None, "name": "", "arguments": ""})
                fn = call.get("function") if isinstance(call.get("function"), dict) else {}
                entry["id"] = entry["id"] or call.get("id")
                entry["name"] += fn.get("name") or ""
                entry["arguments"] += fn.get("arguments") or ""
                self.delivered.append((fn.get("name") or "") + (fn.get("arguments") or ""))
            if choice.get("finish_reason"):
                self.finish = gemini_finish_reason(choice["finish_reason"])
        return [self._response(parts)] if parts else []

    def end(self, usage: Usage | None = None) -> list[dict[str, Any]]:
        """The last response: pending function calls, the finish reason and usage."""
        if self.closed:
            return []
        self.closed = True
        parts = [{"functionCall": {"id": c["id"] or new_id("call_"), "name": c["name"],
                                   "args": loose_arguments(c["arguments"])}}
                 for _, c in sorted(self._calls.items())]
        return [self._response(parts or [{"text": ""}], self.finish or "STOP", usage or self.usage or Usage())]


def error_frame(message: str, status_name: str | None = None, code: str | None = None) -> bytes:
    """The error a Gemini stream ends with: Google's error object as one `data:` event."""
    status = int(code) if code and code.isdigit() else GEMINI_CODES.get(status_name or "", 500)
    body = gemini_error(status, message)
    if status_name and status_name.isupper():
        body["error"]["status"] = status_name
    return b"data: " + json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"
