"""A mock of the parts of Stripe a Checkout top-up uses, on 127.0.0.1, in Stripe's wire format.

Real HTTP (werkzeug's threaded server in a daemon thread):
- `POST {url}/v1/checkout/sessions` (https://docs.stripe.com/api/checkout/sessions/create): form-encoded,
  `Authorization: Bearer <secret key>`; `line_items[0][price]` must be a known price. Answers the session
  object (`id`, `object: "checkout.session"`, `url`, `client_reference_id`, `amount_subtotal`,
  `amount_total`, `currency`, `payment_status: "unpaid"`, `status: "open"`, `metadata` ...). Errors are
  `{"error": {"type", "message"}}` with 401 (bad key) or 400.
- `GET {url}/c/pay/<id>` a checkout page whose button (`POST`) pays: the webhook is delivered, then the
  buyer is redirected to `success_url`.
- Webhook deliveries (https://docs.stripe.com/webhooks): `POST webhook_url` with the event JSON
  (`{"id", "object": "event", "type", "data": {"object": <session>}}`) and
  `Stripe-Signature: t=<unix>,v1=<HMAC-SHA256 hex of "t.body" with the endpoint secret>`.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import itertools
import json
import time
import urllib.error
import urllib.request
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.fixtures.wsgi_server import BackgroundServer


def stripe_signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def _error(status: int, message: str, kind: str = "invalid_request_error") -> Response:
    return Response(json.dumps({"error": {"type": kind, "message": message}}), status=status,
                    mimetype="application/json")


class MockStripe(BackgroundServer):
    thread_name = "mock-stripe"

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        self.api_key = ""
        self.webhook_url = ""
        self.webhook_secret = ""
        self.prices: dict[str, tuple[int, str]] = {}  # id -> (unit_amount in cents, currency)
        self.sessions: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, str]] = []
        self.deliveries: list[tuple[int, str]] = []
        self.fail_next = 0  # answer the next N session creations with a 500

    def add_price(self, price_id: str, unit_amount: int, currency: str = "usd") -> None:
        self.prices[price_id] = (unit_amount, currency)

    def session_for(self, trade_no: str) -> dict[str, Any]:
        return next(s for s in self.sessions.values() if s["client_reference_id"] == trade_no)

    def event(self, session_id: str, event_type: str = "checkout.session.completed", **changes: Any) -> bytes:
        """An event about the session, as it would be once the buyer paid (`changes` override fields)."""
        session = dict(self.sessions[session_id])
        if event_type in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
            session.update(status="complete", payment_status="paid")
        elif event_type == "checkout.session.expired":
            session.update(status="expired")
        session.update(changes)
        body = {"id": f"evt_{next(self._numbers)}", "object": "event", "api_version": "2024-06-20",
                "created": int(time.time()), "type": event_type, "data": {"object": session}}
        return json.dumps(body).encode()

    def deliver(self, payload: bytes, signature: str | None = None) -> tuple[int, str]:
        """POST an event to webhook_url, signed with webhook_secret unless `signature` is given."""
        request = urllib.request.Request(self.webhook_url, data=payload, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature or stripe_signature(payload, self.webhook_secret)})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                answer = (response.status, response.read().decode())
        except urllib.error.HTTPError as exc:
            answer = (exc.code, exc.read().decode())
        self.deliveries.append(answer)
        return answer

    def pay(self, session_id: str) -> tuple[int, str]:
        self.sessions[session_id].update(status="complete", payment_status="paid")
        return self.deliver(self.event(session_id))

    # -- WSGI ----------------------------------------------------------------------------------------
    def _wsgi(self, environ, start_response):
        request = Request(environ)
        if request.path == "/v1/checkout/sessions" and request.method == "POST":
            response = self._create(request)
        elif request.path.startswith("/c/pay/"):
            response = self._checkout_page(request, request.path.rsplit("/", 1)[1])
        else:
            response = _error(404, "Unrecognized request URL")
        return response(environ, start_response)

    def _create(self, request: Request) -> Response:
        form = {k: request.form.get(k, "") for k in request.form}
        self.requests.append(form)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}" or not self.api_key:
            return _error(401, "Invalid API Key provided")
        if self.fail_next:
            self.fail_next -= 1
            return _error(500, "An unknown error occurred", "api_error")
        if form.get("mode") != "payment":
            return _error(400, "Missing required param: mode.")
        price = self.prices.get(form.get("line_items[0][price]", ""))
        if price is None:
            return _error(400, f"No such price: '{form.get('line_items[0][price]', '')}'")
        quantity = form.get("line_items[0][quantity]", "")
        if not quantity.isdigit() or int(quantity) < 1:
            return _error(400, "Invalid integer: quantity")
        for name in ("success_url", "cancel_url"):
            if not form.get(name, "").startswith(("http://", "https://")):
                return _error(400, f"Not a valid URL: {name}")
        session_id = f"cs_test_{next(self._numbers)}"
        subtotal = price[0] * int(quantity)
        session = {
            "id": session_id, "object": "checkout.session", "mode": "payment", "status": "open",
            "payment_status": "unpaid", "url": f"{self.url}/c/pay/{session_id}",
            "client_reference_id": form.get("client_reference_id") or None,
            "customer_email": form.get("customer_email") or None, "currency": price[1],
            "amount_subtotal": subtotal, "amount_total": subtotal,
            "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
            "success_url": form["success_url"], "cancel_url": form["cancel_url"],
        }
        self.sessions[session_id] = session
        return Response(json.dumps(session), mimetype="application/json")

    def _checkout_page(self, request: Request, session_id: str) -> Response:
        session = self.sessions.get(session_id)
        if session is None:
            return Response("no such session", status=404)
        if request.method == "POST":
            self.pay(session_id)
            return Response(status=303, headers={"Location": session["success_url"]})
        amount = session["amount_total"] / 100
        page = (f"<!doctype html><title>Stripe Checkout</title><h1>Pay {amount:.2f} "
                f"{html.escape(session['currency'].upper())}</h1><form method=post><button id=stripe-pay "
                f"type=submit>Pay</button></form>")
        return Response(page, mimetype="text/html")
