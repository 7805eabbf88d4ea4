"""Online top-up through an epay gateway: quotes, orders, the gateway's notify (exactly once), order lists
and an admin's manual completion. The gateway is tests/mock_epay, a real HTTP server speaking epay."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from urllib.parse import urlencode

import pytest
import requests
from sqlalchemy import func, select, update
from werkzeug.serving import make_server

from app.extensions import db
from app.jobs import maintenance, schedule
from app.models import Log, LogType, TopUp, TopUpStatus, User
from app.options import options
from app.services import epay
from tests.conftest import login_client
from tests.factories import make_user
from tests.fixtures.race import all_at_once
from tests.mock_epay import MockEpay
from tests.mock_epay.server import epay_sign

PID, KEY = "1001", "merchant-key-0123456789"
QUOTA_PER_DOLLAR = 500_000


@pytest.fixture(scope="module")
def gateway_server():
    with MockEpay() as server:
        yield server


@pytest.fixture
def gateway(gateway_server):
    gateway_server.reset()
    gateway_server.add_merchant(PID, KEY)
    return gateway_server


def enable_epay(gateway_url: str, **extra) -> None:
    options().update({"PayAddress": gateway_url, "EpayId": PID, "EpayKey": KEY, "Price": 7.3, "MinTopUp": 1,
                      **extra})


@pytest.fixture
def served(app):
    """The test app also answering real HTTP (the gateway calls its notify_url); ServerAddress points there."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    options().update({"ServerAddress": url})
    yield url
    server.shutdown()
    thread.join(5)


@pytest.fixture
def epay_on(app, gateway, served, setup_done):
    enable_epay(gateway.url)
    return gateway


def refresh() -> None:
    db.session.commit()
    db.session.expire_all()


def balance(user_id: int) -> int:
    refresh()
    return db.session.scalar(select(User.quota).where(User.id == user_id))


def order_row(trade_no: str) -> TopUp:
    refresh()
    return db.session.scalar(select(TopUp).where(TopUp.trade_no == trade_no))


def topup_logs(user_id: int | None = None) -> int:
    refresh()
    query = select(func.count()).select_from(Log).where(Log.type == LogType.TOPUP)
    if user_id is not None:
        query = query.where(Log.user_id == user_id)
    return db.session.scalar(query)


def order_count() -> int:
    refresh()
    return db.session.scalar(select(func.count()).select_from(TopUp))


def place_order(client, amount=10, method="alipay") -> dict:
    response = client.post("/api/user/pay", json={"amount": amount, "payment_method": method})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def notify(client, params: dict, method: str = "GET"):
    if method == "GET":
        return client.get("/api/user/epay/notify?" + urlencode(params))
    return client.post("/api/user/epay/notify", data=params)


# -- signing -------------------------------------------------------------------------------------------

def test_signature_rule_matches_the_protocol():
    params = {"pid": "1001", "type": "alipay", "out_trade_no": "A1", "notify_url": "http://x/n",
              "return_url": "http://x/r", "name": "TUC1", "money": "7.30", "empty": ""}
    expected = __import__("hashlib").md5(
        b"money=7.30&name=TUC1&notify_url=http://x/n&out_trade_no=A1&pid=1001&return_url=http://x/r&type=alipay"
        + KEY.encode()).hexdigest()
    assert epay.sign(params, KEY) == expected == epay_sign(params, KEY)
    signed = epay.signed(params, KEY)
    assert signed["sign_type"] == "MD5" and epay.verify(signed, KEY)
    assert not epay.verify(signed | {"money": "7.31"}, KEY)
    assert not epay.verify(signed, "other-key")
    assert not epay.verify({k: v for k, v in signed.items() if k != "sign"}, KEY)
    assert not epay.verify(signed, "")


# -- settings and quotes ---------------------------------------------------------------------------------

