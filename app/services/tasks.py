"""Asynchronous tasks (Midjourney, Suno, video) for their owners and for admins: fetches and paginated lists.

Rows are written by the relay (app.relay.tasks) and the poller (app.jobs.tasks); this module only
reads them. Every user-facing query filters on the caller's `user_id`: a user never sees another
user's task, whatever id they send. Admin lists see every row and the channel; users' rows leave the
channel out, and the upstream id of a video (kept in `properties.upstream_id`). Midjourney times are
milliseconds (midjourney-proxy's), task times seconds (new-api's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.models import Midjourney, Task, User
from app.services.tokens import page_offset
from app.validation import clean_text, strict_int

MAX_IDS = 100  # ids per fetch-by-ids request
MAX_FILTER_LEN = 191
MAX_TIME = 2**53  # a millisecond time is fine; anything past it is a mistake
# A task has ended once its progress is "100%" (new-api's rule; app.relay.tasks.common.DONE, which the
# poller and the relay write). Anything else (None, "", "45%") is still running.
FINISHED_PROGRESS = "100%"


@dataclass(frozen=True)
class TaskFilter:
    """new-api's task list filters; "" / 0 mean any."""

    user_id: int | None = None  # the caller's own rows (the /self routes)
    channel_id: int = 0
    remote_id: str = ""  # mj_id or task_id
    platform: str = ""
    status: str = ""
    action: str = ""
    start_timestamp: int = 0
    end_timestamp: int = 0


def is_unfinished(item: Mapping[str, Any]) -> bool:
    """True while the task of a list item (Midjourney or generic) is still running."""
    return item.get("progress") != FINISHED_PROGRESS


def _text(args: Mapping[str, str], name: str) -> str:
    return clean_text(args.get(name) or "", name, max_len=MAX_FILTER_LEN).strip()


def _int(args: Mapping[str, str], name: str) -> int:
    raw = (args.get(name) or "").strip()
    return strict_int(raw, name, minimum=0, maximum=MAX_TIME, allow_str=True) if raw else 0


def parse_filter(args: Mapping[str, str], *, id_name: str, user_id: int | None = None) -> TaskFilter:
    """Filters from query arguments; with `user_id` (self routes) `channel_id` is ignored."""
    return TaskFilter(user_id=user_id, channel_id=0 if user_id is not None else _int(args, "channel_id"),
                      remote_id=_text(args, id_name), platform=_text(args, "platform"),
                      status=_text(args, "status"), action=_text(args, "action"),
                      start_timestamp=_int(args, "start_timestamp"), end_timestamp=_int(args, "end_timestamp"))


def _where(model, f: TaskFilter, remote_column) -> list:
    c = model.__table__.c
    where = []
    if f.user_id is not None:
        where.append(c.user_id == f.user_id)
    if f.channel_id:
        where.append(c.channel_id == f.channel_id)
    if f.remote_id:
        where.append(remote_column == f.remote_id)
    if f.status:
        where.append(c.status == f.status)
    if f.action:
        where.append(c.action == f.action)
    if f.start_timestamp:
        where.append(c.submit_time >= f.start_timestamp)
    if f.end_timestamp:
        where.append(c.submit_time <= f.end_timestamp)
    if f.platform and model is Task:
        where.append(c.platform == f.platform)
    return where


def _page(model, where: list, page: int, page_size: int) -> tuple[list, int]:
    table = model.__table__
    total = db.session.scalar(select(func.count()).select_from(table).where(*where)) or 0
    rows = db.session.execute(select(table).where(*where).order_by(table.c.id.desc()).limit(page_size)
                              .offset(page_offset(page, page_size))).all()
    return list(rows), total


def _usernames(rows: list) -> dict[int, str]:
    ids = {row.user_id for row in rows if row.user_id}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


# -- Midjourney -----------------------------------------------------------------------------------------
def midjourney_item(row: Any, *, admin: bool) -> dict[str, Any]:
    """A `midjourney` row as new-api's /api/mj lists show it."""
    item = {name: getattr(row, name) for name in (
        "id", "code", "user_id", "action", "mj_id", "prompt", "prompt_en", "description", "state",
        "submit_time", "start_time", "finish_time", "image_url", "status", "progress", "fail_reason", "quota",
        "buttons", "properties")}
    if admin:
        item["channel_id"] = row.channel_id
    return item


