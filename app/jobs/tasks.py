"""Poll the upstream of every unfinished Midjourney, Suno and video task; refund the ones that failed.

`poll_tasks` is the periodic job (app/jobs/schedule.py, every 15 s). One run at a time (app.jobs.locks:
Redis when configured, else process-local); a run that finds the lock taken returns `{"skipped": true}`.
The lock is a courtesy (no duplicate upstream calls); correctness does not rest on it: every write is a
conditional UPDATE on the task's progress (app.relay.tasks.finish), so two runs that overlap anyway still
refund a failed task exactly once.

Per run: the unfinished rows (oldest first, at most MAX_TASKS_PER_RUN), grouped by channel, fetched
in batches of FETCH_BATCH ids (`/mj/task/list-by-condition`, `/suno/fetch`; videos one
`GET /v1/videos/{id}` each, as OpenAI has no batch read). A task still unfinished
TASK_TIMEOUT_SECONDS after its submit fails (and is refunded), as in new-api, also when the upstream no
longer knows it. A task whose channel was deleted fails too. A channel that does not answer is retried
at the next run.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import requests
from flask import current_app
from sqlalchemy import select

from app.billing.quota import release_session
from app.extensions import db
from app.jobs.locks import job_lock
from app.models import Midjourney, Task
from app.relay import http, routing
from app.relay.adaptors.registry import task_adaptor
from app.relay.tasks import finish, midjourney, suno, video
from app.relay.tasks.common import (
    CANCEL,
    DONE,
    FAILURE,
    FETCH_BATCH,
    FETCH_TIMEOUT,
    SUCCESS,
    TaskAdaptor,
    load_json,
)
from app.relay.types import ChannelInfo

log = logging.getLogger(__name__)

LOCK_NAME = "task-poll"
LOCK_SECONDS = 300  # a run killed mid-way blocks the next ones for at most this long
TASK_TIMEOUT_SECONDS = 3600
MAX_TASKS_PER_RUN = 5000


def poll_lock() -> contextlib.AbstractContextManager[bool]:
    """The poll's lock: yields True when this caller holds it, False when another run has it."""
    return job_lock(LOCK_NAME, LOCK_SECONDS)


def poll_tasks() -> dict[str, Any]:
    """The periodic job: poll Midjourney, Suno, then videos. Safe to run twice (see the module docstring)."""
    with poll_lock() as acquired:
        if not acquired:
            return {"skipped": True}
        return poll_unlocked()


def poll_unlocked() -> dict[str, Any]:
    """One poll of every platform without taking the lock (tests race two of these on purpose)."""
    summary = {"midjourney": poll_midjourney(), "suno": poll_suno(), "video": poll_video()}
    if any(part["polled"] for part in summary.values()):
        log.info("task poll: %s", summary)
    return summary


def _summary() -> dict[str, int]:
    return {"polled": 0, "updated": 0, "succeeded": 0, "failed": 0}


def _unfinished(model, columns, *where) -> list:
    table = model.__table__
    release_session()
    with db.engine.connect() as conn:
        return list(conn.execute(select(*columns).where(finish.unfinished(table), *where)
                                 .order_by(table.c.id).limit(MAX_TASKS_PER_RUN)).all())


def _fetch(adaptor: TaskAdaptor, req) -> tuple[int, bytes] | None:
    connect = float(current_app.config.get("RELAY_CONNECT_TIMEOUT", 10.0))
    try:
        response = http.send(req, connect_timeout=connect, read_timeout=FETCH_TIMEOUT)
        try:
            return response.status_code, response.content
        finally:
            response.close()
    except requests.RequestException as exc:
        log.warning("%s poll of %s failed: %s", adaptor.platform, req.url, type(exc).__name__)
        return None


def _end(model, row, values: dict[str, Any], summary: dict[str, int], *, failed: bool) -> None:
    if finish.finish(model, row, values, failed=failed):
        summary["failed" if failed else "succeeded"] += 1