def test_disabled_until_gateway_id_and_key_are_set(app, user_client, user, gateway):
    info = user_client.get("/api/user/topup/info").get_json()["data"]
    assert info["enable_online_topup"] is False and info["pay_methods"] == []
    response = user_client.post("/api/user/pay", json={"amount": 10, "payment_method": "alipay"})
    assert response.status_code == 403 and "not available" in response.get_json()["message"]
    options().update({"PayAddress": gateway.url, "EpayId": PID})  # no key yet
    assert user_client.post("/api/user/pay", json={"amount": 10, "payment_method": "alipay"}).status_code == 403
    assert order_count() == 0
    enable_epay(gateway.url)
    info = user_client.get("/api/user/topup/info").get_json()["data"]
    assert info["enable_online_topup"] is True
    assert [m["type"] for m in info["pay_methods"]] == ["alipay", "wxpay"]


def test_epay_key_is_a_secret(app, root_client, gateway):
    enable_epay(gateway.url)
    data = root_client.get("/api/option/").get_json()["data"]
    keys = {row["key"] for row in data} if isinstance(data, list) else set(data)
    assert "EpayKey" not in keys and "PayAddress" in keys
    assert KEY not in root_client.get("/admin/settings?group=payment").get_data(as_text=True)


@pytest.mark.parametrize("value, problem", [
    ([{"name": "A", "type": "stripe"}], "reserved"),
    ([{"name": "A", "type": "a b"}], "type"),
    ([{"name": "", "type": "a"}], "name"),
    ([{"name": "A", "type": "a"}, {"name": "B", "type": "a"}], "twice"),
    ([{"name": "A", "type": "a", "color": "red;background:url(x)"}], "colour"),
    ({"name": "A"}, "list"),
    ("not json", "PayMethods"),
])
def test_pay_methods_are_validated(app, value, problem):
    from app.errors import ValidationError

    with pytest.raises(ValidationError, match=problem):
        options().update({"PayMethods": value})


def test_price_address_and_min_are_validated(app):
    from app.errors import ValidationError

    for changes in ({"Price": 0}, {"Price": -1}, {"MinTopUp": 0}, {"PayAddress": "ftp://x"},
                    {"PayAddress": "javascript:alert(1)"}, {"TopupGroupRatio": {"vip": -1}}):
        with pytest.raises(ValidationError):
            options().update(changes)


def test_amount_quote(app, user_client, user, gateway):
    enable_epay(gateway.url, MinTopUp=5)
    ok = user_client.post("/api/user/amount", json={"amount": 10}).get_json()
    assert ok["success"] is True and ok["data"] == "73.00"
    assert user_client.post("/api/user/amount", json={"amount": "20"}).get_json()["data"] == "146.00"
    for bad in (4, 0, -1, 1.5, True, None, "ten", [], {}, 10**7):
        response = user_client.post("/api/user/amount", json={"amount": bad})
        assert response.status_code == 400, (bad, response.get_json())
        assert response.get_json()["success"] is False
    low = user_client.post("/api/user/amount", json={"amount": 4}).get_json()["message"]
    assert "smallest top-up is 5" in low


def test_group_ratio_changes_the_price(app, user_client, user, gateway):
    enable_epay(gateway.url, TopupGroupRatio={"default": 1, "vip": 0.8})
    user.group = "vip"
    db.session.commit()
    assert user_client.post("/api/user/amount", json={"amount": 10}).get_json()["data"] == "58.40"


def test_quote_requires_sign_in(app, client, gateway):
    enable_epay(gateway.url)
    assert client.post("/api/user/amount", json={"amount": 10}).status_code == 401
    assert client.post("/api/user/pay", json={"amount": 10, "payment_method": "alipay"}).status_code == 401


# -- orders ----------------------------------------------------------------------------------------------

