"""One task submission, start to finish:

    model allowed (403) -> price (400) -> channel: pinned, the origin task's, or routed (503)
      -> no sensitive word in the prompt (400, app.relay.sensitive)
      -> plan window (429) -> reserve                                     [write transaction 1]
      -> send through the shared HTTP helper; another channel after network trouble, 5xx, 429, 401/403
      -> accepted: save the task row [2], settle with a consume log row [3]
      -> refused or unreachable: refund the whole reservation              [2']

The key check, prices, reservation and settlement are the relay's (app.relay.keys, app.billing); this
module only decides what a task costs (a per-call ModelPrice x the submit's `calls`: 1 for Midjourney
and Suno, seconds x size factor for a video) and when it is accepted. The row is saved
before the settlement, so a crash in between leaves a task the user was not charged for, never a charge
without a task to refund. A failure found later by the poller is refunded by app.relay.tasks.finish.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests
from flask import current_app
from sqlalchemy import insert, select

from app.billing import plans, pricing, quota
from app.errors import NoAvailableChannel, ValidationError
from app.extensions import db
from app.models import LogType, Midjourney, Task
from app.options import options
from app.relay import health, http, routing, sensitive
from app.relay.adaptors.registry import task_adaptor
from app.relay.keys import Caller
from app.relay.tasks import midjourney, suno, video
from app.relay.tasks.common import DONE, FAILURE, SUBMIT_TIMEOUT, SUBMITTED, SubmitVerdict, TaskAdaptor
from app.relay.types import ChannelInfo, UpstreamFailure

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Attempt:
    """The channel a submit went to and what came back (`verdict`)."""

    channel: ChannelInfo
    key_index: int
    verdict: SubmitVerdict
    elapsed_ms: int


@dataclass(slots=True)
class Submission:
    """A platform submit (MjSubmit or SunoSubmit) with the caller and what billing needs."""

    platform: str  # "midjourney" | "suno" | "video"
    caller: Caller
    sub: Any
    started: float = field(default_factory=time.perf_counter)
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    fixed_channel: int | None = None  # the origin task's channel (changes of an earlier task)
    prompt: str = ""
    tried: list[int] = field(default_factory=list)


def now_ms() -> int:
    return int(time.time() * 1000)


# -- origin tasks ---------------------------------------------------------------------------------------
def _origin_midjourney(user_id: int, mj_id: str):
    t = Midjourney.__table__.c
    quota.release_session()
    with db.engine.connect() as conn:
        return conn.execute(select(t.channel_id, t.status, t.prompt).where(t.user_id == user_id, t.mj_id == mj_id)
                            .order_by(t.id.desc()).limit(1)).first()


def _origin_suno(user_id: int, task_id: str):
    t = Task.__table__.c
    quota.release_session()
    with db.engine.connect() as conn:
        return conn.execute(select(t.channel_id).where(t.user_id == user_id, t.task_id == task_id,
                                                       t.platform == suno.PLATFORM).limit(1)).first()


def midjourney_submission(caller: Caller, sub: midjourney.MjSubmit) -> Submission:
    """A Midjourney submission; a change of an earlier task must name one of the caller's tasks, which
    (unless it is a MODAL) has succeeded, and it goes to that task's channel (new-api's rules)."""
    s = Submission(midjourney.MODE, caller, sub, prompt=sub.prompt)
    if sub.origin_id is not None:
        origin = _origin_midjourney(caller.user.id, sub.origin_id)
        if origin is None:
            raise midjourney.MidjourneyError("task_not_found")
        if sub.action != midjourney.MODAL and origin.status != "SUCCESS":
            raise midjourney.MidjourneyError("task_status_not_success")
        s.fixed_channel, s.prompt = origin.channel_id, origin.prompt or ""
    return s


def suno_submission(caller: Caller, sub: suno.SunoSubmit) -> Submission:
    """A Suno submission; a continuation must name one of the caller's tasks and uses its channel."""
    s = Submission(suno.MODE, caller, sub, prompt=str(sub.body.get("prompt") or "")[:4000])
    if sub.origin_id is not None:
        origin = _origin_suno(caller.user.id, sub.origin_id)
        if origin is None:
            raise suno.SunoError("task_origin_not_exist", task_code="task_not_exist")
        s.fixed_channel = origin.channel_id
    return s


