"""The wallet page: balance, redeeming a code."""

from __future__ import annotations

from app.extensions import db
from app.options import options
from app.services import redemption
from tests.web.conftest import HX, fragment, full


def test_wallet_needs_sign_in(client):
    assert client.get("/console/wallet").status_code == 302


def test_wallet_full_page_and_balance_fragment(user_client):
    body = full(user_client, "/console/wallet")
    assert 'id="redeem-form"' in body and 'data-testid="wallet-balance"' in body
    assert fragment(user_client, "/console/wallet/balance").lstrip().startswith('<div id="wallet-balance"')


def test_redeem_credits_and_refreshes_balance(user_client, user, admin_user):
    [key] = redemption.create_codes(admin_user, {"name": "ten", "quota": 5_000_000})
    response = user_client.post("/console/wallet/redeem", headers=HX, data={"key": key})
    assert response.status_code == 200
    assert "balance-changed" in response.headers["HX-Trigger"] and "$10.00" in response.headers["HX-Trigger"]
    db.session.refresh(user)
    assert user.quota == 5_000_000
    again = user_client.post("/console/wallet/redeem", headers=HX, data={"key": key})
    assert again.status_code == 422 and 'role="alert"' in again.get_data(as_text=True)


def test_redeem_without_htmx_renders_the_page(user_client, admin_user):
    [key] = redemption.create_codes(admin_user, {"name": "one", "quota": 500_000})
    response = user_client.post("/console/wallet/redeem", data={"key": key})
    assert response.status_code == 200 and "$1.00" in response.get_data(as_text=True)


def test_checkin_once_a_day(user_client, user):
    options().update({"CheckInEnabled": True, "CheckInQuota": 1000, "CheckInMaxQuota": 1000})
    body = full(user_client, "/console/wallet")
    assert 'data-testid="checkin-button"' in body
    response = user_client.post("/console/wallet/checkin", headers=HX)
    assert response.status_code == 200 and 'data-testid="checked-in"' in response.get_data(as_text=True)
    assert "balance-changed" in response.headers["HX-Trigger"]
    db.session.refresh(user)
    assert user.quota == 1000
    again = user_client.post("/console/wallet/checkin", headers=HX)
    assert again.status_code == 422


def test_checkin_off_is_explained(user_client):
    body = full(user_client, "/console/wallet")
    assert "Check-in is turned off" in body and 'data-testid="checkin-button"' not in body


def test_invitation_link_and_transfer(user_client, user):
    body = full(user_client, "/console/wallet")
    db.session.refresh(user)
    assert f"/register?aff={user.aff_code}" in body
    user.aff_quota = 1_000_000
    db.session.commit()
    response = user_client.post("/console/wallet/transfer", headers=HX, data={"amount": "1"})
    assert response.status_code == 200 and response.get_data(as_text=True).lstrip().startswith('<section id="invite"')
    db.session.refresh(user)
    assert (user.quota, user.aff_quota) == (500_000, 500_000)
    too_much = user_client.post("/console/wallet/transfer", headers=HX, data={"amount": "5"})
    assert too_much.status_code == 422


def test_spend_today_and_month_with_plan_limits(user_client, user):
    from app.services import plans
    from tests.web.usage_rows import add_usage

    plan = plans.create_plan({"name": "Pro", "daily_quota_limit": 1_000_000, "monthly_quota_limit": 10_000_000})
    plans.assign_plan({"user_id": user.id, "plan_id": plan.id})
    add_usage(user, quota=250_000)
    body = full(user_client, "/console/wallet")
    assert 'data-testid="plan-usage"' in body and "Plan: Pro" in body
    spend = body[body.index('data-testid="spend-today"'):]
    assert "$0.50" in spend[:100]
    plan_box = body[body.index('data-testid="plan-usage"'):]
    assert "$2.00" in plan_box and "$20.00" in plan_box  # the daily and monthly limits
