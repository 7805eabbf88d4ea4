"""Cloudflare Turnstile on the endpoints one-api and new-api guard (register, login, verification, reset
password, check-in), against a mock siteverify endpoint that speaks Cloudflare's documented format."""

from __future__ import annotations

import pytest

from app.options import options
from tests.factories import make_user
from tests.fixtures.mail import TURNSTILE_SECRET, TURNSTILE_SITE_KEY

PASSWORD = "correct horse 1"


def test_status_exposes_turnstile_like_one_api(client, turnstile_on):
    data = client.get("/api/status").get_json()["data"]
    assert data["turnstile_check"] is True
    assert data["turnstile_site_key"] == TURNSTILE_SITE_KEY
    assert data["email_verification"] is False


def test_status_hides_the_site_key_while_the_check_is_off(client):
    options().update({"TurnstileSiteKey": TURNSTILE_SITE_KEY})
    data = client.get("/api/status").get_json()["data"]
    assert data["turnstile_check"] is False and data["turnstile_site_key"] == ""


def test_the_switch_needs_both_keys(app):
    from app.errors import ValidationError

    with pytest.raises(ValidationError, match="TurnstileSecretKey"):
        options().update({"TurnstileCheckEnabled": True, "TurnstileSiteKey": TURNSTILE_SITE_KEY})


def test_secret_key_is_never_read_back(root_client, turnstile_on):
    listed = {item["key"]: item["value"] for item in root_client.get("/api/option/").get_json()["data"]}
    assert listed["TurnstileSiteKey"] == TURNSTILE_SITE_KEY
    assert "TurnstileSecretKey" not in listed
    assert TURNSTILE_SECRET not in root_client.get("/admin/settings?group=registration").get_data(as_text=True)


def test_register_with_a_valid_token_sends_secret_response_and_ip(app, h, turnstile_on):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    token = turnstile_on.issue()
    response = client.post(f"/api/user/register?turnstile={token}", json={"username": "bot1", "password": PASSWORD})
    assert response.get_json()["success"] is True, response.get_json()
    assert turnstile_on.requests[-1] == {"secret": TURNSTILE_SECRET, "response": token, "remoteip": "203.0.113.7"}


def test_missing_token_is_refused_before_anything_happens(client, h, turnstile_on):
    before = h.counts()
    body = h.envelope_error(client.post("/api/user/register", json={"username": "bot1", "password": PASSWORD}), 403)
    assert "Turnstile" in body["message"]
    assert h.counts() == before and turnstile_on.requests == []


def test_failing_and_reused_tokens_are_refused(app, h, turnstile_on):
    before = h.counts()
    body = h.envelope_error(app.test_client().post("/api/user/register?turnstile=forged",
                                                   json={"username": "bot1", "password": PASSWORD}), 403)
    assert "failed" in body["message"]
    assert turnstile_on.requests[-1]["response"] == "forged"
    token = turnstile_on.issue()
    assert app.test_client().post(f"/api/user/register?turnstile={token}",
                                  json={"username": "bot2", "password": PASSWORD}).status_code == 200
    h.envelope_error(app.test_client().post(f"/api/user/register?turnstile={token}",
                                            json={"username": "bot3", "password": PASSWORD}), 403)
    assert h.counts()[0] == before[0] + 1


def test_wrong_secret_is_refused(client, h, turnstile_on):
    options().update({"TurnstileSecretKey": "wrong-secret"})
    h.envelope_error(client.post(f"/api/user/login?turnstile={turnstile_on.issue()}",
                                 json={"username": "x", "password": "y"}), 403)


def test_siteverify_down_is_a_clear_502(client, h, turnstile_on):
    turnstile_on.broken = True
    body = h.envelope_error(client.post(f"/api/user/login?turnstile={turnstile_on.issue()}",
                                        json={"username": "x", "password": "y"}), 502)
    assert "Turnstile" in body["message"]


def test_login_verification_reset_and_checkin_are_guarded(app, h, turnstile_on, user, user_client):
    make_user("erin", password=PASSWORD)
    h.envelope_error(app.test_client().post("/api/user/login", json={"username": "erin", "password": PASSWORD}),
                     403)
    h.envelope_error(app.test_client().get("/api/verification?email=a@example.com"), 403)
    h.envelope_error(app.test_client().get("/api/reset_password?email=a@example.com"), 403)
    options().update({"CheckInEnabled": True, "CheckInQuota": 10, "CheckInMaxQuota": 10})
    h.envelope_error(user_client.post("/api/user/check_in"), 403)
    ok = app.test_client().post(f"/api/user/login?turnstile={turnstile_on.issue()}",
                                json={"username": "erin", "password": PASSWORD})
    assert ok.get_json()["success"] is True
    checked = user_client.post(f"/api/user/check_in?turnstile={turnstile_on.issue()}").get_json()
    assert checked["success"] is True and checked["data"] == {"quota": 10}


def test_a_passed_check_is_remembered_by_the_session(app, turnstile_on, mail_settings):
    turnstile_on.hostname = "gateway.sluice.test"  # mail_settings' ServerAddress: the widget is solved there
    client = app.test_client()
    assert client.get(f"/api/verification?email=a@example.com&turnstile={turnstile_on.issue()}").status_code == 200
    calls = len(turnstile_on.requests)
    code = mail_settings.last_to("a@example.com").code()
    response = client.post("/api/user/register", json={"username": "ann", "password": PASSWORD,
                                                       "email": "a@example.com", "verification_code": code})
    assert response.get_json()["success"] is True
    assert len(turnstile_on.requests) == calls  # no second siteverify call within the remembered window


def test_a_token_solved_for_another_site_is_refused(client, h, turnstile_on):
    turnstile_on.hostname = "evil.example"
    before = h.counts()
    body = h.envelope_error(client.post(f"/api/user/register?turnstile={turnstile_on.issue()}",
                                        json={"username": "bot1", "password": PASSWORD}), 403)
    assert "another site" in body["message"] and h.counts() == before


def test_the_site_host_comes_from_server_address_when_set(app, h, turnstile_on):
    options().update({"ServerAddress": "https://API.Example.com:8443/sub/"})
    # solved on localhost (the request's host) but this site is api.example.com: refused
    h.envelope_error(app.test_client().post(f"/api/user/register?turnstile={turnstile_on.issue()}",
                                            json={"username": "bot1", "password": PASSWORD}), 403)
    turnstile_on.hostname = "api.example.com"  # host names compare without case and port
    response = app.test_client().post(f"/api/user/register?turnstile={turnstile_on.issue()}",
                                      json={"username": "bot2", "password": PASSWORD})
    assert response.get_json()["success"] is True, response.get_json()


def test_a_success_without_hostname_is_an_unexpected_answer(client, h, turnstile_on):
    turnstile_on.hostname = None
    body = h.envelope_error(client.post(f"/api/user/login?turnstile={turnstile_on.issue()}",
                                        json={"username": "x", "password": "y"}), 502)
    assert "unexpected" in body["message"]
