"""Accounts over /api/user: register (with invitations), login, logout, self, token; bad input writes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Log, LogType, Role, UserStatus
from app.options import options
from app.security import hash_secret
from tests.conftest import login_client
from tests.factories import make_user
from tests.fixtures.race import all_at_once

PUBLIC_FIELDS = {"id", "username", "display_name", "role", "status", "group"}


def register(client, **body):
    body.setdefault("password", "good-password")
    return client.post("/api/user/register", json=body)


def logs_of(user_id: int) -> list[Log]:
    return list(db.session.scalars(select(Log).where(Log.user_id == user_id).order_by(Log.id)))


# -- registration ----------------------------------------------------------------------------------------
def test_register_creates_an_ordinary_user(client, h):
    response = register(client, username="bob", email="bob@example.com")
    assert response.status_code == 200 and response.get_json()["success"] is True
    bob = h.user_named("bob")
    assert bob.role == Role.USER and bob.status == UserStatus.ENABLED
    assert bob.display_name == "bob" and bob.email == "bob@example.com"
    assert bob.password.startswith("scrypt:")
    assert bob.aff_code is None  # created on first use by GET /api/user/aff
    assert bob.quota == 0 and logs_of(bob.id) == []  # QuotaForNewUser defaults to 0: no grant, no log
    assert bob.password not in response.get_data(as_text=True)


def test_register_grants_quota_for_new_user_with_a_log_row(client, h):
    options().update({"QuotaForNewUser": 5000})
    assert register(client, username="carol").status_code == 200
    carol = h.user_named("carol")
    assert carol.quota == 5000
    (row,) = logs_of(carol.id)
    assert row.type == LogType.SYSTEM and row.quota == 5000


def test_invitation_rewards_both_sides_in_one_transaction(client, h):
    options().update({"QuotaForNewUser": 1000, "QuotaForInvitee": 300, "QuotaForInviter": 700})
    inviter = make_user("inviter", aff_code="INVITE01", aff_quota=5, aff_history_quota=5, aff_count=2, quota=42)
    assert register(client, username="dave", aff_code="INVITE01").status_code == 200

    dave, inviter = h.user_named("dave"), h.user_named("inviter")
    assert dave.inviter_id == inviter.id and dave.quota == 1300
    assert (inviter.aff_count, inviter.aff_quota, inviter.aff_history_quota) == (3, 705, 705)
    assert inviter.quota == 42  # the inviter's reward waits in aff_quota until transferred
    assert [row.quota for row in logs_of(dave.id)] == [1000, 300]
    assert [row.quota for row in logs_of(inviter.id)] == [700]


def test_invitation_without_rewards_still_counts(client, h):
    make_user("inviter", aff_code="ZEROREWARD")
    assert register(client, username="erin", aff_code="ZEROREWARD").status_code == 200
    inviter = h.user_named("inviter")
    assert (inviter.aff_count, inviter.aff_quota) == (1, 0)
    assert h.user_named("erin").inviter_id == inviter.id
    assert h.counts() == (2, 0)


def test_unknown_invitation_code_is_refused(client, h):
    response = register(client, username="frank", aff_code="NOPE1234")
    h.envelope_error(response, 400)
    assert "invitation code" in response.get_json()["message"]
    assert h.counts() == (0, 0)


@pytest.mark.parametrize("switch", ["RegisterEnabled", "PasswordRegisterEnabled"])
def test_register_can_be_switched_off(client, h, switch):
    options().update({switch: False})
    h.envelope_error(register(client, username="grace"), 403)
    assert h.counts() == (0, 0)


@pytest.mark.parametrize("taken", ["alice", "ALICE", "Alice", "ａｌｉｃｅ", "ＡＬＩＣＥ"])
def test_look_alike_usernames_collide(client, h, user, taken):
    response = register(client, username=taken)
    h.envelope_error(response, 409)
    assert "already taken" in response.get_json()["message"]
    assert h.counts() == (1, 0)


def test_nfkc_normalises_the_stored_name(client, h):
    assert register(client, username="ｂｏｂ").status_code == 200
    assert h.user_named("bob") is not None


def test_duplicate_email_is_refused(client, h):
    make_user("owner", email="Shared@Example.com")
    h.envelope_error(register(client, username="other", email="shared@example.com"), 409)
    assert h.counts() == (1, 0)


BAD_REGISTRATIONS = [
    {"username": "", "password": "good-password"},
    {"username": "u" * 21, "password": "good-password"},
    {"username": "nul\u0000name", "password": "good-password"},
    {"username": "<script>alert(1)</script>", "password": "good-password"},
    {"username": "two words", "password": "good-password"},
    {"username": "zero\u200bwidth", "password": "good-password"},
    {"username": True, "password": "good-password"},
    {"username": ["bob"], "password": "good-password"},
    {"username": {"$ne": None}, "password": "good-password"},
    {"username": 12345, "password": "good-password"},
    {"username": None, "password": "good-password"},
    {"password": "good-password"},
    {"username": "bob", "password": "short"},
    {"username": "bob", "password": "p" * 65},
    {"username": "bob", "password": "nul\u0000password"},
    {"username": "bob", "password": 123456789},
    {"username": "bob", "password": ["good-password"]},
    {"username": "bob", "password": True},
    {"username": "bob"},
    {"username": "bob", "password": "good-password", "email": "not-an-email"},
    {"username": "bob", "password": "good-password", "email": "<b>@x.com"},
    {"username": "bob", "password": "good-password", "email": 7},
    {"username": "bob", "password": "good-password", "aff_code": 1234},
    {"username": "bob", "password": "good-password", "aff_code": "bad code!"},
    {"username": "bob", "password": "good-password", "aff_code": "x" * 33},
]


@pytest.mark.parametrize("body", BAD_REGISTRATIONS)
def test_bad_registration_input_writes_nothing(client, h, body):
    response = client.post("/api/user/register", json=body)
    h.envelope_error(response, 400)
    assert h.counts() == (0, 0)


@pytest.mark.parametrize("raw", [
    b'{"username": "bob", "password": NaN}',
    b'{"username": "bob", "password": Infinity}',
    b'{"username": "b\xffob", "password": "good-password"}',
    b'\xff\xfe{"username"}',
    b'["bob", "good-password"]',
    b'"bob"',
    b"true",
    b"username=bob&password=good-password",
    b'{"username": "bob", "username": "eve", "password": "good-password"}',
    b"[" * 5000,
])
def test_malformed_registration_bodies(client, h, raw):
    response = client.post("/api/user/register", data=raw, content_type="application/json")
    h.envelope_error(response, 400)
    assert h.counts() == (0, 0)


def test_concurrent_registrations_of_one_name_make_one_user(app, h, fast_hash):
    callers = 20
    clients = [app.test_client() for _ in range(callers)]
    statuses = all_at_once(callers, lambda i: register(clients[i], username="racer").status_code)
    assert sorted(statuses) == [200] + [409] * (callers - 1)
    assert h.counts() == (1, 0)


def test_concurrent_invitations_lose_no_reward(app, h, fast_hash):
    options().update({"QuotaForInviter": 10, "QuotaForInvitee": 1})
    make_user("inviter", aff_code="MANY0001")
    callers = 20
    clients = [app.test_client() for _ in range(callers)]
    statuses = all_at_once(callers, lambda i: register(
        clients[i], username=f"invitee{i}", aff_code="MANY0001").status_code)
    assert statuses == [200] * callers
    inviter = h.user_named("inviter")
    assert (inviter.aff_count, inviter.aff_quota, inviter.aff_history_quota) == (20, 200, 200)
    assert h.counts() == (21, 40)


# -- login and logout ------------------------------------------------------------------------------------
def test_login_answers_public_fields_and_starts_a_session(client, user):
    response = client.post("/api/user/login", json={"username": "alice", "password": "password123"})
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert set(data) == PUBLIC_FIELDS
    assert data["id"] == user.id and data["username"] == "alice" and data["role"] == Role.USER
    assert client.get("/api/user/self").status_code == 200


def test_registered_user_can_sign_in_with_nfkc_equivalent_password(client):
    assert register(client, username="henry", password="ｐａｓｓｗｏｒｄ１２３").status_code == 200
    response = client.post("/api/user/login", json={"username": "henry", "password": "password123"})
    assert response.status_code == 200


def test_login_by_email(client):
    make_user("ivy", email="ivy@example.com")
    response = client.post("/api/user/login", json={"username": "ivy@example.com", "password": "password123"})
    assert response.status_code == 200 and response.get_json()["data"]["username"] == "ivy"


def test_login_rotates_the_session(client, user):
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    client.post("/api/user/login", json={"username": "alice", "password": "password123"})
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] == user.get_id()


@pytest.mark.parametrize("body", [
    {"username": "alice", "password": "wrong-password"},
    {"username": "nobody", "password": "password123"},
    {"username": "ALICE", "password": "password123"},
])
def test_wrong_credentials_get_one_answer(client, h, user, body):
    response = client.post("/api/user/login", json=body)
    h.envelope_error(response, 401)
    assert response.get_json()["message"] == "wrong username or password"
    assert "session" not in response.headers.get("Set-Cookie", "")


@pytest.mark.parametrize("body", [
    {"username": "alice"}, {"username": "", "password": ""}, {"username": True, "password": "password123"},
    {"username": "alice", "password": ["password123"]}, {"username": "alice", "password": 123},
    {"username": "al\u0000ice", "password": "password123"}, {"username": "a" * 65, "password": "password123"},
])
def test_malformed_login_input(client, h, user, body):
    h.envelope_error(client.post("/api/user/login", json=body), 400)


def test_disabled_user_cannot_sign_in(client, h):
    make_user("mallory", status=UserStatus.DISABLED)
    response = client.post("/api/user/login", json={"username": "mallory", "password": "password123"})
    h.envelope_error(response, 403)
    assert "disabled" in response.get_json()["message"]


def test_deleted_user_cannot_sign_in(client, h):
    from datetime import datetime

    make_user("ghost", deleted_at=datetime.utcnow())
    h.envelope_error(client.post("/api/user/login", json={"username": "ghost", "password": "password123"}), 401)


def test_password_login_switch(client, h, user):
    options().update({"PasswordLoginEnabled": False})
    h.envelope_error(client.post("/api/user/login", json={"username": "alice", "password": "password123"}), 403)


def test_logout_ends_the_session(client, h, user):
    client.post("/api/user/login", json={"username": "alice", "password": "password123"})
    assert client.get("/api/user/logout").get_json()["success"] is True
    h.envelope_error(client.get("/api/user/self"), 401)


def test_disabling_a_user_ends_their_session(app, h, user, user_client):
    assert user_client.get("/api/user/self").status_code == 200
    user.status = UserStatus.DISABLED
    db.session.commit()
    h.envelope_error(user_client.get("/api/user/self"), 401)


# -- self ------------------------------------------------------------------------------------------------
def test_self_shows_wallet_and_affiliate_fields_never_secrets(user_client, user):
    user.quota, user.used_quota, user.request_count = 900, 100, 7
    user.aff_code, user.aff_count, user.aff_quota, user.aff_history_quota = "ALICE001", 2, 30, 50
    user.access_token_hash = hash_secret("x" * 32)
    db.session.commit()
    response = user_client.get("/api/user/self")
    data = response.get_json()["data"]
    assert PUBLIC_FIELDS <= set(data)
    assert {k: data[k] for k in ("quota", "used_quota", "request_count", "aff_code", "aff_count", "aff_quota",
                                 "aff_history_quota", "inviter_id")} == {
        "quota": 900, "used_quota": 100, "request_count": 7, "aff_code": "ALICE001", "aff_count": 2,
        "aff_quota": 30, "aff_history_quota": 50, "inviter_id": 0}
    text = response.get_data(as_text=True)
    assert "password" not in data and "access_token" not in text and user.password not in text
    assert hash_secret("x" * 32) not in text


def test_self_needs_a_signed_in_user(client, h):
    h.envelope_error(client.get("/api/user/self"), 401)
    h.envelope_error(client.put("/api/user/self", json={"display_name": "x"}), 401)
    h.envelope_error(client.get("/api/user/token"), 401)


def test_update_self_changes_display_name_and_ignores_privileged_fields(user_client, h, user):
    response = user_client.put("/api/user/self", json={
        "display_name": "Alice <b>A</b>", "role": Role.ROOT, "quota": 10**12, "group": "vip",
        "status": UserStatus.DISABLED, "username": "mallory", "aff_quota": 99, "access_token_hash": "x",
    })
    assert response.status_code == 200
    alice = h.user_named("alice")
    assert alice.display_name == "Alice <b>A</b>"
    assert (alice.role, alice.quota, alice.group, alice.status, alice.aff_quota, alice.access_token_hash) == (
        Role.USER, 0, "default", UserStatus.ENABLED, 0, None)


@pytest.mark.parametrize("body", [
    {"display_name": 123}, {"display_name": ["x"]}, {"display_name": "x" * 65}, {"display_name": "a\u0000b"},
    {"password": "new-password-1"}, {"password": "short", "original_password": "password123"},
    {"password": 12345678, "original_password": "password123"},
    {"display_name": "fine", "password": "new-password-1", "original_password": True},
])
def test_bad_self_updates_change_nothing(user_client, h, user, body):
    before = (user.display_name, user.password, user.session_version)
    h.envelope_error(user_client.put("/api/user/self", json=body), 400)
    alice = h.user_named("alice")
    assert (alice.display_name, alice.password, alice.session_version) == before


def test_password_change_needs_the_original(user_client, h, user):
    response = user_client.put("/api/user/self", json={"password": "new-password-1",
                                                      "original_password": "not-the-password"})
    h.envelope_error(response, 403)
    assert h.user_named("alice").session_version == 1


def test_password_change_ends_other_sessions_and_keeps_this_one(app, client, h, user):
    here = login_client(app, user)
    elsewhere = login_client(app, user)
    response = here.put("/api/user/self", json={"password": "new-password-1", "original_password": "password123"})
    assert response.status_code == 200
    assert here.get("/api/user/self").status_code == 200
    h.envelope_error(elsewhere.get("/api/user/self"), 401)
    alice = h.user_named("alice")
    assert alice.session_version == 2 and alice.password.startswith("scrypt:")
    h.envelope_error(client.post("/api/user/login", json={"username": "alice", "password": "password123"}), 401)
    assert client.post("/api/user/login", json={"username": "alice", "password": "new-password-1"}).status_code == 200


def test_password_change_with_an_access_token(client, h, user, token_headers):
    response = client.put("/api/user/self", headers=token_headers,
                          json={"password": "new-password-1", "original_password": "password123"})
    assert response.status_code == 200
    assert "session=" not in response.headers.get("Set-Cookie", "")
    assert client.get("/api/user/self", headers=token_headers).status_code == 200


# -- access token ----------------------------------------------------------------------------------------
def test_access_token_is_shown_once_and_stored_hashed(app, h, user, user_client):
    response = user_client.get("/api/user/token")
    token = response.get_json()["data"]
    assert isinstance(token, str) and len(token) == 32 and token.isalnum()
    stored = h.user_named("alice").access_token_hash
    assert stored == hash_secret(token) and token not in stored

    bearer = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert bearer.get("/api/user/self", headers=headers).get_json()["data"]["username"] == "alice"
    assert bearer.get("/api/user/self", headers={**headers, "New-Api-User": str(user.id)}).status_code == 200
    h.envelope_error(bearer.get("/api/user/self", headers={**headers, "New-Api-User": "999"}), 401)

    newer = user_client.get("/api/user/token").get_json()["data"]
    assert newer != token
    h.envelope_error(bearer.get("/api/user/self", headers=headers), 401)
    assert bearer.get("/api/user/self", headers={"Authorization": f"Bearer {newer}"}).status_code == 200


# -- pages -----------------------------------------------------------------------------------------------
def test_register_page_prefills_the_invitation_code(client, setup_done):
    text = client.get("/register?aff=CODE1234").get_data(as_text=True)
    assert 'name="aff_code" class="form-control" value="CODE1234"' in text
    hostile = client.get('/register?aff="><script>alert(1)</script>').get_data(as_text=True)
    assert "<script>alert(1)" not in hostile and "&lt;script&gt;" in hostile


def test_register_page_creates_the_account_and_sends_to_login(client, h, setup_done):
    form = {"username": "jane", "password": "good-password", "confirmPassword": "good-password", "email": "",
            "aff_code": ""}
    response = client.post("/register", data=form)
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert h.user_named("jane") is not None
    assert "Your account is ready" in client.get("/login").get_data(as_text=True)


@pytest.mark.parametrize("form, message", [
    ({"username": "jane", "password": "good-password", "confirmPassword": "other-password"}, "do not match"),
    ({"username": "<b>jane</b>", "password": "good-password", "confirmPassword": "good-password"}, "username"),
    ({"username": "jane", "password": "short", "confirmPassword": "short"}, "at least 8"),
    ({"username": "alice", "password": "good-password", "confirmPassword": "good-password"}, "already taken"),
])
def test_register_page_shows_readable_errors(client, h, user, setup_done, form, message):
    response = client.post("/register", data=form)
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert message in text and "<b>jane</b>" not in text
    assert h.counts() == (1, 0)


def test_register_page_says_when_registration_is_closed(client, setup_done):
    options().update({"RegisterEnabled": False})
    text = client.get("/register").get_data(as_text=True)
    assert "Registration is closed" in text and 'name="password"' not in text


def test_login_page_signs_in_and_shows_errors(client, user, setup_done):
    wrong = client.post("/login", data={"username": "alice", "password": "nope-nope"})
    assert wrong.status_code == 422 and "wrong username or password" in wrong.get_data(as_text=True)
    assert 'value="alice"' in wrong.get_data(as_text=True)
    ok = client.post("/login", data={"username": "alice", "password": "password123"})
    assert ok.status_code == 302 and ok.headers["Location"] == "/"
    assert client.get("/login").status_code == 302  # already signed in
    assert client.get("/api/user/self").get_json()["data"]["username"] == "alice"


def test_login_page_without_password_sign_in(client, setup_done):
    options().update({"PasswordLoginEnabled": False})
    text = client.get("/login").get_data(as_text=True)
    assert "Password sign-in is turned off" in text and 'name="password"' not in text


def test_logout_page_ends_the_session(user_client, h, setup_done):
    response = user_client.post("/logout")
    assert response.status_code == 302
    h.envelope_error(user_client.get("/api/user/self"), 401)
