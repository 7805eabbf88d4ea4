"""Stripe Checkout top-ups over Stripe's REST API (no SDK): create a Checkout Session for an order, and
verify and act on the webhook events that report it paid.

Wire formats from Stripe's docs: sessions are created with `POST /v1/checkout/sessions` (form-encoded,
`Authorization: Bearer <secret key>`; errors are `{"error": {"message", "type"}}`); webhooks carry
`Stripe-Signature: t=<unix time>,v1=<hex>` where v1 is HMAC-SHA256 of `"<t>.<raw body>"` keyed with the
endpoint's signing secret (https://docs.stripe.com/webhooks#verify-manually; Stripe's libraries allow 300 s
of clock difference).

Unlike new-api, a `checkout.session.completed` event credits only when its `payment_status` is `paid`
(delayed methods such as bank debits complete unpaid and report `checkout.session.async_payment_succeeded`
later), the credited quota is the one fixed when the order was made (new-api multiplies the charged money,
group ratio included, by QuotaPerUnit), and the session's subtotal must be the order's money.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from decimal import Decimal
from typing import Any

import requests
from flask import current_app
from sqlalchemy import update

from app.errors import AppError, ValidationError
from app.extensions import db
from app.models import TopUp, TopUpStatus, User
from app.models.base import now_ts
from app.options import get_option
from app.services import payments
from app.services.users import atomic

log = logging.getLogger(__name__)

SIGNATURE_TOLERANCE = 300  # seconds
MAX_STRIPE_AMOUNT = 10_000  # US dollars per order, as new-api
PAID_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
FAILED_EVENTS = ("checkout.session.expired", "checkout.session.async_payment_failed")


class StripeError(AppError):
    status = 502
    code = "stripe_error"


def _require_stripe() -> None:
    if not payments.stripe_enabled():
        raise ValidationError("Stripe top-up is not available: the administrator has not set it up",
                              code="payments_disabled", status=403)


def parse_amount(value: Any) -> int:
    """A whole number of US dollars of quota between StripeMinTopUp and 10,000."""
    minimum = get_option("StripeMinTopUp")
    amount = payments.strict_amount(value)
    if amount < minimum:
        raise ValidationError(f"the smallest Stripe top-up is {minimum}", code="amount_too_small")
    if amount > MAX_STRIPE_AMOUNT:
        raise ValidationError(f"the largest Stripe top-up is {MAX_STRIPE_AMOUNT}", code="amount_too_large")
    return amount


def quote(raw_amount: Any) -> dict[str, Any]:
    """`{amount, money, quota}` at StripeUnitPrice per dollar (the Stripe price is the same for every group)."""
    amount = parse_amount(raw_amount)
    money = (Decimal(amount) * Decimal(str(get_option("StripeUnitPrice")))).quantize(payments.CENT)
    if money < payments.CENT:
        raise ValidationError("the amount to pay is below 0.01; top up more", code="amount_too_small")
    return {"amount": amount, "money": money, "quota": payments.quota_of(amount)}


def _post(path: str, form: dict[str, str]) -> dict[str, Any]:
    base = current_app.config["STRIPE_API_BASE"].rstrip("/")
    try:
        response = requests.post(base + path, data=form, timeout=current_app.config["STRIPE_TIMEOUT"],
                                 headers={"Authorization": f"Bearer {get_option('StripeApiSecret')}"})
    except requests.RequestException as exc:
        log.warning("stripe %s failed: %s", path, exc)
        raise StripeError("could not reach Stripe; please try again") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not isinstance(body, dict):
        message = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
        log.warning("stripe %s answered %s: %s", path, response.status_code, message)
        raise StripeError("Stripe refused the payment request" + (f": {message}" if message else ""))
    return body


def create_checkout(user: User, raw_amount: Any, site_base: str) -> tuple[TopUp, str]:
    """A pending Stripe order and the Checkout page's URL. The order row comes first, so no payable
    session exists without its order; if Stripe refuses, the order is cancelled at once."""
    _require_stripe()
    priced = quote(raw_amount)
    with atomic():
        order = TopUp(user_id=user.id, amount=priced["money"], quota=priced["quota"],
                      trade_no=payments.new_trade_no(user.id), status=TopUpStatus.PENDING,
                      payment_method=payments.STRIPE_METHOD, created_time=now_ts(), paid_time=0)
        db.session.add(order)
    form = {
        "mode": "payment",
        "client_reference_id": order.trade_no,
        "metadata[trade_no]": order.trade_no,
        "line_items[0][price]": get_option("StripePriceId"),
        "line_items[0][quantity]": str(priced["amount"]),
        "success_url": f"{site_base.rstrip('/')}/console/wallet/pay/{order.trade_no}",
        "cancel_url": f"{site_base.rstrip('/')}/console/wallet",
    }
    if user.email:
        form["customer_email"] = user.email
    try:
        session = _post("/v1/checkout/sessions", form)
        url = session.get("url")
        if not isinstance(url, str) or not url.startswith("https://") and not url.startswith("http://"):
            raise StripeError("Stripe answered without a checkout URL")
    except StripeError:
        cancel_order(order.trade_no)
        raise
    return order, url


def cancel_order(trade_no: str) -> bool:
    """Mark a pending Stripe order cancelled (a conditional UPDATE: a paid order stays paid)."""
    with atomic():
        result = db.session.execute(
            update(TopUp).where(TopUp.trade_no == trade_no, TopUp.status == TopUpStatus.PENDING,
                                TopUp.payment_method == payments.STRIPE_METHOD)
            .values(status=TopUpStatus.CANCELLED).execution_options(synchronize_session=False))
    return result.rowcount == 1


# -- webhooks ------------------------------------------------------------------------------------------

def verify_signature(payload: bytes, header: str | None, secret: str, *, now: float | None = None) -> bool:
    """True when one of the header's v1 signatures is HMAC-SHA256(secret, "t.payload") and t is within
    SIGNATURE_TOLERANCE seconds of now."""
    if not secret or not header or len(header) > 4096:
        return False
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value)
    if not timestamp or not timestamp.isdigit() or not signatures:
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > SIGNATURE_TOLERANCE:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + payload, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)


def handle_webhook(payload: bytes, signature: str | None) -> str:
    """Act on one webhook delivery; returns what happened. Raises ValidationError (answered 400, so
    Stripe retries) for a bad signature or an event that cannot be applied; nothing is credited then."""
    if not payments.stripe_enabled():
        raise ValidationError("Stripe is not configured", code="payments_disabled")
    if not verify_signature(payload, signature, get_option("StripeWebhookSecret")):
        raise ValidationError("bad Stripe-Signature", code="bad_signature")
    try:
        event = json.loads(payload)
        kind = event["type"]
        session = event["data"]["object"]
    except (ValueError, KeyError, TypeError):
        raise ValidationError("not a Stripe event", code="bad_event") from None
    if not isinstance(session, dict) or session.get("object") != "checkout.session":
        return f"ignored {kind}"
    trade_no = session.get("client_reference_id")
    if kind in FAILED_EVENTS:
        return "cancelled" if isinstance(trade_no, str) and cancel_order(trade_no) else f"ignored {kind}"
    if kind not in PAID_EVENTS:
        return f"ignored {kind}"
    if session.get("payment_status") != "paid":
        return "waiting for payment"  # completed, but a delayed method has not paid yet
    order = payments.get_order(trade_no)
    if order.payment_method != payments.STRIPE_METHOD:
        raise ValidationError("order is not a Stripe order", code="payment_method_invalid")
    subtotal = session.get("amount_subtotal")
    if not isinstance(subtotal, int) or isinstance(subtotal, bool) or subtotal != int(order.amount * 100):
        raise ValidationError(f"paid subtotal {subtotal} does not match the order's {order.amount:.2f}",
                              code="amount_mismatch")
    try:
        payments.complete_order(trade_no, via="stripe")
    except payments.OrderAlreadyPaid:
        return "already paid"
    return "credited"