# -- the submission ------------------------------------------------------------------------------------
def submit(s: Submission) -> SubmitVerdict:
    """Run a submission (see the module docstring); returns what the client gets."""
    caller, sub = s.caller, s.sub
    caller.check_model(sub.model)
    price = pricing.price_for(sub.model, caller.group)
    amount = 0 if sub.free or price.free else _call_quota(price, sub)
    _check_route(s)
    store = options()
    sensitive.check_prompt(store, s.platform, sub.body)
    retries = 0 if (caller.pinned_channel is not None or s.fixed_channel is not None) else int(store.get("RetryTimes"))
    plans.check_plan_allows(caller.user.id, sub.model, amount)
    reservation = quota.reserve(caller.user.id, caller.key.token_id, amount, unlimited=caller.key.unlimited)
    try:
        attempt = _attempts(s, retries)
        verdict = attempt.verdict
        if not verdict.accepted:
            quota.refund(reservation)
            try:
                _after_refusal(s, attempt)
            except Exception:  # noqa: BLE001 - the refusal still reaches the client
                log.exception("could not record the refused task of request %s", s.request_id)
            return verdict
        _save(s, attempt, amount)
    except BaseException:
        quota.refund(reservation)
        raise
    try:
        _settle(s, attempt, reservation, price, amount, bool(store.get("LogConsumeEnabled")))
    except Exception:  # noqa: BLE001 - the task runs upstream; the row says what it cost
        log.exception("settlement of task %s (request %s) failed; reservation of %s kept", verdict.remote_id,
                      s.request_id, amount)
    return verdict


def _call_quota(price: pricing.Price, sub: Any) -> int:
    if not price.per_call:  # a task has no tokens to count: only a ModelPrice can price it
        raise pricing.ModelPriceError(f"model {sub.model} is priced per call: ask the administrator to set a "
                                      "model price (ModelPrice) for it")
    return price.call_quota(getattr(sub, "calls", 1))


def video_submission(caller: Caller, sub: video.VideoSubmit) -> Submission:
    return Submission(video.MODE, caller, sub, prompt=sub.prompt)


def _check_route(s: Submission) -> None:
    caller = s.caller
    if caller.pinned_channel is not None:
        if routing.get_channel(caller.pinned_channel) is None:
            raise NoAvailableChannel(f"channel {caller.pinned_channel} does not exist or is disabled")
    elif s.fixed_channel is not None:
        if routing.get_channel(s.fixed_channel) is None:
            raise _refusal(s, "the channel of the origin task is disabled", "task_channel_disable")
    elif not routing.has_route(caller.group, s.sub.model):
        raise NoAvailableChannel(f"no available channel for model {s.sub.model} in group {caller.group}")


def _refusal(s: Submission, message: str, code: str):
    if s.platform == midjourney.MODE:
        return midjourney.MidjourneyError(message)
    if s.platform == video.MODE:
        return ValidationError(message, code=code)
    return suno.SunoError(message, task_code=code)


def _next_channel(s: Submission) -> ChannelInfo | None:
    if s.caller.pinned_channel is not None:
        return routing.get_channel(s.caller.pinned_channel)
    if s.fixed_channel is not None:
        return routing.get_channel(s.fixed_channel)
    return routing.pick(s.caller.group, s.sub.model, s.tried)


def _attempts(s: Submission, retries: int) -> Attempt:
    """Send to channels until one answers with something other than a retryable failure."""
    last: Attempt | None = None
    for _ in range(retries + 1):
        channel = _next_channel(s)
        if channel is None or channel.id in s.tried:
            break
        s.tried.append(channel.id)
        adaptor = task_adaptor(channel.type, s.platform)
        if adaptor is None:
            last = Attempt(channel, 0, _network_verdict(s, f"channel type {channel.type} cannot serve "
                                                        f"/{s.platform}", 501), 0)
            continue
        last = _attempt(s, adaptor, channel)
        if not last.verdict.retry:
            return last
        if last.verdict.status in (401, 403):
            health.record_failure(channel, last.key_index, UpstreamFailure(last.verdict.status,
                                                                           last.verdict.description))
    if last is None:
        raise NoAvailableChannel(f"no available channel for model {s.sub.model} in group {s.caller.group}")
    return last