def _poll_batches(model, platform: str, rows: list, poll_channel, summary: dict[str, int]) -> None:
    """Group `rows` by channel and call `poll_channel(channel, adaptor, batch_rows)` per batch."""
    by_channel: dict[int, list] = {}
    for row in rows:
        by_channel.setdefault(row.channel_id or 0, []).append(row)
    channels = routing.channels_by_id(set(by_channel) - {0})
    for channel_id, members in by_channel.items():
        channel = channels.get(channel_id)
        adaptor = task_adaptor(channel.type, platform) if channel is not None else None
        if channel is None or adaptor is None:
            reason = f"the task's channel #{channel_id} no longer exists or cannot serve it"
            for row in members:
                _end(model, row, {"status": FAILURE, "fail_reason": reason}, summary, failed=True)
            continue
        for start in range(0, len(members), FETCH_BATCH):
            batch = members[start:start + FETCH_BATCH]
            summary["polled"] += len(batch)
            try:
                poll_channel(channel, adaptor, batch)
            except Exception:  # noqa: BLE001 - one broken channel must not stop the others
                log.exception("polling %s tasks of channel %s failed", adaptor.platform, channel_id)


# -- Midjourney -----------------------------------------------------------------------------------------
def poll_midjourney(now_ms: int | None = None) -> dict[str, int]:
    """Poll every unfinished Midjourney task once (new-api's UpdateMidjourneyTaskBulk)."""
    summary = _summary()
    rows = _unfinished(Midjourney, finish.MIDJOURNEY_COLUMNS)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    with_id = []
    for row in rows:
        if row.mj_id:
            with_id.append(row)
        else:  # nothing to poll: a submit that never got an upstream id
            _end(Midjourney, row, {"status": FAILURE, "fail_reason": "the task has no upstream id"}, summary,
                 failed=True)

    def poll_channel(channel: ChannelInfo, adaptor: TaskAdaptor, batch: list) -> None:
        _, key = routing.select_key(channel)
        answer = _fetch(adaptor, adaptor.list_request(channel, key, [row.mj_id for row in batch]))
        items: dict[str, dict] = {}
        if answer is not None:
            try:
                items = {str(item["id"]): item for item in midjourney.parse_task_list(*answer)}
            except ValueError as exc:
                log.warning("midjourney poll of channel %s: %s", channel.id, exc)
        for row in batch:
            _apply_midjourney(row, items.get(row.mj_id), now_ms, summary, polled=answer is not None)

    _poll_batches(Midjourney, midjourney.MODE, with_id, poll_channel, summary)
    return summary


def _apply_midjourney(row, item: dict | None, now_ms: int, summary: dict[str, int], *, polled: bool) -> None:
    timed_out = now_ms - int(row.submit_time or now_ms) > TASK_TIMEOUT_SECONDS * 1000
    if item is None:
        if timed_out and polled:
            _end(Midjourney, row, {"status": FAILURE, "fail_reason": "upstream task timed out (over 1 hour)"},
                 summary, failed=True)
        return
    values = midjourney.row_values(item)
    status = values.get("status")
    if timed_out and status != SUCCESS:
        values.update(status=FAILURE, fail_reason="upstream task timed out (over 1 hour)")
        status = FAILURE
    if status in (FAILURE, CANCEL) or (values.get("fail_reason") and status != SUCCESS):
        if status not in (FAILURE, CANCEL):
            values["status"] = FAILURE
        _end(Midjourney, row, values, summary, failed=True)
    elif status == SUCCESS:
        _end(Midjourney, row, values, summary, failed=False)
    elif any(getattr(row, name) != value for name, value in values.items()):
        values["progress"] = values["progress"] if values.get("progress") != DONE else "99%"
        if finish.update_unfinished(Midjourney, row.id, values):
            summary["updated"] += 1


# -- Suno -----------------------------------------------------------------------------------------------
def poll_suno(now: int | None = None) -> dict[str, int]:
    """Poll every unfinished Suno task once (new-api's updateSunoTaskAll)."""
    summary = _summary()
    rows = _unfinished(Task, finish.TASK_COLUMNS, Task.__table__.c.platform == suno.PLATFORM)
    now = int(time.time()) if now is None else now
    with_id = []
    for row in rows:
        if row.task_id:
            with_id.append(row)
        else:
            _end(Task, row, {"status": FAILURE, "fail_reason": "the task has no upstream id"}, summary,
                 failed=True)

    def poll_channel(channel: ChannelInfo, adaptor: TaskAdaptor, batch: list) -> None:
        _, key = routing.select_key(channel)
        answer = _fetch(adaptor, adaptor.fetch_request(channel, key, [row.task_id for row in batch]))
        items: dict[str, dict] = {}
        if answer is not None:
            try:
                items = {item["task_id"]: item for item in suno.parse_fetch(*answer)}
            except ValueError as exc:
                log.warning("suno poll of channel %s: %s", channel.id, exc)
        for row in batch:
            _apply_suno(row, items.get(row.task_id), now, summary, polled=answer is not None)

    _poll_batches(Task, suno.PLATFORM, with_id, poll_channel, summary)
    return summary


