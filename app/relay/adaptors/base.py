"""The adaptor interface: pure translation between the client's OpenAI request and one provider.

An adaptor never does I/O, never touches the database or Flask. Per attempt the pipeline calls:

    req = adaptor.build_request(ctx)                  # -> UpstreamRequest (URL, headers, body)
    ... app.relay.http.send(req) ...                  # the one HTTP helper
    adaptor.parse_response(ctx, status, ctype, body)  # 2xx non-stream -> ParsedResponse | UpstreamFailure
    adaptor.parse_error(ctx, status, ctype, body)     # >= 400 -> UpstreamFailure
    t = adaptor.stream_translator(ctx)                # a stream: t.translate(event) -> frames for the client

For a provider that does not speak OpenAI (Anthropic, Gemini), `build_request` converts the OpenAI
body, `parse_response` converts the answer back (returning new bytes) and reports `Usage` in OpenAI's
sense (prompt_tokens including cache reads and writes), and the translator turns each provider event
into zero or more OpenAI `chat.completion.chunk` frames while keeping its state. Native endpoints
(`/v1/messages`, `/v1beta/...`) are new `Mode`s with the identity translation for their own provider.
Management helpers (`models_request`, `balance`) take what they need as arguments and an injected
`fetch` callable, so they stay testable without a network.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from app.relay import sse
from app.relay.types import Mode, ParsedResponse, RelayContext, UpstreamFailure, UpstreamRequest, Usage

Fetch = Callable[[str, dict[str, str]], Any]  # (url, headers) -> parsed JSON; raises on HTTP errors
MAX_ERROR_MESSAGE = 1000


class StreamTranslator:
    """Per-stream state: turns upstream events into client frames and keeps what billing needs.

    After each `translate` the pipeline reads `error` (the upstream reported a failure: stop, tell the
    client) and, at the end, `usage` (None: estimate from `delivered_text()`), `done` (the upstream
    said the answer is complete) and `finished` (a finish_reason was seen).
    """

    content_type = "text/event-stream; charset=utf-8"  # of the stream the client receives

    def __init__(self, ctx: RelayContext) -> None:
        self.ctx = ctx
        self.usage: Usage | None = None
        self.error: dict[str, Any] | None = None
        self.done = False
        self.finished = False

    def translate(self, event: sse.Event) -> list[bytes]:
        raise NotImplementedError

    def end(self) -> list[bytes]:
        """Frames to send when the upstream body ended normally (e.g. a missing `[DONE]`)."""
        return [sse.DONE] if not self.done else []

    def error_frames(self, message: str, error_type: str = "upstream_error", code: str | None = None) -> bytes:
        """What the client gets when the stream cannot finish; Claude and Gemini surfaces override it."""
        return sse.error_frame(message, error_type, code) + sse.DONE

    def delivered_text(self) -> str:
        """The text sent to the client so far, for estimating completion tokens without usage."""
        return ""


class Adaptor:
    """Base class: subclasses set the class attributes and override what differs."""

    name = "base"
    default_base_url = ""
    modes: frozenset[str] = frozenset()
    supports_stream_usage = False  # accepts stream_options.include_usage (we force it when True)

    def supports(self, mode: str) -> bool:
        return mode in self.modes

    def base_url(self, ctx: RelayContext) -> str:
        channel = ctx.channel
        return ((channel.base_url if channel else "") or self.default_base_url).rstrip("/")

    def build_request(self, ctx: RelayContext) -> UpstreamRequest:
        raise NotImplementedError

    def parse_response(self, ctx: RelayContext, status: int, content_type: str,
                       content: bytes) -> ParsedResponse | UpstreamFailure:
        raise NotImplementedError

    def parse_error(self, ctx: RelayContext, status: int, content_type: str, content: bytes) -> UpstreamFailure:
        """An error response as an UpstreamFailure; understands the common JSON error shapes."""
        return failure_from_body(status, content)

    def stream_translator(self, ctx: RelayContext) -> StreamTranslator:
        raise NotImplementedError

    # -- management -----------------------------------------------------------------------------------
    def test_request_body(self, model: str) -> dict[str, Any]:
        """The smallest chat request that proves a channel works (channel test)."""
        return {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}

    def models_request(self, base_url: str, key: str, settings: dict[str, Any]) -> UpstreamRequest | None:
        """The request listing the provider's models, or None when the provider has no such endpoint."""
        return None

    def parse_models(self, payload: Any) -> list[str]:
        return []

    def balance(self, base_url: str, key: str, fetch: Fetch) -> float | None:
        """The account balance in USD, or None when the provider has no balance endpoint."""
        return None


