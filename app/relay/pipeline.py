"""One relayed request, start to finish. Everything before the first byte is decided here, in the view:

    authenticate (401/403) -> parse (400/413) -> model allowed (403) -> price (400) -> route exists (503)
      -> no sensitive word in the prompt (400, app.relay.sensitive)
      -> the user's request rate allows it (429, app.relay.ratelimit)
      -> plan window allows it (429, app.billing.plans)
      -> reserve (403)                                   [write transaction 1]
      -> attempts: pick a channel not tried yet, adapt, send, read; retry when it can help
      -> non-stream: settle, return the upstream's bytes  [write transaction 2]
      -> stream: the first event is read here (a failure before it retries on another channel), then a
         generator relays the rest and settles in its `finally` [write transaction 2]
    any failure before the answer -> refund              [write transaction 2']

With warm caches (key, user, routing table, options) a request reads nothing from the database and
writes exactly twice: the reservation, then the settlement or the refund. (The option and cache-version
markers are re-read at most once per OPTIONS_SYNC_SECONDS per process, not per request.)

Retry policy (STYLE habit 8): another channel is tried after 401/403 (the channel's credentials; the
channel is also auto-disabled), 408, 429, 5xx, timeouts, network errors and an error event before the
first byte of a stream; never after 400, 404, 413, 422 or other 4xx, which describe the request itself
and go back to the client as they are. A pinned channel (`sk-<key>-<id>`, admins only) is never retried.
Upstream 401/403 reach the client as 502 `upstream_auth_failed`: the client's own key is fine.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable

import requests
from flask import Response, current_app, request

from app import metrics
from app.billing import plans, pricing, quota
from app.errors import NoAvailableChannel, UpstreamError
from app.options import options
from app.relay import estimate, health, http, ratelimit, routing, sensitive
from app.relay.adaptors.registry import adaptor_for
from app.relay.keys import authenticate
from app.relay.request import ClientRequest, parse_json_request, parse_multipart_request
from app.relay.settlement import Job, error_row, estimate_answer, record_uncharged, settle
from app.relay.streaming import READ_ERRORS, OpenStream, open_stream, raw_body, stream_body
from app.relay.translate.bridge import OfflineCounter
from app.relay.types import ChannelInfo, Mode, RelayContext, UpstreamFailure

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_SECRETS = re.compile(r"\b(sk-|org-|key-)[A-Za-z0-9*_\-]{4,}")


# -- entry point ------------------------------------------------------------------------------------------
def relay(mode: str, *, credential: str | None = None,
          parse: Callable[[bytes], ClientRequest] | None = None) -> Response:
    """Handle one /v1 request of `mode`; raises AppError subclasses for every refusal.

    Native surfaces (Claude, Gemini, Responses, rerank) pass the key as their clients send it
    (`credential`, instead of the Authorization header) and their own body check (`parse`).
    """
    started = time.perf_counter()
    if credential is None:
        credential = request.headers.get("Authorization")
    caller = authenticate(credential, request.remote_addr or "")
    if parse is not None:
        req = parse(request_body())
    elif mode in Mode.MULTIPART:
        req = parse_multipart_request(mode, request.form, request.files)
    else:
        req = parse_json_request(mode, request_body())
    caller.check_model(req.model)
    price = pricing.price_for(req.model, caller.group)
    if mode == Mode.IMAGES:
        req.calls = pricing.image_calls(req.model, int(req.calls), req.image_size, req.image_quality)
    _check_route(caller, req.model)
    store = options()
    sensitive.check_prompt(store, mode, req.body)
    amount = pricing.reservation(price, req.prompt_estimate, req.completion_estimate, calls=req.calls,
                                 floor=int(store.get("PreConsumedQuota")))
    if req.audio_seconds_estimate is not None and not price.per_call and not price.free:
        amount = max(amount, price.tokens_quota(0, 0, audio_seconds=req.audio_seconds_estimate))
    ctx = RelayContext(mode=mode, origin_model=req.model, stream=req.stream, body=req.body, raw_body=req.raw,
                       form=req.form if mode in Mode.MULTIPART else {}, files=req.files,
                       client_wants_usage=req.client_wants_usage, user_id=caller.user.id,
                       token_id=caller.key.token_id, group=caller.group, request_id=os.urandom(16).hex(),
                       headers=req.headers)
    retries = 0 if caller.pinned_channel is not None else int(store.get("RetryTimes"))
    log_details = bool(store.get("LogConsumeEnabled"))
    ratelimit.check_request_rate(store, caller.user.id, caller.group)
    plans.check_plan_allows(caller.user.id, req.model, amount)
    reservation = quota.reserve(caller.user.id, caller.key.token_id, amount, unlimited=caller.key.unlimited)
    job = Job(req, ctx, caller, price, reservation, started, log_details,
              tiktoken_dir=current_app.config.get("TIKTOKEN_CACHE_DIR"), app=current_app._get_current_object(),
              has_plan=plans.active_plan(caller.user.id) is not None)
    try:
        outcome = _attempts(job, retries)
    except BaseException as exc:
        quota.refund(reservation, error_log=error_row(job, exc))
        if isinstance(exc, UpstreamError | NoAvailableChannel):
            metrics.request_failed(req.model, exc.status)
        raise
    headers = {"X-Request-Id": ctx.request_id}
    if isinstance(outcome, OpenStream):
        quota.release_session()
        return Response(stream_body(job, outcome), 200, headers={**STREAM_HEADERS, **headers},
                        content_type=outcome.translator.content_type)
    if isinstance(outcome, requests.Response):  # audio: binary passthrough
        quota.release_session()
        return Response(raw_body(job, outcome), 200, headers=headers,
                        content_type=outcome.headers.get("Content-Type", "application/octet-stream"))
    try:
        settle(job, outcome.usage or estimate_answer(job, outcome.body))
    except BaseException:
        quota.refund(reservation)
        raise
    return Response(outcome.body, 200, headers=headers, content_type=outcome.content_type)


def count_tokens(mode: str, *, credential: str | None, parse: Callable[[bytes], ClientRequest]) -> Response:
    """A token-counting request (Claude count_tokens, Gemini countTokens), checked like any other:

        authenticate (401/403) -> parse (400) -> model allowed (403) -> route exists (503)
          -> no sensitive word (400) -> request rate (429)
          -> attempts, as in `relay`; a channel that cannot count natively is answered by the tokenizer
          -> one quota-0 log row                    [write transaction 1]

    Never charged (the providers do not charge for counting either): no price is needed, nothing is
    reserved, no balance, counter or plan window moves. A failure writes the usual quota-0 error row.
    """
    started = time.perf_counter()
    caller = authenticate(credential, request.remote_addr or "")
    req = parse(request_body())
    caller.check_model(req.model)
    _check_route(caller, req.model)
    store = options()
    sensitive.check_prompt(store, mode, req.body)
    ratelimit.check_request_rate(store, caller.user.id, caller.group)
    ctx = RelayContext(mode=mode, origin_model=req.model, stream=False, body=req.body, raw_body=req.raw,
                       user_id=caller.user.id, token_id=caller.key.token_id, group=caller.group,
                       request_id=os.urandom(16).hex(), headers=req.headers)
    job = Job(req, ctx, caller, pricing.Price(req.model, caller.group, pricing.group_ratio(caller.group)),
              quota.nothing_held(caller.user.id, caller.key.token_id, unlimited=caller.key.unlimited), started,
              bool(store.get("LogConsumeEnabled")), tiktoken_dir=current_app.config.get("TIKTOKEN_CACHE_DIR"),
              has_plan=False)
    estimate.ensure_tokenizer(job.tiktoken_dir)
    retries = 0 if caller.pinned_channel is not None else int(store.get("RetryTimes"))
    try:
        outcome = _attempts(job, retries, attempt=_count_attempt)
    except BaseException as exc:
        quota.refund(job.reservation, error_log=error_row(job, exc))
        raise
    record_uncharged(job)
    return Response(outcome.body, 200, headers={"X-Request-Id": ctx.request_id}, content_type=outcome.content_type)


def _count_attempt(job: Job, adaptor, connect: float, read: float):
    if isinstance(adaptor, OfflineCounter):
        return adaptor.answer(job.ctx)
    return _attempt(job, adaptor, connect, read)


def _check_route(caller, model: str) -> None:
    """503 before anything is reserved when no channel could serve `model` (or the pinned one is gone)."""
    if caller.pinned_channel is not None:
        if routing.get_channel(caller.pinned_channel) is None:
            raise NoAvailableChannel(f"channel {caller.pinned_channel} does not exist or is disabled")
    elif not routing.has_route(caller.group, model):
        raise NoAvailableChannel(f"no available channel for model {model} in group {caller.group}")


def request_body() -> bytes:
    """The request body, as `request.get_data(cache=False)` returns it.

    When the server bounds the input stream itself (gunicorn sets `wsgi.input_terminated`) and the body
    has a plain Content-Length within MAX_CONTENT_LENGTH, it is one read of that many bytes, not
    werkzeug's loop of 64 KiB reads through a LimitedStream (two 64 KiB buffers per request);
    anything else (chunked, no length, too large: 413) goes through werkzeug as before.
    """
    environ = request.environ
    length = environ.get("CONTENT_LENGTH")
    if ("wsgi.input_terminated" in environ and "HTTP_TRANSFER_ENCODING" not in environ and length
            and length.isdigit() and length.isascii()):
        size = int(length)
        limit = request.max_content_length
        if limit is None or size <= limit:
            return environ["wsgi.input"].read(size) if size else b""
    return request.get_data(cache=False)


# -- attempts ---------------------------------------------------------------------------------------------
def _attempts(job: Job, retries: int, attempt: Callable | None = None):
    """Try channels until one answers (each try is `attempt`, by default `_attempt`); raise the last
    failure as an UpstreamError."""
    attempt = attempt or _attempt
    ctx, caller = job.ctx, job.caller
    config = current_app.config
    connect = float(config.get("RELAY_CONNECT_TIMEOUT", 10.0))
    read = float(config.get("STREAM_IDLE_TIMEOUT" if ctx.stream else "RELAY_READ_TIMEOUT", 300.0))
    failure: UpstreamFailure | None = None
    channel: ChannelInfo | None = None
    for _ in range(retries + 1):
        if caller.pinned_channel is not None:
            channel = routing.get_channel(caller.pinned_channel)
        else:
            channel = routing.pick(caller.group, job.req.model, job.tried)
        if channel is None:
            break
        job.tried.append(channel.id)
        adaptor = adaptor_for(channel.type, ctx.mode)
        if adaptor is None:
            failure = UpstreamFailure(501, f"channel type {channel.type} cannot serve {ctx.path}")
            continue
        ctx.key_index, ctx.api_key = routing.select_key(channel)
        ctx.channel = channel
        ctx.upstream_model = channel.model_mapping.get(ctx.origin_model) or ctx.origin_model
        outcome = attempt(job, adaptor, connect, read)
        if not isinstance(outcome, UpstreamFailure):
            return outcome
        failure = outcome
        health.record_failure(channel, ctx.key_index, failure)
        if not failure.retryable:
            break
    if failure is None:
        raise NoAvailableChannel(f"no available channel for model {job.req.model} in group {caller.group}")
    raise _client_error(failure, channel)


def _attempt(job: Job, adaptor, connect: float, read: float):
    ctx = job.ctx
    upstream = adaptor.build_request(ctx)
    quota.release_session()
    sent = time.perf_counter()
    try:
        response = http.send(upstream, connect_timeout=connect, read_timeout=read)
    except requests.Timeout:
        return UpstreamFailure(504, "the upstream did not answer in time", network=True)
    except requests.RequestException as exc:
        return UpstreamFailure(502, f"could not reach the upstream ({type(exc).__name__})", network=True)
    status = response.status_code
    content_type = response.headers.get("Content-Type", "")
    if 300 <= status < 400:
        response.close()
        return UpstreamFailure(502, f"the upstream answered with a redirect ({status})")
    if status >= 400:
        try:
            content = response.content
        except READ_ERRORS:
            content = b""
        finally:
            response.close()
        return adaptor.parse_error(ctx, status, content_type, content)
    if ctx.stream and content_type.startswith("text/event-stream"):
        return open_stream(job, adaptor, response, sent)
    if ctx.mode == Mode.SPEECH:
        job.first_response_ms = int((time.perf_counter() - sent) * 1000)
        return response
    try:
        content = response.content
    except READ_ERRORS as exc:
        return UpstreamFailure(502, f"the upstream answer was cut off ({type(exc).__name__})", network=True)
    finally:
        response.close()
    job.first_response_ms = int((time.perf_counter() - sent) * 1000)
    return adaptor.parse_response(ctx, status, content_type, content)


def _client_error(failure: UpstreamFailure, channel: ChannelInfo | None) -> UpstreamError:
    """The error the client sees for the last failure; the channel's secrets never leak into it."""
    status, message = failure.status, failure.message
    error_type, code = failure.error_type, failure.code
    if status in (401, 403):
        status, message = 502, "the upstream channel refused its credentials; try again later"
        error_type, code = "upstream_error", "upstream_auth_failed"
    elif not failure.network:
        message = _redact(message)
    if channel is not None and channel.status_code_mapping:
        mapped = channel.status_code_mapping.get(str(status), "")
        if mapped.isdigit() and 100 <= int(mapped) <= 599:
            status = int(mapped)
    error = UpstreamError(message, status=status, code=code, error_type=error_type,
                          retryable=failure.retryable)
    error.param = failure.param
    return error


def _redact(message: str) -> str:
    """Mask keys and organisation ids an upstream may echo in its error message."""
    return _SECRETS.sub(lambda m: m.group(1) + "***", message)


