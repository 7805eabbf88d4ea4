"""Client surfaces on channels that do not speak them: which adaptor serves a (channel type, mode).

A channel's own adaptor serves its native surface (Claude's `/v1/messages` on a Claude channel,
Gemini's `generateContent` on a Gemini channel) byte for byte. Every other channel whose adaptor
speaks OpenAI chat serves the Claude and Gemini surfaces through `SurfaceBridge`: the request is
translated to OpenAI chat, the inner adaptor does the rest (possibly translating again, for a
Gemini client on a Claude channel), and the answer or stream comes back in the client's format.
The OpenAI Responses API and rerank are served by OpenAI-family channels (app.relay.translate.
openai_surfaces), Gemini's embedContent by any channel with OpenAI embeddings (`GeminiEmbedBridge`),
and token counting that a channel cannot do natively by the tokenizer (`OfflineCounter`). Nothing here
does I/O; the pipeline asks `wrap` once per attempt.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

from app.relay import sse, tokenizer
from app.relay.adaptors.base import Adaptor, StreamTranslator
from app.relay.adaptors.openai import OpenAIAdaptor
from app.relay.translate import (
    TranslationError,
    claude_stream,
    claude_to_openai,
    gemini_stream,
    gemini_to_openai,
    openai_to_claude,
    openai_to_gemini,
)
from app.relay.translate.common import dumps, openai_usage, text_of
from app.relay.translate.openai_surfaces import RerankAdaptor, ResponsesAdaptor
from app.relay.types import Mode, ParsedResponse, RelayContext, UpstreamFailure, UpstreamRequest, Usage


@functools.lru_cache(maxsize=512)
def wrap(adaptor: Adaptor | None, mode: str) -> Adaptor | None:
    """The adaptor that serves `mode` through `adaptor`'s channel, or None when it cannot."""
    if adaptor is None:
        return None
    if mode not in Mode.SURFACES:
        return adaptor if adaptor.supports(mode) else None
    if mode in getattr(adaptor, "native_modes", ()):
        return adaptor
    if mode in (Mode.MESSAGES, Mode.GEMINI):
        return SurfaceBridge(adaptor, mode) if adaptor.supports(Mode.CHAT) else None
    if mode in Mode.UNCHARGED:
        return OfflineCounter(adaptor, mode)
    if mode in (Mode.GEMINI_EMBED, Mode.GEMINI_BATCH_EMBED):
        return GeminiEmbedBridge(adaptor, mode) if adaptor.supports(Mode.EMBEDDINGS) else None
    if not isinstance(adaptor, OpenAIAdaptor) or not getattr(adaptor, "passthrough_surfaces", True):
        return None
    if mode == Mode.RESPONSES:
        return ResponsesAdaptor(adaptor)
    if mode == Mode.RERANK:
        return RerankAdaptor(adaptor)
    return None


def chat_view(mode: str, body: dict[str, Any], model: str) -> dict[str, Any]:
    """The OpenAI chat request equivalent to a Claude or Gemini request, or to what a token-counting
    request counts (raises TranslationError)."""
    if mode in (Mode.MESSAGES, Mode.CLAUDE_COUNT):
        chat = claude_to_openai.request(body)
    elif mode == Mode.GEMINI:
        chat = gemini_to_openai.request(body, model)
    elif mode == Mode.GEMINI_COUNT:
        inner = gemini_to_openai.get(body, "generateContentRequest")
        chat = gemini_to_openai.request(inner if isinstance(inner, dict) else {"contents": body.get("contents")},
                                        model)
    else:
        raise ValueError(f"no chat view for mode {mode}")
    chat["model"] = model
    return chat


def prompt_tokens(mode: str, model: str, body: dict[str, Any] | None) -> int:
    """Tokenizer estimate of a surface request's prompt (for answers that came without usage)."""
    if not body:
        return 0
    if mode in (Mode.RESPONSES, Mode.RERANK):
        keys = ("instructions", "input") if mode == Mode.RESPONSES else ("query", "documents")
        return sum(tokenizer.count_tokens(body.get(key), model) for key in keys)
    if mode in (Mode.GEMINI_EMBED, Mode.GEMINI_BATCH_EMBED):
        return sum(tokenizer.count_tokens(gemini_to_openai.embed_text(item), model)
                   for item in gemini_to_openai.embed_items(body))
    try:
        chat = chat_view(mode, body, model)
    except (TranslationError, ValueError):
        return tokenizer.count_tokens(body, model)
    return tokenizer.count_chat_prompt_tokens(chat["messages"], model, chat.get("tools"))


