"""The user's own asynchronous tasks (Midjourney, Suno): a tab per platform, filters, paging, live progress."""

from __future__ import annotations

from flask_login import current_user

from app.blueprints.user import bp
from app.web.auth import page_role_required
from app.web.htmx import render
from app.web.task_pages import poll_status, task_page_context


@bp.get("/tasks")
@page_role_required()
def tasks():
    """Filtering, paging and the list's own poll (while a task runs) swap only the list."""
    context = task_page_context("user.tasks", user_id=current_user.id, admin=False)
    return render("user/tasks.html", "components/_task_list.html", status=poll_status(context), **context)