def apply_header_override(headers: dict[str, str], ctx: RelayContext) -> dict[str, str]:
    """The channel's header_override on top of `headers`; `{api_key}` in a value is the channel key."""
    override = ctx.channel.header_override if ctx.channel else None
    if not override:
        return headers
    for name, value in override.items():
        if name.lower() in ("content-length", "transfer-encoding", "host"):
            continue
        headers[name] = str(value).replace("{api_key}", ctx.api_key)
    return headers


def failure_from_body(status: int, content: bytes, *, default_message: str | None = None) -> UpstreamFailure:
    """Read `{"error": {...}}`, `{"error": "..."}`, `{"message": ...}` or plain text into a failure."""
    message, error_type, code, param = None, None, None, None
    payload = None
    if content[:1] in (b"{", b"["):
        try:
            payload = json.loads(content)
        except ValueError:
            payload = None
    if isinstance(payload, dict):
        err = payload.get("error", payload)
        if isinstance(err, dict):
            message = err.get("message") or err.get("msg")
            error_type = err.get("type") if isinstance(err.get("type"), str) else None
            code = err.get("code") if isinstance(err.get("code"), (str, int)) else None
            param = err.get("param") if isinstance(err.get("param"), str) else None
        elif isinstance(err, str):
            message = err
    if not isinstance(message, str) or not message:
        text = content[:200].decode("utf-8", "replace").strip()
        looks_html = text[:1] == "<"
        message = default_message or (f"upstream returned status {status}" if looks_html or not text
                                      else f"upstream returned status {status}: {text}")
    return UpstreamFailure(status=status, message=message[:MAX_ERROR_MESSAGE], error_type=error_type or
                           ("server_error" if status >= 500 else "upstream_error"),
                           code=str(code) if code is not None else None, param=param)


def usage_from_openai(obj: Any) -> Usage | None:
    """Usage from an OpenAI-style `usage` object (also DeepSeek's and the audio endpoints' variants)."""
    if not isinstance(obj, dict):
        return None
    prompt = obj.get("prompt_tokens")
    if prompt is None:
        prompt = obj.get("input_tokens")
    completion = obj.get("completion_tokens")
    if completion is None:
        completion = obj.get("output_tokens")
    seconds = obj.get("seconds") if obj.get("type") == "duration" else None
    if prompt is None and completion is None and seconds is None:
        return None
    usage = Usage(prompt_tokens=_int(prompt), completion_tokens=_int(completion))
    details = obj.get("prompt_tokens_details") or obj.get("input_tokens_details")
    if isinstance(details, dict):
        usage.cached_tokens = _int(details.get("cached_tokens"))
    elif obj.get("prompt_cache_hit_tokens") is not None:  # DeepSeek
        usage.cached_tokens = _int(obj.get("prompt_cache_hit_tokens"))
    done = obj.get("completion_tokens_details") or obj.get("output_tokens_details")
    if isinstance(done, dict):
        usage.reasoning_tokens = _int(done.get("reasoning_tokens"))
    if seconds is not None:
        usage.audio_seconds = float(seconds) if isinstance(seconds, (int, float)) else None
    return usage


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 0


JSON_MODES = frozenset(Mode.PATHS) - Mode.MULTIPART