def test_pay_creates_a_signed_pending_order(app, user_client, user, epay_on, served):
    body = place_order(user_client, amount=10)
    assert body["success"] is True and body["url"] == epay_on.url + "/submit.php"
    fields = body["data"]
    assert fields["pid"] == PID and fields["type"] == "alipay" and fields["money"] == "73.00"
    assert fields["notify_url"] == served + "/api/user/epay/notify"
    assert fields["return_url"] == served + "/console/wallet/pay/" + fields["out_trade_no"]
    assert fields["sign_type"] == "MD5" and fields["sign"] == epay_sign(fields, KEY)
    order = order_row(fields["out_trade_no"])
    assert order.user_id == user.id and order.status == TopUpStatus.PENDING
    assert order.amount == Decimal("73.00") and order.quota == 10 * QUOTA_PER_DOLLAR
    assert order.payment_method == "alipay" and order.paid_time == 0
    # the gateway accepts what we signed
    cashier = requests.post(body["url"], data=fields, timeout=10)
    assert cashier.status_code == 200 and "Pay 73.00" in cashier.text


def test_pay_refuses_bad_input(app, user_client, user, epay_on):
    for payload, status in [({"amount": 10, "payment_method": "paypal"}, 400), ({"amount": 10}, 400),
                            ({"amount": 0, "payment_method": "alipay"}, 400),
                            ({"amount": 10, "payment_method": "stripe"}, 400)]:
        response = user_client.post("/api/user/pay", json=payload)
        assert response.status_code == status, (payload, response.get_json())
    assert user_client.post("/api/user/pay", data="[]", content_type="application/json").status_code == 400
    assert order_count() == 0


def test_full_flow_gateway_notify_credits_once(app, user_client, user, epay_on):
    trade_no = place_order(user_client, amount=10)["trade_no"]
    other = place_order(user_client, amount=3, method="wxpay")["trade_no"]
    # submit the first order as the browser would, then the buyer pays at the gateway
    first = user_client.get("/console/wallet/pay/" + trade_no).get_data(as_text=True)
    assert "Continue to payment" in first
    submitted = place_fields(user_client, trade_no)
    requests.post(epay_on.url + "/submit.php", data=submitted, timeout=10).raise_for_status()
    assert epay_on.pay(trade_no) == "success"
    assert balance(user.id) == 10 * QUOTA_PER_DOLLAR
    paid = order_row(trade_no)
    assert paid.status == TopUpStatus.PAID and paid.paid_time > 0
    assert topup_logs(user.id) == 1
    log = db.session.scalar(select(Log).where(Log.type == LogType.TOPUP))
    assert log.quota == 10 * QUOTA_PER_DOLLAR and trade_no in log.content and "73.00" in log.content
    # the gateway retries (it always may): acknowledged, nothing more credited
    assert epay_on.pay(trade_no) == "success"
    assert balance(user.id) == 10 * QUOTA_PER_DOLLAR and topup_logs(user.id) == 1
    # the other order is still pending
    assert order_row(other).status == TopUpStatus.PENDING


def place_fields(client, trade_no: str) -> dict:
    """The hidden fields of the order's hand-over page, as a browser would post them."""
    import re

    page = client.get("/console/wallet/pay/" + trade_no).get_data(as_text=True)
    form = page[page.index('data-testid="gateway-form"'):]
    form = form[:form.index("</form>")]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))


def test_notify_by_post_form(app, user_client, user, epay_on):
    epay_on.notify_method = "POST"
    body = place_order(user_client, amount=2)
    requests.post(body["url"], data=body["data"], timeout=10).raise_for_status()
    assert epay_on.pay(body["trade_no"]) == "success"
    assert balance(user.id) == 2 * QUOTA_PER_DOLLAR


