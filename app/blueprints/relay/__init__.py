"""The relay: /v1 (OpenAI), /v1beta (Gemini), /dashboard/billing. Authenticated by API key."""

from flask import Blueprint

bp = Blueprint("relay", __name__)
