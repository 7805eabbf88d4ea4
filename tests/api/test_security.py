"""Envelopes, CSRF, rate limits, proxies and redirects for the account routes and pages."""

from __future__ import annotations

import pytest

from app.config import Config
from app.services import accounts
from app.web.htmx import safe_next

WRONG = {"username": "alice", "password": "wrong-password"}
RIGHT = {"username": "alice", "password": "password123"}
# The documented default (README and app/config.py): 10 failed sign-ins per minute per peer address.
LOGIN_LIMIT = 10


# -- envelopes -------------------------------------------------------------------------------------------
def test_unknown_api_route_is_a_404_envelope(client, h):
    body = h.envelope_error(client.get("/api/no/such/route"), 404)
    assert body["message"]


def test_wrong_method_is_a_405_envelope(client, h):
    response = client.delete("/api/user/login")
    h.envelope_error(response, 405)
    assert "POST" in response.headers["Allow"]


def test_non_json_body_is_a_400_envelope(client, h, user):
    response = client.post("/api/user/login", data="username=alice&password=password123",
                           content_type="application/x-www-form-urlencoded")
    h.envelope_error(response, 400)
    h.envelope_error(client.post("/api/user/login", data="hello", content_type="text/plain"), 400)


def test_unexpected_errors_are_an_envelope_without_a_traceback(client, h, monkeypatch):
    def explode(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(accounts, "authenticate", explode)
    body = h.envelope_error(client.post("/api/user/login", json=RIGHT), 500)
    assert "secret internals" not in body["message"]


def test_page_404_renders_html(client, setup_done):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "404" in response.get_data(as_text=True)


class TestBodyLimit:
    @pytest.fixture
    def app_overrides(self):
        return {"MAX_CONTENT_LENGTH": 1024}

    def test_oversized_body_is_a_413_envelope(self, client, h):
        response = client.post("/api/user/register", json={"username": "bob", "password": "p" * 2048})
        h.envelope_error(response, 413)
        assert h.counts() == (0, 0)


# -- CSRF ------------------------------------------------------------------------------------------------
class TestCsrf:
    @pytest.fixture
    def app_overrides(self):
        return {"WTF_CSRF_ENABLED": True}

    def test_session_writes_need_the_token(self, user_client, h, setup_done):
        response = user_client.put("/api/user/self", json={"display_name": "forged"})
        h.envelope_error(response, 400)
        assert "CSRF" in response.get_json()["message"]
        bad = user_client.put("/api/user/self", json={"display_name": "forged"}, headers={"X-CSRFToken": "nope"})
        h.envelope_error(bad, 400)
        assert h.user_named("alice").display_name is None

        token = h.csrf_token(user_client)
        good = user_client.put("/api/user/self", json={"display_name": "real"}, headers={"X-CSRFToken": token})
        assert good.status_code == 200
        assert h.user_named("alice").display_name == "real"

    def test_access_token_requests_need_no_csrf_token(self, client, token_headers, h):
        response = client.put("/api/user/self", json={"display_name": "scripted"}, headers=token_headers)
        assert response.status_code == 200
        assert h.user_named("alice").display_name == "scripted"

    def test_api_login_without_a_session_needs_no_token(self, client, user):
        assert client.post("/api/user/login", json=RIGHT).status_code == 200

    def test_login_form_posts_with_the_form_field(self, client, user, h, setup_done):
        token = h.csrf_token(client, "/login")
        refused = client.post("/login", data=RIGHT)
        assert refused.status_code == 400 and refused.mimetype == "text/html"
        response = client.post("/login", data={**RIGHT, "csrf_token": token})
        assert response.status_code == 302
        assert client.get("/api/user/self").status_code == 200

    def test_logout_form_needs_the_token(self, user_client, h, setup_done):
        assert user_client.post("/logout").status_code == 400
        assert user_client.get("/api/user/self").status_code == 200
        token = h.csrf_token(user_client)
        response = user_client.post("/logout", data={"csrf_token": token})
        assert response.status_code == 302 and response.headers["Location"].endswith("/login")
        h.envelope_error(user_client.get("/api/user/self"), 401)


# -- rate limits -----------------------------------------------------------------------------------------
def test_documented_default_login_limit(monkeypatch, tmp_path):
    monkeypatch.delenv("RATELIMIT_LOGIN", raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    assert Config().RATELIMIT_LOGIN == f"{LOGIN_LIMIT} per minute"


def test_no_rate_limit_when_disabled(client, h, user):
    for _ in range(LOGIN_LIMIT + 5):
        h.envelope_error(client.post("/api/user/login", json=WRONG), 401)


class TestLoginRateLimit:
    @pytest.fixture
    def app_overrides(self):
        return {"RATELIMIT_ENABLED": True, "RATELIMIT_LOGIN": f"{LOGIN_LIMIT} per minute"}

    def test_wrong_passwords_hit_429_after_the_documented_number(self, client, h, user):
        for _ in range(LOGIN_LIMIT):
            h.envelope_error(client.post("/api/user/login", json=WRONG), 401)
        response = client.post("/api/user/login", json=RIGHT)  # even the right password now waits
        body = h.envelope_error(response, 429)
        assert "too many requests" in body["message"]
        assert "Retry-After" in response.headers

    def test_successful_sign_ins_do_not_count(self, client, h, user):
        for _ in range(LOGIN_LIMIT + 3):
            assert client.post("/api/user/login", json=RIGHT).status_code == 200
        h.envelope_error(client.post("/api/user/login", json=WRONG), 401)

    def test_pages_and_api_share_one_budget(self, client, h, user, setup_done):
        for _ in range(LOGIN_LIMIT // 2):
            assert client.post("/login", data=WRONG).status_code == 422
        for _ in range(LOGIN_LIMIT - LOGIN_LIMIT // 2):
            h.envelope_error(client.post("/api/user/login", json=WRONG), 401)
        page = client.post("/login", data=RIGHT)
        assert page.status_code == 429 and page.mimetype == "text/html"
        h.envelope_error(client.post("/api/user/login", json=RIGHT), 429)

    def test_forwarded_for_is_ignored_without_trusted_proxies(self, client, h, user):
        for i in range(LOGIN_LIMIT):
            client.post("/api/user/login", json=WRONG, headers={"X-Forwarded-For": f"10.0.0.{i}"})
        response = client.post("/api/user/login", json=RIGHT, headers={"X-Forwarded-For": "10.9.9.9"})
        h.envelope_error(response, 429)


class TestRateLimitBehindAProxy:
    @pytest.fixture
    def app_overrides(self):
        return {"RATELIMIT_ENABLED": True, "RATELIMIT_LOGIN": f"{LOGIN_LIMIT} per minute",
                "TRUSTED_PROXY_COUNT": 1}

    def test_each_forwarded_client_has_its_own_budget(self, client, h, user):
        attacker = {"X-Forwarded-For": "203.0.113.7"}
        for _ in range(LOGIN_LIMIT):
            h.envelope_error(client.post("/api/user/login", json=WRONG, headers=attacker), 401)
        h.envelope_error(client.post("/api/user/login", json=RIGHT, headers=attacker), 429)
        # Another client behind the same proxy is not locked out by the attacker.
        other = client.post("/api/user/login", json=RIGHT, headers={"X-Forwarded-For": "198.51.100.2"})
        assert other.status_code == 200
        # Only the last hop counts: a spoofed left-most entry does not buy a fresh budget.
        spoofed = {"X-Forwarded-For": "1.2.3.4, 203.0.113.7"}
        h.envelope_error(client.post("/api/user/login", json=RIGHT, headers=spoofed), 429)


class TestRegisterRateLimit:
    @pytest.fixture
    def app_overrides(self):
        return {"RATELIMIT_ENABLED": True, "RATELIMIT_REGISTER": "3 per hour"}

    def test_accounts_created_are_counted_failures_are_not(self, client, h, fast_hash):
        for _ in range(5):
            h.envelope_error(client.post("/api/user/register", json={"username": "x", "password": "short"}), 400)
        for i in range(3):
            response = client.post("/api/user/register", json={"username": f"new{i}", "password": "good-password"})
            assert response.status_code == 200
        blocked = client.post("/api/user/register", json={"username": "new9", "password": "good-password"})
        h.envelope_error(blocked, 429)
        assert h.counts() == (3, 0)


def test_rate_limits_are_off_again_for_the_next_app(client, h, user):
    """The limiter object is shared by every app in the process; a new app must not inherit 'enabled'."""
    for _ in range(LOGIN_LIMIT + 2):
        h.envelope_error(client.post("/api/user/login", json=WRONG), 401)


# -- redirects -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("target, expected", [
    ("/dashboard", "/dashboard"),
    ("/keys?p=2#top", "/keys?p=2#top"),
    ("/", "/"),
    ("//evil.example", "/"),
    ("/\\evil.example", "/"),
    ("/x\\y", "/"),
    ("https://evil.example/", "/"),
    ("javascript:alert(1)", "/"),
    ("evil.example", "/"),
    ("/\tevil", "/"),
    ("/\r\nLocation: https://evil.example", "/"),
    ("", "/"),
    (None, "/"),
    ("/" + "a" * 3000, "/"),
])
def test_safe_next(target, expected):
    assert safe_next(target) == expected


@pytest.mark.parametrize("target, expected", [
    ("/api/user/self", "/api/user/self"), ("//evil.example/x", "/"), ("https://evil.example", "/"),
])
def test_login_form_redirects_only_inside_the_site(client, user, setup_done, target, expected):
    response = client.post("/login", data={**RIGHT, "next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_login_page_keeps_only_a_safe_next(client, setup_done):
    text = client.get("/login?next=https://evil.example").get_data(as_text=True)
    assert 'name="next" value="/"' in text
    text = client.get("/login?next=/keys").get_data(as_text=True)
    assert 'name="next" value="/keys"' in text


@pytest.mark.parametrize("target", ["/login", "/login?next=/login", "/register", "/setup", "/logout"])
def test_sign_in_never_loops_back_to_an_auth_page(client, user, setup_done, target):
    response = client.post("/login", data={**RIGHT, "next": target})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get(f"/login?next={target}").headers["Location"] == "/"
