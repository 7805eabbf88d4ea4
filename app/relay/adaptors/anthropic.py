"""Anthropic Claude (channel type 14): OpenAI chat translated to the Messages API, and the native
`/v1/messages` and `/v1/messages/count_tokens` surfaces passed through.

Requests go to `{base_url}/v1/messages` with `x-api-key` and `anthropic-version`
(https://docs.anthropic.com/en/api/versioning). A Claude client's own `anthropic-version` and
`anthropic-beta` headers are forwarded on the native surface; translated requests use 2023-06-01, the
version the translation is written against. Usage is reported in OpenAI's sense: `prompt_tokens` counts
Claude's `input_tokens` plus cache reads and cache writes, which are also reported apart so they are
priced with the cache ratios.
"""

from __future__ import annotations

import json
from typing import Any

from app.relay import sse
from app.relay.adaptors.base import Adaptor, StreamTranslator, apply_header_override, failure_from_body
from app.relay.translate import claude_to_openai, openai_to_claude
from app.relay.translate.claude_stream import ClaudeToOpenAI, error_frame, event_frame
from app.relay.translate.common import dumps
from app.relay.types import Mode, ParsedResponse, RelayContext, UpstreamFailure, UpstreamRequest, Usage

API_VERSION = "2023-06-01"
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")
# max_tokens when an OpenAI client leaves it out (Claude requires it): the Claude 3 models' output
# limit is 4096, later models allow at least 8192 (https://docs.anthropic.com/en/docs/about-claude/models).
LEGACY_PREFIXES = ("claude-3-haiku", "claude-3-opus", "claude-3-sonnet", "claude-2", "claude-instant")


def default_max_tokens(model: str, settings: dict[str, Any] | None) -> int:
    """The channel's `max_tokens` setting, else the model family's safe default."""
    configured = (settings or {}).get("max_tokens")
    if isinstance(configured, int) and not isinstance(configured, bool) and configured > 0:
        return configured
    name = model.lower().rsplit("/", 1)[-1]
    if name.startswith(LEGACY_PREFIXES) or not name.startswith("claude"):
        return openai_to_claude.DEFAULT_MAX_TOKENS
    return 8192


class ClaudeChatStream(StreamTranslator):
    """Claude events -> OpenAI chat chunks, for an OpenAI client on a Claude channel."""

    def __init__(self, ctx: RelayContext) -> None:
        super().__init__(ctx)
        self.state = ClaudeToOpenAI(ctx.upstream_model or ctx.origin_model)

    def translate(self, event: sse.Event) -> list[bytes]:
        state = self.state
        chunks = state.feed(event.json())
        if state.error is not None:
            self.error = state.error
            return []
        frames = [sse.data_frame(c) for c in chunks]
        if state.finish_reason is not None and not self.finished:
            self.finished = True
            self.usage = state.usage  # message_delta carries the final count
        if state.done and not self.done:
            self.done = True
            self.usage = state.usage
            frames.extend(self.end_frames())
        return frames

    def end_frames(self) -> list[bytes]:
        usage_chunk = self.state.usage_chunk() if self.ctx.client_wants_usage else None
        return ([sse.data_frame(usage_chunk)] if usage_chunk else []) + [sse.DONE]

    def end(self) -> list[bytes]:
        return [] if self.done else self.end_frames()

    def delivered_text(self) -> str:
        return "".join(self.state.delivered)


class ClaudeNativeStream(StreamTranslator):
    """Claude events passed through unchanged; usage and the end are read on the way."""

    def __init__(self, ctx: RelayContext) -> None:
        super().__init__(ctx)
        self.state = ClaudeToOpenAI(ctx.upstream_model or ctx.origin_model)

    def translate(self, event: sse.Event) -> list[bytes]:
        if event.name == b"ping":
            return [event.frame()]
        data = event.json()
        if not isinstance(data, dict):
            return []  # not a whole event (the body ended inside one): never passed on
        self.state.feed(data)
        if self.state.error is not None:
            self.error = self.state.error  # written in Claude's shape by error_frames
            return []
        if self.state.finish_reason is not None and not self.finished:
            self.finished = True
            self.usage = self.state.usage
        if self.state.done:
            self.done = True
        return [event.frame()]

    def end(self) -> list[bytes]:
        if self.done:
            return []
        self.done = True
        return [event_frame("message_stop", {"type": "message_stop"})]

    def error_frames(self, message: str, error_type: str = "api_error", code: str | None = None) -> bytes:
        return error_frame(message, error_type)

    def delivered_text(self) -> str:
        return "".join(self.state.delivered)


