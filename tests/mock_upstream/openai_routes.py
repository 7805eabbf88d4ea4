"""The OpenAI provider for the mock upstream: its route table, error shape and stream error frame."""

from __future__ import annotations

from . import openai_chat as chat
from . import openai_media as media
from . import openai_video as video
from .openai_common import base_headers, error_payload, stream_error_frame
from .server import Provider

ROUTES = [
    ("POST", "/v1/chat/completions", chat.chat_completions),
    ("POST", "/v1/completions", chat.completions),
    ("POST", "/v1/embeddings", media.embeddings),
    ("POST", "/v1/images/generations", media.images_generations),
    ("POST", "/v1/audio/speech", media.audio_speech),
    ("POST", "/v1/audio/transcriptions", media.audio_transcriptions),
    ("POST", "/v1/audio/translations", media.audio_translations),
    ("POST", "/v1/moderations", media.moderations),
    ("GET", "/v1/models", media.models_list),
    ("GET", "/v1/models/<path:model_id>", media.models_retrieve),
    ("GET", "/mock-files/<name>", media.mock_file),
    *video.ROUTES,
]
# Legacy balance endpoints, with and without /v1 (clients used both).
for prefix in ("", "/v1"):
    ROUTES += [
        ("GET", f"{prefix}/dashboard/billing/subscription", media.billing_subscription),
        ("GET", f"{prefix}/dashboard/billing/usage", media.billing_usage),
        ("GET", f"{prefix}/dashboard/billing/credit_grants", media.billing_credit_grants),
    ]

PROVIDER = Provider(
    name="openai",
    routes=ROUTES,
    error_payload=error_payload,
    base_headers=base_headers,
    stream_error_frame=stream_error_frame,
)
