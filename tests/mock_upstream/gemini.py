"""Google's Gemini API (v1beta) for the mock upstream: ``MockUpstream(providers=[gemini.PROVIDER])``.

Wire format from https://ai.google.dev/api/generate-content, /api/embeddings, /api/models and the
error catalogue of https://ai.google.dev/gemini-api/docs/troubleshooting: errors are
``{"error": {"code", "message", "status"}}``. The key comes in ``x-goog-api-key`` or ``?key=``.

``:streamGenerateContent?alt=sse`` answers ``data:`` events separated by ``\\r\\n\\r\\n`` (as Google's
front end does), each a whole GenerateContentResponse with the new parts; the last carries
``finishReason`` and the full ``usageMetadata``. Without ``alt=sse`` the stream is one JSON array.
Usage follows Gemini's counting: ``promptTokenCount`` includes ``cachedContentTokenCount``
(the behaviour's ``prompt_tokens`` and ``cached_tokens``), and ``candidatesTokenCount`` excludes
``thoughtsTokenCount`` (the behaviour's ``reasoning_tokens``).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import secrets
from typing import Any

from werkzeug.wrappers import Response

from .behaviour import Behaviour
from .server import Call, Provider, json_response, stream_response

STATUSES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
MESSAGES = {401: "API key not valid. Please pass a valid API key.",
            403: "Method doesn't allow unregistered callers (callers without established identity). "
                 "Please use API Key or other form of API consumer identity to call this API.",
            404: "models/{model} is not found for API version v1beta, or is not supported for generateContent.",
            429: "Resource has been exhausted (e.g. check quota).",
            500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
            503: "The model is overloaded. Please try again later."}
FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "content_filter": "SAFETY"}
MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash", "text-embedding-004")
TOP_LEVEL = {"contents", "systemInstruction", "system_instruction", "tools", "toolConfig", "tool_config",
             "safetySettings", "safety_settings", "generationConfig", "generation_config", "cachedContent",
             "cached_content", "labels", "model"}
SSE_END = b"\r\n\r\n"


def error_payload(call: Call, b: Behaviour) -> dict[str, Any]:
    message = b.error_message or MESSAGES.get(b.status, f"Mock upstream error {b.status}.")
    if b.error_code == "missing_api_key":
        message = MESSAGES[403]
    status = b.error_type if b.error_type and b.error_type.isupper() else STATUSES.get(
        b.status, "INTERNAL" if b.status >= 500 else "INVALID_ARGUMENT")
    return {"error": {"code": b.status, "message": message.format(model=call.model), "status": status}}


def base_headers(call: Call) -> dict[str, str]:
    return {"server": "scaffolding on HTTPServer2", "x-mock-request-id": secrets.token_hex(8),
            "vary": "Origin, X-Origin, Referer"}


def _frame(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + SSE_END


def stream_error_frame(call: Call, b: Behaviour) -> bytes:
    return _frame({"error": {"code": 500, "message": b.error_message or MESSAGES[500],
                             "status": b.error_type if b.error_type and b.error_type.isupper() else "INTERNAL"}})


def usage_metadata(b: Behaviour, completion: int, *, final: bool = True) -> dict[str, int]:
    if not final:
        return {"promptTokenCount": b.prompt_tokens, "totalTokenCount": b.prompt_tokens}
    meta = {"promptTokenCount": b.prompt_tokens, "candidatesTokenCount": completion - b.reasoning_tokens,
            "totalTokenCount": b.prompt_tokens + completion}
    if b.cached_tokens:
        meta["cachedContentTokenCount"] = b.cached_tokens
    if b.reasoning_tokens:
        meta["thoughtsTokenCount"] = b.reasoning_tokens
    return meta


def _check(call: Call) -> dict[str, Any] | Response:
    body = call.rec.json
    if not isinstance(body, dict):
        return call.error(400, "Invalid JSON payload received. Expected an object.")
    unknown = sorted(set(body) - TOP_LEVEL)
    if unknown:
        return call.error(400, f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.')
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return call.error(400, "* GenerateContentRequest.contents: contents is not specified")
    for i, content in enumerate(contents):
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list) or not content["parts"]:
            return call.error(400, f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.")
        if content.get("role", "user") not in ("user", "model", "function"):
            return call.error(400, "Please use a valid role: user, model.")
    return body


def _function_parts(b: Behaviour) -> list[dict[str, Any]]:
    return [{"functionCall": {"name": tc.get("name", "tool"), "args": json.loads(tc.get("arguments", "{}"))}}
            for tc in b.tool_calls or ()]


def _candidate(parts: list[dict[str, Any]], finish: str | None = None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return candidate


def generate_content(call: Call) -> Response:
    body = _check(call)
    if isinstance(body, Response):
        return body
    b = call.behaviour
    pieces = b.reply_pieces()
    calls = _function_parts(b)
    completion = b.completion_count(pieces)
    parts = calls or [{"text": "".join(pieces)}]
    return json_response({"candidates": [_candidate(parts, FINISH.get(b.finish_reason or "stop", "STOP"))],
                          "usageMetadata": usage_metadata(b, completion),
                          "modelVersion": b.response_model or call.model, "responseId": secrets.token_hex(8)},
                         headers=base_headers(call))


def stream_generate_content(call: Call) -> Response:
    body = _check(call)
    if isinstance(body, Response):
        return body
    b = call.behaviour
    pieces = b.reply_pieces()
    calls = _function_parts(b)
    completion = b.completion_count(pieces)
    model, rid = b.response_model or call.model, secrets.token_hex(8)

    def response(parts: list[dict[str, Any]], finish: str | None = None) -> dict[str, Any]:
        return {"candidates": [_candidate(parts, finish)],
                "usageMetadata": usage_metadata(b, completion, final=finish is not None),
                "modelVersion": model, "responseId": rid}

    items = [response([c]) for c in calls] if calls else [response([{"text": p}]) for p in pieces]
    last = response([{"text": ""}], FINISH.get(b.finish_reason or "stop", "STOP"))
    if call.rec.query.get("alt") != "sse":  # a JSON array, written element by element
        frames = [b"[" + json.dumps(items[0]).encode()] if items else [b"["]
        frames += [b",\r\n" + json.dumps(item).encode() for item in items[1:]]
        sep = b",\r\n" if items else b""
        return stream_response(call, [], frames, [sep + json.dumps(last).encode() + b"]"],
                               content_type="application/json; charset=UTF-8")
    return stream_response(call, [], [_frame(item) for item in items], [_frame(last)],
                           content_type="text/event-stream")


def count_tokens(call: Call) -> Response:
    """POST :countTokens (https://ai.google.dev/api/tokens): ``contents`` or a ``generateContentRequest``
    naming the same model; the count is the behaviour's ``prompt_tokens``."""
    body = call.rec.json
    if not isinstance(body, dict):
        return call.error(400, "Invalid JSON payload received. Expected an object.")
    unknown = sorted(set(body) - {"contents", "generateContentRequest", "generate_content_request"})
    if unknown:
        return call.error(400, f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.')
    inner = body.get("generateContentRequest", body.get("generate_content_request"))
    if inner is not None:
        if not isinstance(inner, dict) or inner.get("model") != f"models/{call.model}":
            return call.error(400, "* CountTokensRequest.generate_content_request.model: the model must be "
                                   f"models/{call.model}")
        body = inner
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return call.error(400, "* CountTokensRequest.contents: contents is not specified")
    b = call.behaviour
    return json_response({"totalTokens": b.prompt_tokens,
                          "promptTokensDetails": [{"modality": "TEXT", "tokenCount": b.prompt_tokens}]},
                         headers=base_headers(call))


def _vector(text: str, dims: int) -> list[float]:
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    raw = [rng.uniform(-1.0, 1.0) for _ in range(dims)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [round(x / norm, 6) for x in raw]


def _embed_one(call: Call, request: Any, where: str) -> dict[str, Any] | Response:
    if not isinstance(request, dict) or not isinstance(request.get("content"), dict):
        return call.error(400, f"* {where}.content: content is not specified")
    parts = request["content"].get("parts")
    if not isinstance(parts, list) or not parts:
        return call.error(400, f"* {where}.content.parts: contents.parts must not be empty.")
    text = "".join(p.get("text", "") for p in parts if isinstance(p, dict))
    dims = request.get("outputDimensionality") or request.get("output_dimensionality") or 768
    return {"values": _vector(text, int(dims))}


def embed_content(call: Call) -> Response:
    body = call.rec.json if isinstance(call.rec.json, dict) else {}
    item = _embed_one(call, body, "EmbedContentRequest")
    if isinstance(item, Response):
        return item
    return json_response({"embedding": item}, headers=base_headers(call))


def batch_embed_contents(call: Call) -> Response:
    body = call.rec.json if isinstance(call.rec.json, dict) else {}
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        return call.error(400, "* BatchEmbedContentsRequest.requests: requests is not specified")
    out = []
    for i, request in enumerate(requests):
        if isinstance(request, dict) and request.get("model") != f"models/{call.model}":
            return call.error(400, f"* BatchEmbedContentsRequest.requests[{i}].model: the model of each request "
                                   f"must match the batch model models/{call.model}")
        item = _embed_one(call, request, f"BatchEmbedContentsRequest.requests[{i}]")
        if isinstance(item, Response):
            return item
        out.append(item)
    return json_response({"embeddings": out}, headers=base_headers(call))


def _model(name: str) -> dict[str, Any]:
    embedding = "embedding" in name
    methods = ["embedContent", "batchEmbedContents"] if embedding else \
        ["generateContent", "countTokens", "streamGenerateContent"]
    return {"name": f"models/{name}", "version": "001", "displayName": name, "description": f"Mock {name}",
            "inputTokenLimit": 1048576, "outputTokenLimit": 8192 if not embedding else 1,
            "supportedGenerationMethods": methods}


def _names(b: Behaviour) -> tuple[str, ...]:
    return b.models if b.models and b.models[0].startswith(("gemini", "text-embedding-0")) else MODELS


def models_list(call: Call) -> Response:
    return json_response({"models": [_model(m) for m in _names(call.behaviour)]}, headers=base_headers(call))


def models_get(call: Call) -> Response:
    name = call.args["model"]
    if name not in _names(call.behaviour):
        return call.error(404, f"models/{name} is not found for API version v1beta")
    return json_response(_model(name), headers=base_headers(call))


PROVIDER = Provider(
    name="gemini",
    routes=[
        ("POST", "/v1beta/models/<model>:generateContent", generate_content),
        ("POST", "/v1beta/models/<model>:streamGenerateContent", stream_generate_content),
        ("POST", "/v1beta/models/<model>:countTokens", count_tokens),
        ("POST", "/v1beta/models/<model>:embedContent", embed_content),
        ("POST", "/v1beta/models/<model>:batchEmbedContents", batch_embed_contents),
        ("GET", "/v1beta/models", models_list),
        ("GET", "/v1beta/models/<model>", models_get),
    ],
    error_payload=error_payload,
    base_headers=base_headers,
    stream_error_frame=stream_error_frame,
)
