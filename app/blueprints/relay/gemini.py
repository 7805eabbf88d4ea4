"""Google's Gemini API for Gemini clients: /v1beta/models/{model}:generateContent,
:streamGenerateContent, :countTokens, :embedContent and :batchEmbedContents, and the model list, in
Gemini's shapes and errors (`{"error": {code, message, status}}`). The key comes in `x-goog-api-key` or
`?key=` (or as a Bearer token).

Streams are server-sent events with `?alt=sse` (what the Google SDKs ask for), else Google's default: one
JSON array written element by element. countTokens is never charged (app.relay.pipeline.count_tokens);
embeddings are billed like /v1/embeddings.
"""

from __future__ import annotations

from flask import jsonify, request

from app.blueprints.relay import bp
from app.errors import AppError, NotFound
from app.relay import routing
from app.relay.keys import authenticate
from app.relay.pipeline import count_tokens, relay
from app.relay.translate import surfaces
from app.relay.translate.errors import GEMINI_CODES, gemini_error
from app.relay.types import Mode

METHODS = ["generateContent", "streamGenerateContent", "countTokens"]
EMBEDDING_METHODS = ["embedContent", "batchEmbedContents", "countTokens"]


def credential() -> str | None:
    return request.headers.get("x-goog-api-key") or request.args.get("key") or request.headers.get("Authorization")


def error_response(exc: AppError):
    body = gemini_error(exc.status, exc.message)
    if exc.code in GEMINI_CODES:  # an upstream Gemini status name (RESOURCE_EXHAUSTED ...) is kept
        body["error"]["status"] = exc.code
    return jsonify(body), exc.status


def _generate(model: str, stream: bool):
    alt = request.args.get("alt") if stream else None
    try:
        return relay(Mode.GEMINI, credential=credential(),
                     parse=lambda raw: surfaces.parse_gemini(raw, model, stream, alt))
    except AppError as exc:
        return error_response(exc)


@bp.post("/v1beta/models/<model>:generateContent")
def gemini_generate(model: str):
    return _generate(model, stream=False)


@bp.post("/v1beta/models/<model>:streamGenerateContent")
def gemini_stream_generate(model: str):
    return _generate(model, stream=True)


@bp.post("/v1beta/models/<model>:countTokens")
def gemini_count_tokens(model: str):
    try:
        return count_tokens(Mode.GEMINI_COUNT, credential=credential(),
                            parse=lambda raw: surfaces.parse_gemini_count(raw, model))
    except AppError as exc:
        return error_response(exc)


@bp.post("/v1beta/models/<model>:embedContent")
def gemini_embed_content(model: str):
    return _embed(model, batch=False)


@bp.post("/v1beta/models/<model>:batchEmbedContents")
def gemini_batch_embed_contents(model: str):
    return _embed(model, batch=True)


def _embed(model: str, batch: bool):
    try:
        return relay(Mode.GEMINI_BATCH_EMBED if batch else Mode.GEMINI_EMBED, credential=credential(),
                     parse=lambda raw: surfaces.parse_gemini_embed(raw, model, batch=batch))
    except AppError as exc:
        return error_response(exc)


@bp.post("/v1beta/models/<path:rest>")
def gemini_unknown_method(rest: str):
    """Any other POST under /v1beta/models: Google's 404, in Google's shape (not a 405 from the model route)."""
    return error_response(NotFound(f"Method not found: models/{rest}"))


def _model(name: str) -> dict:
    methods = EMBEDDING_METHODS if "embedding" in name else METHODS  # as Google lists its embedding models
    return {"name": f"models/{name}", "baseModelId": name, "version": "001", "displayName": name,
            "description": name, "supportedGenerationMethods": methods}


def _models() -> list[str]:
    caller = authenticate(credential(), request.remote_addr or "")
    return routing.models_for(caller.group, caller.key.model_limits)


@bp.get("/v1beta/models")
def gemini_models():
    """GET /v1beta/models (https://ai.google.dev/api/models#method:-models.list), one page."""
    try:
        return jsonify({"models": [_model(m) for m in _models()]})
    except AppError as exc:
        return error_response(exc)


@bp.get("/v1beta/models/<model>")
def gemini_model(model: str):
    try:
        if model not in _models():
            raise NotFound(f"models/{model} is not found for API version v1beta")
        return jsonify(_model(model))
    except AppError as exc:
        return error_response(exc)


models_list = gemini_models  # GET /v1/models for Gemini-style keys answers the same list
