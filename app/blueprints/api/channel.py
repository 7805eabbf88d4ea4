"""/api/channel/*: channel administration (admin role), following new-api's routes.

Tests, balance updates and model fetching live in channel_ops.py. No response here ever carries a key.
"""

from __future__ import annotations

from flask import request

from app.blueprints.api import bp
from app.models import ChannelStatus
from app.services import channels as channel_service
from app.web.api import json_body, ok, page_args, page_result
from app.web.auth import admin_required

TRUE_WORDS = ("1", "t", "true", "yes", "on")


def _flag(name: str) -> bool:
    return request.args.get(name, "").strip().lower() in TRUE_WORDS


def _status_filter() -> int | None:
    """new-api's `status` filter: enabled/1 -> enabled only, disabled/0 -> any disabled, else all."""
    value = request.args.get("status", "").strip().lower()
    if value in ("enabled", "1"):
        return ChannelStatus.ENABLED
    if value in ("disabled", "0"):
        return 0
    return None


def _type_filter() -> int | None:
    value = request.args.get("type", "").strip()
    return int(value) if value.isdigit() and len(value) < 10 else None


def _listing(items, total, type_counts, page, size):
    data = page_result([channel_service.channel_to_dict(c) for c in items], total, page, size)
    data["type_counts"] = type_counts
    return ok(data)


@bp.get("/channel/", strict_slashes=False)
@admin_required
def channel_list():
    page, size = page_args()
    items, total, type_counts = channel_service.list_channels(
        page, size, id_sort=_flag("id_sort"), tag_mode=_flag("tag_mode"), status=_status_filter(),
        type_=_type_filter(), group=request.args.get("group", "").strip())
    return _listing(items, total, type_counts, page, size)


@bp.get("/channel/search")
@admin_required
def channel_search():
    page, size = page_args()
    items, total, type_counts = channel_service.search_channels(
        request.args.get("keyword", ""), request.args.get("group", "").strip(), request.args.get("model", ""),
        page=page, page_size=size, id_sort=_flag("id_sort"), status=_status_filter(), type_=_type_filter())
    return _listing(items, total, type_counts, page, size)


@bp.get("/channel/models")
@admin_required
def channel_models():
    return ok(channel_service.all_models())


@bp.get("/channel/models_enabled")
@admin_required
def channel_models_enabled():
    return ok(channel_service.enabled_models())


@bp.get("/channel/tag/models")
@admin_required
def channel_tag_models():
    return ok(channel_service.tag_models(channel_service.parse_tag(request.args.get("tag"))))


@bp.get("/channel/<int:channel_id>")
@admin_required
def channel_get(channel_id: int):
    return ok(channel_service.channel_to_dict(channel_service.get_channel(channel_id)))


@bp.post("/channel/", strict_slashes=False)
@admin_required
def channel_create():
    channels = channel_service.create_channels(json_body())
    return ok([channel_service.channel_to_dict(c) for c in channels])


@bp.put("/channel/", strict_slashes=False)
@admin_required
def channel_update():
    return ok(channel_service.channel_to_dict(channel_service.update_channel(json_body())))


@bp.delete("/channel/disabled")
@admin_required
def channel_delete_disabled():
    return ok(channel_service.delete_disabled_channels())


@bp.delete("/channel/<int:channel_id>")
@admin_required
def channel_delete(channel_id: int):
    channel_service.delete_channel(channel_id)
    return ok()


@bp.post("/channel/batch")
@admin_required
def channel_batch_delete():
    return ok(channel_service.delete_channels(channel_service.parse_ids(json_body().get("ids"))))


@bp.post("/channel/tag/disabled")
@admin_required
def channel_tag_disable():
    tag = channel_service.parse_tag(json_body().get("tag"))
    return ok(channel_service.set_tag_status(tag, ChannelStatus.MANUALLY_DISABLED))


@bp.post("/channel/tag/enabled")
@admin_required
def channel_tag_enable():
    tag = channel_service.parse_tag(json_body().get("tag"))
    return ok(channel_service.set_tag_status(tag, ChannelStatus.ENABLED))


@bp.put("/channel/tag")
@admin_required
def channel_tag_edit():
    return ok(channel_service.edit_tag(json_body()))


@bp.post("/channel/batch/tag")
@admin_required
def channel_batch_tag():
    body = json_body()
    ids = channel_service.parse_ids(body.get("ids"))
    return ok(channel_service.set_channels_tag(ids, body.get("tag")))


@bp.post("/channel/fix")
@admin_required
def channel_fix_abilities():
    return ok(channel_service.fix_abilities())
