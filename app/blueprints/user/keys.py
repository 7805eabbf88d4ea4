"""API keys: list and search, create with a one-time reveal, edit, enable/disable, delete."""

from __future__ import annotations

from flask import abort, request
from flask_babel import gettext as _
from flask_login import current_user

from app.blueprints.user import bp
from app.errors import ValidationError
from app.models import TokenStatus
from app.services import tokens
from app.web import forms
from app.web.auth import page_role_required
from app.web.htmx import done, render, toast, trigger, wants_fragment


def _list_context() -> dict:
    page, size = forms.page_args()
    keyword = request.args.get("q", "").strip()[:100]
    rows, total = tokens.search_tokens(current_user.id, keyword=keyword, page=page, page_size=size)
    return {"keys": rows, "total": total, "page": page, "page_size": size, "q": keyword,
            "groups": sorted(tokens.usable_groups(current_user))}


def _form_data(token=None) -> dict:
    """The form as the tokens service wants it (typed values; the service validates them)."""
    unlimited = forms.checkbox("unlimited_quota")
    expires = forms.end_of_day("expires")
    if token is not None and forms.text("expires") == forms.date_input(token.expired_time):
        expires = token.expired_time  # the day was not changed: keep the exact second stored
    data = {
        "name": forms.text("name"),
        "remain_quota": 0 if unlimited else forms.quota("remain_quota"),
        "unlimited_quota": unlimited,
        "expired_time": expires,
        "model_limits": forms.text("model_limits"),
        "model_limits_enabled": bool(forms.text("model_limits").strip()),
        "allow_ips": forms.text("allow_ips"),
        "group": forms.text("group"),
    }
    if token is not None:
        data["id"] = token.id
    return data


FORM_FIELDS = ("name", "remain_quota", "expires", "model_limits", "allow_ips", "group")


def _blank_form() -> dict:
    return dict.fromkeys(FORM_FIELDS, "") | {"unlimited_quota": True}


def _submitted_form() -> dict:
    """The fields as the user typed them, to re-show the form after an error."""
    return {k: request.form.get(k, "") for k in FORM_FIELDS} | {"unlimited_quota": forms.checkbox("unlimited_quota")}


def _token_form(token) -> dict:
    return {"name": token.name, "remain_quota": forms.quota_to_input(token.remain_quota),
            "expires": forms.date_input(token.expired_time), "model_limits": token.model_limits,
            "allow_ips": token.allow_ips, "group": token.group, "unlimited_quota": token.unlimited_quota}


@bp.get("/keys")
@page_role_required()
def keys():
    """The key list; an HTMX request (search, paging, refresh) gets only the list."""
    return render("user/keys.html", "user/_key_list.html", **_list_context(), form=_blank_form())


@bp.post("/keys")
@page_role_required()
def key_create():
    """Create a key and show it once; HTMX swaps the create card, a plain post renders the page."""
    try:
        token, full_key = tokens.create_token(current_user, _form_data())
    except ValidationError as exc:
        return render("user/keys.html", "user/_key_create.html", status=422, **_list_context(),
                      form=_submitted_form(), create_error=exc.message)
    response = render("user/keys.html", "user/_key_create.html", **_list_context(), form=_blank_form(),
                      created_key=full_key, created_token=token)
    if wants_fragment():
        trigger(response, "keys-changed")
        toast(response, _("Key created. Copy it now: it is shown only once."))
    return response


@bp.get("/keys/<int:key_id>/edit")
@page_role_required()
def key_edit(key_id: int):
    token = tokens.get_token(current_user.id, key_id)
    return render("user/keys.html", "user/_key_form.html", **_list_context(), form=_blank_form(),
                  editing=token, edit_form=_token_form(token))


@bp.post("/keys/<int:key_id>")
@page_role_required()
def key_update(key_id: int):
    token = tokens.get_token(current_user.id, key_id)
    try:
        tokens.update_token(current_user, _form_data(token))
    except ValidationError as exc:
        return render("user/keys.html", "user/_key_form.html", status=422, **_list_context(),
                      form=_blank_form(), editing=token, edit_form=_submitted_form(),
                      edit_error=exc.message)
    return done(_("Key saved."), "user.keys", event="keys-changed")


@bp.post("/keys/<int:key_id>/status")
@page_role_required()
def key_status(key_id: int):
    """Enable or disable a key; HTMX swaps the row."""
    status = forms.integer("status")
    if status not in (TokenStatus.ENABLED, TokenStatus.DISABLED):
        abort(400)
    token = tokens.update_token(current_user, {"id": key_id, "status": status}, status_only=True)
    message = _("Key enabled.") if status == TokenStatus.ENABLED else _("Key disabled.")
    if not wants_fragment():
        return done(message, "user.keys")
    return toast(render("user/_key_row.html", key=token), message)


@bp.post("/keys/<int:key_id>/delete")
@page_role_required()
def key_delete(key_id: int):
    tokens.delete_token(current_user.id, key_id)
    return done(_("Key deleted."), "user.keys", event="keys-changed")
