"""/api/token/*: the signed-in user's own API keys (Veloera/new-api routes and fields)."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from app.blueprints.api import bp
from app.services import tokens as token_service
from app.web.api import json_body, ok, page_args, page_result
from app.web.auth import user_required


def _page(items, total, page, size):
    return ok(page_result([token_service.token_to_dict(t) for t in items], total, page, size))


@bp.get("/token/", strict_slashes=False)
@user_required
def token_list():
    page, size = page_args()
    items, total = token_service.list_tokens(current_user.id, page, size)
    return _page(items, total, page, size)


@bp.get("/token/search")
@user_required
def token_search():
    page, size = page_args()
    items, total = token_service.search_tokens(
        current_user.id, request.args.get("keyword", ""), request.args.get("token", ""), page, size)
    return _page(items, total, page, size)


@bp.get("/token/<int:token_id>")
@user_required
def token_get(token_id: int):
    return ok(token_service.token_to_dict(token_service.get_token(current_user.id, token_id)))


@bp.post("/token/", strict_slashes=False)
@user_required
def token_create():
    token, key = token_service.create_token(current_user, json_body())
    # The only time the full key leaves the server.
    return ok(token_service.token_to_dict(token, full_key=key))


@bp.put("/token/", strict_slashes=False)
@user_required
def token_update():
    status_only = request.args.get("status_only", "").lower() not in ("", "0", "false")
    token = token_service.update_token(current_user, json_body(), status_only=status_only)
    return ok(token_service.token_to_dict(token))


@bp.delete("/token/<int:token_id>")
@user_required
def token_delete(token_id: int):
    token_service.delete_token(current_user.id, token_id)
    return ok()


@bp.post("/token/batch")
@user_required
def token_batch_delete():
    ids = token_service.parse_ids(json_body().get("ids"))
    return ok(token_service.delete_tokens(current_user.id, ids))
