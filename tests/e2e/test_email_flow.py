"""E-mail in the browser, against a real SMTP server: root sets up mail on the settings page and turns on
verification; a visitor registers with the mailed code, forgets the password and resets it through the
mailed link, then binds a new address on the profile."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ROOT_NAME, ROOT_PASSWORD, login, screenshot, start_server
from tests.fixtures.mail import SMTP_ACCOUNT, SMTP_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def mail_server(tmp_path, tiktoken_cache):
    from app.services.setup import perform_setup
    from app.web.hooks import mark_setup_done

    server = start_server(tmp_path / "app", tiktoken_cache)
    with server.app.app_context():
        perform_setup(ROOT_NAME, ROOT_PASSWORD, ROOT_PASSWORD)
        mark_setup_done()
    yield server
    server.stop()


def test_register_reset_and_bind_by_email(browser, page, mail_server, smtp_server, tmp_path):
    base = mail_server.url
    login(page, base, ROOT_NAME, ROOT_PASSWORD)
    page.goto(base + "/admin/settings?group=email")
    page.fill("#opt-SMTPServer", smtp_server.host)
    page.fill("#opt-SMTPPort", str(smtp_server.port))
    page.fill("#opt-SMTPAccount", SMTP_ACCOUNT)
    page.fill("#opt-SMTPFrom", "noreply@sluice.test")
    assert page.get_attribute("#opt-SMTPToken", "type") == "password"
    page.fill("#opt-SMTPToken", SMTP_PASSWORD)
    page.click("#settings-form button[type=submit]")
    page.locator("#settings-form .alert-success").wait_for()
    assert page.input_value("#opt-SMTPToken") == ""  # a secret is never shown again
    screenshot(page, "admin-settings-email", tmp_path)
    page.goto(base + "/admin/settings?group=general")
    page.fill("#opt-ServerAddress", base)
    page.click("#settings-form button[type=submit]")
    page.locator("#settings-form .alert-success").wait_for()
    page.goto(base + "/admin/settings?group=registration")
    page.check("#opt-EmailVerificationEnabled")
    page.click("#settings-form button[type=submit]")
    page.locator("#settings-form .alert-success").wait_for()

    visitor = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    guest = visitor.new_page()
    guest.goto(base + "/register")
    guest.fill("#register-username", "mailer")
    guest.fill("#register-email", "mailer@example.com")
    guest.click("[data-testid=send-code]")
    expect(guest.locator("text=A verification code has been sent to mailer@example.com")).to_be_visible()
    code = smtp_server.last_to("mailer@example.com").code()
    assert guest.input_value("#register-username") == "mailer"
    guest.fill("#register-code", code)
    guest.fill("#register-password", "first password 1")
    guest.fill("#register-confirm", "first password 1")
    screenshot(guest, "register-with-code", tmp_path)
    guest.click("form button.btn-primary")
    guest.wait_for_url(base + "/login")

    guest.click("text=Forgot your password?")
    guest.fill("#forgot-email", "mailer@example.com")
    guest.click("form button[type=submit]")
    guest.locator("[data-testid=reset-sent]").wait_for()
    link = smtp_server.last_to("mailer@example.com").link()
    assert link.startswith(base + "/reset?")
    guest.goto(link)
    guest.fill("#reset-password", "second password 2")
    guest.fill("#reset-confirm", "second password 2")
    guest.click("form button[type=submit]")
    guest.wait_for_url(base + "/login")
    login(guest, base, "mailer", "second password 2")
    guest.goto(link)  # the link worked once
    expect(guest.locator("[role=alert]")).to_contain_text("invalid or has expired")

    guest.goto(base + "/console/profile")
    guest.fill("#email-form input[name=email]", "mailer.new@example.com")
    guest.click("[data-testid=email-send-code]")
    expect(guest.locator("#email-form")).to_contain_text("A verification code has been sent")
    guest.fill("#email-form input[name=code]", smtp_server.last_to("mailer.new@example.com").code())
    guest.click("#email-form button.btn-primary")
    expect(guest.locator("#email-form")).to_contain_text("Current: mailer.new@example.com")
    expect(guest.locator("#account-email")).to_have_text("mailer.new@example.com")  # the account card too
    screenshot(guest, "profile-email-bound", tmp_path)
    visitor.close()
