"""Online top-up pages: the wallet's top-up card and order list, the hand-over page to the gateway, and the
admin's order list with manual completion. The gateway is tests/mock_epay over real HTTP."""

from __future__ import annotations

import re
import threading

import pytest
import requests
from sqlalchemy import select
from werkzeug.serving import make_server

from app.extensions import db
from app.models import TopUp, TopUpStatus, User
from app.options import options
from tests.conftest import login_client
from tests.factories import make_user
from tests.mock_epay import MockEpay
from tests.web.conftest import HX, fragment, full

PID, KEY = "2002", "page-test-merchant-key"
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@pytest.fixture(scope="module")
def gateway_server():
    with MockEpay() as server:
        yield server


@pytest.fixture
def gateway(app, gateway_server):
    gateway_server.reset()
    gateway_server.add_merchant(PID, KEY)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    options().update({"PayAddress": gateway_server.url + "/", "EpayId": PID, "EpayKey": KEY, "Price": 7.3,
                      "MinTopUp": 2, "ServerAddress": f"http://127.0.0.1:{server.server_port}"})
    yield gateway_server
    server.shutdown()
    thread.join(5)


def gateway_fields(page: str) -> tuple[str, dict[str, str]]:
    form = page[page.index('data-testid="gateway-form"'):]
    form = form[:form.index("</form>")]
    action = re.search(r'action="([^"]+)"', page[page.rindex("<form", 0, page.index('data-testid="gateway-form"')):])
    return action.group(1), dict(HIDDEN.findall(form))


def orders() -> list[TopUp]:
    db.session.commit()
    return list(db.session.scalars(select(TopUp).order_by(TopUp.id)))


def test_topup_card_off_without_settings(user_client):
    options().update({"TopUpLink": "https://shop.example.com/codes"})
    body = full(user_client, "/console/wallet")
    assert 'data-testid="topup-off"' in body and "https://shop.example.com/codes" in body
    assert 'id="topup-orders"' in body
    response = user_client.post("/console/wallet/pay", data={"amount": "5", "payment_method": "alipay"})
    assert response.status_code == 422 and "not available" in response.get_data(as_text=True)
    assert orders() == []


def test_topup_card_shows_methods_and_quotes(user_client, gateway):
    body = full(user_client, "/console/wallet")
    assert 'data-testid="pay-alipay"' in body and 'data-testid="pay-wxpay"' in body
    assert 'hx-boost="false"' in body and "<script" not in body.split("</nav>", 1)[1].split("<footer", 1)[0]
    quote = user_client.post("/console/wallet/quote", headers=HX, data={"amount": "10"}).get_data(as_text=True)
    assert "73.00" in quote and "$10.00" in quote and "<html" not in quote
    low = user_client.post("/console/wallet/quote", headers=HX, data={"amount": "1"}).get_data(as_text=True)
    assert "smallest top-up is 2" in low
    bad = user_client.post("/console/wallet/quote", headers=HX, data={"amount": "x"}).get_data(as_text=True)
    assert "integer" in bad


def test_pay_flow_through_the_pages(user_client, user, gateway):
    response = user_client.post("/console/wallet/pay", data={"amount": "10", "payment_method": "wxpay"})
    assert response.status_code == 303
    order_url = response.headers["Location"]
    [order] = orders()
    assert order_url.endswith("/console/wallet/pay/" + order.trade_no) and order.payment_method == "wxpay"
    page_response = user_client.get(order_url)
    page = page_response.get_data(as_text=True)
    # only this page lets a form go to the gateway, and it needs no script
    csp = page_response.headers["Content-Security-Policy"]
    assert csp.endswith(f"form-action 'self' {gateway.url}") or f"form-action 'self' {gateway.url};" in csp
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";")[0]
    wallet_csp = user_client.get("/console/wallet").headers["Content-Security-Policy"]
    assert "form-action 'self'" in wallet_csp and gateway.url not in wallet_csp
    action, fields = gateway_fields(page)
    assert action == gateway.url + "/submit.php" and fields["money"] == "73.00" and "csrf_token" not in fields
    cashier = requests.post(action, data=fields, timeout=10)
    assert cashier.status_code == 200 and "Pay 73.00" in cashier.text
    # the buyer confirms at the gateway: it notifies us, then sends the buyer back to the order page
    back = requests.post(gateway.url + "/pay", data={"out_trade_no": order.trade_no}, allow_redirects=False,
                         timeout=10)
    assert back.status_code == 302 and back.headers["Location"].startswith(options().get("ServerAddress") + order_url)
    assert gateway.orders[order.trade_no].notify_answers == ["success"]
    db.session.commit()
    assert db.session.get(User, user.id).quota == 10 * 500_000
    done = user_client.get(order_url + "?" + back.headers["Location"].split("?", 1)[1]).get_data(as_text=True)
    assert 'data-testid="order-status"' in done and "Paid" in done and 'data-testid="gateway-form"' not in done
    listed = fragment(user_client, "/console/wallet/orders")
    assert order.trade_no in listed and "Paid" in listed


