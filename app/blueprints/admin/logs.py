"""Every user's usage log (admins): filters by user, key, model, channel and group, with row details."""

from __future__ import annotations

from app.blueprints.admin import bp
from app.models import Role
from app.web.auth import page_role_required
from app.web.htmx import render
from app.web.log_pages import log_page_context


@bp.get("/logs", endpoint="logs")
@page_role_required(Role.ADMIN)
def logs_page():
    return render("admin/logs.html", "components/_log_list.html",
                  **log_page_context("admin.logs", user_id=None, admin=True))
