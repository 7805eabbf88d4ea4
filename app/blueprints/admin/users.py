"""Users: search, create, edit, the manage actions (enable, disable, promote, demote, delete) and quota."""

from __future__ import annotations

from flask import request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.blueprints.admin import bp
from app.errors import AppError, Conflict
from app.models import Role
from app.services import oauth as oauth_service
from app.services import two_factor, users
from app.web import forms
from app.web.auth import page_role_required
from app.web.filters import format_quota
from app.web.htmx import done, render, toast, trigger, wants_fragment


def _actor():
    return current_user._get_current_object()


def _list_context() -> dict:
    page, size = forms.page_args()
    keyword = request.args.get("q", "").strip()[:64]
    group = request.args.get("group", "").strip()[:64]
    rows, total = users.search_users(keyword, group, page=page, page_size=size)
    actor = _actor()
    return {"users": rows, "total": total, "page": page, "page_size": size, "q": keyword, "group": group,
            "manageable": {u.id for u in rows if users.can_manage(actor, u)}}


def _page(fragment: str | None = None, /, *, status: int = 200, **context):
    context.setdefault("new_user", {})
    return render("admin/users.html", fragment, status=status, **_list_context(), **context)


@bp.get("/users", endpoint="users")
@page_role_required(Role.ADMIN)
def users_page():
    """The user list; HTMX searches and pages get only the list."""
    return _page("admin/_user_list.html")


@bp.post("/users")
@page_role_required(Role.ADMIN)
def user_create():
    data = {k: forms.text(k) for k in ("username", "password", "display_name", "group")}
    data["role"] = forms.integer("role", Role.USER)
    try:
        user = users.create_user(_actor(), data)
    except AppError as exc:
        return _page("admin/_user_create.html", status=422, new_user=data, create_error=exc.message)
    message = _("User %(name)s created.", name=user.username)
    if wants_fragment():
        return toast(trigger(_page("admin/_user_create.html"), "users-changed"), message)
    return done(message, "admin.users")


def _editor(user_id: int, *, status: int = 200, **context):
    target = users.get_user(_actor(), user_id)
    return _page("admin/_user_editor.html", status=status, editing=target,
                 editing_bindings=oauth_service.bindings(target), editing_two_fa=two_factor.status(target.id),
                 **context)


@bp.get("/users/<int:user_id>/edit")
@page_role_required(Role.ADMIN)
def user_edit(user_id: int):
    return _editor(user_id)


@bp.post("/users/<int:user_id>")
@page_role_required(Role.ADMIN)
def user_update(user_id: int):
    data = {"id": user_id, **{k: forms.text(k) for k in ("username", "display_name", "password", "group")}}
    try:
        users.update_user(_actor(), data)
    except AppError as exc:
        return _editor(user_id, status=422, edit_error=exc.message)
    return done(_("User saved."), "admin.users", event="users-changed")


@bp.post("/users/<int:user_id>/quota")
@page_role_required(Role.ADMIN)
def user_quota(user_id: int):
    """Add, subtract or set the balance; the amount is typed in dollars (or units without currency display)."""
    try:
        balance = users.adjust_quota(_actor(), user_id, forms.text("mode"), forms.quota("amount"))
    except AppError as exc:
        return _editor(user_id, status=422, quota_error=exc.message)
    return done(_("Balance is now %(balance)s.", balance=format_quota(balance)), "admin.users",
                event="users-changed")


@bp.post("/users/<int:user_id>/oauth/<provider>/clear")
@page_role_required(Role.ADMIN)
def user_oauth_clear(user_id: int, provider: str):
    """Remove a user's link to an OAuth provider (so that provider account can sign in or link elsewhere)."""
    target = users.get_user(_actor(), user_id)
    try:
        oauth_service.unbind(target, provider, by_admin=True)
    except Conflict as exc:
        return _editor(user_id, status=422, oauth_error=exc.message)
    message = _("The %(provider)s link of %(name)s was removed.", provider=oauth_service.provider_class(provider).label,
                name=target.username)
    if wants_fragment():
        return toast(_editor(user_id), message)
    return done(message, "admin.users")


@bp.post("/users/<int:user_id>/2fa/reset")
@page_role_required(Role.ADMIN)
def user_two_fa_reset(user_id: int):
    """Turn a user's two-factor authentication off (lost phone and backup codes); a log row records it."""
    target = users.get_user(_actor(), user_id)
    try:
        two_factor.admin_reset(_actor(), target)
    except AppError as exc:
        return _editor(user_id, status=422, two_fa_error=exc.message)
    message = _("Two-factor authentication of %(name)s was reset.", name=target.username)
    if wants_fragment():
        return toast(_editor(user_id), message)
    return done(message, "admin.users")


MANAGE_MESSAGES = {
    "enable": _l("User enabled."), "disable": _l("User disabled."), "promote": _l("User promoted to admin."),
    "demote": _l("User demoted to a common user."), "delete": _l("User deleted."),
}


@bp.post("/users/<int:user_id>/manage")
@page_role_required(Role.ADMIN)
def user_manage(user_id: int):
    """One manage action; HTMX swaps the row (or removes it after a delete)."""
    action = forms.text("action")
    users.manage_user(_actor(), {"id": user_id, "action": action})  # refuses unknown actions
    message = str(MANAGE_MESSAGES.get(action, _("Done.")))
    if action == "delete" or not wants_fragment():
        return done(message, "admin.users", event="users-changed")
    target = users.find_user(user_id)
    row = render("admin/_user_row.html", u=target, manageable={target.id})
    return toast(row, message)
