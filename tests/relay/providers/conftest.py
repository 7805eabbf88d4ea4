"""Fixtures for the provider and surface tests: one mock upstream speaking OpenAI, Anthropic and Gemini
(plus OpenAI's Responses API and Jina-style rerank, defined here), and the Claude and Gemini SDKs
pointed at the relay."""

from __future__ import annotations

import json
import secrets
import time

import anthropic
import pytest
from google import genai
from google.genai import types as genai_types
from werkzeug.wrappers import Response

from tests.mock_upstream import MockUpstream, openai_chat
from tests.mock_upstream import anthropic as claude_mock
from tests.mock_upstream import gemini as gemini_mock
from tests.mock_upstream.openai_common import base_headers, error_payload, json_body
from tests.mock_upstream.openai_routes import PROVIDER as OPENAI
from tests.mock_upstream.server import Call, Provider, json_response, stream_response


# -- OpenAI Responses and rerank for the mock -----------------------------------------------------------
def _event(name: str, data: dict) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _responses(call: Call) -> Response:
    """POST /v1/responses (https://platform.openai.com/docs/api-reference/responses)."""
    body = json_body(call, "model")
    if isinstance(body, Response):
        return body
    if "stream_options" in body and not body.get("stream"):
        return call.error(400, "stream_options is only allowed with stream", error_param="stream_options")
    b = call.behaviour
    pieces = b.reply_pieces()
    output = b.completion_count(pieces)
    rid, mid = "resp_" + secrets.token_hex(8), "msg_" + secrets.token_hex(8)
    usage = {"input_tokens": b.prompt_tokens, "input_tokens_details": {"cached_tokens": b.cached_tokens},
             "output_tokens": output, "output_tokens_details": {"reasoning_tokens": b.reasoning_tokens},
             "total_tokens": b.prompt_tokens + output}
    message = {"type": "message", "id": mid, "status": "completed", "role": "assistant",
               "content": [{"type": "output_text", "text": "".join(pieces), "annotations": []}]}
    response = {"id": rid, "object": "response", "created_at": int(time.time()), "status": "completed",
                "model": call.model, "output": [message], "parallel_tool_calls": True, "tool_choice": "auto",
                "tools": [], "usage": usage}
    if not body.get("stream"):
        return json_response(response, headers=base_headers(call))
    start = {**response, "status": "in_progress", "output": [], "usage": None}
    head = [_event("response.created", {"type": "response.created", "sequence_number": 0, "response": start}),
            _event("response.output_item.added", {"type": "response.output_item.added", "sequence_number": 1,
                                                  "output_index": 0, "item": {**message, "content": [],
                                                                              "status": "in_progress"}})]
    deltas = [_event("response.output_text.delta", {"type": "response.output_text.delta", "sequence_number": 2 + i,
                                                    "item_id": mid, "output_index": 0, "content_index": 0,
                                                    "delta": piece}) for i, piece in enumerate(pieces)]
    n = 2 + len(pieces)
    tail = [_event("response.output_item.done", {"type": "response.output_item.done", "sequence_number": n,
                                                "output_index": 0, "item": message}),
            _event("response.completed", {"type": "response.completed", "sequence_number": n + 1,
                                          "response": response})]
    return stream_response(call, head, deltas, tail)


def _responses_stream_error(call: Call, b) -> bytes:
    return _event("error", {"type": "error", "code": "server_error", "message": b.error_message or "failed",
                            "param": None, "sequence_number": 99})


def _rerank(call: Call) -> Response:
    """POST /v1/rerank in Jina's shape (https://jina.ai/reranker)."""
    body = json_body(call, "model", "query", "documents")
    if isinstance(body, Response):
        return body
    docs = body["documents"]
    scored = sorted(((len(set(str(d).lower().split()) & set(body["query"].lower().split())) / (1 + i), i, d)
                     for i, d in enumerate(docs)), reverse=True)[: body.get("top_n") or len(docs)]
    results = [{"index": i, "relevance_score": round(0.1 + s, 4),
                **({"document": {"text": d if isinstance(d, str) else d.get("text")}}
                   if body.get("return_documents", True) else {})} for s, i, d in scored]
    usage = {"total_tokens": call.behaviour.prompt_tokens} if call.behaviour.send_usage else {}
    return json_response({"model": call.model, "usage": usage, "results": results}, headers=base_headers(call))


def _azure_chat(call: Call) -> Response:
    """Azure's deployment route: OpenAI's chat handler, after Azure's own checks (api-key, api-version)."""
    if not call.rec.header("api-key") or "api-version" not in call.rec.query:
        return call.error(401, "Access denied due to missing subscription key or api-version.")
    return openai_chat.chat_completions(call)


def _claude_halfway(call: Call) -> Response:
    """A Claude stream whose body ends in the middle of an event (a channel at `<origin>/halfway`)."""
    frames = [claude_mock.event("message_start", {"type": "message_start", "message": {
                  "id": "msg_half", "type": "message", "role": "assistant", "model": call.model, "content": [],
                  "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 1}}}),
              claude_mock.event("content_block_start", {"type": "content_block_start", "index": 0,
                                                        "content_block": {"type": "text", "text": ""}}),
              claude_mock.event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                        "delta": {"type": "text_delta", "text": "Hello"}}),
              b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"te']
    return stream_response(call, frames, [], [])


EXTRAS = Provider(name="openai-extras", routes=[
    ("POST", "/halfway/v1/messages", _claude_halfway), ("POST", "/v1/responses", _responses),
    ("POST", "/v1/rerank", _rerank),
    ("POST", "/openai/deployments/<deployment>/chat/completions", _azure_chat)],
                  error_payload=error_payload, base_headers=base_headers, stream_error_frame=_responses_stream_error)


# -- fixtures -------------------------------------------------------------------------------------------
@pytest.fixture
def mock_upstream():
    with MockUpstream(providers=[OPENAI, claude_mock.PROVIDER, gemini_mock.PROVIDER, EXTRAS]) as upstream:
        yield upstream


@pytest.fixture
def relay_origin(relay_url):
    return relay_url.removesuffix("/v1")


@pytest.fixture
def claude_sdk(relay_origin):
    """anthropic.Anthropic pointed at the relay for `key`."""
    def factory(key: str, **kwargs) -> anthropic.Anthropic:
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 20)
        return anthropic.Anthropic(base_url=relay_origin, api_key=key, **kwargs)
    return factory


@pytest.fixture
def genai_sdk(relay_origin):
    """google.genai.Client pointed at the relay's /v1beta for `key` (no retries)."""
    def factory(key: str) -> genai.Client:
        return genai.Client(api_key=key, http_options=genai_types.HttpOptions(
            base_url=relay_origin, api_version="v1beta", timeout=20_000,
            retry_options=genai_types.HttpRetryOptions(attempts=1)))
    return factory
