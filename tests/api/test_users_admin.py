"""Admin user management: /api/user/ list, search, read, create, update, delete and /api/user/manage."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Log, LogType, Role, User, UserStatus
from tests.conftest import login_client
from tests.factories import make_access_token, make_user


@pytest.fixture(autouse=True)
def cheap_hashing(fast_hash):
    """Passwords set here go through accounts.hash_password: the real KDF in production, cheap in tests."""


SECRET_FIELDS = {"password", "access_token", "access_token_hash", "setting", "session_version"}


def manage_logs(user_id: int) -> list[Log]:
    return list(db.session.scalars(
        select(Log).where(Log.user_id == user_id, Log.type == LogType.MANAGE).order_by(Log.id)))


def fresh(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def assert_fail(resp, status: int, fragment: str = "") -> dict:
    body = resp.get_json()
    assert resp.status_code == status, body
    assert body["success"] is False
    assert fragment.lower() in body["message"].lower()
    return body


# -- access --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method,path", [
    ("get", "/api/user/"), ("get", "/api/user/search?keyword=a"), ("get", "/api/user/1"),
    ("post", "/api/user/"), ("put", "/api/user/"), ("delete", "/api/user/1"), ("post", "/api/user/manage"),
])
def test_admin_routes_need_an_admin(client, user_client, method, path):
    assert getattr(client, method)(path, json={}).status_code == 401
    assert getattr(user_client, method)(path, json={}).status_code == 403


def test_admin_access_token_works_and_header_must_match(app, admin_user):
    token = make_access_token(admin_user)
    client = app.test_client()
    resp = client.get("/api/user/", headers={"Authorization": f"Bearer {token}", "New-Api-User": str(admin_user.id)})
    assert resp.status_code == 200
    resp = client.get("/api/user/", headers={"Authorization": f"Bearer {token}", "New-Api-User": "999"})
    assert resp.status_code == 401


# -- list, search, read ------------------------------------------------------------------------------

def test_list_is_paginated_newest_first_and_whitelisted(admin_client, admin_user):
    for i in range(12):
        make_user(f"u{i:02d}", quota=i)
    make_access_token(db.session.scalar(select(User).where(User.username == "u05")))
    resp = admin_client.get("/api/user/?p=2&page_size=5")
    data = resp.get_json()["data"]
    assert data["total"] == 13 and data["page"] == 2 and data["page_size"] == 5
    assert [u["username"] for u in data["items"]] == ["u06", "u05", "u04", "u03", "u02"]
    for item in data["items"]:
        assert not SECRET_FIELDS & set(item)
        assert {"id", "username", "quota", "role", "status", "group"} <= set(item)


def test_page_size_is_clamped(admin_client):
    data = admin_client.get("/api/user/?p=-3&page_size=100000").get_json()["data"]
    assert data["page"] == 1 and data["page_size"] == 100


def test_deleted_users_leave_the_list(admin_client):
    gone = make_user("gone")
    assert admin_client.delete(f"/api/user/{gone.id}").status_code == 200
    names = [u["username"] for u in admin_client.get("/api/user/").get_json()["data"]["items"]]
    assert "gone" not in names
    assert admin_client.get(f"/api/user/{gone.id}").status_code == 404


def test_search_escapes_wildcards_and_filters_group(admin_client):
    make_user("a_b", group="vip")
    make_user("axb", group="default")
    make_user("pct", display_name="100% sure")
    make_user("plain", display_name="100 x")

    def names(query):
        return sorted(u["username"] for u in admin_client.get(f"/api/user/search?{query}").get_json()["data"]["items"])

    assert names("keyword=a_b") == ["a_b"]  # "_" is not a wildcard
    assert names("keyword=100%25") == ["pct"]  # nor is "%"
    assert names("keyword=ax") == ["axb"]
    assert names("keyword=a&group=vip") == ["a_b"]
    assert names("keyword=&group=vip") == ["a_b"]


def test_search_by_id(admin_client):
    target = make_user("findme")
    items = admin_client.get(f"/api/user/search?keyword={target.id}").get_json()["data"]["items"]
    assert target.id in [u["id"] for u in items]
    assert admin_client.get("/api/user/search?keyword=%C2%B2").status_code == 200  # "²" is not an id
    assert admin_client.get("/api/user/search?keyword=a%00b").status_code == 400


def test_get_user_and_bad_ids(admin_client, user):
    resp = admin_client.get(f"/api/user/{user.id}")
    assert resp.get_json()["data"]["username"] == "alice"
    assert not SECRET_FIELDS & set(resp.get_json()["data"])
    assert admin_client.get("/api/user/999999").status_code == 404
    assert admin_client.get("/api/user/99999999999999999999999").status_code == 404


# -- role rules (table-driven) ---------------------------------------------------------------------------

@pytest.fixture
def people(app):
    """root, two admins and a user; `as_(name)` is a client signed in as that person."""
    folks = {
        "root": make_user("root0", role=Role.ROOT),
        "admin": make_user("admin0", role=Role.ADMIN),
        "admin2": make_user("admin2", role=Role.ADMIN),
        "user": make_user("user0", quota=100),
    }
    return folks


def _client(app, people, name):
    return login_client(app, people[name])


MANAGE_CASES = [
    # actor, target, action, allowed
    ("admin", "user", "disable", True),
    ("admin", "user", "enable", True),
    ("admin", "user", "delete", True),
    ("admin", "user", "promote", False),  # only root promotes
    ("admin", "admin2", "disable", False),  # admin vs admin
    ("admin", "admin2", "demote", False),
    ("admin", "admin2", "delete", False),
    ("admin", "root", "disable", False),  # admin vs root
    ("admin", "root", "demote", False),
    ("admin", "admin", "disable", False),  # self
    ("root", "user", "promote", True),
    ("root", "admin", "demote", True),  # root vs admin
    ("root", "admin", "disable", True),
    ("root", "admin", "delete", True),
    ("root", "admin", "promote", False),  # already admin
    ("root", "root", "disable", False),  # self, and root is untouchable
    ("root", "root", "demote", False),
    ("root", "root", "delete", False),
]


@pytest.mark.parametrize("actor,target,action,allowed", MANAGE_CASES)
def test_manage_role_rules(app, people, actor, target, action, allowed):
    client = _client(app, people, actor)
    before = {name: (u.role, u.status, u.deleted_at) for name, u in people.items()}
    resp = client.post("/api/user/manage", json={"id": people[target].id, "action": action})
    body = resp.get_json()
    assert body["success"] is allowed, body
    if not allowed:
        assert resp.status_code in (400, 403)
        db.session.expire_all()
        after = {name: (db.session.get(User, u.id).role, db.session.get(User, u.id).status,
                        db.session.get(User, u.id).deleted_at) for name, u in people.items()}
        assert after == before


@pytest.mark.parametrize("actor,target,allowed", [
    ("admin", "user", True), ("admin", "admin2", False), ("admin", "root", False),
    ("root", "admin", True), ("root", "user", True),
])
def test_add_quota_role_rules(app, people, actor, target, allowed):
    client = _client(app, people, actor)
    before = people[target].quota
    resp = client.post("/api/user/manage", json={"id": people[target].id, "action": "add_quota",
                                                  "mode": "add", "value": 50})
    assert resp.get_json()["success"] is allowed
    expected = before + (50 if allowed else 0)
    assert fresh(people[target]).quota == expected
    assert len(manage_logs(people[target].id)) == (1 if allowed else 0)


@pytest.mark.parametrize("actor,target,allowed", [
    ("admin", "user", True), ("admin", "admin2", False), ("admin", "root", False), ("root", "admin", True),
])
def test_get_and_update_role_rules(app, people, actor, target, allowed):
    client = _client(app, people, actor)
    status = 200 if allowed else 403
    assert client.get(f"/api/user/{people[target].id}").status_code == status
    resp = client.put("/api/user/", json={"id": people[target].id, "display_name": "renamed"})
    assert resp.status_code == status
    assert (fresh(people[target]).display_name == "renamed") is allowed


@pytest.mark.parametrize("actor,role,allowed", [
    ("admin", Role.USER, True), ("admin", Role.ADMIN, False), ("admin", Role.ROOT, False),
    ("root", Role.ADMIN, True), ("root", Role.ROOT, False), ("root", Role.USER, True),
])
def test_create_role_rules(app, people, actor, role, allowed):
    client = _client(app, people, actor)
    resp = client.post("/api/user/", json={"username": f"new{role}", "password": "password123", "role": role})
    assert resp.get_json()["success"] is allowed
    exists = db.session.scalar(select(User).where(User.username == f"new{role}")) is not None
    assert exists is allowed


@pytest.mark.parametrize("actor,target,role,allowed", [
    ("admin", "user", Role.ADMIN, False),  # admins cannot raise anyone to their level
    ("root", "user", Role.ADMIN, True),
    ("root", "admin", Role.USER, True),
    ("root", "user", Role.ROOT, False),
    ("root", "root", Role.USER, False),  # nobody demotes root, root included
])
def test_update_role_rules(app, people, actor, target, role, allowed):
    client = _client(app, people, actor)
    resp = client.put("/api/user/", json={"id": people[target].id, "role": role})
    assert resp.get_json()["success"] is allowed
    assert (fresh(people[target]).role == role) is allowed


def test_unchanged_role_in_a_full_put_is_fine(app, people):
    """The Veloera UI sends the whole user back; an unchanged role must not trip the role rules."""
    client = _client(app, people, "admin")
    resp = client.put("/api/user/", json={"id": people["user"].id, "role": Role.USER, "quota": 100,
                                          "username": "user0", "group": "default", "password": ""})
    assert resp.get_json()["success"] is True
    assert manage_logs(people["user"].id) == []


def test_manage_unknown_action_and_user(admin_client, user):
    assert_fail(admin_client.post("/api/user/manage", json={"id": user.id, "action": "explode"}), 400, "action")
    assert_fail(admin_client.post("/api/user/manage", json={"id": 424242, "action": "disable"}), 404)
    assert_fail(admin_client.post("/api/user/manage", json={"id": "1", "action": "disable"}), 400, "id")


# -- effects -------------------------------------------------------------------------------------------

def test_disable_ends_sessions_and_access_tokens(app, admin_client, user):
    token = make_access_token(user)
    session_client = login_client(app, user)
    assert session_client.get("/api/user/check_in_status").status_code == 200
    version = user.session_version
    resp = admin_client.post("/api/user/manage", json={"id": user.id, "action": "disable"})
    assert resp.get_json()["data"] == {"role": Role.USER, "status": UserStatus.DISABLED}
    assert fresh(user).session_version == version + 1
    assert session_client.get("/api/user/check_in_status").status_code == 401
    bearer = app.test_client().get("/api/user/check_in_status", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 401
    admin_client.post("/api/user/manage", json={"id": user.id, "action": "enable"})
    assert fresh(user).status == UserStatus.ENABLED


def test_disable_bumps_the_token_and_user_caches(app, admin_client, user, monkeypatch):
    bumped = []
    monkeypatch.setattr("app.services.users.bump", lambda *ns: bumped.append(ns))
    admin_client.post("/api/user/manage", json={"id": user.id, "action": "disable"})
    admin_client.put("/api/user/", json={"id": user.id, "group": "vip"})
    admin_client.post("/api/user/manage", json={"id": user.id, "action": "delete"})
    assert bumped == [("tokens", "users")] * 3


def test_promote_and_demote(root_client, user):
    assert root_client.post("/api/user/manage", json={"id": user.id, "action": "promote"}).get_json()["data"][
        "role"] == Role.ADMIN
    assert root_client.post("/api/user/manage", json={"id": user.id, "action": "demote"}).get_json()["data"][
        "role"] == Role.USER
    assert_fail(root_client.post("/api/user/manage", json={"id": user.id, "action": "demote"}), 400, "already")


def test_delete_is_soft(admin_client, user):
    assert admin_client.delete(f"/api/user/{user.id}").get_json()["success"] is True
    row = fresh(user)
    assert row is not None and row.deleted_at is not None
    assert admin_client.delete(f"/api/user/{user.id}").status_code == 404
    # the name stays taken
    resp = admin_client.post("/api/user/", json={"username": "alice", "password": "password123"})
    assert_fail(resp, 409, "taken")


def test_create_user(admin_client):
    resp = admin_client.post("/api/user/", json={"username": "bob", "password": "password123",
                                                 "display_name": "Bob B"})
    data = resp.get_json()["data"]
    assert data["username"] == "bob" and data["display_name"] == "Bob B" and data["role"] == Role.USER
    assert not SECRET_FIELDS & set(data)
    bob = db.session.scalar(select(User).where(User.username == "bob"))
    assert bob.password != "password123" and bob.password.startswith(("scrypt:", "pbkdf2:"))


@pytest.mark.parametrize("body,fragment", [
    ({"username": "", "password": "password123"}, "username"),
    ({"username": "bob", "password": "short"}, "password"),
    ({"username": "bob x", "password": "password123"}, "username"),
    ({"username": "bob", "password": "password123", "role": "1"}, "role"),
    ({"username": "bob", "password": "password123", "role": 5}, "role"),
    ({"username": "bob", "password": "password123", "group": "has space"}, "group"),
])
def test_create_user_validation(admin_client, body, fragment):
    assert_fail(admin_client.post("/api/user/", json=body), 400, fragment)


def test_create_user_gets_the_new_user_bonus_with_a_log(app, admin_client):
    from app.options import options

    options().update({"QuotaForNewUser": 1234})
    admin_client.post("/api/user/", json={"username": "bonus", "password": "password123"})
    bonus = db.session.scalar(select(User).where(User.username == "bonus"))
    assert bonus.quota == 1234
    logs = db.session.scalars(select(Log).where(Log.user_id == bonus.id)).all()
    assert [(entry.type, entry.quota) for entry in logs] == [(LogType.SYSTEM, 1234)]


def test_update_password_ends_sessions(app, admin_client, user):
    old_hash = user.password
    victim = login_client(app, user)
    resp = admin_client.put("/api/user/", json={"id": user.id, "password": "new-password-1"})
    assert resp.get_json()["success"] is True
    assert fresh(user).password != old_hash
    assert victim.get("/api/user/check_in_status").status_code == 401


def test_update_profile_fields(admin_client, user):
    resp = admin_client.put("/api/user/", json={"id": user.id, "username": "alice2", "display_name": "Alice",
                                                "group": "vip"})
    data = resp.get_json()["data"]
    assert (data["username"], data["display_name"], data["group"]) == ("alice2", "Alice", "vip")
    row = fresh(user)
    assert (row.username, row.display_name, row.group) == ("alice2", "Alice", "vip")


def test_update_username_conflict(admin_client, user):
    make_user("taken")
    assert_fail(admin_client.put("/api/user/", json={"id": user.id, "username": "taken"}), 409, "taken")


# -- quota changes ------------------------------------------------------------------------------------

def test_update_absolute_quota_logs_the_delta(admin_client, user):
    resp = admin_client.put("/api/user/", json={"id": user.id, "quota": 5000})
    assert resp.get_json()["data"]["quota"] == 5000
    resp = admin_client.put("/api/user/", json={"id": user.id, "quota": 1500})
    assert fresh(user).quota == 1500
    assert [entry.quota for entry in manage_logs(user.id)] == [5000, -3500]


def test_add_subtract_override(admin_client, user):
    def manage(mode, value):
        return admin_client.post("/api/user/manage", json={"id": user.id, "action": "add_quota",
                                                           "mode": mode, "value": value})

    assert manage("add", 1000).get_json()["data"]["quota"] == 1000
    assert manage("subtract", 300).get_json()["data"]["quota"] == 700
    assert manage("override", 42).get_json()["data"]["quota"] == 42
    assert_fail(manage("subtract", 43), 400, "lower")
    assert manage("override", 0).get_json()["data"]["quota"] == 0
    assert fresh(user).quota == 0
    logs = manage_logs(user.id)
    assert [entry.quota for entry in logs] == [1000, -300, -658, -42]
    assert all('"admin_id"' in entry.other for entry in logs)


def test_add_quota_two_user_isolation(admin_client, user):
    other = make_user("bystander", quota=77)
    admin_client.post("/api/user/manage", json={"id": user.id, "action": "add_quota", "mode": "add", "value": 5})
    assert fresh(other).quota == 77 and manage_logs(other.id) == []


BAD_AMOUNTS = [-1, 0, 1.5, "100", True, False, None, 1e309, -1e309, 2**63, 2**64, [], {}]


@pytest.mark.parametrize("value", BAD_AMOUNTS, ids=repr)
@pytest.mark.parametrize("mode", ["add", "subtract"])
def test_add_quota_bad_amounts(admin_client, user, mode, value):
    resp = admin_client.post("/api/user/manage", json={"id": user.id, "action": "add_quota", "mode": mode,
                                                       "value": value})
    assert_fail(resp, 400)
    assert fresh(user).quota == 0 and manage_logs(user.id) == []


@pytest.mark.parametrize("raw", ['NaN', 'Infinity', '-Infinity', '1e309', '9223372036854775808'])
def test_add_quota_bad_amounts_raw_json(admin_client, user, raw):
    body = f'{{"id": {user.id}, "action": "add_quota", "mode": "add", "value": {raw}}}'
    resp = admin_client.post("/api/user/manage", data=body, content_type="application/json")
    assert_fail(resp, 400)
    assert fresh(user).quota == 0


@pytest.mark.parametrize("value", [-1, 1.5, "5", True, None, 2**63], ids=repr)
def test_override_and_put_bad_amounts(admin_client, user, value):
    resp = admin_client.post("/api/user/manage", json={"id": user.id, "action": "add_quota", "mode": "override",
                                                       "value": value})
    assert_fail(resp, 400)
    if value is not None:
        assert_fail(admin_client.put("/api/user/", json={"id": user.id, "quota": value}), 400)
    assert fresh(user).quota == 0 and manage_logs(user.id) == []


def test_add_quota_bad_mode(admin_client, user):
    resp = admin_client.post("/api/user/manage", json={"id": user.id, "action": "add_quota", "mode": "multiply",
                                                       "value": 5})
    assert_fail(resp, 400, "mode")


def test_add_quota_cannot_overflow(admin_client, user):
    admin_client.post("/api/user/manage", json={"id": user.id, "action": "add_quota", "mode": "override",
                                                "value": 2**63 - 10})
    resp = admin_client.post("/api/user/manage", json={"id": user.id, "action": "add_quota", "mode": "add",
                                                       "value": 11})
    assert_fail(resp, 400, "exceed")
    assert fresh(user).quota == 2**63 - 10
    assert len(manage_logs(user.id)) == 1


def test_log_count_matches_changes(admin_client, user):
    for _ in range(5):
        admin_client.post("/api/user/manage", json={"id": user.id, "action": "add_quota", "mode": "add",
                                                    "value": 10})
    total = db.session.scalar(select(func.sum(Log.quota)).where(Log.user_id == user.id, Log.type == LogType.MANAGE))
    assert total == fresh(user).quota == 50
