"""Anthropic's Messages API for the mock upstream: ``MockUpstream(providers=[anthropic.PROVIDER])``.

Wire format from https://docs.anthropic.com/en/api/messages, /en/api/errors and
/en/docs/build-with-claude/streaming. Like the real API it wants ``x-api-key`` and an
``anthropic-version`` header, ``model``, ``max_tokens`` and ``messages``, and only user/assistant roles.

Usage maps from the behaviour as Anthropic counts it: ``input_tokens`` = ``prompt_tokens`` (the
uncached part), ``cache_read_input_tokens`` = ``cached_tokens``; cache writes have no behaviour field
and come from the model name instead: ``mock-...-cachewrite-50`` reports 50 ``cache_creation_input_tokens``.
Finish reasons map to stop reasons (``length`` -> ``max_tokens``, tool calls -> ``tool_use``).
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from werkzeug.wrappers import Response

from .behaviour import Behaviour
from .server import Call, Provider, json_response, stream_response

VERSION_HEADER = "anthropic-version"
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
               529: "overloaded_error"}
MESSAGES = {401: "invalid x-api-key", 403: "Your API key does not have permission to use the specified resource.",
            404: "model: {model}", 429: "Number of request tokens has exceeded your per-minute rate limit",
            500: "Internal server error", 529: "Overloaded"}
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
MODELS = ("claude-opus-4-1", "claude-opus-4-6", "claude-haiku-4-5")
_CACHE_WRITE = re.compile(r"(?:^|-)cachewrite-(\d+)(?:-|$)")


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def error_payload(call: Call, b: Behaviour) -> dict[str, Any]:
    error_type = b.error_type or ERROR_TYPES.get(b.status, "api_error" if b.status >= 500 else "invalid_request_error")
    if b.error_type == "insufficient_quota":
        error_type = "rate_limit_error"
    message = b.error_message or MESSAGES.get(b.status, f"Mock upstream error {b.status}.")
    if b.error_code == "missing_api_key":
        message = "x-api-key header is required"
    return {"type": "error", "error": {"type": error_type, "message": message.format(model=call.model)},
            "request_id": "req_" + secrets.token_hex(12)}


def base_headers(call: Call) -> dict[str, str]:
    return {"request-id": "req_" + secrets.token_hex(12), "anthropic-organization-id": "org-mock",
            "anthropic-ratelimit-requests-limit": "4000", "anthropic-ratelimit-requests-remaining": "3999"}


def event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def stream_error_frame(call: Call, b: Behaviour) -> bytes:
    return event("error", {"type": "error", "error": {"type": b.error_type or "overloaded_error",
                                                      "message": b.error_message or "Overloaded"}})


def cache_write_tokens(model: str) -> int:
    match = _CACHE_WRITE.search(model.lower())
    return int(match.group(1)) if match else 0


def usage(call: Call, output_tokens: int) -> dict[str, int]:
    b = call.behaviour
    return {"input_tokens": b.prompt_tokens, "cache_creation_input_tokens": cache_write_tokens(call.model),
            "cache_read_input_tokens": b.cached_tokens, "output_tokens": output_tokens}


def _check(call: Call) -> dict[str, Any] | Response:
    """The body, or the 400 the real API answers for what the mock can check."""
    if not call.rec.header(VERSION_HEADER):
        return call.error(400, "anthropic-version: header is required")
    body = call.rec.json
    if not isinstance(body, dict):
        return call.error(400, "There was an error parsing the body of your request.")
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            return call.error(400, f"{name}: Field required")
    if not isinstance(body["max_tokens"], int) or isinstance(body["max_tokens"], bool) or body["max_tokens"] < 1:
        return call.error(400, "max_tokens: Input should be a valid integer greater than 0")
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return call.error(400, "messages: at least one message is required")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return call.error(400, f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if not isinstance(message.get("content"), (str, list)):
            return call.error(400, f"messages.{i}.content: Field required")
    if "system" in body and not isinstance(body["system"], (str, list)):
        return call.error(400, "system: Input should be a valid string or list")
    return body


def _tool_blocks(call: Call) -> list[dict[str, Any]]:
    return [{"type": "tool_use", "id": "toolu_" + secrets.token_hex(12), "name": tc.get("name", "tool"),
             "input": json.loads(tc.get("arguments", "{}"))} for tc in call.behaviour.tool_calls or ()]


def messages(call: Call) -> Response:
    body = _check(call)
    if isinstance(body, Response):
        return body
    b = call.behaviour
    pieces = b.reply_pieces()
    tools = _tool_blocks(call)
    stop = "tool_use" if tools and not b.finish_reason else STOP_REASONS.get(b.finish_reason or "stop", "end_turn")
    model = b.response_model or call.model
    output = b.completion_count(pieces)
    if body.get("stream"):
        return _stream(call, model, pieces, tools, stop, output)
    content = tools or [{"type": "text", "text": "".join(pieces)}]
    return json_response({"id": new_id("msg_"), "type": "message", "role": "assistant", "model": model,
                          "content": content, "stop_reason": stop, "stop_sequence": None,
                          "usage": usage(call, output)}, headers=base_headers(call))


def _stream(call: Call, model: str, pieces: list[str], tools: list[dict[str, Any]], stop: str,
            output: int) -> Response:
    full = usage(call, output)
    start_usage = {**full, "output_tokens": 1}
    head = [event("message_start", {"type": "message_start", "message": {
        "id": new_id("msg_"), "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": start_usage}})]
    body: list[bytes] = []
    tail: list[bytes] = []
    if tools:
        for i, tool in enumerate(tools):
            start = event("content_block_start", {"type": "content_block_start", "index": i, "content_block": {
                **tool, "input": {}}})
            (head if i == 0 else body).append(start)
            arguments = json.dumps(tool["input"])
            for part in re.findall(r".{1,8}", arguments, re.DOTALL):
                body.append(event("content_block_delta", {"type": "content_block_delta", "index": i,
                                                          "delta": {"type": "input_json_delta", "partial_json": part}}))
            stop_event = event("content_block_stop", {"type": "content_block_stop", "index": i})
            (tail if i == len(tools) - 1 else body).append(stop_event)
    else:
        head.append(event("content_block_start", {"type": "content_block_start", "index": 0,
                                                  "content_block": {"type": "text", "text": ""}}))
        head.append(event("ping", {"type": "ping"}))
        body = [event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                              "delta": {"type": "text_delta", "text": piece}}) for piece in pieces]
        tail.append(event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    tail.append(event("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                        "usage": {"output_tokens": output}}))
    tail.append(event("message_stop", {"type": "message_stop"}))
    return stream_response(call, head, body, tail, headers={"request-id": "req_" + secrets.token_hex(12)})


COUNT_FIELDS = {"model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers"}


def count_tokens(call: Call) -> Response:
    """POST /v1/messages/count_tokens (https://docs.anthropic.com/en/api/messages-count-tokens): the Messages
    body without generation fields, which it refuses; the count is the behaviour's ``prompt_tokens``."""
    if not call.rec.header(VERSION_HEADER):
        return call.error(400, "anthropic-version: header is required")
    body = call.rec.json
    if not isinstance(body, dict):
        return call.error(400, "There was an error parsing the body of your request.")
    extra = sorted(set(body) - COUNT_FIELDS)
    if extra:
        return call.error(400, f"{extra[0]}: Extra inputs are not permitted")
    for name in ("model", "messages"):
        if name not in body:
            return call.error(400, f"{name}: Field required")
    messages = body["messages"]
    if not isinstance(messages, list) or not messages or any(
            not isinstance(m, dict) or m.get("role") not in ("user", "assistant") for m in messages):
        return call.error(400, "messages: Input should be a list of user and assistant messages")
    return json_response({"input_tokens": call.behaviour.prompt_tokens}, headers=base_headers(call))


def models_list(call: Call) -> Response:
    names = call.behaviour.models if call.behaviour.models and call.behaviour.models[0].startswith("claude") \
        else MODELS
    data = [{"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"} for m in names]
    return json_response({"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]},
                         headers=base_headers(call))


PROVIDER = Provider(
    name="anthropic",
    routes=[("POST", "/v1/messages", messages), ("POST", "/v1/messages/count_tokens", count_tokens),
            ("GET", "/v1/models", models_list)],
    error_payload=error_payload,
    base_headers=base_headers,
    stream_error_frame=stream_error_frame,
)
