"""Every user's asynchronous tasks (admins): Midjourney and Suno, filtered also by user and channel."""

from __future__ import annotations

from app.blueprints.admin import bp
from app.models import Role
from app.web.auth import page_role_required
from app.web.htmx import render
from app.web.task_pages import poll_status, task_page_context


@bp.get("/tasks", endpoint="tasks")
@page_role_required(Role.ADMIN)
def tasks_page():
    """Filtering, paging and the list's own poll (while a task runs) swap only the list."""
    context = task_page_context("admin.tasks", user_id=None, admin=True)
    return render("admin/tasks.html", "components/_task_list.html", status=poll_status(context), **context)
