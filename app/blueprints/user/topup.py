"""Online top-up in the wallet: a price quote while typing, the order, the hand-over to the gateway, and
the user's orders.

The hand-over is a page of its own (`/console/wallet/pay/<trade_no>`) holding a plain form of signed
hidden fields that a button posts to the gateway: no script is needed, and that page alone widens the
Content-Security-Policy's form-action to the gateway's origin (every other page allows only 'self').
It is also where the gateway sends the buyer back, so it shows the order's status. A Stripe order's page
links to its Checkout Session instead (a link, not a form: form-action does not apply), whose URL is kept in
the signed-in user's own session, never taken from the query string.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import current_app, redirect, request, session, url_for
from flask_login import current_user

from app.blueprints.user import bp
from app.blueprints.user.wallet import wallet_page
from app.errors import AppError
from app.extensions import limiter
from app.models import TopUpStatus
from app.services import payments, stripe_checkout
from app.web import forms
from app.web.auth import page_role_required
from app.web.hooks import CSP
from app.web.htmx import render
from app.web.urls import site_base

FORM_ACTION = re.compile(r"form-action [^;]*")
STRIPE_CHECKOUT_KEY = "stripe_checkout"


def _user():
    return current_user._get_current_object()


@bp.post("/wallet/quote")
@page_role_required()
def wallet_quote():
    """The price of the amount typed so far (HTMX, as the user types)."""
    try:
        if payments.epay_enabled() or not payments.stripe_enabled():
            priced = payments.quote(_user(), forms.text("amount"))
        else:
            priced = stripe_checkout.quote(forms.text("amount"))
    except AppError as exc:
        return render("user/_topup_quote.html", "user/_topup_quote.html", quote_error=exc.message)
    return render("user/_topup_quote.html", "user/_topup_quote.html", quote=priced)


@bp.post("/wallet/pay")
@page_role_required()
@limiter.limit(lambda: current_app.config["RATELIMIT_PAY"], key_func=lambda: f"pay:user:{current_user.id}")
def wallet_pay():
    """Create the order, then show its hand-over page (303, so a reload does not create another)."""
    try:
        if forms.text("payment_method") == payments.STRIPE_METHOD:
            order, url = stripe_checkout.create_checkout(_user(), forms.text("amount"), site_base())
            session[STRIPE_CHECKOUT_KEY] = {"trade_no": order.trade_no, "url": url}
        else:
            order = payments.create_epay_order(_user(), forms.text("amount"), forms.text("payment_method"))
    except AppError as exc:
        return wallet_page(status=422, topup_error=exc.message, topup_amount=forms.text("amount"))
    return redirect(url_for("user.wallet_order", trade_no=order.trade_no), code=303)


@bp.get("/wallet/pay/<trade_no>")
@page_role_required()
def wallet_order(trade_no: str):
    """One of the user's orders: the form that sends it to the gateway while it waits for payment, else
    its status (the gateway's return_url lands here)."""
    try:
        order = payments.get_order(trade_no, user_id=current_user.id)
    except AppError:
        return render("user/topup_order.html", status=404, order=None)
    checkout = None
    stripe_link = None
    if order.status == TopUpStatus.PENDING and order.payment_method == payments.STRIPE_METHOD:
        kept = session.get(STRIPE_CHECKOUT_KEY) or {}
        stripe_link = kept.get("url") if kept.get("trade_no") == order.trade_no else None
    elif order.status == TopUpStatus.PENDING:
        try:
            url, fields = payments.epay_checkout(order, site_base(), site_base() + request.path)
            checkout = {"url": url, "fields": fields}
        except AppError as exc:
            return render("user/topup_order.html", status=409, order=order, checkout_error=exc.message)
    response = render("user/topup_order.html", order=order, checkout=checkout, stripe_link=stripe_link)
    if checkout:
        gateway = urlsplit(checkout["url"])
        response.headers["Content-Security-Policy"] = FORM_ACTION.sub(
            lambda m: f"{m.group(0)} {gateway.scheme}://{gateway.netloc}", CSP, count=1)
    return response


@bp.get("/wallet/orders")
@page_role_required()
def wallet_orders():
    """The order card alone (paging)."""
    return wallet_page("user/_topup_orders.html")
