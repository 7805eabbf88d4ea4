"""OpenAI-family surfaces that are not chat: the Responses API and rerank, passed through.

Responses (https://platform.openai.com/docs/api-reference/responses): the body goes to
`{base}/v1/responses` as sent (model mapped); usage is the answer's `usage` block (`input_tokens`,
`output_tokens`, `input_tokens_details.cached_tokens`), and in a stream the `usage` of the
`response` object in `response.completed` (or `response.incomplete` / `response.failed`). The stream
has named events and no `[DONE]`; `stream_options` is never added.

Rerank (Jina https://jina.ai/reranker, Cohere https://docs.cohere.com/reference/rerank): the body goes to
`{base}/v1/rerank`; usage is Jina's `usage.total_tokens` or Cohere's `meta.tokens.input_tokens` /
`meta.billed_units`, else the tokenizer's count of the query and documents.
"""

from __future__ import annotations

import json
from typing import Any

from app.relay import sse, tokenizer
from app.relay.adaptors.base import Adaptor, StreamTranslator, failure_from_body, usage_from_openai
from app.relay.adaptors.openai import OpenAIAdaptor
from app.relay.translate.common import count, dumps
from app.relay.types import Mode, ParsedResponse, RelayContext, UpstreamFailure, UpstreamRequest, Usage

_TEXT_DELTAS = (b"response.output_text.delta", b"response.function_call_arguments.delta",
                b"response.reasoning_summary_text.delta", b"response.refusal.delta")
_FINAL = ("response.completed", "response.incomplete", "response.failed")


def _proxy(ctx: RelayContext) -> str | None:
    settings = ctx.channel.settings if ctx.channel else None
    proxy = settings.get("proxy") if settings else None
    return proxy if isinstance(proxy, str) and proxy else None


def passthrough_body(ctx: RelayContext) -> bytes:
    """The client's bytes, re-encoded only for a mapped model or a param override."""
    override = ctx.channel.param_override if ctx.channel else None
    if ctx.upstream_model == ctx.origin_model and not override:
        return ctx.raw_body
    body = dict(ctx.body or {})
    body["model"] = ctx.upstream_model
    if override:
        body.update(override)
    return dumps(body).encode("utf-8")


class _Passthrough(Adaptor):
    """An OpenAI-family adaptor's URL and headers, for a path it does not know."""

    path = ""

    def __init__(self, inner: OpenAIAdaptor) -> None:
        self.inner = inner
        self.name = inner.name
        self.default_base_url = inner.default_base_url

    def build_request(self, ctx: RelayContext) -> UpstreamRequest:
        return UpstreamRequest("POST", self.inner.url(ctx, self.path), self.inner.headers(ctx),
                               data=passthrough_body(ctx), stream=ctx.stream, proxy=_proxy(ctx))

    def parse_error(self, ctx: RelayContext, status: int, content_type: str, content: bytes) -> UpstreamFailure:
        return self.inner.parse_error(ctx, status, content_type, content)

    def _object(self, content: bytes) -> dict[str, Any] | UpstreamFailure:
        try:
            obj = json.loads(content)
        except ValueError:
            return UpstreamFailure(502, "upstream returned invalid JSON")
        if not isinstance(obj, dict) or (obj.get("error") and not obj.get("output") and not obj.get("results")):
            return failure_from_body(502, content)
        return obj


class ResponsesStream(StreamTranslator):
    """Responses events passed through; usage from the final `response.*` event."""

    def __init__(self, ctx: RelayContext) -> None:
        super().__init__(ctx)
        self.deltas: list[str] = []

    def translate(self, event: sse.Event) -> list[bytes]:
        if event.data is None:
            return [event.frame()]
        data = event.json()
        if not isinstance(data, dict):
            return []  # a partial event (the body ended inside one) is never passed on
        if event.name in _TEXT_DELTAS:
            if isinstance(data.get("delta"), str):
                self.deltas.append(data["delta"])
            return [event.frame()]
        kind = data.get("type")
        if kind == "error":
            self.error = {"type": data.get("code") or "server_error", "code": data.get("code"),
                          "message": data.get("message") or "the upstream reported an error"}
            return []
        if kind in _FINAL:
            response = data.get("response") if isinstance(data.get("response"), dict) else {}
            self.usage = usage_from_openai(response.get("usage"))
            self.finished = self.done = True
        return [event.frame()]

    def end(self) -> list[bytes]:
        return []

    def error_frames(self, message: str, error_type: str = "server_error", code: str | None = None) -> bytes:
        payload = {"type": "error", "code": code or error_type, "message": message, "param": None}
        return b"event: error\ndata: " + dumps(payload).encode("utf-8") + b"\n\n"

    def delivered_text(self) -> str:
        return "".join(self.deltas)


class ResponsesAdaptor(_Passthrough):
    path = "/v1/responses"
    modes = frozenset({Mode.RESPONSES})

    def parse_response(self, ctx: RelayContext, status: int, content_type: str,
                       content: bytes) -> ParsedResponse | UpstreamFailure:
        obj = self._object(content)
        if isinstance(obj, UpstreamFailure):
            return obj
        return ParsedResponse(content, content_type or "application/json", usage_from_openai(obj.get("usage")))

    def stream_translator(self, ctx: RelayContext) -> StreamTranslator:
        return ResponsesStream(ctx)


def rerank_usage(obj: dict[str, Any]) -> Usage | None:
    """Prompt tokens a rerank answer reports (Jina's usage, Cohere's and SiliconFlow's meta)."""
    usage = obj.get("usage")
    if isinstance(usage, dict):
        tokens = count(usage.get("prompt_tokens")) or count(usage.get("total_tokens"))
        if tokens:
            return Usage(prompt_tokens=tokens)
    meta = obj.get("meta")
    if isinstance(meta, dict):
        for key in ("tokens", "billed_units"):
            part = meta.get(key)
            if isinstance(part, dict) and count(part.get("input_tokens")):
                return Usage(prompt_tokens=count(part["input_tokens"]))
    return None


class RerankAdaptor(_Passthrough):
    path = "/v1/rerank"
    modes = frozenset({Mode.RERANK})

    def parse_response(self, ctx: RelayContext, status: int, content_type: str,
                       content: bytes) -> ParsedResponse | UpstreamFailure:
        obj = self._object(content)
        if isinstance(obj, UpstreamFailure):
            return obj
        if not isinstance(obj.get("results"), list):
            return UpstreamFailure(502, "upstream rerank answer has no results")
        usage = rerank_usage(obj)
        if usage is None:
            body = ctx.body or {}
            usage = Usage(prompt_tokens=tokenizer.count_tokens(body.get("query"), ctx.origin_model)
                          + tokenizer.count_tokens(body.get("documents"), ctx.origin_model), estimated=True)
        return ParsedResponse(content, content_type or "application/json", usage)
