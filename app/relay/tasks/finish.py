"""Writing what a poll learned: progress updates, and the end of a task with its refund when it failed.

A task is unfinished while its progress is not "100%" (new-api's rule). Every write here is guarded by
that: `UPDATE ... WHERE id = :id AND progress <> '100%'`. Ending a task sets progress "100%" in the same
conditional UPDATE, so of two pollers racing on one task exactly one changes the row; only that one
refunds, in the same transaction: the user's quota and the key's remaining quota get the task's quota
back and a refund log row (type 6) records it. The consume row of the submit stays: the ledger shows
the charge and the refund.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import false, or_, select, update

from app.billing import ledger
from app.billing.quota import release_session
from app.extensions import db
from app.models import LogType, Midjourney, Task, Token, User
from app.relay.tasks import midjourney, suno, video
from app.relay.tasks.common import DONE

log = logging.getLogger(__name__)

_users = User.__table__
_tokens = Token.__table__


def unfinished(table):
    """The SQL condition "this task is still running" for `midjourney` or `tasks`."""
    return or_(table.c.progress.is_(None), table.c.progress != DONE)


def update_unfinished(model, row_id: int, values: dict[str, Any]) -> bool:
    """Write progress of a task that is still running; False when it has ended meanwhile."""
    table = model.__table__
    release_session()
    with db.engine.begin() as conn:
        result = conn.execute(update(table).where(table.c.id == row_id, unfinished(table)).values(**values))
    return result.rowcount == 1


def finish(model, row: Any, values: dict[str, Any], *, failed: bool, reason: str = "") -> bool:
    """End a running task (progress "100%"); when `failed`, refund its quota. True if this call ended it.

    `row` needs `id`, `user_id`, `token_id`, `channel_id`, `quota`, `action` and the task id
    (`mj_id` for Midjourney, `task_id` and `platform` for tasks, and `properties` for videos).
    """
    table = model.__table__
    values = {**values, "progress": DONE}
    release_session()
    with db.engine.begin() as conn:
        result = conn.execute(update(table).where(table.c.id == row.id, unfinished(table)).values(**values))
        if result.rowcount != 1:
            return False
        amount = int(row.quota or 0)
        if failed and amount > 0 and row.user_id:
            _refund(conn, model, row, amount, reason or values.get("fail_reason") or "")
    return True


def _refund(conn, model, row: Any, amount: int, reason: str) -> None:
    """Give `amount` back to the user and (unless unlimited) the key, and write the refund row."""
    u, t = _users.c, _tokens.c
    conn.execute(update(_users).where(u.id == row.user_id).values(quota=u.quota + amount))
    token_name = None
    if row.token_id:
        conn.execute(update(_tokens).where(t.id == row.token_id, t.unlimited_quota == false())
                     .values(remain_quota=t.remain_quota + amount))
        token_name = conn.execute(select(t.name).where(t.id == row.token_id)).scalar()
    username = conn.execute(select(u.username).where(u.id == row.user_id)).scalar()
    if model is Midjourney:
        remote_id, model_name, platform = row.mj_id, midjourney.model_name(row.action or ""), midjourney.MODE
    elif row.platform == video.PLATFORM:  # task_id is Sluice's own video id; the model is the client's
        props = row.properties if isinstance(row.properties, dict) else {}
        remote_id, model_name, platform = row.task_id, props.get("origin_model_name") or "", row.platform
    else:
        remote_id, model_name, platform = row.task_id, suno.model_name(row.action or ""), row.platform
    ledger.insert_log(conn, {
        "type": LogType.REFUND, "user_id": row.user_id, "username": username, "token_name": token_name,
        "token_id": row.token_id, "model_name": model_name, "channel_id": row.channel_id, "quota": amount,
        "created_at": int(time.time()), "content": f"task {remote_id} failed, {amount} quota refunded",
        "other": {"task_id": remote_id, "platform": platform, "reason": reason[:500]},
    })
    log.info("refunded %s quota to user %s for failed %s task %s", amount, row.user_id, platform, remote_id)


def mark_deleted(row_id: int, deleted_status: str) -> bool:
    """Mark an ended task deleted by its owner (OpenAI's DELETE /v1/videos/{id}); False when it is still
    running or already deleted. The row stays: its charge and any refund point at it."""
    table = Task.__table__
    release_session()
    with db.engine.begin() as conn:
        result = conn.execute(update(table).where(table.c.id == row_id, table.c.progress == DONE,
                                                  table.c.status != deleted_status)
                              .values(status=deleted_status, updated_at=int(time.time())))
    return result.rowcount == 1


MIDJOURNEY_COLUMNS = tuple(Midjourney.__table__.c[name] for name in (
    "id", "user_id", "token_id", "channel_id", "quota", "action", "mj_id", "code", "progress", "prompt_en",
    "state", "submit_time", "start_time", "finish_time", "image_url", "status", "fail_reason", "properties",
    "buttons"))
TASK_COLUMNS = tuple(Task.__table__.c[name] for name in (
    "id", "user_id", "token_id", "channel_id", "quota", "action", "task_id", "platform", "progress", "status",
    "fail_reason", "submit_time", "start_time", "finish_time", "properties", "data"))
