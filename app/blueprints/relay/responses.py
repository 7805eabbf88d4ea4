"""OpenAI's Responses API: POST /v1/responses, passed through to OpenAI-family channels and billed
from the answer's usage block (app.relay.translate.openai_surfaces)."""

from __future__ import annotations

from app.blueprints.relay import bp
from app.relay.pipeline import relay
from app.relay.translate import surfaces
from app.relay.types import Mode


@bp.post("/v1/responses")
def responses_create():
    return relay(Mode.RESPONSES, parse=surfaces.parse_responses)