def test_refused_notifies_credit_nothing(app, client, user_client, user, epay_on):
    body = place_order(user_client, amount=10)
    trade_no = body["trade_no"]
    requests.post(body["url"], data=body["data"], timeout=10).raise_for_status()
    cases = [
        epay_on.notify_params(trade_no, key="forged-key"),                      # bad signature
        {k: v for k, v in epay_on.notify_params(trade_no).items() if k != "sign"},  # unsigned
        epay_on.notify_params(trade_no, money="0.01"),                          # signed, wrong amount
        epay_on.notify_params(trade_no, money="73.0000001"),
        epay_on.notify_params(trade_no, money="NaN"),
        epay_on.notify_params(trade_no, out_trade_no="USR1NOunknown"),           # unknown order
        epay_on.notify_params(trade_no, pid="9999"),                            # another merchant
        epay_on.notify_params(trade_no) | {"sign_type": "SHA256"},
        {},
    ]
    for params in cases:
        response = notify(client, params)
        assert response.status_code == 400 and response.get_data(as_text=True) == "fail", params
    assert balance(user.id) == 0 and topup_logs() == 0
    assert order_row(trade_no).status == TopUpStatus.PENDING
    # a state other than TRADE_SUCCESS is acknowledged and changes nothing
    waiting = notify(client, epay_on.notify_params(trade_no, trade_status="WAIT_BUYER_PAY"))
    assert waiting.status_code == 200 and waiting.get_data(as_text=True) == "success"
    assert balance(user.id) == 0 and order_row(trade_no).status == TopUpStatus.PENDING
    # with payments switched off, even a good notify is refused
    good = epay_on.notify_params(trade_no)
    options().update({"EpayKey": ""})
    assert notify(client, good).get_data(as_text=True) == "fail"
    options().update({"EpayKey": KEY})
    assert notify(client, good, method="POST").get_data(as_text=True) == "success"
    assert balance(user.id) == 10 * QUOTA_PER_DOLLAR


def test_order_keeps_its_price_and_quota(app, client, user_client, user, epay_on):
    """Options changed between order and payment change neither what is due nor what is credited."""
    body = place_order(user_client, amount=10)
    requests.post(body["url"], data=body["data"], timeout=10).raise_for_status()
    options().update({"Price": 1, "QuotaPerUnit": 1000})
    assert notify(client, epay_on.notify_params(body["trade_no"])).get_data(as_text=True) == "success"
    assert balance(user.id) == 10 * QUOTA_PER_DOLLAR


def test_disabled_account_is_not_credited_and_order_stays_pending(app, client, user_client, user, epay_on):
    body = place_order(user_client, amount=1)
    requests.post(body["url"], data=body["data"], timeout=10).raise_for_status()
    user.status = 2
    db.session.commit()
    assert notify(client, epay_on.notify_params(body["trade_no"])).get_data(as_text=True) == "fail"
    assert order_row(body["trade_no"]).status == TopUpStatus.PENDING and topup_logs() == 0


def test_rebate_goes_to_the_inviter(app, client, user_client, user, epay_on):
    inviter = make_user("inviter")
    user.inviter_id = inviter.id
    db.session.commit()
    options().update({"RebateEnabled": True, "RebatePercentage": 10})
    body = place_order(user_client, amount=10)
    requests.post(body["url"], data=body["data"], timeout=10).raise_for_status()
    assert epay_on.pay(body["trade_no"]) == "success"
    refresh()
    assert db.session.get(User, inviter.id).aff_quota == QUOTA_PER_DOLLAR
    assert epay_on.pay(body["trade_no"]) == "success"
    refresh()
    assert db.session.get(User, inviter.id).aff_quota == QUOTA_PER_DOLLAR


# -- lists and manual completion ---------------------------------------------------------------------------

def test_order_lists(app, user_client, admin_client, user, epay_on):
    mine = [place_order(user_client, amount=n)["trade_no"] for n in (1, 2, 3)]
    other = make_user("bob")
    other_client = login_client(app, other)
    theirs = place_order(other_client, amount=5)["trade_no"]
    listed = user_client.get("/api/user/topup/self").get_json()["data"]
    assert listed["total"] == 3 and [o["trade_no"] for o in listed["items"]] == mine[::-1]
    first = listed["items"][-1]
    assert first["status"] == "pending" and first["money"] == 7.3 and first["amount"] == 1.0
    assert first["quota"] == QUOTA_PER_DOLLAR
    assert user_client.get("/api/user/topup/self?keyword=" + theirs).get_json()["data"]["total"] == 0
    assert user_client.get("/api/user/topup").status_code == 403
    everyone = admin_client.get("/api/user/topup?page_size=2").get_json()["data"]
    assert everyone["total"] == 4 and len(everyone["items"]) == 2 and everyone["items"][0]["username"] == "bob"
    assert admin_client.get("/api/user/topup?keyword=bob").get_json()["data"]["total"] == 1
    assert admin_client.get(f"/api/user/topup?keyword={theirs[:8]}").get_json()["data"]["total"] >= 1
    assert admin_client.get("/api/user/topup?keyword=" + "%25").get_json()["data"]["total"] == 0


