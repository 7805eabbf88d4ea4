"""OpenAI-compatible routes under /v1. Thin: each view hands its mode to the relay pipeline.

Errors are AppError subclasses, rendered as OpenAI `{"error": {...}}` JSON by app.web.errors.
"""

from __future__ import annotations

from flask import jsonify, request

from app.blueprints.relay import bp, claude, gemini
from app.errors import NotFound
from app.relay import routing
from app.relay.adaptors.registry import type_name
from app.relay.keys import authenticate
from app.relay.pipeline import relay
from app.relay.types import Mode

MODEL_CREATED = 1626777600  # the fixed `created` the one-api family reports for every model


@bp.post("/v1/chat/completions")
def chat_completions():
    return relay(Mode.CHAT)


@bp.post("/v1/completions")
def completions():
    return relay(Mode.COMPLETIONS)


@bp.post("/v1/embeddings")
def embeddings():
    return relay(Mode.EMBEDDINGS)


@bp.post("/v1/images/generations")
def images_generations():
    return relay(Mode.IMAGES)


@bp.post("/v1/audio/speech")
def audio_speech():
    return relay(Mode.SPEECH)


@bp.post("/v1/audio/transcriptions")
def audio_transcriptions():
    return relay(Mode.TRANSCRIPTION)


@bp.post("/v1/audio/translations")
def audio_translations():
    return relay(Mode.TRANSLATION)


@bp.post("/v1/moderations")
def moderations():
    return relay(Mode.MODERATIONS)


def _model_object(group: str, model: str) -> dict:
    owner = routing.owner_of(group, model)
    return {"id": model, "object": "model", "created": MODEL_CREATED,
            "owned_by": type_name(owner).lower() if owner is not None else "sluice"}


@bp.get("/v1/models")
def models_list():
    """The models this key may use: its group's enabled abilities, filtered by the key's model limits.

    Claude clients (an `anthropic-version` header) get Anthropic's list shape, Gemini-style keys
    (`x-goog-api-key` or `?key=`) Google's.
    """
    if request.headers.get("anthropic-version"):
        return claude.models_list()
    if request.headers.get("x-goog-api-key") or request.args.get("key"):
        return gemini.models_list()
    caller = authenticate(request.headers.get("Authorization"), request.remote_addr or "")
    models = routing.models_for(caller.group, caller.key.model_limits)
    return jsonify({"object": "list", "data": [_model_object(caller.group, m) for m in models]})


@bp.get("/v1/models/<path:model>")
def models_retrieve(model: str):
    caller = authenticate(request.headers.get("Authorization"), request.remote_addr or "")
    if model not in routing.models_for(caller.group, caller.key.model_limits):
        raise NotFound(f"The model '{model}' does not exist or you do not have access to it.",
                       code="model_not_found", param="model")
    return jsonify(_model_object(caller.group, model))
