"""E-mail and Turnstile on the pages, end to end against a real SMTP server: registration with a mailed code,
"forgot password" and the reset page, binding an address on the profile, and the Turnstile widget."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import User
from app.options import options
from app.services import accounts
from tests.factories import make_user
from tests.fixtures.mail import TURNSTILE_SITE_KEY
from tests.web.conftest import HX, full

PASSWORD = "correct horse 1"


def _user(name: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == name))


@pytest.fixture
def verification_on(app, mail_settings):
    options().update({"EmailVerificationEnabled": True})
    return mail_settings


# -- registration ----------------------------------------------------------------------------------------
def test_register_page_asks_for_a_code_when_verification_is_on(client, verification_on):
    body = full(client, "/register")
    assert 'name="verification_code"' in body and 'data-testid="send-code"' in body
    assert 'formaction="/register/code"' in body


def test_register_page_without_verification_keeps_email_optional(client):
    body = full(client, "/register")
    assert 'name="verification_code"' not in body and "E-mail (optional)" in body


def test_register_through_the_page_with_the_mailed_code(client, verification_on):
    form = {"username": "pagey", "email": "pagey@example.com", "password": PASSWORD, "confirmPassword": PASSWORD}
    sent = client.post("/register/code", data=form)
    assert sent.status_code == 200
    page = sent.get_data(as_text=True)
    assert "A verification code has been sent to pagey@example.com" in page
    assert 'value="pagey"' in page  # what was typed stays in the form
    code = verification_on.last_to("pagey@example.com").code()
    wrong = client.post("/register", data=form | {"verification_code": "000000" if code != "000000" else "111111"})
    assert wrong.status_code == 422 and "wrong or has expired" in wrong.get_data(as_text=True)
    assert _user("pagey") is None
    done = client.post("/register", data=form | {"verification_code": code})
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")
    assert _user("pagey").email == "pagey@example.com"


def test_send_code_errors_show_on_the_form(client, verification_on):
    make_user("owner", email="taken@example.com")
    response = client.post("/register/code", data={"username": "x", "email": "taken@example.com"})
    assert response.status_code == 422 and "already in use" in response.get_data(as_text=True)
    assert verification_on.messages == []


# -- forgot password and reset ---------------------------------------------------------------------------
def test_login_page_links_to_forgot_only_when_mail_works(app, client):
    assert "Forgot your password?" not in full(client, "/login")
    from tests.fixtures.mail import SMTP_ACCOUNT

    options().update({"SMTPServer": "127.0.0.1", "SMTPAccount": SMTP_ACCOUNT})
    assert "Forgot your password?" in full(client, "/login")


def test_forgot_and_reset_through_the_pages(client, mail_settings):
    make_user("carol", email="carol@example.com", password="old password 1")
    sent = client.post("/forgot", data={"email": "carol@example.com"})
    assert sent.status_code == 200 and 'data-testid="reset-sent"' in sent.get_data(as_text=True)
    link = mail_settings.last_to("carol@example.com").link()
    parts = urlsplit(link)
    assert parts.netloc == "gateway.sluice.test" and parts.path == "/reset"
    page = full(client, f"{parts.path}?{parts.query}")
    assert 'name="token"' in page and "carol@example.com" in page
    token = page.split('name="token" value="')[1].split('"')[0]
    mismatch = client.post("/reset", data={"email": "carol@example.com", "token": token,
                                           "password": "new password 22", "confirmPassword": "other"})
    assert mismatch.status_code == 422
    done = client.post("/reset", data={"email": "carol@example.com", "token": token,
                                       "password": "new password 22", "confirmPassword": "new password 22"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")
    assert accounts.authenticate("carol", "new password 22")
    # the link is spent: the page now says so and offers a new one
    again = client.get(f"{parts.path}?{parts.query}")
    assert again.status_code == 400
    body = again.get_data(as_text=True)
    assert "invalid or has expired" in body and 'name="token"' not in body and "/forgot" in body


def test_forgot_answers_the_same_for_an_unknown_address(client, mail_settings):
    make_user("carol", email="carol@example.com")
    known = client.post("/forgot", data={"email": "carol@example.com"}).get_data(as_text=True)
    unknown = client.post("/forgot", data={"email": "nobody@example.com"}).get_data(as_text=True)
    assert known.replace("carol@example.com", "X") == unknown.replace("nobody@example.com", "X")


def test_forgot_with_smtp_down_shows_the_error(client, mail_settings):
    from tests.fixtures.services import free_port

    options().update({"SMTPPort": free_port()})
    make_user("carol", email="carol@example.com", password="old password 1")
    response = client.post("/forgot", data={"email": "carol@example.com"})
    assert response.status_code == 422 and "could not reach the mail server" in response.get_data(as_text=True)
    assert accounts.authenticate("carol", "old password 1")


# -- profile ---------------------------------------------------------------------------------------------
def test_bind_email_on_the_profile(user_client, user, mail_settings):
    assert 'id="email-form"' in full(user_client, "/console/profile")
    sent = user_client.post("/console/profile/email/code", data={"email": "alice@example.com"}, headers=HX)
    assert sent.status_code == 200
    assert "A verification code has been sent to alice@example.com" in sent.get_data(as_text=True)
    code = mail_settings.last_to("alice@example.com").code()
    wrong = user_client.post("/console/profile/email", data={"email": "alice@example.com", "code": "12"},
                             headers=HX)
    assert wrong.status_code == 422
    bound = user_client.post("/console/profile/email", data={"email": "alice@example.com", "code": code},
                             headers=HX)
    assert bound.status_code == 200 and "toast" in bound.headers["HX-Trigger"]
    assert 'id="account-email" class="col-7 text-break" hx-swap-oob="true">alice@example.com<' in bound.get_data(
        as_text=True)  # the account card's row follows
    assert _user("alice").email == "alice@example.com"
    assert "Current: alice@example.com" in full(user_client, "/console/profile")


def test_bind_on_the_profile_without_htmx(user_client, user, mail_settings):
    sent = user_client.post("/console/profile/email/code", data={"email": "alice@example.com"})
    assert sent.status_code == 200 and "<html" in sent.get_data(as_text=True)
    code = mail_settings.last_to("alice@example.com").code()
    bound = user_client.post("/console/profile/email", data={"email": "alice@example.com", "code": code})
    assert bound.status_code in (200, 302, 303)
    assert _user("alice").email == "alice@example.com"


# -- Turnstile -------------------------------------------------------------------------------------------
def test_widget_and_csp_on_the_auth_pages(client, turnstile_on, mail_settings):
    for path in ("/login", "/register", "/forgot"):
        response = client.get(path)
        body = response.get_data(as_text=True)
        assert f'data-sitekey="{TURNSTILE_SITE_KEY}"' in body, path
        assert "https://challenges.cloudflare.com/turnstile/v0/api.js" in body
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self' https://challenges.cloudflare.com" in csp
        assert "frame-src https://challenges.cloudflare.com" in csp
        assert "<script>" not in body  # no inline script: every script tag has a src


def test_no_widget_while_the_check_is_off(client):
    assert "cf-turnstile" not in full(client, "/login")


def test_login_page_needs_the_widget_token(app, turnstile_on):
    make_user("erin", password=PASSWORD)
    client = app.test_client()
    refused = client.post("/login", data={"username": "erin", "password": PASSWORD})
    assert refused.status_code == 422 and "Turnstile" in refused.get_data(as_text=True)
    failed = client.post("/login", data={"username": "erin", "password": PASSWORD,
                                         "cf-turnstile-response": "forged"})
    assert failed.status_code == 422 and "check failed" in failed.get_data(as_text=True)
    passed = client.post("/login", data={"username": "erin", "password": PASSWORD,
                                         "cf-turnstile-response": turnstile_on.issue()})
    assert passed.status_code == 302
    assert turnstile_on.requests[-1]["remoteip"] == "127.0.0.1"


def test_register_page_with_turnstile(app, turnstile_on):
    client = app.test_client()
    form = {"username": "tina", "password": PASSWORD, "confirmPassword": PASSWORD}
    assert client.post("/register", data=form).status_code == 422
    assert _user("tina") is None
    assert client.post("/register", data=form | {"cf-turnstile-response": turnstile_on.issue()}).status_code == 302
    assert _user("tina") is not None


def test_check_in_page_carries_the_widget_and_needs_its_token(user_client, turnstile_on):
    options().update({"CheckInEnabled": True, "CheckInQuota": 5, "CheckInMaxQuota": 5})
    assert f'data-sitekey="{TURNSTILE_SITE_KEY}"' in full(user_client, "/console/wallet")
    refused = user_client.post("/console/wallet/checkin", headers=HX)
    assert refused.status_code == 422 and "Turnstile" in refused.get_data(as_text=True)
    assert _user("alice").quota == 0
    done = user_client.post("/console/wallet/checkin", headers=HX,
                            data={"cf-turnstile-response": turnstile_on.issue()})
    assert done.status_code == 200
    assert _user("alice").quota == 5