class AnthropicAdaptor(Adaptor):
    name = "anthropic"
    default_base_url = "https://api.anthropic.com"
    modes = frozenset({Mode.CHAT, Mode.MESSAGES, Mode.CLAUDE_COUNT})
    native_modes = frozenset({Mode.MESSAGES, Mode.CLAUDE_COUNT})

    def url(self, ctx: RelayContext) -> str:
        path = "/v1/messages/count_tokens" if ctx.mode == Mode.CLAUDE_COUNT else "/v1/messages"
        return self.base_url(ctx).removesuffix("/v1") + path

    def headers(self, ctx: RelayContext) -> dict[str, str]:
        headers = {"x-api-key": ctx.api_key, "anthropic-version": API_VERSION, "Content-Type": "application/json"}
        if ctx.mode in self.native_modes:
            for name in FORWARDED_HEADERS:
                value = ctx.headers.get(name)
                if value:
                    headers[name] = value
        if ctx.stream:
            headers["Accept"] = "text/event-stream"
        return apply_header_override(headers, ctx)

    def body(self, ctx: RelayContext) -> bytes:
        channel = ctx.channel
        # count_tokens refuses generation fields (max_tokens ...), so a param_override never applies to it
        override = channel.param_override if channel is not None and ctx.mode != Mode.CLAUDE_COUNT else None
        if ctx.mode in self.native_modes:
            if ctx.upstream_model == ctx.origin_model and not override:
                return ctx.raw_body
            body = dict(ctx.body or {})
        else:
            body = openai_to_claude.request(ctx.body or {}, default_max_tokens=default_max_tokens(
                ctx.upstream_model, channel.settings if channel else None))
        body["model"] = ctx.upstream_model
        if override:
            body.update(override)
        return dumps(body).encode("utf-8")

    def build_request(self, ctx: RelayContext) -> UpstreamRequest:
        settings = ctx.channel.settings if ctx.channel else {}
        proxy = settings.get("proxy") if settings else None
        return UpstreamRequest("POST", self.url(ctx), self.headers(ctx), data=self.body(ctx), stream=ctx.stream,
                               proxy=proxy if isinstance(proxy, str) and proxy else None)

    def parse_response(self, ctx: RelayContext, status: int, content_type: str,
                       content: bytes) -> ParsedResponse | UpstreamFailure:
        try:
            obj = json.loads(content)
        except ValueError:
            return UpstreamFailure(502, "upstream returned invalid JSON")
        if not isinstance(obj, dict) or obj.get("type") == "error":
            return failure_from_body(502, content)
        if ctx.mode == Mode.CLAUDE_COUNT:
            if type(obj.get("input_tokens")) is not int:
                return UpstreamFailure(502, "upstream returned an unexpected token count")
            return ParsedResponse(content, content_type or "application/json", Usage())
        usage = claude_to_openai.usage(obj.get("usage"))
        if ctx.mode == Mode.MESSAGES:
            return ParsedResponse(content, content_type or "application/json", usage)
        answer = claude_to_openai.response(obj, obj.get("model") or ctx.upstream_model)
        return ParsedResponse(dumps(answer).encode("utf-8"), "application/json", usage)

    def stream_translator(self, ctx: RelayContext) -> StreamTranslator:
        return ClaudeNativeStream(ctx) if ctx.mode == Mode.MESSAGES else ClaudeChatStream(ctx)

    def models_request(self, base_url: str, key: str, settings: dict[str, Any]) -> UpstreamRequest | None:
        base = (base_url or self.default_base_url).rstrip("/").removesuffix("/v1")
        return UpstreamRequest("GET", base + "/v1/models?limit=1000",
                               {"x-api-key": key, "anthropic-version": API_VERSION})

    def parse_models(self, payload: Any) -> list[str]:
        data = payload.get("data") if isinstance(payload, dict) else None
        return sorted({m["id"] for m in data or () if isinstance(m, dict) and isinstance(m.get("id"), str)})
