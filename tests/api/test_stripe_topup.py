"""Stripe Checkout top-ups: POST /api/user/stripe/amount and /api/user/stripe/pay against a mock Stripe
(tests/mock_stripe, real HTTP), and POST /api/stripe/webhook with signed events, credited exactly once."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from app.extensions import db
from app.models import Log, LogType, TopUp, TopUpStatus, User
from app.options import options
from app.services.stripe_checkout import verify_signature
from tests.factories import make_user
from tests.fixtures.race import all_at_once
from tests.mock_stripe import MockStripe, stripe_signature

SECRET_KEY, WEBHOOK_SECRET, PRICE = "sk_test_mock123", "whsec_mock456", "price_dollar"
QUOTA_PER_DOLLAR = 500_000


@pytest.fixture(scope="module")
def stripe_server():
    with MockStripe() as server:
        yield server


def enable_stripe(**extra) -> None:
    options().update({"StripeApiSecret": SECRET_KEY, "StripeWebhookSecret": WEBHOOK_SECRET,
                      "StripePriceId": PRICE, "StripeUnitPrice": 8.0, "StripeMinTopUp": 2, **extra})


@pytest.fixture
def stripe(app, stripe_server, setup_done):
    """Mock Stripe configured; the app serves real HTTP so the mock can deliver webhooks to it."""
    stripe_server.reset()
    stripe_server.api_key, stripe_server.webhook_secret = SECRET_KEY, WEBHOOK_SECRET
    stripe_server.add_price(PRICE, 800)
    app.config["STRIPE_API_BASE"] = stripe_server.url
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    stripe_server.webhook_url = base + "/api/stripe/webhook"
    options().update({"ServerAddress": base})
    enable_stripe()
    yield stripe_server
    server.shutdown()
    thread.join(5)


def refresh() -> None:
    db.session.commit()
    db.session.expire_all()


def balance(user_id: int) -> int:
    refresh()
    return db.session.scalar(select(User.quota).where(User.id == user_id))


def order_row(trade_no: str) -> TopUp:
    refresh()
    return db.session.scalar(select(TopUp).where(TopUp.trade_no == trade_no))


def topup_logs() -> int:
    refresh()
    return db.session.scalar(select(func.count()).select_from(Log).where(Log.type == LogType.TOPUP))


def webhook(client, payload: bytes, signature: str | None = None):
    return client.post("/api/stripe/webhook", data=payload, content_type="application/json",
                       headers={"Stripe-Signature": signature or stripe_signature(payload, WEBHOOK_SECRET)})


def test_signature_verification():
    body = b'{"id":"evt_1"}'
    now = 1_700_000_000
    good = stripe_signature(body, "whsec_x", now)
    assert verify_signature(body, good, "whsec_x", now=now)
    assert verify_signature(body, good, "whsec_x", now=now + 299)
    assert not verify_signature(body, good, "whsec_x", now=now + 301)      # too old (replay)
    assert not verify_signature(body, good, "whsec_x", now=now - 301)
    assert not verify_signature(body + b" ", good, "whsec_x", now=now)     # body changed
    assert not verify_signature(body, good, "whsec_y", now=now)            # other secret
    assert not verify_signature(body, good.replace("v1=", "v0="), "whsec_x", now=now)
    assert not verify_signature(body, None, "whsec_x", now=now)
    assert not verify_signature(body, "garbage", "whsec_x", now=now)
    assert not verify_signature(body, good, "", now=now)
    # several v1 values (a secret being rolled): one match is enough
    assert verify_signature(body, f"t={now},v1=deadbeef," + good.split(",")[1], "whsec_x", now=now)


def test_stripe_off_until_configured(app, user_client, stripe_server, setup_done):
    info = user_client.get("/api/user/topup/info").get_json()["data"]
    assert info["enable_stripe_topup"] is False
    assert user_client.post("/api/user/stripe/pay", json={"amount": 5}).status_code == 403
    assert webhook(app.test_client(), b"{}").status_code == 400
    assert db.session.scalar(select(func.count()).select_from(TopUp)) == 0


def test_stripe_secrets_are_never_returned(app, root_client, stripe):
    data = root_client.get("/api/option/").get_json()["data"]
    keys = {row["key"] for row in data} if isinstance(data, list) else set(data)
    assert not keys & {"StripeApiSecret", "StripeWebhookSecret"} and "StripePriceId" in keys


def test_amount_and_pay_create_a_checkout_session(app, user_client, user, stripe):
    assert user_client.get("/api/user/topup/info").get_json()["data"]["enable_stripe_topup"] is True
    assert user_client.post("/api/user/stripe/amount", json={"amount": 5}).get_json()["data"] == "40.00"
    assert user_client.post("/api/user/stripe/amount", json={"amount": 1}).status_code == 400
    assert user_client.post("/api/user/stripe/amount", json={"amount": 10_001}).status_code == 400
    body = user_client.post("/api/user/stripe/pay", json={"amount": 5, "payment_method": "stripe"}).get_json()
    assert body["success"] is True and body["data"]["pay_link"].startswith(stripe.url + "/c/pay/cs_test_")
    trade_no = body["data"]["trade_no"]
    sent = stripe.requests[-1]
    assert sent["client_reference_id"] == trade_no and sent["line_items[0][price]"] == PRICE
    assert sent["line_items[0][quantity]"] == "5" and sent["mode"] == "payment"
    assert sent["success_url"].endswith("/console/wallet/pay/" + trade_no)
    order = order_row(trade_no)
    assert order.status == TopUpStatus.PENDING and order.payment_method == "stripe"
    assert str(order.amount) == "40.00" and order.quota == 5 * QUOTA_PER_DOLLAR
    assert user_client.post("/api/user/stripe/pay", json={"amount": 5, "payment_method": "alipay"}).status_code == 400


def test_stripe_refusal_cancels_the_order(app, user_client, stripe):
    stripe.fail_next = 1
    response = user_client.post("/api/user/stripe/pay", json={"amount": 3})
    assert response.status_code == 502 and "Stripe" in response.get_json()["message"]
    options().update({"StripePriceId": "price_missing"})
    response = user_client.post("/api/user/stripe/pay", json={"amount": 3})
    assert response.status_code == 502 and "No such price" in response.get_json()["message"]
    refresh()
    statuses = list(db.session.scalars(select(TopUp.status)))
    assert statuses == [TopUpStatus.CANCELLED, TopUpStatus.CANCELLED]


def test_paid_session_credits_once(app, user_client, user, stripe):
    trade_no = user_client.post("/api/user/stripe/pay", json={"amount": 5}).get_json()["data"]["trade_no"]
    session = stripe.session_for(trade_no)
    status, _ = stripe.pay(session["id"])
    assert status == 200
    assert balance(user.id) == 5 * QUOTA_PER_DOLLAR and topup_logs() == 1
    paid = order_row(trade_no)
    assert paid.status == TopUpStatus.PAID and paid.paid_time > 0
    # Stripe delivers again (it may): acknowledged, nothing more
    assert stripe.deliver(stripe.event(session["id"]))[0] == 200
    assert stripe.deliver(stripe.event(session["id"], "checkout.session.async_payment_succeeded"))[0] == 200
    assert balance(user.id) == 5 * QUOTA_PER_DOLLAR and topup_logs() == 1


def test_refused_events_credit_nothing(app, client, user_client, user, stripe):
    trade_no = user_client.post("/api/user/stripe/pay", json={"amount": 5}).get_json()["data"]["trade_no"]
    sid = stripe.session_for(trade_no)["id"]
    good = stripe.event(sid)
    old = int(time.time()) - 600
    for payload, signature in [
        (good, stripe_signature(good, "whsec_other")),          # forged
        (good, stripe_signature(good, WEBHOOK_SECRET, old)),     # replayed after the tolerance
        (good, "t=1,v1=00"),
        (stripe.event(sid, amount_subtotal=100), None),          # paid less than the order
        (stripe.event(sid, client_reference_id="USR9NOunknown"), None),
        (stripe.event(sid, client_reference_id=None), None),
        (b"not json", None),
        (b'{"type": "checkout.session.completed"}', None),
    ]:
        response = webhook(client, payload, signature)
        assert response.status_code == 400 and response.get_json()["success"] is False, payload[:80]
    # completed but not paid yet (a delayed method): acknowledged, nothing credited
    waiting = webhook(client, stripe.event(sid, payment_status="unpaid"))
    assert waiting.status_code == 200 and waiting.get_json()["message"] == "waiting for payment"
    assert webhook(client, stripe.event(sid, "customer.created")).status_code == 200
    assert balance(user.id) == 0 and topup_logs() == 0 and order_row(trade_no).status == TopUpStatus.PENDING
    # an epay order cannot be completed through Stripe
    options().update({"PayAddress": "http://gw.invalid", "EpayId": "1", "EpayKey": "k"})
    epay_no = user_client.post("/api/user/pay", json={"amount": 2, "payment_method": "alipay"}).get_json()["trade_no"]
    assert webhook(client, stripe.event(sid, client_reference_id=epay_no, amount_subtotal=1460)).status_code == 400
    assert order_row(epay_no).status == TopUpStatus.PENDING and balance(user.id) == 0


def test_expired_session_cancels_a_pending_order_only(app, client, user_client, user, stripe):
    trade_no = user_client.post("/api/user/stripe/pay", json={"amount": 2}).get_json()["data"]["trade_no"]
    sid = stripe.session_for(trade_no)["id"]
    assert webhook(client, stripe.event(sid, "checkout.session.expired")).get_json()["message"] == "cancelled"
    assert order_row(trade_no).status == TopUpStatus.CANCELLED
    late = webhook(client, stripe.event(sid))
    assert late.status_code == 400 and "cancelled" in late.get_json()["message"]
    assert balance(user.id) == 0
    other = user_client.post("/api/user/stripe/pay", json={"amount": 2}).get_json()["data"]["trade_no"]
    stripe.pay(stripe.session_for(other)["id"])
    assert webhook(client, stripe.event(stripe.session_for(other)["id"], "checkout.session.expired")).status_code == 200
    assert order_row(other).status == TopUpStatus.PAID and balance(user.id) == 2 * QUOTA_PER_DOLLAR


@pytest.mark.slow
def test_race_20_duplicate_webhooks_credit_once(race_app):
    enable_stripe()
    user = make_user("payer")
    db.session.add(TopUp(user_id=user.id, amount=Decimal("16.00"), quota=2 * QUOTA_PER_DOLLAR, trade_no="USR1NOrace",
                         status=TopUpStatus.PENDING, payment_method="stripe", created_time=1, paid_time=0))
    db.session.commit()
    session = {"id": "cs_test_race", "object": "checkout.session", "client_reference_id": "USR1NOrace",
               "payment_status": "paid", "status": "complete", "amount_subtotal": 1600, "amount_total": 1600}
    payload = json.dumps({"id": "evt_race", "object": "event", "type": "checkout.session.completed",
                          "data": {"object": session}}).encode()
    clients = [race_app.test_client() for _ in range(20)]
    results = all_at_once(20, lambda i: webhook(clients[i], payload).status_code)
    assert results == [200] * 20
    assert balance(user.id) == 2 * QUOTA_PER_DOLLAR and topup_logs() == 1
    assert order_row("USR1NOrace").status == TopUpStatus.PAID
