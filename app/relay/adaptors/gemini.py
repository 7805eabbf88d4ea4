"""Google Gemini (channel type 24): OpenAI chat and embeddings translated to the Gemini API, and the
native `/v1beta/models/{model}:generateContent`, `:countTokens`, `:embedContent` and
`:batchEmbedContents` surfaces passed through.

Requests go to `{base_url}/{api_version}/models/{model}:{action}` (api_version from the channel's
settings, default v1beta) with the key in `x-goog-api-key`, never in the URL, so it stays out of logs
(https://ai.google.dev/api#api-keys). Streams use `:streamGenerateContent?alt=sse`. Safety settings
default to BLOCK_NONE for every category, as new-api does; a channel sets `safety_threshold` (one
threshold) or `safety_settings` (Gemini's list) in its settings. Gemini answers a bad key with 400
API_KEY_INVALID: that is read as 401, a credential failure, so the channel is retried and disabled.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from app.relay import sse, tokenizer
from app.relay.adaptors.base import MAX_ERROR_MESSAGE, Adaptor, StreamTranslator, apply_header_override
from app.relay.translate import gemini_to_openai, openai_to_gemini
from app.relay.translate.common import dumps
from app.relay.translate.errors import read_error
from app.relay.translate.gemini_stream import GeminiToOpenAI, error_frame
from app.relay.translate.gemini_to_openai import get
from app.relay.types import Mode, ParsedResponse, RelayContext, UpstreamFailure, UpstreamRequest, Usage

API_VERSION = "v1beta"
_KEY_INVALID = ("API_KEY_INVALID", "API key not valid", "API key expired")


class GeminiChatStream(StreamTranslator):
    """Gemini stream responses -> OpenAI chat chunks, for an OpenAI client on a Gemini channel."""

    def __init__(self, ctx: RelayContext) -> None:
        super().__init__(ctx)
        self.state = GeminiToOpenAI(ctx.upstream_model or ctx.origin_model)

    def translate(self, event: sse.Event) -> list[bytes]:
        state = self.state
        chunks = state.feed(event.json())
        if state.error is not None:
            self.error = _stream_error(state.error)
            return []
        if state.finish_reason is not None:
            self.finished = True
            self.usage = state.usage
        return [sse.data_frame(c) for c in chunks]

    def end(self) -> list[bytes]:
        if self.done:
            return []
        self.done = True
        usage_chunk = self.state.usage_chunk() if self.ctx.client_wants_usage else None
        return ([sse.data_frame(usage_chunk)] if usage_chunk else []) + [sse.DONE]

    def delivered_text(self) -> str:
        return "".join(self.state.delivered)


class GeminiNativeStream(StreamTranslator):
    """Gemini stream responses passed through; usage and the finish are read on the way."""

    def __init__(self, ctx: RelayContext) -> None:
        super().__init__(ctx)
        self.state = GeminiToOpenAI(ctx.upstream_model or ctx.origin_model)

    def translate(self, event: sse.Event) -> list[bytes]:
        data = event.json()
        if not isinstance(data, (dict, list)):
            return []  # keep-alives, and a partial event when the body ended inside one
        self.state.feed(data)
        if self.state.error is not None:
            self.error = _stream_error(self.state.error)
            return []
        if self.state.finish_reason is not None:
            self.finished = True
            self.usage = self.state.usage
        return [event.frame()]

    def end(self) -> list[bytes]:
        self.done = True
        return []  # a Gemini stream simply ends

    def error_frames(self, message: str, error_type: str = "INTERNAL", code: str | None = None) -> bytes:
        return error_frame(message, error_type, code)

    def delivered_text(self) -> str:
        return "".join(self.state.delivered)


class JsonArrayStream(StreamTranslator):
    """`streamGenerateContent` without `alt=sse`: the same GenerateContentResponses, written as Google's
    JSON array as they arrive (`[{...}` then `\n,{...}` per element, `\n]` at the end; an error ends the
    array as its last element). Wraps whichever translator serves the attempt (a Gemini channel's, or a
    bridge's for other channels); billing, errors and the end of the stream are the inner one's.
    """

    content_type = "application/json; charset=UTF-8"

    def __init__(self, inner: StreamTranslator) -> None:
        super().__init__(inner.ctx)
        self.inner = inner
        self.opened = False  # "[" written
        self.closed = False  # "]" written

    def _elements(self, frames: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for event in sse.iter_events(frames):
            if event.data is None or event.data == sse.DONE_DATA:
                continue  # keep-alives have no place in a JSON array
            out.append((b"\n," if self.opened else b"[") + event.data)
            self.opened = True
        return out

    def _close(self) -> list[bytes]:
        if self.closed:
            return []
        self.closed = self.done = True
        return [b"\n]" if self.opened else b"[]"]

    def _sync(self) -> None:
        inner = self.inner
        self.error, self.finished, self.usage = inner.error, inner.finished, inner.usage
        self.done = self.done or inner.done

    def translate(self, event: sse.Event) -> list[bytes]:
        out = self._elements(self.inner.translate(event))
        self._sync()
        return out + self._close() if self.done else out

    def end(self) -> list[bytes]:
        out = self._elements(self.inner.end())
        self._sync()
        return out + self._close()

    def error_frames(self, message: str, error_type: str = "INTERNAL", code: str | None = None) -> bytes:
        return b"".join(self._elements([self.inner.error_frames(message, error_type, code)]) + self._close())

    def delivered_text(self) -> str:
        return self.inner.delivered_text()


def _stream_error(err: dict[str, Any]) -> dict[str, Any]:
    """A Gemini stream error in the pipeline's terms (INVALID_ARGUMENT blames the request)."""
    kind = err.get("type")
    return {"type": "invalid_request_error" if kind == "INVALID_ARGUMENT" else kind,
            "message": err.get("message"), "code": err.get("code")}


class GeminiAdaptor(Adaptor):
    name = "gemini"
    default_base_url = "https://generativelanguage.googleapis.com"
    modes = frozenset({Mode.CHAT, Mode.EMBEDDINGS, Mode.GEMINI, Mode.GEMINI_COUNT, Mode.GEMINI_EMBED,
                       Mode.GEMINI_BATCH_EMBED})
    native_modes = frozenset({Mode.GEMINI, Mode.GEMINI_COUNT, Mode.GEMINI_EMBED, Mode.GEMINI_BATCH_EMBED})
    NATIVE_ACTIONS = {Mode.GEMINI_COUNT: "countTokens", Mode.GEMINI_EMBED: "embedContent",
                      Mode.GEMINI_BATCH_EMBED: "batchEmbedContents"}

    def url(self, ctx: RelayContext, action: str) -> str:
        settings = ctx.channel.settings if ctx.channel else {}
        version = settings.get("api_version") if isinstance(settings.get("api_version"), str) else API_VERSION
        base = self.base_url(ctx)
        for suffix in ("/v1beta", "/v1"):
            base = base.removesuffix(suffix)
        url = f"{base}/{version}/models/{quote(ctx.upstream_model, safe='-._~')}:{action}"
        return url + "?alt=sse" if action == "streamGenerateContent" else url

    def headers(self, ctx: RelayContext) -> dict[str, str]:
        headers = {"x-goog-api-key": ctx.api_key, "Content-Type": "application/json"}
        if ctx.stream:
            headers["Accept"] = "text/event-stream"
        return apply_header_override(headers, ctx)

    def body(self, ctx: RelayContext) -> tuple[str, bytes]:
        """(action, encoded body) for the request."""
        channel = ctx.channel
        override = channel.param_override if channel is not None else None
        settings = channel.settings if channel is not None else {}
        if ctx.mode == Mode.EMBEDDINGS:
            return "batchEmbedContents", dumps(openai_to_gemini.embed_request(ctx.body or {}, ctx.upstream_model)
                                               ).encode("utf-8")
        if ctx.mode in self.NATIVE_ACTIONS:
            return self.NATIVE_ACTIONS[ctx.mode], self.native_body(ctx)
        action = "streamGenerateContent" if ctx.stream else "generateContent"
        if ctx.mode == Mode.GEMINI:
            if not override:
                return action, ctx.raw_body
            body = dict(ctx.body or {})
        else:
            safety = settings.get("safety_settings")
            threshold = settings.get("safety_threshold")
            body = openai_to_gemini.request(
                ctx.body or {}, safety=safety if isinstance(safety, list) else None,
                safety_threshold=threshold if isinstance(threshold, str) else openai_to_gemini.DEFAULT_SAFETY_THRESHOLD)
        if override:
            body.update(override)
        return action, dumps(body).encode("utf-8")

    def native_body(self, ctx: RelayContext) -> bytes:
        """countTokens / embedContent / batchEmbedContents as sent, re-encoded only when a `model` field in
        it must name the mapped model (Google checks it against the URL's) or an embedding request has a
        param_override (never applied to counting, which refuses generation fields)."""
        model = "models/" + ctx.upstream_model
        body = ctx.body or {}
        override = ctx.channel.param_override if ctx.channel is not None and ctx.mode != Mode.GEMINI_COUNT else None
        if ctx.mode == Mode.GEMINI_COUNT:
            inner = get(body, "generateContentRequest")
            if not isinstance(inner, dict) or inner.get("model") == model:
                return ctx.raw_body
            key = "generateContentRequest" if "generateContentRequest" in body else "generate_content_request"
            return dumps({**body, key: {**inner, "model": model}}).encode("utf-8")
        items = gemini_to_openai.embed_items(body)
        if not override and all(item.get("model") in (None, model) for item in items):
            return ctx.raw_body
        if ctx.mode == Mode.GEMINI_BATCH_EMBED:
            body = {**body, "requests": [{**item, "model": model} for item in items]}
        else:
            body = {**body, "model": model} if "model" in body else dict(body)
        if override:
            body.update(override)
        return dumps(body).encode("utf-8")

    def build_request(self, ctx: RelayContext) -> UpstreamRequest:
        settings = ctx.channel.settings if ctx.channel else {}
        proxy = settings.get("proxy") if settings else None
        action, data = self.body(ctx)
        return UpstreamRequest("POST", self.url(ctx, action), self.headers(ctx), data=data, stream=ctx.stream,
                               proxy=proxy if isinstance(proxy, str) and proxy else None)

    def parse_response(self, ctx: RelayContext, status: int, content_type: str,
                       content: bytes) -> ParsedResponse | UpstreamFailure:
        try:
            obj = json.loads(content)
        except ValueError:
            return UpstreamFailure(502, "upstream returned invalid JSON")
        if not isinstance(obj, dict) or "error" in obj:
            return self.parse_error(ctx, 502, content_type, content)
        if ctx.mode == Mode.GEMINI_COUNT:
            if type(obj.get("totalTokens", 0)) is not int:
                return UpstreamFailure(502, "upstream returned an unexpected token count")
            return ParsedResponse(content, content_type or "application/json", Usage())
        if ctx.mode in (Mode.GEMINI_EMBED, Mode.GEMINI_BATCH_EMBED):
            # Gemini reports no usage for embeddings: the texts are counted, as for /v1/embeddings
            texts = [gemini_to_openai.embed_text(item) for item in gemini_to_openai.embed_items(ctx.body or {})]
            prompt = sum(tokenizer.count_tokens(t, ctx.origin_model) for t in texts)
            return ParsedResponse(content, content_type or "application/json",
                                  Usage(prompt_tokens=prompt, estimated=True))
        if ctx.mode == Mode.EMBEDDINGS:
            inputs = (ctx.body or {}).get("input")
            texts = inputs if isinstance(inputs, list) else [inputs]
            prompt = sum(tokenizer.count_tokens(t, ctx.origin_model) for t in texts)
            answer = gemini_to_openai.embed_response(obj, ctx.origin_model, prompt)
            return ParsedResponse(dumps(answer).encode("utf-8"), "application/json",
                                  Usage(prompt_tokens=prompt, estimated=True))
        usage = gemini_to_openai.usage(gemini_to_openai.get(obj, "usageMetadata"))
        if ctx.mode == Mode.GEMINI:
            return ParsedResponse(content, content_type or "application/json", usage)
        answer = gemini_to_openai.response(obj, gemini_to_openai.get(obj, "modelVersion") or ctx.upstream_model)
        return ParsedResponse(dumps(answer).encode("utf-8"), "application/json", usage)

    def parse_error(self, ctx: RelayContext, status: int, content_type: str, content: bytes) -> UpstreamFailure:
        message, kind = read_error(content)
        text = content[:2000].decode("utf-8", "replace")
        if status == 400 and any(marker in text for marker in _KEY_INVALID):
            status = 401  # the channel's key, not the client's request
        if not message:
            message = f"upstream returned status {status}"
        error_type = "invalid_request_error" if kind == "INVALID_ARGUMENT" and status == 400 else (
            "server_error" if status >= 500 else "upstream_error")
        return UpstreamFailure(status=status, message=message[:MAX_ERROR_MESSAGE], error_type=error_type, code=kind)

    def stream_translator(self, ctx: RelayContext) -> StreamTranslator:
        return GeminiNativeStream(ctx) if ctx.mode == Mode.GEMINI else GeminiChatStream(ctx)

    def models_request(self, base_url: str, key: str, settings: dict[str, Any]) -> UpstreamRequest | None:
        base = (base_url or self.default_base_url).rstrip("/").removesuffix("/v1beta")
        return UpstreamRequest("GET", base + "/v1beta/models?pageSize=1000", {"x-goog-api-key": key})

    def parse_models(self, payload: Any) -> list[str]:
        models = payload.get("models") if isinstance(payload, dict) else None
        return sorted({m["name"].removeprefix("models/") for m in models or ()
                       if isinstance(m, dict) and isinstance(m.get("name"), str)})