def _attempt(s: Submission, adaptor: TaskAdaptor, channel: ChannelInfo) -> Attempt:
    key_index, key = routing.select_key(channel)
    req = adaptor.submit_request(channel, key, s.sub)
    connect = float(current_app.config.get("RELAY_CONNECT_TIMEOUT", 10.0))
    quota.release_session()
    sent = time.perf_counter()
    try:
        response = http.send(req, connect_timeout=connect, read_timeout=SUBMIT_TIMEOUT)
        try:
            status, content = response.status_code, response.content
        finally:
            response.close()
    except requests.Timeout:
        return Attempt(channel, key_index, _network_verdict(s, "the upstream did not answer in time", 504), 0)
    except requests.RequestException as exc:
        return Attempt(channel, key_index, _network_verdict(s, f"do_request_failed ({type(exc).__name__})"), 0)
    elapsed = int((time.perf_counter() - sent) * 1000)
    if s.platform == midjourney.MODE:
        verdict = midjourney.parse_submit(status, content, s.sub.action)
    elif s.platform == video.MODE:
        verdict = video.parse_submit(status, content, s.sub)
    else:
        verdict = suno.parse_submit(status, content)
    return Attempt(channel, key_index, verdict, elapsed)


def _network_verdict(s: Submission, message: str, status: int = 502) -> SubmitVerdict:
    if s.platform == midjourney.MODE:
        body = midjourney.error_body(midjourney.UNKNOWN_ERROR, message)
        return SubmitVerdict(False, status, body, code=midjourney.UNKNOWN_ERROR, description=message, retry=True)
    if s.platform == video.MODE:
        return SubmitVerdict(False, status, video.error_body(message, "server_error" if status >= 500 else
                                                             "upstream_error", "do_request_failed"),
                             code="do_request_failed", description=message, retry=True)
    return SubmitVerdict(False, status, suno.error_body("do_request_failed", message), code="do_request_failed",
                         description=message, retry=True)


# -- after the answer -----------------------------------------------------------------------------------
def _after_refusal(s: Submission, attempt: Attempt) -> None:
    """A refused Midjourney submit is kept as a FAILURE row (quota 0), as new-api keeps it; code 3 (no
    account instance) auto-disables the channel when automatic disabling is on and the channel allows it."""
    verdict = attempt.verdict
    if s.platform != midjourney.MODE or not isinstance(verdict.code, int) or verdict.retry:
        return
    _insert(Midjourney, _midjourney_row(s, attempt, 0, accepted=False))
    channel = attempt.channel
    if verdict.extra.get("no_instance") and channel.auto_ban and options().get("AutomaticDisableChannelEnabled"):
        health.disable(channel.id, attempt.key_index, "midjourney-proxy: no available account instance")


def _midjourney_row(s: Submission, attempt: Attempt, amount: int, *, accepted: bool) -> dict[str, Any]:
    verdict = attempt.verdict
    row = {"user_id": s.caller.user.id, "code": verdict.code if isinstance(verdict.code, int) else None,
           "action": s.sub.action, "mj_id": verdict.remote_id, "prompt": s.prompt, "prompt_en": "",
           "description": verdict.description, "state": "", "submit_time": now_ms(), "start_time": 0,
           "finish_time": 0, "image_url": "", "status": SUBMITTED if accepted else FAILURE,
           "progress": "0%" if accepted else DONE, "fail_reason": "" if accepted else verdict.description,
           "channel_id": attempt.channel.id, "quota": amount, "token_id": s.caller.key.token_id}
    if accepted and verdict.extra.get("status") == "SUCCESS":
        now = now_ms()
        row.update(code=1, status="SUCCESS", progress=DONE, image_url=verdict.extra.get("image_url") or "",
                   start_time=now, finish_time=now)
    return row


