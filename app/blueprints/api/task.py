"""/api/mj/* and /api/task/*: Midjourney and other asynchronous tasks (new-api's routes), paginated.

Filters: `mj_id` (Midjourney) or `task_id`, `platform`, `status`, `action` (tasks), `start_timestamp`
and `end_timestamp` on the submit time (milliseconds for Midjourney, seconds for tasks, as new-api's
pages send them), and `channel_id` for admins.
"""

from __future__ import annotations

from flask import request
from flask_login import current_user

from app.blueprints.api import bp
from app.services import tasks as task_service
from app.web.api import ok, page_args, page_result
from app.web.auth import admin_required, user_required


@bp.get("/mj/", strict_slashes=False)
@admin_required
def mj_list():
    """Every user's Midjourney tasks, newest first."""
    page, size = page_args()
    f = task_service.parse_filter(request.args, id_name="mj_id")
    items, total = task_service.list_midjourney(f, page, size, admin=True)
    return ok(page_result(items, total, page, size))


@bp.get("/mj/self")
@user_required
def mj_self_list():
    """The caller's own Midjourney tasks, newest first."""
    page, size = page_args()
    f = task_service.parse_filter(request.args, id_name="mj_id", user_id=current_user.id)
    items, total = task_service.list_midjourney(f, page, size, admin=False)
    return ok(page_result(items, total, page, size))


@bp.get("/task/", strict_slashes=False)
@admin_required
def task_list():
    """Every user's asynchronous tasks (Suno ...), newest first."""
    page, size = page_args()
    f = task_service.parse_filter(request.args, id_name="task_id")
    items, total = task_service.list_tasks(f, page, size, admin=True)
    return ok(page_result(items, total, page, size))


@bp.get("/task/self")
@user_required
def task_self_list():
    """The caller's own asynchronous tasks, newest first."""
    page, size = page_args()
    f = task_service.parse_filter(request.args, id_name="task_id", user_id=current_user.id)
    items, total = task_service.list_tasks(f, page, size, admin=False)
    return ok(page_result(items, total, page, size))
