"""Online top-up (new-api routes): price quotes, epay and Stripe orders, the gateway's notify and Stripe's
webhook, order lists and an admin's manual completion. Redeeming a code (POST /api/user/topup) lives in
selfservice.py."""

from __future__ import annotations

import logging

from flask import Response, current_app, jsonify, request, url_for
from flask_login import current_user

from app.blueprints.api import bp
from app.errors import AppError
from app.extensions import limiter, peer_address
from app.services import payments, stripe_checkout
from app.web.api import fail, json_body, ok, page_args, page_result
from app.web.auth import admin_required, user_required
from app.web.urls import site_base

log = logging.getLogger(__name__)


def _pay_limit() -> str:
    return current_app.config.get("RATELIMIT_PAY", "10 per minute")


def return_url(trade_no: str) -> str:
    """Where the gateway sends the buyer back: the order's page in the wallet, which shows its status."""
    return site_base() + url_for("user.wallet_order", trade_no=trade_no)


@bp.get("/user/topup/info")
@user_required
def topup_info():
    return ok(payments.topup_info())


@bp.post("/user/amount")
@user_required
def topup_amount():
    """The price of a top-up: `data` is the money as text with two decimals, as in new-api."""
    priced = payments.quote(current_user, json_body().get("amount"))
    return ok(f"{priced['money']:.2f}", message="success")


@bp.post("/user/pay")
@user_required
@limiter.limit(_pay_limit, key_func=lambda: f"pay:user:{current_user.id}")
def topup_pay():
    """Create a pending epay order. new-api's answer shape on top of ours: `data` holds the signed form
    fields and `url` the gateway's submit address, which the browser posts them to."""
    body = json_body()
    order = payments.create_epay_order(current_user, body.get("amount"), body.get("payment_method"))
    url, params = payments.epay_checkout(order, site_base(), return_url(order.trade_no))
    return jsonify({"success": True, "message": "success", "data": params, "url": url,
                    "trade_no": order.trade_no})


@bp.route("/user/epay/notify", methods=["GET", "POST"])
def epay_notify():
    """The gateway's server-to-server callback: plain `success` stops its retries, `fail` asks for one."""
    source = request.form if request.method == "POST" else request.args
    params = {key: source.get(key, "") for key in source}
    acknowledged, reason = payments.handle_epay_notify(params)
    log.info("epay notify from %s for %r: %s", peer_address(), params.get("out_trade_no"), reason)
    if acknowledged:
        return Response("success", mimetype="text/plain")
    return Response("fail", status=400, mimetype="text/plain")


@bp.post("/user/stripe/amount")
@user_required
def stripe_amount():
    """The price of a Stripe top-up, as text with two decimals (in the Stripe price's currency)."""
    priced = stripe_checkout.quote(json_body().get("amount"))
    return ok(f"{priced['money']:.2f}", message="success")


@bp.post("/user/stripe/pay")
@user_required
@limiter.limit(_pay_limit, key_func=lambda: f"pay:user:{current_user.id}")
def stripe_pay():
    """Create a pending Stripe order and its Checkout Session; `data.pay_link` is where to send the user."""
    body = json_body()
    method = body.get("payment_method", payments.STRIPE_METHOD)
    if method != payments.STRIPE_METHOD:
        return fail("payment_method must be stripe")
    order, url = stripe_checkout.create_checkout(current_user, body.get("amount"), site_base())
    return ok({"pay_link": url, "trade_no": order.trade_no}, message="success")


@bp.post("/stripe/webhook")
def stripe_webhook():
    """Stripe's event deliveries; any answer but 2xx makes Stripe deliver the event again later."""
    try:
        outcome = stripe_checkout.handle_webhook(request.get_data(),
                                                 request.headers.get("Stripe-Signature"))
    except AppError as exc:
        log.warning("stripe webhook from %s refused: %s", peer_address(), exc.message)
        return fail(exc.message, 400)
    log.info("stripe webhook: %s", outcome)
    return ok(message=outcome)


@bp.get("/user/topup/self")
@user_required
def topup_self():
    page, size = page_args()
    items, total = payments.list_orders(user_id=current_user.id, keyword=request.args.get("keyword", ""),
                                        page=page, page_size=size)
    return ok(page_result([payments.order_to_dict(o) for o in items], total, page, size))


@bp.get("/user/topup")
@admin_required
def topup_all():
    page, size = page_args()
    items, total = payments.list_orders(keyword=request.args.get("keyword", ""), page=page, page_size=size)
    names = payments.usernames(items)
    rows = [payments.order_to_dict(o) | {"username": names.get(o.user_id)} for o in items]
    return ok(page_result(rows, total, page, size))


@bp.post("/user/topup/complete")
@admin_required
def topup_complete():
    """Mark a pending order paid and credit it (the same exactly-once path as the gateway's notify)."""
    order = payments.complete_order(json_body().get("trade_no"), via="admin")
    log.warning("order %s completed by admin %s", order.trade_no, current_user.id)
    return ok(payments.order_to_dict(order), message="completed")