def test_admin_completes_an_order_once(app, client, user_client, admin_client, user, epay_on):
    body = place_order(user_client, amount=4)
    trade_no = body["trade_no"]
    assert user_client.post("/api/user/topup/complete", json={"trade_no": trade_no}).status_code == 403
    done = admin_client.post("/api/user/topup/complete", json={"trade_no": trade_no})
    assert done.status_code == 200 and done.get_json()["data"]["status"] == "success"
    assert balance(user.id) == 4 * QUOTA_PER_DOLLAR and topup_logs(user.id) == 1
    again = admin_client.post("/api/user/topup/complete", json={"trade_no": trade_no})
    assert again.status_code == 409 and "already been paid" in again.get_json()["message"]
    assert admin_client.post("/api/user/topup/complete", json={"trade_no": "nope"}).status_code == 404
    assert admin_client.post("/api/user/topup/complete", json={}).status_code == 400
    # the gateway's late notify is acknowledged and credits nothing
    requests.post(body["url"], data=body["data"], timeout=10).raise_for_status()
    assert notify(client, epay_on.notify_params(trade_no)).get_data(as_text=True) == "success"
    assert balance(user.id) == 4 * QUOTA_PER_DOLLAR and topup_logs(user.id) == 1


# -- races ------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_race_20_duplicate_notifies_credit_once(race_app):
    enable_epay("http://gateway.invalid")
    user = make_user("payer")
    trade_no = place_order(login_client(race_app, user), amount=10)["trade_no"]
    order = order_row(trade_no)
    params = {"pid": PID, "trade_no": "2024000001", "out_trade_no": trade_no, "type": "alipay",
              "name": "TUC10", "money": f"{order.amount:.2f}", "trade_status": "TRADE_SUCCESS"}
    params |= {"sign": epay_sign(params, KEY), "sign_type": "MD5"}
    clients = [race_app.test_client() for _ in range(20)]
    results = all_at_once(20, lambda i: notify(clients[i], params, "GET" if i % 2 else "POST"))
    assert [r.get_data(as_text=True) for r in results] == ["success"] * 20
    assert balance(user.id) == 10 * QUOTA_PER_DOLLAR
    assert topup_logs(user.id) == 1
    assert order_row(trade_no).status == TopUpStatus.PAID


@pytest.mark.slow
def test_race_notifies_and_admin_completion(race_app):
    """Notifies and an admin's manual completion at once: one of them credits, once."""
    enable_epay("http://gateway.invalid")
    user = make_user("payer")
    admin = make_user("boss", role=10)
    trade_no = place_order(login_client(race_app, user), amount=2)["trade_no"]
    order = order_row(trade_no)
    params = {"pid": PID, "trade_no": "2024000002", "out_trade_no": trade_no, "type": "wxpay",
              "name": "TUC2", "money": f"{order.amount:.2f}", "trade_status": "TRADE_SUCCESS"}
    params |= {"sign": epay_sign(params, KEY), "sign_type": "MD5"}
    clients = [login_client(race_app, admin) if i < 5 else race_app.test_client() for i in range(15)]

    def work(i):
        if i < 5:
            return clients[i].post("/api/user/topup/complete", json={"trade_no": trade_no}).status_code
        return notify(clients[i], params).get_data(as_text=True)

    results = all_at_once(15, work)
    assert all(r in (200, 409) for r in results[:5]) and results[5:] == ["success"] * 10
    assert results[:5].count(200) <= 1
    assert balance(user.id) == 2 * QUOTA_PER_DOLLAR and topup_logs(user.id) == 1


