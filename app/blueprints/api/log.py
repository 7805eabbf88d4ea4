"""/api/log/*: the usage log (Veloera/new-api routes): list, search, statistics and purge."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from app.blueprints.api import bp
from app.errors import ValidationError
from app.services import logs as log_service
from app.web.api import ok, page_args, page_result
from app.web.auth import admin_required, user_required


@bp.get("/log/", strict_slashes=False)
@admin_required
def log_list():
    """Every user's logs, filtered (type, time range, username, token_name, model_name, channel, group)."""
    page, size = page_args()
    f = log_service.parse_log_filter(request.args)
    items, total = log_service.list_logs(f, page, size, admin=True)
    return ok(page_result(items, total, page, size))


@bp.get("/log/self")
@user_required
def log_self_list():
    """The caller's own logs (the same filters without username and channel)."""
    page, size = page_args()
    f = log_service.parse_log_filter(request.args, user_id=current_user.id)
    items, total = log_service.list_logs(f, page, size, admin=False)
    return ok(page_result(items, total, page, size))


@bp.get("/log/search")
@admin_required
def log_search():
    """Every user's logs whose content contains the keyword (or whose model, key or user name is it)."""
    page, size = page_args()
    items, total = log_service.search_logs(request.args.get("keyword", ""), page, size, admin=True)
    return ok(page_result(items, total, page, size))


@bp.get("/log/self/search")
@user_required
def log_self_search():
    """The caller's own logs whose content contains the keyword (or whose model or key name is it)."""
    page, size = page_args()
    items, total = log_service.search_logs(request.args.get("keyword", ""), page, size,
                                           user_id=current_user.id, admin=False)
    return ok(page_result(items, total, page, size))


@bp.get("/log/stat")
@admin_required
def log_stat():
    """`{quota, rpm, tpm}` of the consume logs matching the filters (rpm/tpm: the last 60 seconds)."""
    return ok(log_service.log_stat(log_service.parse_log_filter(request.args)))


@bp.get("/log/self/stat")
@user_required
def log_self_stat():
    """`{quota, rpm, tpm}` of the caller's own consume logs."""
    return ok(log_service.log_stat(log_service.parse_log_filter(request.args, user_id=current_user.id)))


@bp.delete("/log/", strict_slashes=False)
@admin_required
def log_purge():
    """Delete the logs created before `target_timestamp` (unix seconds); answers how many were deleted."""
    raw = request.args.get("target_timestamp", "")
    target = log_service.parse_timestamp(raw, "target_timestamp")
    if not target:
        raise ValidationError("target_timestamp is required")
    return ok(log_service.purge_logs(target))
