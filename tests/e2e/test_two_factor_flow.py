"""Two-factor authentication in the browser: turn it on from the profile card (QR code under the strict
CSP), sign in again through the second step with a TOTP code and with a backup code, turn it off."""

from __future__ import annotations

import time

import pyotp
import pytest

from tests.e2e.conftest import login, screenshot
from tests.factories import make_user

pytestmark = pytest.mark.browser


def _password_step(page, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", "password-123")
    page.click("form button[type=submit]")
    page.wait_for_url("**/login/2fa")


def test_enable_sign_in_with_codes_and_disable(page, context, live_server, tmp_path):
    base, name = live_server.url, "twofa-e2e"
    with live_server.app.app_context():
        make_user(name, "password-123")
    login(page, base, name, "password-123")
    page.goto(f"{base}/console/profile")
    page.get_by_role("button", name="Set up").click()
    page.locator("[data-testid=two-factor-qr] svg").wait_for()
    secret = page.inner_text("[data-testid=two-factor-secret]").strip()
    backup_codes = page.locator("[data-testid=backup-codes] li").all_inner_texts()
    assert len(backup_codes) == 10
    screenshot(page, "user-profile-2fa-setup", tmp_path)
    page.fill("#user\\.two_fa_enable-code", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    page.get_by_role("button", name="Disable").wait_for()
    assert secret not in page.content()

    page.goto(f"{base}/api/user/logout")
    _password_step(page, base, name)
    page.fill("#login-2fa-code", pyotp.TOTP(secret).now())  # the step that turned 2FA on: a replay
    page.click("[data-testid=login-2fa] button[type=submit]")
    assert "already used" in page.inner_text("[role=alert]")
    page.fill("#login-2fa-code", pyotp.TOTP(secret).at(time.time() + 30))
    page.click("[data-testid=login-2fa] button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)

    page.goto(f"{base}/api/user/logout")
    _password_step(page, base, name)
    page.fill("#login-2fa-code", backup_codes[0])
    page.click("[data-testid=login-2fa] button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)

    page.goto(f"{base}/console/profile")
    page.fill("#user\\.two_fa_disable-code", backup_codes[1])
    page.get_by_role("button", name="Disable").click()
    page.get_by_role("button", name="Set up").wait_for()