# -- preset amounts and discounts -------------------------------------------------------------------------

def test_topup_info_exposes_presets_and_discounts_like_new_api(app, user_client, user, gateway):
    enable_epay(gateway.url, MinTopUp=20, AmountOptions=[500, 10, 20, 100], AmountDiscount={"100": 0.95})
    data = user_client.get("/api/user/topup/info").get_json()["data"]
    assert data["amount_options"] == [20, 100, 500]  # sorted, without those under MinTopUp
    assert data["discount"] == {"100": 0.95}


def test_discount_applies_to_the_quote_and_fixes_the_order_price(app, client, user_client, user, epay_on):
    options().update({"AmountDiscount": {"100": 0.95}, "TopupGroupRatio": {"default": 1, "vip": 0.8}})
    assert user_client.post("/api/user/amount", json={"amount": 100}).get_json()["data"] == "693.50"
    assert user_client.post("/api/user/amount", json={"amount": 99}).get_json()["data"] == "722.70"
    user.group = "vip"
    db.session.commit()
    assert user_client.post("/api/user/amount", json={"amount": 100}).get_json()["data"] == "554.80"
    body = place_order(user_client, amount=100)
    assert body["data"]["money"] == "554.80"
    order = order_row(body["trade_no"])
    assert order.amount == Decimal("554.80") and order.quota == 100 * QUOTA_PER_DOLLAR
    options().update({"AmountDiscount": {}})  # a later change does not touch the open order
    requests.post(body["url"], data=body["data"], timeout=10).raise_for_status()
    assert notify(client, epay_on.notify_params(body["trade_no"])).get_data(as_text=True) == "success"
    assert balance(user.id) == 100 * QUOTA_PER_DOLLAR


@pytest.mark.parametrize("changes", [
    {"AmountOptions": [0]}, {"AmountOptions": [10, 10]}, {"AmountOptions": [1.5]}, {"AmountOptions": [True]},
    {"AmountOptions": ["10"]}, {"AmountOptions": [10_000_000]}, {"AmountOptions": {"10": 1}},
    {"AmountOptions": list(range(1, 60))}, {"AmountDiscount": {"100": 0}}, {"AmountDiscount": {"100": 1.2}},
    {"AmountDiscount": {"100": -0.5}}, {"AmountDiscount": {"ten": 0.9}}, {"AmountDiscount": {"010": 0.9}},
    {"AmountDiscount": {"100": "0.9"}}, {"AmountDiscount": {"0": 0.9}}, {"AmountDiscount": [0.9]},
    {"EpayOrderExpireHours": -1},
])
def test_bad_preset_and_discount_options_are_refused(app, root_client, changes):
    before = {key: options().get(key) for key in changes}
    response = root_client.put("/api/option/", json={"key": next(iter(changes)),
                                                     "value": json.dumps(next(iter(changes.values())))})
    assert response.get_json()["success"] is False, changes
    assert {key: options().get(key) for key in changes} == before


def test_wallet_shows_preset_buttons_and_the_discount(app, user_client, user, epay_on):
    options().update({"AmountOptions": [10, 100], "AmountDiscount": {"100": 0.95}})
    page = user_client.get("/console/wallet").get_data(as_text=True)
    assert 'data-set-amount="10"' in page and 'data-set-amount="100"' in page and "5% off" in page
    quoted = user_client.post("/console/wallet/quote", data={"amount": "100"}).get_data(as_text=True)
    assert "693.50" in quoted and 'data-testid="topup-discount"' in quoted
    plain = user_client.post("/console/wallet/quote", data={"amount": "10"}).get_data(as_text=True)
    assert "73.00" in plain and 'data-testid="topup-discount"' not in plain


# -- stale orders -----------------------------------------------------------------------------------------

def age_order(trade_no: str, hours: float) -> None:
    db.session.execute(update(TopUp).where(TopUp.trade_no == trade_no)
                       .values(created_time=TopUp.created_time - int(hours * 3600)))
    db.session.commit()


