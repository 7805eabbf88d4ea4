"""The relay: /v1 (OpenAI), /v1beta (Gemini), /dashboard/billing. Authenticated by API key."""

from flask import Blueprint

bp = Blueprint("relay", __name__)

from app.blueprints.relay import billing, claude, gemini, openai, rerank, responses  # noqa: E402,F401
