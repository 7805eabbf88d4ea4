"""OpenAI (channel type 1): the client's request goes out almost as it came in.

The body is re-encoded only when something changes (model mapping, param_override, forced
`stream_options.include_usage`); otherwise the client's bytes are sent as they are. Answers are passed
through byte for byte; only the usage is read out of them. Streams pass each event through unchanged,
except the usage-only chunk when we asked for it and the client did not.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from app.relay import sse
from app.relay.adaptors.base import (
    JSON_MODES,
    Adaptor,
    Fetch,
    StreamTranslator,
    apply_header_override,
    failure_from_body,
    usage_from_openai,
)
from app.relay.types import Mode, ParsedResponse, RelayContext, UpstreamFailure, UpstreamRequest, Usage

ALL_MODES = frozenset(Mode.PATHS)


def join_url(base: str, path: str, prefix: str | None = None) -> str:
    """`base` + `path`, where `path` starts with "/v1" and `prefix` (e.g. "/api/v3", or "" for none)
    replaces that version segment. A base that already ends with the version segment is not doubled
    ("https://host/v1" + "/v1/chat/completions")."""
    version = "/v1"
    if prefix is not None:
        path = prefix + path[3:]
        version = prefix
    if version and base.endswith(version):
        base = base[: -len(version)]
    return base + path


RETAIN_BYTES = 64 * 1024  # raw event bytes kept per stream before switching to extracting their text


def _chunk_text(data: bytes) -> list[str]:
    """The generated text in one chunk payload: content, legacy text, reasoning, tool call arguments."""
    try:
        obj = json.loads(data)
    except ValueError:
        return []
    parts: list[str] = []
    for choice in (obj.get("choices") or ()) if isinstance(obj, dict) else ():
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else choice
        for key in ("content", "text", "reasoning_content", "refusal"):
            value = delta.get(key)
            if isinstance(value, str):
                parts.append(value)
        for call in delta.get("tool_calls") or ():
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict):
                parts.extend(v for v in (fn.get("name"), fn.get("arguments")) if isinstance(v, str))
    return parts


class OpenAIStream(StreamTranslator):
    """Pass-through of OpenAI `chat.completion.chunk` / `text_completion` events.

    What was delivered is only needed when no usage arrives (a cut stream). To pay nothing for it in the
    usual case, the raw event bytes are kept as they are up to RETAIN_BYTES; past that they are reduced to
    their text as they arrive, so a long stream holds its text, not its JSON.

    `pass_chunk` is the fast path: a chunk of whole events that carries no `[DONE]`, no error and no usage
    is passed on as it is after a few substring checks, instead of being split into events (most chunks
    of a stream: the content deltas).
    """

    def __init__(self, ctx: RelayContext, strip_usage_chunk: bool) -> None:
        super().__init__(ctx)
        self.strip_usage_chunk = strip_usage_chunk
        self.payloads: list[bytes] = []  # raw SSE: event blocks and whole chunks, in order
        self.retained = 0
        self.texts: list[str] | None = None  # set once RETAIN_BYTES is exceeded
        if type(self).translate is not OpenAIStream.translate and type(self).pass_chunk is OpenAIStream.pass_chunk:
            self.pass_chunk = None  # a subclass that rewrites events must see every one of them

    def _retain(self, raw: bytes) -> None:
        if self.texts is None:
            self.payloads.append(raw)
            self.retained += len(raw)
            if self.retained > RETAIN_BYTES:
                self.texts = _texts(self.payloads)
                self.payloads = []
        else:
            self.texts.extend(_texts((raw,)))

    def pass_chunk(self, chunk: bytes) -> bool:
        """Take `chunk` (whole events, see sse.Decoder.whole_events) as it is; False: go event by event."""
        if b"[DONE]" in chunk or b'"error"' in chunk:
            return False
        if b'"usage"' in chunk and \
                chunk.count(b'"usage"') != chunk.count(b'"usage":null') + chunk.count(b'"usage": null'):
            return False
        self._retain(chunk)
        if not self.finished and (b'"finish_reason":"' in chunk or b'"finish_reason": "' in chunk):
            self.finished = True
        return True

    def translate(self, event: sse.Event) -> list[bytes]:
        data = event.data
        if data is None:
            return [event.frame()]  # comments and keep-alives
        if data == sse.DONE_DATA:
            self.done = True
            return [sse.DONE]
        head = data[:48]
        if b'"error"' in head:
            obj = event.json()
            if isinstance(obj, dict) and "error" in obj and not obj.get("choices"):
                err = obj["error"]
                self.error = err if isinstance(err, dict) else {"message": str(err)}
                return []
        self._retain(event.raw)
        if not self.finished and (b'"finish_reason":"' in data or b'"finish_reason": "' in data):
            self.finished = True
        if b'"usage"' in data and b'"usage":null' not in data and b'"usage": null' not in data:
            obj = event.json()
            if isinstance(obj, dict):
                usage = usage_from_openai(obj.get("usage"))
                choices = obj.get("choices")
                if usage is None and isinstance(choices, list) and choices and isinstance(choices[0], dict):
                    usage = usage_from_openai(choices[0].get("usage"))  # Moonshot puts it in the choice
                if usage is not None:
                    self.usage = usage
                    if self.strip_usage_chunk and choices == []:
                        return []
        return [event.frame()]

    def delivered_text(self) -> str:
        if self.texts is not None:
            return "".join(self.texts)
        return "".join(_texts(self.payloads))


def _texts(raw: Iterable[bytes]) -> list[str]:
    """The generated text in retained raw SSE (event blocks and whole chunks)."""
    decoder = sse.Decoder()
    parts: list[str] = []
    for event in decoder.feed(b"\n\n".join(raw) + b"\n\n"):
        if event.data is not None and event.data != sse.DONE_DATA:
            parts.extend(_chunk_text(event.data))
    return parts


class OpenAIAdaptor(Adaptor):
    name = "openai"
    default_base_url = "https://api.openai.com"
    modes = ALL_MODES
    supports_stream_usage = True
    path_prefix: str | None = None  # replaces the leading "/v1" of every path (compatible providers)

    def __init__(self, **overrides: Any) -> None:
        for key, value in overrides.items():
            setattr(self, key, value)

    # -- requests ------------------------------------------------------------------------------------
    def url(self, ctx: RelayContext, path: str) -> str:
        return join_url(self.base_url(ctx), path, self.path_prefix)

    def headers(self, ctx: RelayContext, content_type: str | None = "application/json") -> dict[str, str]:
        headers = {"Authorization": "Bearer " + ctx.api_key}
        if content_type:
            headers["Content-Type"] = content_type
        if ctx.stream:
            headers["Accept"] = "text/event-stream"
        channel = ctx.channel
        if channel is not None and channel.organization:
            headers["OpenAI-Organization"] = channel.organization
        return apply_header_override(headers, ctx)

    def forced_usage(self, ctx: RelayContext) -> bool:
        """We add stream_options.include_usage ourselves (and strip the usage chunk if the client did not)."""
        return ctx.stream and self.supports_stream_usage and not ctx.client_wants_usage

    def json_body(self, ctx: RelayContext) -> bytes:
        channel = ctx.channel
        override = channel.param_override if channel is not None else None
        force_usage = self.forced_usage(ctx)
        body = ctx.body or {}
        if body.get("model") == ctx.upstream_model and not override and not force_usage:
            return ctx.raw_body
        body = dict(body)
        body["model"] = ctx.upstream_model
        if force_usage:
            options = body.get("stream_options")
            body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        if override:
            body.update(override)
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def build_request(self, ctx: RelayContext) -> UpstreamRequest:
        url = self.url(ctx, ctx.path)
        proxy = ctx.channel.settings.get("proxy") if ctx.channel and ctx.channel.settings else None
        if ctx.mode in JSON_MODES:
            # speech is streamed through as it arrives (binary passthrough)
            return UpstreamRequest("POST", url, self.headers(ctx), data=self.json_body(ctx),
                                   stream=ctx.stream or ctx.mode == Mode.SPEECH,
                                   proxy=proxy if isinstance(proxy, str) and proxy else None)
        form = dict(ctx.form)
        form["model"] = ctx.upstream_model
        override = ctx.channel.param_override if ctx.channel else None
        if override:
            form.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in override.items()})
        return UpstreamRequest("POST", url, self.headers(ctx, content_type=None), form=form,
                               files=list(ctx.files), proxy=proxy if isinstance(proxy, str) and proxy else None)

    # -- responses -----------------------------------------------------------------------------------
    def parse_response(self, ctx: RelayContext, status: int, content_type: str,
                       content: bytes) -> ParsedResponse | UpstreamFailure:
        if ctx.mode == Mode.SPEECH or not content_type.startswith(("application/json", "text/json")):
            return ParsedResponse(content, content_type, None)
        try:
            obj = json.loads(content)
        except ValueError:
            return UpstreamFailure(status=502, message="upstream returned invalid JSON")
        usage: Usage | None = None
        if isinstance(obj, dict):
            if "error" in obj and obj["error"] and not obj.get("choices") and not obj.get("data"):
                return failure_from_body(500, content)
            usage = usage_from_openai(obj.get("usage"))
            duration = obj.get("duration")
            if ctx.mode in Mode.MULTIPART and isinstance(duration, (int, float)) and duration > 0:
                usage = usage or Usage()
                if usage.audio_seconds is None and not usage.prompt_tokens:
                    usage.audio_seconds = float(duration)
        return ParsedResponse(content, content_type, usage)

    def stream_translator(self, ctx: RelayContext) -> StreamTranslator:
        return OpenAIStream(ctx, strip_usage_chunk=self.forced_usage(ctx))

    # -- management ----------------------------------------------------------------------------------
    def models_request(self, base_url: str, key: str, settings: dict[str, Any]) -> UpstreamRequest | None:
        base = (base_url or self.default_base_url).rstrip("/")
        return UpstreamRequest("GET", join_url(base, "/v1/models", self.path_prefix),
                               {"Authorization": "Bearer " + key})

    def parse_models(self, payload: Any) -> list[str]:
        data = payload.get("data") if isinstance(payload, dict) else None
        return sorted({m["id"] for m in data or () if isinstance(m, dict) and isinstance(m.get("id"), str)})

    def balance(self, base_url: str, key: str, fetch: Fetch) -> float | None:
        """OpenAI's legacy billing endpoints: hard limit minus this period's usage (reported in cents)."""
        import datetime

        base = (base_url or self.default_base_url).rstrip("/")
        headers = {"Authorization": "Bearer " + key}
        sub = fetch(join_url(base, "/v1/dashboard/billing/subscription", self.path_prefix), headers)
        limit = float(sub.get("hard_limit_usd") or sub.get("system_hard_limit_usd") or 0)
        today = datetime.date.today()
        start = today - datetime.timedelta(days=100)
        end = today + datetime.timedelta(days=1)
        usage = fetch(join_url(base, f"/v1/dashboard/billing/usage?start_date={start}&end_date={end}",
                               self.path_prefix), headers)
        return round(limit - float(usage.get("total_usage") or 0) / 100, 6)
