"""Redemption and gift codes: bulk create (codes shown once, with copy and CSV), list, disable, delete."""

from __future__ import annotations

import csv
import io
from urllib.parse import quote

from flask import request
from flask_babel import gettext as _
from flask_login import current_user

from app.blueprints.admin import bp
from app.errors import AppError, ValidationError
from app.models import RedemptionStatus, Role
from app.services import redemption
from app.web import forms
from app.web.auth import page_role_required
from app.web.htmx import done, render, toast, trigger, wants_fragment

admin_only = page_role_required(Role.ADMIN)
FORM_FIELDS = ("name", "quota", "count", "max_uses", "valid_until")


def _list_context() -> dict:
    page, size = forms.page_args()
    keyword = request.args.get("q", "").strip()[:64]
    rows, total = redemption.search_codes(keyword, page=page, page_size=size)
    return {"codes": rows, "total": total, "page": page, "page_size": size, "q": keyword}


def _page(fragment: str | None = None, /, *, status: int = 200, **context):
    context.setdefault("form", dict.fromkeys(FORM_FIELDS, "") | {"count": "1", "is_gift": False})
    return render("admin/redemptions.html", fragment, status=status, **_list_context(), **context)


def codes_csv(name: str, quota: int, keys: list[str]) -> str:
    """The created codes as a CSV file in a data: URL, for a download link that needs no second request."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["name", "quota", "code"])
    for key in keys:
        writer.writerow([name, quota, key])
    return "data:text/csv;charset=utf-8," + quote(buffer.getvalue())


@bp.get("/redemptions", endpoint="redemptions")
@admin_only
def redemptions_page():
    return _page("admin/_code_list.html")


@bp.post("/redemptions")
@admin_only
def codes_create():
    form = {k: forms.text(k) for k in FORM_FIELDS} | {"is_gift": forms.checkbox("is_gift")}
    try:
        data = {"name": form["name"], "quota": forms.quota("quota"), "count": forms.integer("count", 1),
                "is_gift": form["is_gift"], "valid_until": forms.end_of_day("valid_until", empty=0)}
        if form["is_gift"]:
            data["max_uses"] = forms.integer("max_uses", -1)
        keys = redemption.create_codes(current_user._get_current_object(), data)
    except AppError as exc:
        return _page("admin/_code_create.html", status=422, form=form, create_error=exc.message)
    created = {"name": data["name"], "quota": data["quota"], "keys": keys,
               "csv": codes_csv(data["name"], data["quota"], keys)}
    response = _page("admin/_code_create.html", created=created)
    if wants_fragment():
        trigger(response, "codes-changed")
        toast(response, _("%(count)s code(s) created. Copy or download them now.", count=len(keys)))
    return response


@bp.post("/redemptions/<int:code_id>/status")
@admin_only
def code_status(code_id: int):
    status = forms.integer("status")
    if status not in (RedemptionStatus.UNUSED, RedemptionStatus.DISABLED):
        raise ValidationError(_("status must be 1 (enabled) or 3 (disabled)"))
    code = redemption.update_code({"id": code_id, "status": status}, status_only=True)
    message = _("Code enabled.") if status == RedemptionStatus.UNUSED else _("Code disabled.")
    if not wants_fragment():
        return done(message, "admin.redemptions")
    return toast(render("admin/_code_row.html", code=code), message)


@bp.post("/redemptions/<int:code_id>/delete")
@admin_only
def code_delete(code_id: int):
    redemption.delete_code(code_id)
    return done(_("Code deleted."), "admin.redemptions", event="codes-changed")


@bp.post("/redemptions/delete-invalid")
@admin_only
def codes_delete_invalid():
    count = redemption.delete_invalid_codes()
    return done(_("%(count)s used, disabled or expired code(s) deleted.", count=count), "admin.redemptions",
                event="codes-changed")