def test_stale_epay_orders_are_cancelled_and_late_notifies_refused(app, client, user_client, admin_client, user,
                                                                   epay_on):
    old, fresh = place_order(user_client, amount=3), place_order(user_client, amount=4)
    age_order(old["trade_no"], 25)
    age_order(fresh["trade_no"], 23)
    options().update({"EpayOrderExpireHours": 0})
    assert maintenance.cancel_stale_epay_orders() == 0
    options().update({"EpayOrderExpireHours": 24})
    assert maintenance.cancel_stale_epay_orders() == 1
    assert order_row(old["trade_no"]).status == TopUpStatus.CANCELLED
    assert order_row(fresh["trade_no"]).status == TopUpStatus.PENDING
    assert maintenance.cancel_stale_epay_orders() == 0
    # the buyer paid late: the gateway's notify is refused (it will retry), nothing credited
    requests.post(old["url"], data=old["data"], timeout=10).raise_for_status()
    late = notify(client, epay_on.notify_params(old["trade_no"]))
    assert late.status_code == 400 and late.get_data(as_text=True) == "fail"
    assert balance(user.id) == 0 and topup_logs(user.id) == 0
    assert user_client.get("/api/user/topup/self").get_json()["data"]["items"][-1]["status"] == "cancelled"
    # an admin who checked the payment with the gateway completes it, once; the retried notify is then acked
    done = admin_client.post("/api/user/topup/complete", json={"trade_no": old["trade_no"]})
    assert done.status_code == 200 and done.get_json()["data"]["status"] == "success"
    assert notify(client, epay_on.notify_params(old["trade_no"])).get_data(as_text=True) == "success"
    assert balance(user.id) == 3 * QUOTA_PER_DOLLAR and topup_logs(user.id) == 1


def test_stripe_orders_are_not_cancelled_by_the_epay_job(app, user):
    order = TopUp(user_id=user.id, amount=Decimal("8.00"), quota=QUOTA_PER_DOLLAR, trade_no="stripe-old",
                  status=TopUpStatus.PENDING, payment_method="stripe", created_time=1, paid_time=0)
    db.session.add(order)
    db.session.commit()
    assert maintenance.cancel_stale_epay_orders() == 0
    assert order_row("stripe-old").status == TopUpStatus.PENDING


def test_the_job_is_scheduled():
    assert any(entry.func is maintenance.cancel_stale_epay_orders for entry in schedule.SCHEDULE)


@pytest.mark.slow
def test_race_stale_order_job_and_notifies(race_app):
    """The job and notifies for the same stale order at once: credited once, or cancelled, never both."""
    enable_epay("http://gateway.invalid")
    options().update({"EpayOrderExpireHours": 1})
    user = make_user("payer")
    expected_credit = 0
    for attempt in range(4):
        trade_no = place_order(login_client(race_app, user), amount=1)["trade_no"]
        age_order(trade_no, 2)
        order = order_row(trade_no)
        params = {"pid": PID, "trade_no": f"20240000{attempt}", "out_trade_no": trade_no, "type": "alipay",
                  "name": "TUC1", "money": f"{order.amount:.2f}", "trade_status": "TRADE_SUCCESS"}
        params |= {"sign": epay_sign(params, KEY), "sign_type": "MD5"}
        clients = [race_app.test_client() for _ in range(6)]

        def work(i, clients=clients, params=params):
            if i < 2:
                with race_app.app_context():
                    return maintenance.cancel_stale_epay_orders()
            return notify(clients[i], params).get_data(as_text=True)

        results = all_at_once(6, work)
        status = order_row(trade_no).status
        credited = results[2:].count("success")
        if status == TopUpStatus.PAID:
            assert results[:2] == [0, 0] and credited == 4
        else:
            assert status == TopUpStatus.CANCELLED and sorted(results[:2]) == [0, 1] and credited == 0
        expected_credit += QUOTA_PER_DOLLAR if status == TopUpStatus.PAID else 0
        assert balance(user.id) == expected_credit and topup_logs(user.id) == expected_credit // QUOTA_PER_DOLLAR
