"""Channels: list and filters, create/edit with validated JSON fields, enable/disable, delete, batch and
tag actions, connection test, balance refresh and the usage-by-key panel."""

from __future__ import annotations

from flask import request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.blueprints.admin import bp
from app.errors import AppError, ValidationError
from app.extensions import db
from app.models import ChannelStatus, Role
from app.relay import channel_test
from app.services import channels, stats
from app.web import forms
from app.web.auth import page_role_required
from app.web.htmx import done, render, toast, trigger, wants_fragment

admin_only = page_role_required(Role.ADMIN)
TEXT_FIELDS = ("name", "base_url", "models", "group", "model_mapping", "status_code_mapping", "param_override",
               "header_override", "other", "tag", "test_model", "openai_organization")
INT_FIELDS = ("type", "priority", "weight")
STATUS_MESSAGES = {ChannelStatus.ENABLED: _l("Channel enabled."),
                   ChannelStatus.MANUALLY_DISABLED: _l("Channel disabled.")}


def _status_arg() -> int | None:
    return {"1": ChannelStatus.ENABLED, "0": 0}.get(request.args.get("status", ""))


def _type_arg() -> int | None:
    raw = request.args.get("type", "")
    return int(raw) if raw.isdigit() and len(raw) < 6 else None


def _list_context() -> dict:
    page, size = forms.page_args()
    filters = {k: request.args.get(k, "").strip()[:100] for k in ("q", "group", "model")}
    status, type_ = _status_arg(), _type_arg()
    rows, total, type_counts = channels.search_channels(
        filters["q"], filters["group"], filters["model"], page=page, page_size=size, status=status, type_=type_)
    return {"channels": rows, "total": total, "page": page, "page_size": size, "type_counts": type_counts,
            "filters": filters | {"status": request.args.get("status", ""), "type": request.args.get("type", "")},
            "channel_types": channels.CHANNEL_TYPES, "usage": _usage_by_channel()}


def _usage_by_channel() -> dict[int, dict]:
    """Today / this month / total per channel, from one aggregate query (seed 003's "total used")."""
    return {item["channel_id"]: item for item in stats.channel_usage_stats()["items"]}


def _page(fragment: str | None = None, /, *, status: int = 200, **context):
    return render("admin/channels.html", fragment, status=status, **_list_context(), **context)


def _blank_form() -> dict:
    return dict.fromkeys(TEXT_FIELDS, "") | {"type": 1, "priority": 0, "weight": 0, "auto_ban": True,
                                             "group": "default", "mode": "batch", "key": "", "key_mode": ""}


def _channel_form(channel) -> dict:
    values = {name: getattr(channel, name) or "" for name in TEXT_FIELDS}
    return values | {"type": channel.type, "priority": channel.priority, "weight": channel.weight,
                     "auto_ban": bool(channel.auto_ban), "key": "", "key_mode": "",
                     "key_count": len(channel.key_list())}


def _submitted_form() -> dict:
    values = {name: forms.text(name) for name in (*TEXT_FIELDS, *INT_FIELDS, "key", "mode", "key_mode")}
    return values | {"auto_ban": forms.checkbox("auto_ban")}


def _form_data() -> dict:
    """The channel form as the channels service reads a JSON body (it validates every field)."""
    data: dict = {name: forms.text(name) for name in TEXT_FIELDS}
    for name in INT_FIELDS:
        data[name] = forms.integer(name, 0)
    data["auto_ban"] = 1 if forms.checkbox("auto_ban") else 0
    if forms.text("key").strip():
        data["key"] = forms.text("key")
    return data


@bp.get("/channels", endpoint="channels")
@admin_only
def channels_page():
    """The channel list; filters, paging and refreshes swap only the list."""
    return _page("admin/_channel_list.html")


@bp.get("/channels/new")
@admin_only
def channel_new():
    return _page("admin/_channel_form.html", editing=None, form=_blank_form())


@bp.post("/channels")
@admin_only
def channel_create():
    data = _form_data()
    try:
        created = channels.create_channels({"mode": forms.text("mode") or "batch", "channel": data})
    except AppError as exc:
        return _page("admin/_channel_form.html", status=422, editing=None, form=_submitted_form(),
                     form_error=exc.message)
    return done(_("%(count)s channel(s) created.", count=len(created)), "admin.channels", event="channels-changed")


@bp.get("/channels/<int:channel_id>/edit")
@admin_only
def channel_edit(channel_id: int):
    channel = channels.get_channel(channel_id)
    return _page("admin/_channel_form.html", editing=channel, form=_channel_form(channel))


