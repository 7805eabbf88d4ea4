"""Streams: the first event is read in the view (`open_stream`), the rest is relayed by a generator that
settles in its `finally`.

The generator holds no database session or transaction and needs no app context. Each upstream read
is bounded by the socket timeout (STREAM_IDLE_TIMEOUT), which is the idle limit between chunks. Events
that arrived in one read are written in one piece, so nothing waits that has already arrived.
Endings:
- `data: [DONE]` from the upstream: drained, the connection goes back to the pool; billed on usage.
- client gone (GeneratorExit): the upstream response is closed at once; billed for what was delivered
  (the usage chunk never came, so the prompt and the delivered text are counted with the tokenizer).
- upstream error event, cut connection, stall past the idle timeout, or EOF without a finish: the client
  gets `data: {"error": ...}` then `data: [DONE]`; billed for what was delivered.
A Gemini client that did not ask for `alt=sse` gets the same answer as Google's JSON array: the
translator is wrapped (JsonArrayStream), everything above is unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import requests
import urllib3

from app import metrics
from app.relay import http, sse
from app.relay.adaptors.base import StreamTranslator
from app.relay.adaptors.gemini import JsonArrayStream
from app.relay.settlement import Job, settle_quietly
from app.relay.types import UpstreamFailure, Usage

READ_ERRORS = (urllib3.exceptions.HTTPError, requests.RequestException, OSError, sse.EventTooLarge)
DRAIN_CHUNKS = 4  # after [DONE], read this many more chunks at most to reach the end of the body


@dataclass(slots=True)
class OpenStream:
    """A 200 stream whose first frames were read in the view."""

    response: requests.Response
    body: http.Body
    chunks: Iterator[bytes]
    decoder: sse.Decoder
    translator: StreamTranslator
    pending: list[bytes]


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, (urllib3.exceptions.ReadTimeoutError, TimeoutError, requests.Timeout))


def open_stream(job: Job, adaptor, response: requests.Response, sent: float) -> OpenStream | UpstreamFailure:
    """Read until there is a first frame for the client; an error or a dead upstream before it is a failure
    (so the pipeline may retry another channel: the client has received nothing yet)."""
    translator = adaptor.stream_translator(job.ctx)
    if job.req.json_array_stream:
        translator = JsonArrayStream(translator)
    decoder = sse.Decoder()
    body = http.Body(response)
    chunks = iter(body)
    pending: list[bytes] = []
    try:
        while not pending and translator.error is None and not translator.done:
            chunk = next(chunks, None)
            for event in decoder.feed(chunk) if chunk is not None else decoder.flush():
                pending.extend(translator.translate(event))
                if translator.error is not None:
                    break
            if chunk is None:
                break
    except READ_ERRORS as exc:
        http.close(response)
        if _is_timeout(exc):
            return UpstreamFailure(504, "the upstream stream stalled before its first event", network=True)
        return UpstreamFailure(502, f"the upstream stream broke before its first event ({type(exc).__name__})",
                               network=True)
    if not pending:
        http.close(response, body)
        if translator.error is not None:
            return stream_failure(translator.error)
        return UpstreamFailure(502, "the upstream stream ended without any event", network=True)
    job.first_response_ms = int((time.perf_counter() - sent) * 1000)
    return OpenStream(response, body, chunks, decoder, translator, pending)


def stream_failure(error: dict) -> UpstreamFailure:
    """An error event received before anything was sent: retryable unless it blames the request."""
    error_type = error.get("type") if isinstance(error.get("type"), str) else "upstream_error"
    status = 400 if error_type == "invalid_request_error" else 500
    code = error.get("code")
    return UpstreamFailure(status, str(error.get("message") or "the upstream reported an error"),
                           error_type=error_type, code=str(code) if code is not None else None)


def _relay_rest(opened: OpenStream) -> Iterator[bytes]:
    """Frames after the pending ones, until [DONE], an error or the end of the upstream body."""
    translator, decoder = opened.translator, opened.decoder
    pass_chunk = getattr(translator, "pass_chunk", None)  # a translator's fast path for plain chunks
    if translator.error is None and not translator.done:
        for chunk in opened.chunks:
            if pass_chunk is not None and decoder.whole_events(chunk) and pass_chunk(chunk):
                yield chunk
                continue
            out: list[bytes] = []
            for event in decoder.feed(chunk):
                out.extend(translator.translate(event))
                if translator.error is not None or translator.done:
                    break
            if out:
                yield out[0] if len(out) == 1 else b"".join(out)
            if translator.error is not None or translator.done:
                break
        else:
            out = [frame for event in decoder.flush() for frame in translator.translate(event)]
            if out:
                yield b"".join(out)
    if translator.error is not None:
        err = translator.error
        code = err.get("code")
        yield translator.error_frames(str(err.get("message") or "the upstream reported an error"),
                                      str(err.get("type") or "upstream_error"),
                                      str(code) if code is not None else None)
    elif translator.done:
        for _ in range(DRAIN_CHUNKS):  # reach the end of the body so the connection can be reused
            if next(opened.chunks, None) is None:
                break
    elif translator.finished or translator.usage is not None:
        closing = translator.end()  # a complete answer from a provider that does not send [DONE]
        if closing:
            yield b"".join(closing)
    else:
        yield translator.error_frames("the upstream stream ended before the answer was complete",
                                      code="upstream_incomplete")


def stream_body(job: Job, opened: OpenStream) -> Iterator[bytes]:
    """The generator the view returns: relays every frame, settles in `finally`."""
    translator = opened.translator
    metrics.STREAMS_IN_FLIGHT.inc()
    try:
        yield b"".join(opened.pending)
        yield from _relay_rest(opened)
    except READ_ERRORS as exc:
        if _is_timeout(exc):
            yield translator.error_frames("the upstream stopped sending for too long", code="upstream_timeout")
        else:
            yield translator.error_frames(f"the upstream connection broke ({type(exc).__name__})",
                                          code="upstream_broken")
    finally:
        metrics.STREAMS_IN_FLIGHT.dec()
        http.close(opened.response, opened.body)
        settle_quietly(job, translator.usage, translator.delivered_text() if translator.usage is None else "")


def raw_body(job: Job, response: requests.Response) -> Iterator[bytes]:
    """Binary passthrough (audio): bytes as they arrive; the price is fixed by the request, so it is
    charged in full even if the client leaves early (the upstream generated all of it)."""
    body = http.Body(response)
    try:
        yield from body
    except READ_ERRORS:
        return  # the client sees a short body; the upstream still billed the whole request
    finally:
        http.close(response, body)
        settle_quietly(job, Usage(prompt_tokens=job.req.speech_chars))
