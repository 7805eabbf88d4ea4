"""Codes and rewards in the browser: the admin turns check-in on and bulk-creates codes (copied and
downloaded as CSV, shown once); a user redeems one and checks in, and the balance follows."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ROOT_NAME, ROOT_PASSWORD, login, screenshot
from tests.factories import make_user

pytestmark = pytest.mark.browser


def test_codes_redeem_and_checkin(browser, page, live_server, tmp_path, dialogs):
    base = live_server.url
    login(page, base, ROOT_NAME, ROOT_PASSWORD)

    # Check-in on, with a fixed reward of $0.10, through the settings page.
    page.goto(base + "/admin/settings?group=checkin")
    page.check("#opt-CheckInEnabled")
    page.fill("#opt-CheckInQuota", "50000")
    page.fill("#opt-CheckInMaxQuota", "50000")
    page.click("#settings-form button[type=submit]")
    page.locator("#settings-form .alert-success").wait_for()

    # Three $5 codes: shown once, copied, downloaded.
    page.goto(base + "/admin/redemptions")
    page.fill("#rc-name", "e2e promo")
    page.fill("#rc-quota", "5")
    page.fill("#rc-count", "3")
    page.click("#code-create form button[type=submit]")
    created = page.locator("[data-testid=codes-created]")
    created.wait_for()
    codes = page.locator("[data-testid=codes-list] .secret").all_inner_texts()
    assert len(codes) == 3 and all(len(c) == 32 for c in codes)
    created.get_by_role("button", name="Copy all").click()
    assert page.evaluate("navigator.clipboard.readText()").split("\n") == codes
    with page.expect_download() as download:
        page.click("[data-testid=codes-csv]")
    csv_text = open(download.value.path(), encoding="utf-8").read()
    assert csv_text.splitlines()[0] == "name,quota,code" and all(code in csv_text for code in codes)
    page.locator("#code-list tbody tr", has_text="e2e promo").first.wait_for()
    screenshot(page, "admin-redemptions", tmp_path)
    page.reload()
    assert page.locator("[data-testid=codes-created]").count() == 0  # never shown again

    # A user redeems one code and checks in.
    with live_server.app.app_context():
        make_user("wallet-user", "password-123")
    other = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    user_page = other.new_page()
    user_page.on("dialog", dialogs)
    login(user_page, base, "wallet-user", "password-123")
    user_page.goto(base + "/console/wallet")
    assert user_page.inner_text("[data-testid=wallet-balance]") == "$0.00"
    user_page.fill("#redeem-form input[name=key]", codes[0])
    user_page.click("#redeem-form button[type=submit]")
    user_page.locator("#redeem-form .alert-success").wait_for()
    expect(user_page.locator("[data-testid=wallet-balance]")).to_have_text("$5.00")
    user_page.fill("#redeem-form input[name=key]", codes[0])
    user_page.click("#redeem-form button[type=submit]")
    user_page.locator("#redeem-form .alert-danger").wait_for()  # a used code is refused, in the form

    user_page.click("[data-testid=checkin-button]")
    user_page.locator("[data-testid=checked-in]").wait_for()
    expect(user_page.locator("[data-testid=wallet-balance]")).to_have_text("$5.10")
    screenshot(user_page, "user-wallet", tmp_path)
    other.close()
    assert not dialogs.alerts
