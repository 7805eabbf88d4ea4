"""Rerank (Jina/Cohere wire format): POST /v1/rerank, passed through to channels that offer it."""

from __future__ import annotations

from app.blueprints.relay import bp
from app.relay.pipeline import relay
from app.relay.translate import surfaces
from app.relay.types import Mode


@bp.post("/v1/rerank")
def rerank():
    return relay(Mode.RERANK, parse=surfaces.parse_rerank)
