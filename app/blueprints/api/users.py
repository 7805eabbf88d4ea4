"""Admin user management (Veloera's admin `/api/user/` routes): list, search, read, create, edit, delete,
and POST /api/user/manage. Thin: parse, call app.services.users, answer in the envelope."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from app.blueprints.api import bp
from app.services import users as service
from app.web.api import json_body, ok, page_args, page_result
from app.web.auth import admin_required


@bp.get("/user/")
@admin_required
def users_list():
    page, size = page_args()
    items, total = service.list_users(page, size)
    return ok(page_result([service.user_to_dict(u) for u in items], total, page, size))


@bp.get("/user/search")
@admin_required
def users_search():
    page, size = page_args()
    items, total = service.search_users(request.args.get("keyword", ""), request.args.get("group", ""),
                                        page, size)
    return ok(page_result([service.user_to_dict(u) for u in items], total, page, size))


@bp.get("/user/<int:user_id>")
@admin_required
def users_get(user_id: int):
    return ok(service.user_to_dict(service.get_user(current_user, user_id)))


@bp.post("/user/")
@admin_required
def users_create():
    user = service.create_user(current_user, json_body())
    return ok(service.user_to_dict(user))


@bp.put("/user/")
@admin_required
def users_update():
    user = service.update_user(current_user, json_body())
    return ok(service.user_to_dict(user))


@bp.delete("/user/<int:user_id>")
@admin_required
def users_delete(user_id: int):
    service.delete_user(current_user, user_id)
    return ok()


@bp.post("/user/manage")
@admin_required
def users_manage():
    return ok(service.manage_user(current_user, json_body()))