def answer_text(completion: Any) -> str:
    """Generated text of a chat completion (content, reasoning, tool calls), for estimates."""
    parts: list[str] = []
    for choice in completion.get("choices") or () if isinstance(completion, dict) else ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            continue
        parts.append(text_of(message.get("content")))
        if isinstance(message.get("reasoning_content"), str):
            parts.append(message["reasoning_content"])
        for call in message.get("tool_calls") or ():
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict):
                parts.extend(v for v in (fn.get("name"), fn.get("arguments")) if isinstance(v, str))
    return "".join(parts)


class SurfaceStream(StreamTranslator):
    """The inner adaptor's OpenAI chunks re-framed as Claude events or Gemini stream responses."""

    def __init__(self, ctx: RelayContext, inner: StreamTranslator) -> None:
        super().__init__(ctx)
        self.inner = inner
        self.claude = claude_stream.OpenAIToClaude(ctx.origin_model) if ctx.mode == Mode.MESSAGES else None
        self.gemini = gemini_stream.OpenAIToGemini(ctx.origin_model) if ctx.mode == Mode.GEMINI else None

    def translate(self, event: sse.Event) -> list[bytes]:
        return self._convert(self.inner.translate(event))

    def _convert(self, frames: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for frame in frames:
            for event in sse.iter_events([frame]):
                if event.data is None or event.data == sse.DONE_DATA:
                    continue
                chunk = event.json()
                if self.claude is not None:
                    out.extend(claude_stream.event_frame(n, d) for n, d in self.claude.feed(chunk))
                elif self.gemini is not None:
                    out.extend(sse.data_frame(r) for r in self.gemini.feed(chunk))
        inner = self.inner
        self.error, self.finished = inner.error, inner.finished
        if inner.usage is not None:
            self.usage = inner.usage
        if inner.done and not self.done:
            out.extend(self._close())
        return out

    def _close(self) -> list[bytes]:
        self.done = True
        if self.claude is not None:
            return [claude_stream.event_frame(n, d) for n, d in self.claude.finish(self.inner.usage)]
        if self.gemini is not None:
            return [sse.data_frame(r) for r in self.gemini.end(self.inner.usage)]
        return []

    def end(self) -> list[bytes]:
        out = self._convert(self.inner.end())
        return out + ([] if self.done else self._close())

    def error_frames(self, message: str, error_type: str = "api_error", code: str | None = None) -> bytes:
        if self.ctx.mode == Mode.GEMINI:
            return gemini_stream.error_frame(message, error_type if error_type.isupper() else None, code)
        return claude_stream.error_frame(message, error_type)

    def delivered_text(self) -> str:
        return self.inner.delivered_text()


class _Bridge(Adaptor):
    """A client surface served by an `inner` adaptor that speaks another (OpenAI) mode: subclasses define
    `inner_ctx(ctx, with_body=False)`, the attempt as the inner adaptor sees it, and `parse_response`, which
    turns the inner answer (`_inner_json`) back into the surface's shape; requests and errors go through the
    inner adaptor unchanged."""

    def __init__(self, inner: Adaptor, surface: str) -> None:
        self.inner = inner
        self.surface = surface
        self.name = inner.name
        self.default_base_url = inner.default_base_url
        self.modes = frozenset({surface})

    def build_request(self, ctx: RelayContext) -> UpstreamRequest:
        return self.inner.build_request(self.inner_ctx(ctx, with_body=True))

    def parse_error(self, ctx: RelayContext, status: int, content_type: str, content: bytes) -> UpstreamFailure:
        return self.inner.parse_error(self.inner_ctx(ctx), status, content_type, content)

    def _inner_json(self, ctx: RelayContext, status: int, content_type: str,
                    content: bytes) -> tuple[ParsedResponse, Any] | UpstreamFailure:
        """The inner adaptor's parsed answer and its decoded JSON body, or the failure to return."""
        parsed = self.inner.parse_response(self.inner_ctx(ctx), status, content_type, content)
        if isinstance(parsed, UpstreamFailure):
            return parsed
        try:
            return parsed, json.loads(parsed.body)
        except ValueError:
            return UpstreamFailure(502, "upstream returned invalid JSON")


class SurfaceBridge(_Bridge):
    """A Claude or Gemini client served by an adaptor that speaks OpenAI chat."""

    def inner_ctx(self, ctx: RelayContext, *, with_body: bool = False) -> RelayContext:
        """The attempt as the inner adaptor sees it: an OpenAI chat request (the body only when sent)."""
        body = raw = None
        if with_body:
            body = chat_view(self.surface, ctx.body or {}, ctx.origin_model)
            if ctx.stream:
                body["stream"] = True
            else:
                body.pop("stream", None)
            raw = dumps(body).encode("utf-8")
        return dataclasses.replace(ctx, mode=Mode.CHAT, body=body, raw_body=raw or b"", client_wants_usage=False,
                                   headers={})

    def parse_response(self, ctx: RelayContext, status: int, content_type: str,
                       content: bytes) -> ParsedResponse | UpstreamFailure:
        outcome = self._inner_json(ctx, status, content_type, content)
        if isinstance(outcome, UpstreamFailure):
            return outcome
        parsed, completion = outcome
        if not isinstance(completion, dict):
            return UpstreamFailure(502, "upstream returned an unexpected answer")
        usage = parsed.usage or self._estimate(ctx, completion)
        completion["usage"] = openai_usage(usage)
        if self.surface == Mode.MESSAGES:
            answer = openai_to_claude.response(completion, ctx.origin_model)
        else:
            answer = openai_to_gemini.response(completion, ctx.origin_model)
        return ParsedResponse(dumps(answer).encode("utf-8"), "application/json", usage)

    def _estimate(self, ctx: RelayContext, completion: dict[str, Any]) -> Usage:
        return Usage(prompt_tokens=prompt_tokens(self.surface, ctx.origin_model, ctx.body),
                     completion_tokens=tokenizer.count_tokens(answer_text(completion), ctx.origin_model),
                     estimated=True)

    def stream_translator(self, ctx: RelayContext) -> StreamTranslator:
        return SurfaceStream(ctx, self.inner.stream_translator(self.inner_ctx(ctx)))


class OfflineCounter(Adaptor):
    """Token counting on a channel that cannot count natively: answered here with the tokenizer, in the
    client's shape (Claude `{"input_tokens"}`, Gemini `{"totalTokens"}`); nothing is sent upstream.
    The pipeline asks `answer` instead of sending a request (app.relay.pipeline.count_tokens)."""

    def __init__(self, inner: Adaptor, surface: str) -> None:
        self.inner = inner
        self.surface = surface
        self.name = inner.name
        self.modes = frozenset({surface})

    def answer(self, ctx: RelayContext) -> ParsedResponse:
        tokens = prompt_tokens(self.surface, ctx.origin_model, ctx.body)
        body = {"input_tokens": tokens} if self.surface == Mode.CLAUDE_COUNT else {"totalTokens": tokens}
        return ParsedResponse(dumps(body).encode("utf-8"), "application/json", Usage(estimated=True))

    def build_request(self, ctx: RelayContext) -> UpstreamRequest:
        raise TypeError("an offline counter sends nothing upstream; the pipeline calls answer()")


class GeminiEmbedBridge(_Bridge):
    """Gemini embedContent / batchEmbedContents served by a channel that speaks OpenAI's /v1/embeddings:
    one input per content, the vectors back in Gemini's shape, billed on the upstream's usage."""

    def inner_ctx(self, ctx: RelayContext, *, with_body: bool = False) -> RelayContext:
        body = raw = None
        if with_body:
            body = gemini_to_openai.embed_request(ctx.body or {}, ctx.origin_model)
            raw = dumps(body).encode("utf-8")
        return dataclasses.replace(ctx, mode=Mode.EMBEDDINGS, body=body, raw_body=raw or b"", headers={})

    def parse_response(self, ctx: RelayContext, status: int, content_type: str,
                       content: bytes) -> ParsedResponse | UpstreamFailure:
        outcome = self._inner_json(ctx, status, content_type, content)
        if isinstance(outcome, UpstreamFailure):
            return outcome
        parsed, answer = outcome
        expected = len(gemini_to_openai.embed_items(ctx.body or {}))
        out = openai_to_gemini.embed_response(answer, expected, batch=self.surface == Mode.GEMINI_BATCH_EMBED) \
            if isinstance(answer, dict) else None
        if out is None:
            return UpstreamFailure(502, f"the upstream did not return {expected} embedding(s)")
        usage = parsed.usage or Usage(prompt_tokens=prompt_tokens(self.surface, ctx.origin_model, ctx.body),
                                      estimated=True)
        return ParsedResponse(dumps(out).encode("utf-8"), "application/json", usage)