def _insert(model, values: dict[str, Any]) -> None:
    quota.release_session()
    with db.engine.begin() as conn:
        conn.execute(insert(model.__table__).values(**values))


def _save(s: Submission, attempt: Attempt, amount: int) -> None:
    """The task row of an accepted submit."""
    if s.platform == midjourney.MODE:
        _insert(Midjourney, _midjourney_row(s, attempt, amount, accepted=True))
        return
    now = int(time.time())
    caller = s.caller
    if s.platform == video.MODE:
        _insert(Task, _video_row(s, attempt, amount, now))
        return
    _insert(Task, {"created_at": now, "updated_at": now, "task_id": attempt.verdict.remote_id,
                   "platform": suno.PLATFORM, "user_id": caller.user.id, "token_id": caller.key.token_id,
                   "channel_id": attempt.channel.id, "quota": amount, "action": s.sub.action,
                   "status": SUBMITTED, "fail_reason": "", "submit_time": now, "start_time": 0, "finish_time": 0,
                   "progress": "0%", "properties": {"origin_model_name": s.sub.model, "group": caller.group},
                   "data": None})


def _video_row(s: Submission, attempt: Attempt, amount: int, now: int) -> dict[str, Any]:
    """A video's row: Sluice's own id as `task_id`; the upstream id only in `properties` (admins see it)."""
    caller, sub, verdict = s.caller, s.sub, attempt.verdict
    values = verdict.extra.get("values") or {}
    return {"created_at": now, "updated_at": now, "task_id": sub.public_id, "platform": video.PLATFORM,
            "user_id": caller.user.id, "token_id": caller.key.token_id, "channel_id": attempt.channel.id,
            "quota": amount, "action": sub.action, "status": values.get("status") or video.QUEUED,
            "fail_reason": "", "submit_time": now, "start_time": 0, "finish_time": 0,
            "progress": "0%" if values.get("progress") in (None, DONE) else values["progress"],
            "properties": {"origin_model_name": sub.model, "group": caller.group, "upstream_id": verdict.remote_id,
                           "seconds": sub.seconds, "size": sub.size, "prompt": sub.prompt},
            "data": values.get("data")}


def client_task_id(s: Submission, verdict: SubmitVerdict) -> str | None:
    """The id the client knows the task by: Sluice's own for videos, the upstream's for the others."""
    return verdict.extra.get("public_id") or verdict.remote_id


def _settle(s: Submission, attempt: Attempt, reservation, price, amount: int, details: bool) -> None:
    """Charge the accepted submit: the consume log row (one per task) and the hourly rollup."""
    caller, sub = s.caller, s.sub
    elapsed_ms = int((time.perf_counter() - s.started) * 1000)
    remote_id = client_task_id(s, attempt.verdict)
    other = {**price.log_fields(), "task_id": remote_id, "action": sub.action, "platform": s.platform,
             "admin_info": {"use_channel": list(s.tried)}}
    row = {"type": LogType.CONSUME, "user_id": caller.user.id, "username": caller.user.username,
           "token_name": caller.key.name, "token_id": caller.key.token_id, "model_name": sub.model,
           "use_time": elapsed_ms, "is_stream": False, "channel_id": attempt.channel.id,
           "group_name": caller.group, "ip": caller.ip if details else None, "request_id": s.request_id,
           "content": f"action {sub.action}, task {remote_id}", "other": other if details else None}
    rollup = {"user_id": caller.user.id, "username": caller.user.username, "model_name": sub.model,
              "token_id": caller.key.token_id, "channel_id": attempt.channel.id, "token_used": 0}
    quota.settle(reservation, amount, channel_id=attempt.channel.id, response_ms=attempt.elapsed_ms, log=row,
                 rollup=rollup)
    try:
        plans.record_plan_usage(caller.user.id, sub.model, amount)
    except Exception:  # noqa: BLE001 - the committed log row seeds the plan counters later
        log.warning("could not count task %s against the plan", remote_id, exc_info=True)
