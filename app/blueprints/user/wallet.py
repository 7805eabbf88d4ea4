"""The wallet: balance, online top-up (topup.py), redeem a code, daily check-in, invitation link and reward
transfer, plan spend."""

from __future__ import annotations

from flask import current_app, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.blueprints.user import bp
from app.errors import AppError
from app.extensions import db, limiter
from app.options import get_option
from app.services import affiliate, checkin, payments, redemption, stats
from app.web import forms
from app.web.auth import page_role_required
from app.web.filters import format_quota
from app.web.htmx import render, toast, trigger, wants_fragment
from app.web.turnstile import check_turnstile


def _user():
    return current_user._get_current_object()


def _invite() -> dict:
    summary = affiliate.affiliate_summary(_user())
    base = (get_option("ServerAddress") or "").rstrip("/")
    path = url_for("auth.register_page", aff=summary["aff_code"])
    return summary | {"link": base + path if base else url_for("auth.register_page", aff=summary["aff_code"],
                                                                 _external=True)}


ORDERS_PAGE_SIZE = 10


def _orders() -> dict:
    """One page of the user's top-up orders (the wallet's order card)."""
    page, size = forms.page_args(ORDERS_PAGE_SIZE)
    orders, total = payments.list_orders(user_id=current_user.id, page=page, page_size=size)
    return {"orders": orders, "orders_total": total, "orders_page": page, "orders_page_size": size}


def wallet_page(fragment: str | None = None, /, *, status: int = 200, **context):
    """The wallet, or one of its cards; each card's data is read only when that card is shown."""
    db.session.refresh(_user())  # the balance may have changed in this request
    whole = fragment is None or not wants_fragment()
    if whole or fragment == "user/_topup_form.html":
        context.setdefault("topup", payments.topup_info())
    if whole or fragment == "user/_topup_orders.html":
        context = _orders() | context
    if whole or fragment == "user/_checkin.html":
        context.setdefault("checkin", checkin.check_in_status(_user()))
    if whole or fragment == "user/_invite.html":
        context.setdefault("invite", _invite())
    if whole:
        context["spend"] = stats.user_usage_summary(_user())
    return render("user/wallet.html", fragment, status=status, user=current_user, **context)


def _result(fragment: str, message: str, **context):
    """A successful action: the fragment and a toast for HTMX (balance listeners refresh), else the page."""
    response = wallet_page(fragment, **context, done_message=message)
    if wants_fragment():
        trigger(response, "balance-changed")
        toast(response, message)
    return response


@bp.get("/wallet")
@page_role_required()
def wallet():
    return wallet_page()


@bp.get("/wallet/balance")
@page_role_required()
def wallet_balance():
    """The balance card alone (refreshed after a redeem, a check-in or a transfer)."""
    return wallet_page("user/_wallet_balance.html")


@bp.post("/wallet/redeem")
@page_role_required()
@limiter.limit(lambda: current_app.config["RATELIMIT_REDEEM"], key_func=lambda: f"redeem:user:{current_user.id}")
def wallet_redeem():
    """Redeem a code; guessing is throttled per user (RATELIMIT_REDEEM), whatever the address."""
    try:
        quota, _is_gift = redemption.redeem(_user(), forms.text("key"))
    except AppError as exc:
        return wallet_page("user/_redeem_form.html", status=422, redeem_error=exc.message)
    return _result("user/_redeem_form.html", _("Redeemed %(amount)s.", amount=format_quota(quota)))


@bp.post("/wallet/checkin")
@page_role_required()
def wallet_checkin():
    """Today's check-in reward (once per day in CheckInTimeZone); behind Turnstile when it is on (new-api)."""
    try:
        check_turnstile()
        reward = checkin.check_in(_user())
    except AppError as exc:
        return wallet_page("user/_checkin.html", status=422, checkin_error=exc.message)
    return _result("user/_checkin.html", _("Checked in: %(amount)s added.", amount=format_quota(reward)))


@bp.post("/wallet/transfer")
@page_role_required()
def wallet_transfer():
    """Move invitation earnings into the balance."""
    try:
        moved = affiliate.transfer_aff_quota(_user(), forms.quota("amount"))
    except AppError as exc:
        return wallet_page("user/_invite.html", status=422, transfer_error=exc.message)
    return _result("user/_invite.html", _("%(amount)s moved to your balance.",
                                          amount=format_quota(moved["transferred"])))
