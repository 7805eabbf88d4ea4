"""Top-up orders of every user: search, and completing a paid order the gateway never confirmed."""

from __future__ import annotations

from flask import request
from flask_babel import gettext as _

from app.blueprints.admin import bp
from app.errors import AppError
from app.models import Role
from app.services import payments
from app.web import forms
from app.web.auth import page_role_required
from app.web.htmx import done, render, toast, wants_fragment

admin_only = page_role_required(Role.ADMIN)


def _list_context() -> dict:
    page, size = forms.page_args()
    keyword = request.args.get("q", "").strip()[:64]
    orders, total = payments.list_orders(keyword=keyword, page=page, page_size=size)
    return {"orders": orders, "usernames": payments.usernames(orders), "total": total, "page": page,
            "page_size": size, "q": keyword}


@bp.get("/topups", endpoint="topups")
@admin_only
def topups_page():
    return render("admin/topups.html", "admin/_topup_list.html", **_list_context())


@bp.post("/topups/<trade_no>/complete")
@admin_only
def topup_complete(trade_no: str):
    """Credit a pending order now (the same exactly-once path as the gateway's notify)."""
    try:
        order = payments.complete_order(trade_no, via="admin")
    except AppError as exc:
        if not wants_fragment():
            return done(exc.message, "admin.topups", level="danger")
        order = payments.get_order(trade_no)
        row = render("admin/_topup_row.html", order=order, usernames=payments.usernames([order]))
        return toast(row, exc.message, level="danger")
    message = _("Order %(trade_no)s completed and credited.", trade_no=order.trade_no)
    if not wants_fragment():
        return done(message, "admin.topups")
    return toast(render("admin/_topup_row.html", order=order, usernames=payments.usernames([order])), message)
