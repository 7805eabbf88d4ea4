"""Azure OpenAI (channel type 3): OpenAI's wire format at a deployment URL with an `api-key` header.

URL: `{base_url}/openai/deployments/{deployment}/chat/completions?api-version={version}`
(https://learn.microsoft.com/azure/ai-services/openai/reference). The deployment is the (mapped)
model name without dots, as new-api does: Azure deployment names cannot hold "." so `gpt-3.5-turbo`
is deployed as `gpt-35-turbo`. The API version comes from the channel's settings (`api_version` in
the `other` JSON), else DEFAULT_API_VERSION.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from app.relay.adaptors.base import Fetch, apply_header_override
from app.relay.adaptors.openai import OpenAIAdaptor
from app.relay.types import Mode, RelayContext, UpstreamRequest

DEFAULT_API_VERSION = "2024-10-21"  # the latest GA data-plane version


def deployment_name(model: str) -> str:
    return model.replace(".", "")


class AzureAdaptor(OpenAIAdaptor):
    name = "azure"
    default_base_url = ""
    modes = frozenset({Mode.CHAT, Mode.COMPLETIONS, Mode.EMBEDDINGS, Mode.IMAGES, Mode.SPEECH,
                       Mode.TRANSCRIPTION, Mode.TRANSLATION})
    # Azure serves the Responses API at another path with its own versions, and no rerank: the
    # OpenAI-family passthrough surfaces (app.relay.translate.openai_surfaces) are not offered.
    passthrough_surfaces = False

    def url(self, ctx: RelayContext, path: str) -> str:
        settings = ctx.channel.settings if ctx.channel else {}
        version = settings.get("api_version") if isinstance(settings.get("api_version"), str) else ""
        deployment = quote(deployment_name(ctx.upstream_model), safe="-_~")
        base = self.base_url(ctx).removesuffix("/openai")
        return (f"{base}/openai/deployments/{deployment}{path.removeprefix('/v1')}"
                f"?api-version={quote(version or DEFAULT_API_VERSION, safe='-.')}")

    def headers(self, ctx: RelayContext, content_type: str | None = "application/json") -> dict[str, str]:
        headers = {"api-key": ctx.api_key}
        if content_type:
            headers["Content-Type"] = content_type
        if ctx.stream:
            headers["Accept"] = "text/event-stream"
        return apply_header_override(headers, ctx)

    def models_request(self, base_url: str, key: str, settings: dict[str, Any]) -> UpstreamRequest | None:
        return None  # deployments are named by the admin; there is no key-scoped list of them

    def balance(self, base_url: str, key: str, fetch: Fetch) -> float | None:
        return None
