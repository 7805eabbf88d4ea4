"""The request in flight (`Job`) and how it is settled: the log row, the rollup, the quota adjustment.

Settlement needs no Flask context: everything it uses (price, caller, engine) was captured in the
view, so a stream generator can settle from its `finally` after the app context is gone.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from flask import has_app_context

from app import metrics
from app.billing import plans, quota
from app.billing.pricing import Price
from app.billing.quota import Reservation
from app.errors import AppError, NoAvailableChannel, UpstreamError
from app.models import LogType
from app.relay import estimate
from app.relay.keys import Caller
from app.relay.request import ClientRequest
from app.relay.types import Mode, RelayContext, Usage

log = logging.getLogger(__name__)
UNCHARGED_CONTENT = "token count, not charged"  # the log row's description for token-counting requests


@dataclass(slots=True)
class Job:
    """One client request in flight: what settlement needs once the answer is known."""

    req: ClientRequest
    ctx: RelayContext
    caller: Caller
    price: Price
    reservation: Reservation
    started: float  # perf_counter at the start of the view
    log_details: bool  # LogConsumeEnabled
    tiktoken_dir: str | None = None
    app: Any = None  # the Flask app, to count plan usage from a stream's generator
    has_plan: bool = True  # False: the user had no active plan when the request came in (nothing to count)
    tried: list[int] = field(default_factory=list)
    first_response_ms: int = 0


def estimate_answer(job: Job, body: bytes) -> Usage:
    """Usage of a non-stream answer that came without any: fixed for speech, estimated otherwise."""
    req = job.req
    if req.mode == Mode.SPEECH:
        return Usage(prompt_tokens=req.speech_chars)
    if req.mode in Mode.MULTIPART:
        return Usage(audio_seconds=req.audio_seconds_estimate, estimated=True)
    if job.price.per_call or job.price.free:
        return Usage()
    estimate.ensure_tokenizer(job.tiktoken_dir)
    return estimate.usage_for_answer(req.mode, req.model, req.body, body)


def estimate_stream(job: Job, delivered: str) -> Usage:
    """Usage of a stream that ended without a usage chunk: the prompt and what reached the client."""
    estimate.ensure_tokenizer(job.tiktoken_dir)
    return estimate.usage_for_stream(job.req.mode, job.req.model, job.req.body, delivered)


def _other(job: Job, usage: Usage) -> dict[str, Any]:
    ctx = job.ctx
    other = job.price.log_fields()
    other["frt"] = job.first_response_ms
    if usage.cached_tokens:
        other["cache_tokens"] = usage.cached_tokens
    if usage.cache_creation_tokens:
        other["cache_creation_tokens"] = usage.cache_creation_tokens
    if usage.reasoning_tokens:
        other["reasoning_tokens"] = usage.reasoning_tokens
    if usage.audio_seconds is not None:
        other["audio_seconds"] = usage.audio_seconds
    if usage.estimated:
        other["usage_estimated"] = True
    if ctx.upstream_model and ctx.upstream_model != ctx.origin_model:
        other["is_model_mapped"] = True
        other["upstream_model_name"] = ctx.upstream_model
    other["admin_info"] = {"use_channel": list(job.tried)}
    return other


def _consume_row(job: Job, usage: Usage, elapsed_ms: int, channel_id: int) -> dict[str, Any]:
    ctx, caller = job.ctx, job.caller
    return {"type": LogType.CONSUME, "user_id": caller.user.id, "username": caller.user.username,
            "token_name": caller.key.name, "token_id": caller.key.token_id, "model_name": job.req.model,
            "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "use_time": elapsed_ms, "is_stream": ctx.stream, "channel_id": channel_id, "group_name": caller.group,
            "ip": caller.ip if job.log_details else None, "request_id": ctx.request_id, "content": "",
            "other": _other(job, usage) if job.log_details else None}


def settle(job: Job, usage: Usage) -> int:
    """Charge the real (or estimated) cost; one transaction (app.billing.quota.settle). Returns the quota."""
    ctx, caller = job.ctx, job.caller
    amount = job.price.quota(usage, calls=job.req.calls)
    elapsed_ms = int((time.perf_counter() - job.started) * 1000)
    channel_id = ctx.channel.id if ctx.channel else 0
    row = _consume_row(job, usage, elapsed_ms, channel_id)
    rollup = {"user_id": caller.user.id, "username": caller.user.username, "model_name": job.req.model,
              "token_id": caller.key.token_id, "channel_id": channel_id, "token_used": usage.total_tokens}
    quota.settle(job.reservation, amount, channel_id=channel_id, response_ms=elapsed_ms, log=row, rollup=rollup)
    metrics.request_settled(job.req.model, usage.prompt_tokens, usage.completion_tokens, amount,
                            job.first_response_ms)
    _record_plan(job, amount)
    return amount


def record_uncharged(job: Job) -> None:
    """The quota-0 log row of an uncharged request (token counting); nothing else is written."""
    elapsed_ms = int((time.perf_counter() - job.started) * 1000)
    row = _consume_row(job, Usage(), elapsed_ms, job.ctx.channel.id if job.ctx.channel else 0)
    row["content"] = UNCHARGED_CONTENT
    quota.close_uncharged(job.reservation, log=row)


def _record_plan(job: Job, amount: int) -> None:
    """Count the settled request against the user's plan window (app.billing.plans' contract)."""
    if not job.has_plan:
        return
    user_id, model = job.caller.user.id, job.req.model
    try:
        if has_app_context():
            plans.record_plan_usage(user_id, model, amount)
        elif job.app is not None:
            with job.app.app_context():
                plans.record_plan_usage(user_id, model, amount)
    except Exception:  # noqa: BLE001 - the committed log row still seeds the counters later
        log.warning("could not count request %s against the plan", job.ctx.request_id, exc_info=True)


def settle_quietly(job: Job, usage_or_none: Usage | None, delivered: str = "") -> None:
    """Settlement from a generator's `finally`: never raises into the WSGI server.

    If it fails (database down), the reservation stays taken and the failure is logged with the request
    id: the user paid the estimate, and the log row that would explain it is missing.
    """
    try:
        usage = usage_or_none if usage_or_none is not None else estimate_stream(job, delivered)
        settle(job, usage)
    except Exception:  # noqa: BLE001
        log.exception("settlement failed for request %s (reservation of %s kept)", job.ctx.request_id,
                      job.reservation.amount)


def error_row(job: Job, exc: BaseException) -> dict[str, Any] | None:
    """A quota-0 error row (type 7) for requests the upstream side failed; None for other refusals."""
    if not isinstance(exc, UpstreamError | NoAvailableChannel):
        return None
    ctx, caller = job.ctx, job.caller
    status = exc.status if isinstance(exc, AppError) else None
    return {"type": LogType.ERROR, "user_id": caller.user.id, "username": caller.user.username,
            "token_name": caller.key.name, "token_id": caller.key.token_id, "model_name": job.req.model,
            "use_time": int((time.perf_counter() - job.started) * 1000), "is_stream": ctx.stream,
            "channel_id": job.tried[-1] if job.tried else None, "group_name": caller.group,
            "ip": caller.ip if job.log_details else None, "request_id": ctx.request_id,
            "created_at": int(time.time()), "content": str(getattr(exc, "message", exc))[:1000],
            "other": {"status": status, "admin_info": {"use_channel": list(job.tried)}}}
