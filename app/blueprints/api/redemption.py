"""Redemption and gift codes, admin side (`/api/redemption/*`, Veloera/new-api routes). The user side,
POST /api/user/topup, lives in selfservice.py."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from app.blueprints.api import bp
from app.services import redemption as service
from app.web.api import json_body, ok, page_args, page_result
from app.web.auth import admin_required


@bp.get("/redemption/")
@admin_required
def redemption_list():
    page, size = page_args()
    items, total = service.list_codes(page, size)
    return ok(page_result([service.code_to_dict(c) for c in items], total, page, size))


@bp.get("/redemption/search")
@admin_required
def redemption_search():
    page, size = page_args()
    items, total = service.search_codes(request.args.get("keyword", ""), page, size)
    return ok(page_result([service.code_to_dict(c) for c in items], total, page, size))


@bp.get("/redemption/<int:code_id>")
@admin_required
def redemption_get(code_id: int):
    return ok(service.code_to_dict(service.get_code(code_id)))


@bp.post("/redemption/")
@admin_required
def redemption_create():
    """Returns the new keys in `data`: the one response that lists them in bulk."""
    return ok(service.create_codes(current_user, json_body()))


@bp.put("/redemption/")
@admin_required
def redemption_update():
    status_only = request.args.get("status_only", "").strip().lower() not in ("", "false", "0")
    code = service.update_code(json_body(), status_only=status_only)
    return ok(service.code_to_dict(code))


@bp.delete("/redemption/invalid")
@admin_required
def redemption_delete_invalid():
    return ok(service.delete_invalid_codes())


@bp.delete("/redemption/<int:code_id>")
@admin_required
def redemption_delete(code_id: int):
    service.delete_code(code_id)
    return ok()
