"""Anthropic's Messages API for Claude clients: POST /v1/messages, /v1/messages/count_tokens, and the model
list in Claude's shape.

The key comes in `x-api-key` (or as a Bearer token, which current Anthropic SDKs send). Answers,
streams and errors are Claude's own (`{"type": "error", "error": {"type", "message"}}`); a Claude
channel gets the body as sent, any other chat channel gets it translated (app.relay.translate.bridge).
"""

from __future__ import annotations

from flask import jsonify, request

from app.blueprints.relay import bp
from app.errors import AppError
from app.relay import routing
from app.relay.keys import authenticate
from app.relay.pipeline import count_tokens, relay
from app.relay.translate import surfaces
from app.relay.translate.errors import claude_error
from app.relay.types import Mode

FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")
MODEL_CREATED_AT = "2024-01-01T00:00:00Z"


def credential() -> str | None:
    return request.headers.get("x-api-key") or request.headers.get("Authorization")


def error_response(exc: AppError):
    return jsonify(claude_error(exc.status, exc.message, exc.error_type)), exc.status


def forwarded_headers() -> dict[str, str]:
    return {name: request.headers[name] for name in FORWARDED_HEADERS if request.headers.get(name)}


@bp.post("/v1/messages")
def claude_messages():
    headers = forwarded_headers()
    try:
        return relay(Mode.MESSAGES, credential=credential(), parse=lambda raw: surfaces.parse_claude(raw, headers))
    except AppError as exc:
        return error_response(exc)


@bp.post("/v1/messages/count_tokens")
def claude_count_tokens():
    """https://docs.anthropic.com/en/api/messages-count-tokens: passed to Claude channels, counted with the
    tokenizer for other channel types; never charged (app.relay.pipeline.count_tokens)."""
    headers = forwarded_headers()
    try:
        return count_tokens(Mode.CLAUDE_COUNT, credential=credential(),
                            parse=lambda raw: surfaces.parse_claude_count(raw, headers))
    except AppError as exc:
        return error_response(exc)


def models_list():
    """GET /v1/models for Claude clients (https://docs.anthropic.com/en/api/models-list)."""
    try:
        caller = authenticate(credential(), request.remote_addr or "")
    except AppError as exc:
        return error_response(exc)
    models = routing.models_for(caller.group, caller.key.model_limits)
    data = [{"type": "model", "id": m, "display_name": m, "created_at": MODEL_CREATED_AT} for m in models]
    return jsonify({"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
                    "last_id": data[-1]["id"] if data else None})