def _apply_suno(row, item: dict | None, now: int, summary: dict[str, int], *, polled: bool) -> None:
    timed_out = now - int(row.submit_time or now) > TASK_TIMEOUT_SECONDS
    values = suno.row_values(item) if item is not None else {}
    if item is None and not (timed_out and polled):
        return
    status = values.get("status", row.status)
    if timed_out and status != SUCCESS:
        values.update(status=FAILURE, fail_reason="upstream task timed out (over 1 hour)")
        status = FAILURE
    values["updated_at"] = now
    if status == FAILURE or (values.get("fail_reason") and status != SUCCESS):
        values["status"] = FAILURE
        _end(Task, row, values, summary, failed=True)
    elif status == SUCCESS:
        _end(Task, row, values, summary, failed=False)
    elif any(getattr(row, name) != value for name, value in values.items() if name != "updated_at"):
        if values.get("progress") == DONE:
            values["progress"] = "99%"
        if finish.update_unfinished(Task, row.id, values):
            summary["updated"] += 1


# -- videos (OpenAI's Videos API) -----------------------------------------------------------------------
TIMEOUT_ERROR = {"code": "video_generation_timeout", "message": "the video job did not finish within an hour"}


def poll_video(now: int | None = None) -> dict[str, int]:
    """Poll every unfinished video job once: `GET /v1/videos/{upstream id}` on its channel."""
    summary = _summary()
    rows = _unfinished(Task, finish.TASK_COLUMNS, Task.__table__.c.platform == video.PLATFORM)
    now = int(time.time()) if now is None else now
    with_id = []
    for row in rows:
        if video.upstream_id(row):
            with_id.append(row)
        else:
            _end(Task, row, {"status": FAILURE, "fail_reason": "the task has no upstream id"}, summary,
                 failed=True)

    def poll_channel(channel: ChannelInfo, adaptor: TaskAdaptor, batch: list) -> None:
        _, key = routing.select_key(channel)
        for row in batch:
            answer = _fetch(adaptor, adaptor.retrieve_request(channel, key, video.upstream_id(row)))
            item = None
            if answer is not None and answer[0] == 200:
                item = load_json(answer[1])
                item = item if isinstance(item, dict) and item.get("object", "video") == "video" else None
            elif answer is not None:
                log.warning("video poll of channel %s answered %s for task %s", channel.id, answer[0], row.task_id)
            # any answer counts (a 404, a revoked key): such a job fails once it is over the time limit;
            # only an unreachable upstream keeps it waiting for the next run
            _apply_video(row, item, now, summary, polled=answer is not None)

    _poll_batches(Task, video.PLATFORM, with_id, poll_channel, summary)
    return summary


def _apply_video(row, item: dict | None, now: int, summary: dict[str, int], *, polled: bool) -> None:
    timed_out = now - int(row.submit_time or now) > TASK_TIMEOUT_SECONDS
    if item is None and not (timed_out and polled):
        return
    values = video.row_values(item) if item is not None else {}
    status = values.get("status", row.status)
    if timed_out and status != SUCCESS:
        data = dict(values.get("data") or row.data or {})
        data["error"] = TIMEOUT_ERROR
        values.update(status=FAILURE, fail_reason=TIMEOUT_ERROR["message"], data=data)
        status = FAILURE
    values["updated_at"] = now
    if status == FAILURE:
        values.setdefault("fail_reason", video.GENERIC_FAILURE)
        values.setdefault("finish_time", now)
        _end(Task, row, values, summary, failed=True)
    elif status == SUCCESS:
        values.setdefault("finish_time", now)
        _end(Task, row, values, summary, failed=False)
    elif any(getattr(row, name) != value for name, value in values.items() if name != "updated_at"):
        if values.get("progress") == DONE:
            values["progress"] = "99%"
        if finish.update_unfinished(Task, row.id, values):
            summary["updated"] += 1
