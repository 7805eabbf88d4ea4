"""Online top-up in the browser: root sets up the epay gateway on the settings page; a user orders $5 in the
wallet, is handed over to the (mock) gateway by a plain form, pays there, comes back to a paid order and a
credited balance; root sees the paid order. The page fixture fails the test on any CSP violation."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.options import options
from tests.e2e.conftest import ROOT_NAME, ROOT_PASSWORD, login, screenshot
from tests.factories import make_user
from tests.mock_epay import MockEpay

pytestmark = pytest.mark.browser


@pytest.fixture
def gateway():
    with MockEpay() as server:
        server.add_merchant("3003", "e2e-merchant-key")
        yield server


def test_topup_through_the_gateway(browser, page, fresh_server, gateway, tmp_path, dialogs):
    from app.services.setup import perform_setup
    from app.web.hooks import mark_setup_done

    base = fresh_server.url
    with fresh_server.app.app_context():
        perform_setup(ROOT_NAME, ROOT_PASSWORD, ROOT_PASSWORD)
        mark_setup_done()
        options().update({"ServerAddress": base})
        make_user("payer", "password-123")

    login(page, base, ROOT_NAME, ROOT_PASSWORD)
    page.goto(base + "/admin/settings?group=payment")
    page.fill("#opt-PayAddress", gateway.url)
    page.fill("#opt-EpayId", "3003")
    page.fill("#opt-EpayKey", "e2e-merchant-key")
    page.fill("#opt-AmountDiscount", '{"100": 0.95}')
    page.click("#settings-form button[type=submit]")
    page.locator("#settings-form .alert-success").wait_for()
    assert page.input_value("#opt-EpayKey") == ""  # a secret is never shown again

    user_context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    user_page = user_context.new_page()
    user_page.on("dialog", dialogs)
    problems: list[str] = []
    user_page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    login(user_page, base, "payer", "password-123")
    user_page.goto(base + "/console/wallet")
    expect(user_page.locator("[data-testid=preset-100]")).to_contain_text("5% off")
    user_page.click("[data-testid=preset-100]")  # fills the amount and asks for a new quote
    assert user_page.input_value("#topup-amount") == "100"
    expect(user_page.locator("[data-testid=topup-quote]")).to_contain_text("693.50")
    expect(user_page.locator("[data-testid=topup-discount]")).to_be_visible()
    user_page.fill("#topup-amount", "5")
    expect(user_page.locator("[data-testid=topup-quote]")).to_contain_text("36.50")
    screenshot(user_page, "wallet-topup", tmp_path)
    user_page.click("[data-testid=pay-alipay]")
    user_page.wait_for_url("**/console/wallet/pay/*")
    expect(user_page.locator("[data-testid=order-money]")).to_have_text("36.50")
    screenshot(user_page, "wallet-topup-order", tmp_path)
    user_page.click("[data-testid=go-pay]")
    user_page.wait_for_url(gateway.url + "/submit.php")
    expect(user_page.locator("h1")).to_have_text("Pay 36.50")
    user_page.click("#confirm")
    user_page.wait_for_url("**/console/wallet/pay/*")
    expect(user_page.locator("[data-testid=order-status]")).to_contain_text("Paid")
    user_page.goto(base + "/console/wallet")
    expect(user_page.locator("[data-testid=wallet-balance]")).to_have_text("$5.00")
    expect(user_page.locator("#topup-orders")).to_contain_text("Paid")
    assert not [p for p in problems if "Content Security Policy" in p], problems
    user_context.close()

    page.goto(base + "/admin/topups")
    expect(page.locator("#topup-list tbody tr").first).to_contain_text("payer")
    expect(page.locator("#topup-list tbody tr").first).to_contain_text("Paid")
    screenshot(page, "admin-topups", tmp_path)