@bp.post("/channels/<int:channel_id>")
@admin_only
def channel_update(channel_id: int):
    channel = channels.get_channel(channel_id)
    data = _form_data() | {"id": channel_id, "key_mode": "append" if forms.checkbox("key_append") else "replace"}
    try:
        channels.update_channel(data)
    except AppError as exc:
        return _page("admin/_channel_form.html", status=422, editing=channel,
                     form=_submitted_form() | {"key_count": len(channel.key_list())}, form_error=exc.message)
    return done(_("Channel saved."), "admin.channels", event="channels-changed")


def _row(channel, message: str):
    if not wants_fragment():
        return done(message, "admin.channels")
    return toast(render("admin/_channel_row.html", c=channel, channel_types=channels.CHANNEL_TYPES,
                        usage={channel.id: stats.channel_usage(channel.id)}), message)


@bp.post("/channels/<int:channel_id>/status")
@admin_only
def channel_status(channel_id: int):
    status = forms.integer("status")
    if status not in STATUS_MESSAGES:
        raise ValidationError(_("status must be 1 (enabled) or 2 (disabled)"))
    channel = channels.set_channel_status(channel_id, status)
    return _row(channel, str(STATUS_MESSAGES[status]))


@bp.post("/channels/<int:channel_id>/delete")
@admin_only
def channel_delete(channel_id: int):
    channels.delete_channel(channel_id)
    return done(_("Channel deleted."), "admin.channels", event="channels-changed")


@bp.post("/channels/batch")
@admin_only
def channel_batch():
    """Delete the checked channels, or set (or clear) their tag."""
    ids = forms.ids()
    action = forms.text("action")
    if action == "delete":
        count = channels.delete_channels(ids)
        message = _("%(count)s channel(s) deleted.", count=count)
    elif action == "tag":
        count = channels.set_channels_tag(ids, forms.text("tag").strip() or None)
        message = _("Tag set on %(count)s channel(s).", count=count)
    else:
        raise ValidationError(_("Choose an action."))
    return done(message, "admin.channels", event="channels-changed")


@bp.post("/channels/tag")
@admin_only
def channel_tag_status():
    """Enable or disable every channel that has a tag."""
    tag = channels.parse_tag(forms.text("tag"))
    status = forms.integer("status")
    if status not in STATUS_MESSAGES:
        raise ValidationError(_("status must be 1 (enabled) or 2 (disabled)"))
    count = channels.set_tag_status(tag, status)
    return done(_("%(count)s channel(s) with tag %(tag)s updated.", count=count, tag=tag), "admin.channels",
                event="channels-changed")


@bp.post("/channels/<int:channel_id>/test")
@admin_only
def channel_test_run(channel_id: int):
    """Send a real test request through the channel; HTMX swaps in the response time or the error."""
    result = channel_test.test_channel(channel_id, forms.text("model") or None)
    db.session.expire_all()  # the test recorded its time (and maybe re-enabled the channel) elsewhere
    channel = channels.get_channel(channel_id)
    if result.success:
        message = _("%(model)s answered in %(seconds).2f s.", model=result.model, seconds=result.seconds)
        level = "success"
    else:
        message, level = _("Test failed: %(error)s", error=result.message), "danger"
    if not wants_fragment():
        return done(message, "admin.channels", level=level)
    response = render("admin/_channel_test.html", c=channel, test_error=None if result.success else result.message)
    if result.enabled or result.disabled:
        trigger(response, "channels-changed")
    return toast(response, message, level)


@bp.post("/channels/<int:channel_id>/balance")
@admin_only
def channel_balance(channel_id: int):
    """Ask the upstream for the balance and swap in the new figure (or why it could not be had)."""
    try:
        channel_test.update_balance(channel_id)
        error = None
    except ValidationError as exc:
        error = exc.message
    db.session.expire_all()
    channel = channels.get_channel(channel_id)
    message = error or _("Balance updated.")
    level = "danger" if error else "success"
    if not wants_fragment():
        return done(message, "admin.channels", level=level)
    return toast(render("admin/_channel_balance.html", c=channel, balance_error=error), message, level)


@bp.get("/channels/<int:channel_id>/usage")
@admin_only
def channel_usage(channel_id: int):
    """The usage panel: today / this month / total, per model, and per API key (seed 003)."""
    detail = {"summary": stats.channel_usage(channel_id), "breakdown": stats.channel_usage_breakdown(channel_id)}
    return _page("admin/_channel_usage.html", usage_detail=detail)