def test_pay_refusals_on_the_page(user_client, gateway):
    for data in ({"amount": "1", "payment_method": "alipay"}, {"amount": "5", "payment_method": "bank"},
                 {"amount": "", "payment_method": "alipay"}):
        response = user_client.post("/console/wallet/pay", data=data)
        assert response.status_code == 422 and 'role="alert"' in response.get_data(as_text=True), data
    assert orders() == []


def test_order_page_is_private(app, user_client, gateway):
    other = login_client(app, make_user("mallory"))
    response = user_client.post("/console/wallet/pay", data={"amount": "3", "payment_method": "alipay"})
    trade_no = response.headers["Location"].rsplit("/", 1)[1]
    stolen = other.get("/console/wallet/pay/" + trade_no)
    assert stolen.status_code == 404 and 'data-testid="order-missing"' in stolen.get_data(as_text=True)
    assert 'data-testid="order-trade-no"' not in stolen.get_data(as_text=True)
    assert user_client.get("/console/wallet/pay/NOPE").status_code == 404


def test_admin_orders_page_and_manual_complete(app, user_client, admin_client, user, gateway):
    response = user_client.post("/console/wallet/pay", data={"amount": "4", "payment_method": "alipay"})
    trade_no = response.headers["Location"].rsplit("/", 1)[1]
    assert user_client.get("/admin/topups").status_code == 403
    body = full(admin_client, "/admin/topups")
    assert trade_no in body and f'data-testid="complete-{trade_no}"' in body and "alice" in body
    assert trade_no in fragment(admin_client, "/admin/topups?q=alice")
    assert trade_no not in fragment(admin_client, "/admin/topups?q=nobody")
    row = admin_client.post(f"/admin/topups/{trade_no}/complete", headers=HX)
    assert row.status_code == 200 and "toast" in row.headers["HX-Trigger"]
    assert "Paid" in row.get_data(as_text=True) and "complete-" not in row.get_data(as_text=True)
    db.session.commit()
    assert db.session.get(User, user.id).quota == 4 * 500_000
    again = admin_client.post(f"/admin/topups/{trade_no}/complete", headers=HX)
    assert "already been paid" in again.headers["HX-Trigger"]
    db.session.commit()
    assert db.session.get(User, user.id).quota == 4 * 500_000
    assert orders()[0].status == TopUpStatus.PAID
    plain = admin_client.post(f"/admin/topups/{trade_no}/complete")
    assert plain.status_code == 302


def test_stripe_button_and_checkout_link(app, user_client, user):
    from tests.mock_stripe import MockStripe

    with MockStripe() as stripe:
        stripe.api_key = "sk_test_pages"
        stripe.add_price("price_pages", 800)
        app.config["STRIPE_API_BASE"] = stripe.url
        options().update({"StripeApiSecret": "sk_test_pages", "StripeWebhookSecret": "whsec_pages",
                          "StripePriceId": "price_pages", "StripeMinTopUp": 1})
        body = full(user_client, "/console/wallet")
        assert 'data-testid="pay-stripe"' in body and 'data-testid="pay-alipay"' not in body
        quote = user_client.post("/console/wallet/quote", headers=HX, data={"amount": "3"}).get_data(as_text=True)
        assert "24.00" in quote
        response = user_client.post("/console/wallet/pay", data={"amount": "3", "payment_method": "stripe"})
        assert response.status_code == 303
        page = user_client.get(response.headers["Location"]).get_data(as_text=True)
        [order] = orders()
        link = stripe.session_for(order.trade_no)["url"]
        assert f'href="{link}"' in page and 'data-testid="go-stripe"' in page
        assert 'data-testid="gateway-form"' not in page
        # the link lives in the payer's own session only
        other = login_client(app, make_user("eve"))
        assert link not in other.get(response.headers["Location"]).get_data(as_text=True)
        stripe.fail_next = 1
        refused = user_client.post("/console/wallet/pay", data={"amount": "3", "payment_method": "stripe"})
        assert refused.status_code == 422 and "Stripe" in refused.get_data(as_text=True)
