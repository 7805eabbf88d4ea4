"""/api/data/*: hourly usage for the dashboard charts (new-api's quota_data routes), optionally by day or week."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from app.blueprints.api import bp
from app.services import stats
from app.services.logs import parse_timestamp
from app.validation import clean_text
from app.web.api import ok
from app.web.auth import admin_required, user_required


def _range(*, own: bool) -> tuple[int, int, str]:
    group_by = (request.args.get("group_by") or "hour").strip().lower()
    start = parse_timestamp(request.args.get("start_timestamp"), "start_timestamp")
    end = parse_timestamp(request.args.get("end_timestamp"), "end_timestamp")
    start, end = stats.parse_range(start, end, group_by, own=own)
    return start, end, group_by


@bp.get("/data/", strict_slashes=False)
@admin_required
def data_list():
    """Usage per hour (or day/week) and model over a range, for every user or one `username`."""
    start, end, group_by = _range(own=False)
    username = clean_text(request.args.get("username") or "", "username", max_len=64).strip()
    return ok(stats.quota_data_series(start, end, username=username, group_by=group_by))


@bp.get("/data/self")
@user_required
def data_self():
    """The caller's usage per hour (or day/week) and model over a range."""
    start, end, group_by = _range(own=True)
    return ok(stats.quota_data_series(start, end, user_id=current_user.id, group_by=group_by))
