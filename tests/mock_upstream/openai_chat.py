"""OpenAI text generation: POST /v1/chat/completions and the legacy POST /v1/completions.

Non-streaming answers carry ``usage``. Streams are what OpenAI sends
(https://platform.openai.com/docs/api-reference/chat-streaming): a first chunk with the role,
content chunks, a chunk with ``finish_reason``, then, only when the request has
``stream_options.include_usage: true``, a chunk with ``choices: []`` and ``usage`` (every earlier
chunk then carries ``"usage": null``), and ``data: [DONE]``.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from werkzeug.wrappers import Response

from .openai_common import (
    FINGERPRINT,
    json_body,
    new_id,
    now,
    response_model,
    stream_options_error,
    usage,
    wants_stream_usage,
)
from .server import Call, json_response, sse, stream_response

DONE = b"data: [DONE]\n\n"


def _tool_calls(call: Call) -> list[dict[str, Any]]:
    """The behaviour's tool calls as OpenAI ``tool_calls`` items, with deterministic ids."""
    out = []
    for i, tc in enumerate(call.behaviour.tool_calls or ()):
        name, arguments = tc.get("name", "tool"), tc.get("arguments", "{}")
        digest = hashlib.sha1(f"{i}:{name}:{arguments}".encode()).hexdigest()[:24]
        out.append({"id": f"call_{digest}", "type": "function",
                    "function": {"name": name, "arguments": arguments}})
    return out


def chat_completions(call: Call) -> Response:
    body = json_body(call, "model", "messages")
    if isinstance(body, Response):
        return body
    if not isinstance(body["messages"], list) or not body["messages"]:
        return call.error(400, "Invalid 'messages': empty array. Expected an array with minimum length 1, "
                               "but got an empty array instead.", error_param="messages",
                          error_code="empty_array")
    rejected = stream_options_error(call, body)
    if rejected is not None:
        return rejected
    if body.get("stream"):
        return _chat_stream(call, body)

    b = call.behaviour
    pieces = b.reply_pieces()
    tool_calls = _tool_calls(call)
    message: dict[str, Any] = {"role": "assistant", "content": None if tool_calls else "".join(pieces),
                               "refusal": None, "annotations": []}
    if tool_calls:
        message["tool_calls"] = tool_calls
    payload: dict[str, Any] = {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": now(),
        "model": response_model(call),
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": b.finish_reason or ("tool_calls" if tool_calls else "stop")}],
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }
    if b.send_usage:
        payload["usage"] = usage(b, b.completion_count(pieces))
    return json_response(payload, headers=call.provider.base_headers(call))


def _chat_stream(call: Call, body: dict[str, Any]) -> Response:
    b = call.behaviour
    include_usage = wants_stream_usage(body)
    cid, created, model = new_id("chatcmpl-"), now(), response_model(call)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        data: dict[str, Any] = {
            "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "service_tier": "default", "system_fingerprint": FINGERPRINT,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            data["usage"] = None
        return sse(data)

    pieces = b.reply_pieces()
    tool_calls = _tool_calls(call)
    body_frames: list[bytes] = []
    if tool_calls:
        # OpenAI announces the first call with the role, then streams each call's arguments.
        role = {"role": "assistant", "content": None, "refusal": None}
        for i, tc in enumerate(tool_calls):
            header = {"index": i, "id": tc["id"], "type": "function",
                      "function": {"name": tc["function"]["name"], "arguments": ""}}
            if i == 0:
                role["tool_calls"] = [header]
            else:
                body_frames.append(chunk({"tool_calls": [header]}))
            for part in re.findall(r".{1,8}", tc["function"]["arguments"], re.DOTALL):
                body_frames.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]}))
        head = [chunk(role)]
    else:
        head = [chunk({"role": "assistant", "content": "", "refusal": None})]
        body_frames = [chunk({"content": piece}) for piece in pieces]

    tail = [chunk({}, b.finish_reason or ("tool_calls" if tool_calls else "stop"))]
    if include_usage and b.send_usage:
        tail.append(sse({"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                         "service_tier": "default", "system_fingerprint": FINGERPRINT, "choices": [],
                         "usage": usage(b, b.completion_count(pieces))}))
    tail.append(DONE)
    return stream_response(call, head, body_frames, tail)


def completions(call: Call) -> Response:
    """Legacy text completions (``object: text_completion``); usage has no details objects."""
    body = json_body(call, "model")
    if isinstance(body, Response):
        return body
    rejected = stream_options_error(call, body)
    if rejected is not None:
        return rejected
    b = call.behaviour
    pieces = b.reply_pieces()
    cid, created, model = new_id("cmpl-"), now(), response_model(call)
    finish = b.finish_reason or "stop"
    if not body.get("stream"):
        payload: dict[str, Any] = {
            "id": cid, "object": "text_completion", "created": created, "model": model,
            "choices": [{"text": "".join(pieces), "index": 0, "logprobs": None, "finish_reason": finish}],
            "system_fingerprint": FINGERPRINT,
        }
        if b.send_usage:
            payload["usage"] = usage(b, b.completion_count(pieces), details=False)
        return json_response(payload, headers=call.provider.base_headers(call))

    include_usage = wants_stream_usage(body)

    def chunk(text: str, finish_reason: str | None = None) -> bytes:
        data: dict[str, Any] = {
            "id": cid, "object": "text_completion", "created": created,
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}],
            "model": model, "system_fingerprint": FINGERPRINT,
        }
        if include_usage:
            data["usage"] = None
        return sse(data)

    tail = [chunk("", finish)]
    if include_usage and b.send_usage:
        tail.append(sse({"id": cid, "object": "text_completion", "created": created, "model": model,
                         "system_fingerprint": FINGERPRINT, "choices": [],
                         "usage": usage(b, b.completion_count(pieces), details=False)}))
    tail.append(DONE)
    return stream_response(call, [], [chunk(piece) for piece in pieces], tail)