def list_midjourney(f: TaskFilter, page: int, page_size: int, *, admin: bool) -> tuple[list[dict], int]:
    rows, total = _page(Midjourney, _where(Midjourney, f, Midjourney.__table__.c.mj_id), page, page_size)
    names = _usernames(rows) if admin else {}
    items = [midjourney_item(row, admin=admin) for row in rows]
    if admin:
        for item in items:
            item["username"] = names.get(item["user_id"], "")
    return items, total


def user_midjourney(user_id: int, mj_id: str):
    """The caller's Midjourney task with upstream id `mj_id` (the newest if the id repeats), or None."""
    c = Midjourney.__table__.c
    return db.session.execute(select(Midjourney.__table__).where(c.user_id == user_id, c.mj_id == mj_id)
                              .order_by(c.id.desc()).limit(1)).first()


def user_midjourney_many(user_id: int, mj_ids: list[str]) -> list:
    c = Midjourney.__table__.c
    ids = [i for i in mj_ids if isinstance(i, str) and i][:MAX_IDS]
    if not ids:
        return []
    return list(db.session.execute(select(Midjourney.__table__).where(c.user_id == user_id, c.mj_id.in_(ids))
                                   .order_by(c.id)).all())


def midjourney_image_url(mj_id: str) -> str | None:
    """The image URL of the task with upstream id `mj_id`, for the /mj/image proxy (None: no image)."""
    c = Midjourney.__table__.c
    url = db.session.scalar(select(c.image_url).where(c.mj_id == mj_id, c.image_url.is_not(None),
                                                      c.image_url != "").order_by(c.id.desc()).limit(1))
    return url if url and url.startswith(("http://", "https://")) else None


# -- generic tasks (Suno, video) ------------------------------------------------------------------------
DELETED = "DELETED"  # a video its owner deleted (the row stays: it is the charge's record)
HIDDEN_PROPERTIES = ("upstream_id",)  # which upstream job a video is: for admins only
MAX_VIDEO_PAGE = 100


def task_item(row: Any, *, admin: bool) -> dict[str, Any]:
    """A `tasks` row as new-api's /api/task lists show it (its TaskDto)."""
    item = {name: getattr(row, name) for name in (
        "id", "created_at", "updated_at", "task_id", "platform", "user_id", "quota", "action", "status",
        "fail_reason", "submit_time", "start_time", "finish_time", "progress", "properties", "data")}
    if admin:
        item["channel_id"] = row.channel_id
    elif isinstance(item["properties"], dict):
        item["properties"] = {k: v for k, v in item["properties"].items() if k not in HIDDEN_PROPERTIES}
    return item


def list_tasks(f: TaskFilter, page: int, page_size: int, *, admin: bool) -> tuple[list[dict], int]:
    rows, total = _page(Task, _where(Task, f, Task.__table__.c.task_id), page, page_size)
    names = _usernames(rows) if admin else {}
    items = [task_item(row, admin=admin) for row in rows]
    if admin:
        for item in items:
            item["username"] = names.get(item["user_id"], "")
    return items, total


def user_task(user_id: int, platform: str, task_id: str):
    """The caller's task (a video the caller deleted is gone for them: None)."""
    c = Task.__table__.c
    return db.session.execute(select(Task.__table__).where(c.user_id == user_id, c.platform == platform,
                                                           c.task_id == task_id, c.status != DELETED)
                              .order_by(c.id.desc()).limit(1)).first()


def user_tasks_many(user_id: int, platform: str, task_ids: list) -> list:
    c = Task.__table__.c
    ids = [i for i in task_ids if isinstance(i, str) and i][:MAX_IDS]
    if not ids:
        return []
    return list(db.session.execute(select(Task.__table__).where(c.user_id == user_id, c.platform == platform,
                                                                c.task_id.in_(ids)).order_by(c.id)).all())


def user_tasks_page(user_id: int, platform: str, *, after: str = "", limit: int = 20,
                    order: str = "desc") -> tuple[list, bool]:
    """One cursor page of the caller's tasks (OpenAI's list: `after` an id, newest first unless "asc");
    returns the rows and whether more follow. An `after` that is not the caller's task matches nothing."""
    c = Task.__table__.c
    where = [c.user_id == user_id, c.platform == platform, c.status != DELETED]
    if after:
        anchor = db.session.scalar(select(c.id).where(*where, c.task_id == after).limit(1))
        if anchor is None:
            return [], False
        where.append(c.id > anchor if order == "asc" else c.id < anchor)
    ordering = c.id.asc() if order == "asc" else c.id.desc()
    rows = list(db.session.execute(select(Task.__table__).where(*where).order_by(ordering).limit(limit + 1)).all())
    return rows[:limit], len(rows) > limit
