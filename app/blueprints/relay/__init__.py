"""The relay: /v1 (OpenAI, incl. /v1/videos), /v1beta (Gemini), /dashboard/billing, /mj, /suno. Authenticated by
API key."""

from flask import Blueprint

bp = Blueprint("relay", __name__)

from app.blueprints.relay import (  # noqa: E402,F401
    billing,
    claude,
    gemini,
    midjourney,
    openai,
    rerank,
    responses,
    suno,
    video,
)
