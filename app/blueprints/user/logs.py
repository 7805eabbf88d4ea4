"""The user's own usage log: filters, paging, and an expandable detail per row."""

from __future__ import annotations

from flask_login import current_user

from app.blueprints.user import bp
from app.web.auth import page_role_required
from app.web.htmx import render
from app.web.log_pages import log_page_context


@bp.get("/logs")
@page_role_required()
def logs():
    """Filtering and paging swap only the list."""
    return render("user/logs.html", "components/_log_list.html",
                  **log_page_context("user.logs", user_id=current_user.id, admin=False))
