"""First-run setup: GET/POST /api/setup, the /setup page, `flask create-root`, and the race of 20 callers."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Log, Role, Setup, User
from app.options import get_option
from app.services.setup import ROOT_INITIAL_QUOTA
from tests.factories import make_user
from tests.fixtures.race import all_at_once

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
GOOD = {"username": "root", "password": "s3cret-pass", "confirmPassword": "s3cret-pass"}


def roots() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(User).where(User.role == Role.ROOT))


def setup_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(Setup))


def test_state_before_setup(client):
    response = client.get("/api/setup")
    assert response.status_code == 200
    body = response.get_json()
    assert body["success"] is True
    assert body["data"] == {"status": False, "root_init": False, "database_type": "sqlite"}


def test_setup_creates_the_root_user_once(client, h):
    response = client.post("/api/setup", json=GOOD)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["success"] is True

    root = h.user_named("root")
    assert root.role == Role.ROOT and root.display_name == "Root User"
    assert root.quota == ROOT_INITIAL_QUOTA
    assert root.password.startswith("scrypt:") and "s3cret-pass" not in root.password
    assert setup_rows() == 1
    assert db.session.scalar(select(func.count()).select_from(Log).where(Log.user_id == root.id)) == 1
    assert client.get("/api/setup").get_json()["data"] == {
        "status": True, "root_init": True, "database_type": "sqlite"}

    again = client.post("/api/setup", json={**GOOD, "username": "other"})
    h.envelope_error(again, 409)
    assert "already set up" in again.get_json()["message"]
    assert roots() == 1 and h.user_named("other") is None

    login = client.post("/api/user/login", json={"username": "root", "password": "s3cret-pass"})
    assert login.status_code == 200 and login.get_json()["data"]["role"] == Role.ROOT


def test_setup_stores_self_use_mode(client):
    response = client.post("/api/setup", json={**GOOD, "SelfUseModeEnabled": True})
    assert response.status_code == 200
    assert get_option("SelfUseModeEnabled") is True


@pytest.mark.parametrize("body", [
    {**GOOD, "confirmPassword": "different-pass"},
    {"username": "root", "password": "s3cret-pass"},
    {**GOOD, "password": "short", "confirmPassword": "short"},
    {**GOOD, "password": "x" * 65, "confirmPassword": "x" * 65},
    {**GOOD, "username": ""},
    {**GOOD, "username": "r" * 21},
    {**GOOD, "username": "<script>"},
    {**GOOD, "username": "ro\u0000ot"},
    {**GOOD, "username": True},
    {**GOOD, "username": ["root"]},
    {**GOOD, "username": {"name": "root"}},
    {**GOOD, "username": 12345},
    {**GOOD, "password": 12345678, "confirmPassword": 12345678},
    {**GOOD, "SelfUseModeEnabled": "yes"},
    {"username": None, "password": None, "confirmPassword": None},
])
def test_bad_setup_input_writes_nothing(client, h, body):
    response = client.post("/api/setup", json=body)
    h.envelope_error(response, 400)
    assert h.counts() == (0, 0) and setup_rows() == 0
    assert client.get("/api/setup").get_json()["data"]["status"] is False


@pytest.mark.parametrize("raw", [b'{"username": NaN}', b"[1, 2]", b"not json", b'{"username": "\xff\xfe"}', b""])
def test_malformed_setup_bodies(client, h, raw):
    response = client.post("/api/setup", data=raw, content_type="application/json")
    h.envelope_error(response, 400)
    assert h.counts() == (0, 0) and setup_rows() == 0


def test_existing_root_without_setup_row_is_recorded_not_duplicated(client, h):
    make_user("legacy_root", role=Role.ROOT)
    response = client.post("/api/setup", json=GOOD)
    h.envelope_error(response, 409)
    assert roots() == 1 and setup_rows() == 1
    assert client.get("/api/setup").get_json()["data"]["status"] is True


def test_twenty_concurrent_setups_make_exactly_one_root(app, h, fast_hash):
    callers = 20
    clients = [app.test_client() for _ in range(callers)]

    def call(i: int) -> tuple[int, dict]:
        response = clients[i].post("/api/setup", json={"username": f"root{i}", "password": "s3cret-pass",
                                                      "confirmPassword": "s3cret-pass"})
        return response.status_code, response.get_json()

    results = all_at_once(callers, call)

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * (callers - 1), results
    for status, body in results:
        if status == 409:
            assert body["success"] is False and "already set up" in body["message"] and body["data"] is None
    assert roots() == 1 and setup_rows() == 1
    assert h.counts()[0] == 1


# -- pages -----------------------------------------------------------------------------------------------
def test_pages_redirect_to_setup_until_done(client):
    for path in ("/", "/login", "/register"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/setup")
    page = client.get("/setup")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'name="confirmPassword"' in text and 'name="csrf_token"' in text
    assert INLINE_SCRIPT.search(text) is None and EVENT_HANDLER.search(text) is None


def test_setup_page_form_creates_root_then_redirects_to_login(client, h):
    response = client.post("/setup", data=GOOD)
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert roots() == 1
    assert client.get("/setup").headers["Location"].endswith("/login")
    assert client.get("/login").status_code == 200
    again = client.post("/setup", data={**GOOD, "username": "second"})
    assert again.status_code == 302 and roots() == 1


def test_setup_page_shows_a_readable_error(client, h):
    response = client.post("/setup", data={**GOOD, "confirmPassword": "nope-nope-nope"})
    assert response.status_code == 422
    assert "do not match" in response.get_data(as_text=True)
    assert 'value="root"' in response.get_data(as_text=True)
    assert h.counts() == (0, 0)


def test_cli_create_root_uses_the_same_rules(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-root", "--username", "cliroot", "--password", "s3cret-pass"])
    assert result.exit_code == 0, result.output
    assert "cliroot" in result.output
    again = runner.invoke(args=["create-root", "--username", "cliroot2", "--password", "s3cret-pass"])
    assert again.exit_code != 0 and "already set up" in again.output
    assert roots() == 1
