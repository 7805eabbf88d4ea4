"""Redemption and gift codes: admin /api/redemption/*, and redeeming with POST /api/user/topup."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Log, LogType, Redemption, RedemptionLog, RedemptionStatus, User
from app.options import options
from tests.conftest import login_client
from tests.factories import make_user
from tests.fixtures.race import all_at_once

BAD_AMOUNTS = [-1, 0, 1.5, "100", True, False, 1e309, -1e309, 2**63, 2**64, [], {}, 10**12 + 1]


def make_code(key: str = "k" * 32, **fields) -> Redemption:
    fields.setdefault("quota", 1000)
    fields.setdefault("name", "test")
    code = Redemption(key=key, **fields)
    db.session.add(code)
    db.session.commit()
    return code


def refresh() -> None:
    """End the test's own transaction and forget loaded rows, so the next read sees what requests
    committed (MySQL's REPEATABLE READ would otherwise keep showing the transaction's first snapshot)."""
    db.session.commit()


def code_row(code_id: int) -> Redemption:
    refresh()
    return db.session.get(Redemption, code_id)


def balance(user_id: int) -> int:
    refresh()
    return db.session.scalar(select(User.quota).where(User.id == user_id))


def log_count(log_type: int, user_id: int | None = None) -> int:
    refresh()
    query = select(func.count()).select_from(Log).where(Log.type == log_type)
    if user_id is not None:
        query = query.where(Log.user_id == user_id)
    return db.session.scalar(query)


def fail(resp, status: int, fragment: str = "") -> str:
    body = resp.get_json()
    assert resp.status_code == status, body
    assert body["success"] is False
    assert fragment.lower() in body["message"].lower(), body["message"]
    return body["message"]


def create(client, **body):
    body.setdefault("name", "batch")
    body.setdefault("quota", 1000)
    return client.post("/api/redemption/", json=body)


# -- admin access ------------------------------------------------------------------------------------

@pytest.mark.parametrize("method,path", [
    ("get", "/api/redemption/"), ("get", "/api/redemption/search?keyword=x"), ("get", "/api/redemption/1"),
    ("post", "/api/redemption/"), ("put", "/api/redemption/"), ("delete", "/api/redemption/1"),
    ("delete", "/api/redemption/invalid"),
])
def test_admin_routes_need_an_admin(client, user_client, method, path):
    assert getattr(client, method)(path, json={}).status_code == 401
    assert getattr(user_client, method)(path, json={}).status_code == 403


# -- create ------------------------------------------------------------------------------------------

def test_create_returns_the_keys_once(admin_client, admin_user):
    resp = create(admin_client, count=3, quota=500)
    keys = resp.get_json()["data"]
    assert len(keys) == 3 and len(set(keys)) == 3
    assert all(len(k) == 32 and k.isalnum() for k in keys)
    rows = db.session.scalars(select(Redemption).order_by(Redemption.id)).all()
    assert [r.key for r in rows] == keys
    assert all(r.quota == 500 and r.status == RedemptionStatus.UNUSED and r.user_id == admin_user.id for r in rows)
    assert all(not r.is_gift and r.max_uses == -1 for r in rows)


def test_create_gift_code_with_window(admin_client):
    now = int(time.time())
    resp = create(admin_client, is_gift=True, max_uses=5, valid_from=now - 10, valid_until=now + 3600)
    row = db.session.scalar(select(Redemption))
    assert resp.get_json()["success"] and row.is_gift and row.max_uses == 5
    assert row.valid_from == now - 10 and row.valid_until == now + 3600


def test_create_accepts_new_apis_expired_time(admin_client):
    later = int(time.time()) + 600
    create(admin_client, expired_time=later)
    assert db.session.scalar(select(Redemption.valid_until)) == later


def test_create_custom_key(admin_client):
    assert create(admin_client, key="SPRING-2026-promo").get_json()["data"] == ["SPRING-2026-promo"]
    fail(create(admin_client, key="SPRING-2026-promo"), 409, "exists")
    fail(create(admin_client, key="another-one1", count=2), 400, "single")
    fail(create(admin_client, key="short"), 400, "key")
    fail(create(admin_client, key="has space in it"), 400, "key")


@pytest.mark.parametrize("body,fragment", [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 21}, "name"),
    ({"name": None}, "name"),
    ({"count": 0}, "count"),
    ({"count": 101}, "count"),
    ({"count": "3"}, "count"),
    ({"count": 1.5}, "count"),
    ({"is_gift": "yes"}, "is_gift"),
    ({"is_gift": True, "max_uses": 0}, "max_uses"),
    ({"is_gift": True, "max_uses": -2}, "max_uses"),
    ({"max_uses": 5}, "gift"),
    ({"valid_until": 1}, "future"),
    ({"valid_from": 4_000_000_000, "valid_until": 3_999_999_999}, "earlier"),
    ({"valid_until": 10**15}, "valid_until"),
    ({"valid_until": 5_000_000_000, "expired_time": 5_000_000_001}, "disagree"),
])
def test_create_validation(admin_client, body, fragment):
    fail(create(admin_client, **body), 400, fragment)
    assert db.session.scalar(select(func.count()).select_from(Redemption)) == 0


@pytest.mark.parametrize("quota", BAD_AMOUNTS + [None], ids=repr)
def test_create_bad_quota(admin_client, quota):
    # the test client writes float infinities as the bare word Infinity, which the JSON parser refuses
    fragment = "" if isinstance(quota, float) and abs(quota) == float("inf") else "quota"
    fail(admin_client.post("/api/redemption/", json={"name": "x", "quota": quota}), 400, fragment)
    assert db.session.scalar(select(func.count()).select_from(Redemption)) == 0


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "1e309", "9223372036854775808"])
def test_create_bad_quota_raw_json(admin_client, raw):
    resp = admin_client.post("/api/redemption/", data=f'{{"name": "x", "quota": {raw}}}',
                             content_type="application/json")
    fail(resp, 400)
    assert db.session.scalar(select(func.count()).select_from(Redemption)) == 0


# -- list, search, read ------------------------------------------------------------------------------

def test_list_search_get(admin_client):
    first = make_code("a" * 32, name="promo_1")
    make_code("b" * 32, name="promoX1")
    make_code("c" * 32, name="other")
    data = admin_client.get("/api/redemption/?p=1&page_size=2").get_json()["data"]
    assert data["total"] == 3 and [c["name"] for c in data["items"]] == ["other", "promoX1"]
    assert data["items"][0]["key"] == "c" * 32  # admins see keys

    def names(keyword):
        items = admin_client.get(f"/api/redemption/search?keyword={keyword}").get_json()["data"]["items"]
        return sorted(c["name"] for c in items)

    assert names("promo") == ["promoX1", "promo_1"]
    assert names("promo_") == ["promo_1"]  # "_" is literal
    assert names("%25") == []
    assert admin_client.get("/api/redemption/search?keyword=%C2%B3").status_code == 200  # "³": isdigit, no int
    assert names("b" * 32) == ["promoX1"]  # by key
    assert "promo_1" in names(str(first.id))
    got = admin_client.get(f"/api/redemption/{first.id}").get_json()["data"]
    assert got["key"] == "a" * 32 and got["expired_time"] == got["valid_until"] == 0
    assert admin_client.get("/api/redemption/999999").status_code == 404
    assert admin_client.get("/api/redemption/99999999999999999999").status_code == 404


# -- update and delete -------------------------------------------------------------------------------

def test_update_fields_and_status(admin_client):
    code = make_code()
    resp = admin_client.put("/api/redemption/", json={"id": code.id, "name": "renamed", "quota": 7})
    assert resp.get_json()["data"]["name"] == "renamed" and code_row(code.id).quota == 7
    admin_client.put("/api/redemption/?status_only=true", json={"id": code.id, "status": 3, "name": "ignored"})
    row = code_row(code.id)
    assert row.status == RedemptionStatus.DISABLED and row.name == "renamed"
    admin_client.put("/api/redemption/?status_only=true", json={"id": code.id, "status": 1})
    assert code_row(code.id).status == RedemptionStatus.UNUSED
    fail(admin_client.put("/api/redemption/?status_only=true", json={"id": code.id, "status": 2}), 400, "status")
    fail(admin_client.put("/api/redemption/", json={"id": code.id, "quota": 0}), 400, "quota")
    fail(admin_client.put("/api/redemption/", json={"id": code.id, "quota": 1.5}), 400, "quota")
    fail(admin_client.put("/api/redemption/", json={"id": 424242, "name": "x"}), 404)


def test_a_used_code_cannot_be_enabled_again(admin_client, user_client, user):
    code = make_code()
    assert user_client.post("/api/user/topup", json={"key": code.key}).get_json()["success"]
    admin_client.put("/api/redemption/?status_only=true", json={"id": code.id, "status": 3})
    fail(admin_client.put("/api/redemption/?status_only=true", json={"id": code.id, "status": 1}), 400, "used up")
    fail(user_client.post("/api/user/topup", json={"key": code.key}), 400, "disabled")
    assert balance(user.id) == 1000


def test_raising_a_gift_codes_max_uses_reopens_it(admin_client, user_client):
    code = make_code(is_gift=True, max_uses=1)
    assert user_client.post("/api/user/topup", json={"key": code.key}).get_json()["success"]
    assert code_row(code.id).status == RedemptionStatus.USED
    admin_client.put("/api/redemption/", json={"id": code.id, "max_uses": 2})
    assert code_row(code.id).status == RedemptionStatus.UNUSED
    admin_client.put("/api/redemption/", json={"id": code.id, "max_uses": 1})
    assert code_row(code.id).status == RedemptionStatus.USED


def test_delete_and_delete_invalid(admin_client, user_client):
    now = int(time.time())
    keep = make_code("keep" * 8)
    future = make_code("future" + "x" * 26, valid_until=now + 3600)
    make_code("used" * 8, status=RedemptionStatus.USED)
    make_code("off" + "x" * 29, status=RedemptionStatus.DISABLED)
    make_code("old" + "x" * 29, valid_until=now - 1)
    assert admin_client.delete("/api/redemption/invalid").get_json()["data"] == 3
    ids = [c["id"] for c in admin_client.get("/api/redemption/").get_json()["data"]["items"]]
    assert sorted(ids) == sorted([keep.id, future.id])
    assert admin_client.delete(f"/api/redemption/{keep.id}").get_json()["success"]
    assert admin_client.delete(f"/api/redemption/{keep.id}").status_code == 404
    assert code_row(keep.id).deleted_at is not None  # soft
    fail(user_client.post("/api/user/topup", json={"key": keep.key}), 400, "invalid")


# -- redeeming -----------------------------------------------------------------------------------------

def test_redeem_credits_once_with_logs(user_client, user):
    other = make_user("bystander", quota=5)
    code = make_code(quota=2500)
    resp = user_client.post("/api/user/topup", json={"key": code.key})
    assert resp.status_code == 200
    assert resp.get_json()["data"] == {"quota": 2500, "is_gift": False}
    assert balance(user.id) == 2500 and balance(other.id) == 5
    row = code_row(code.id)
    assert row.status == RedemptionStatus.USED and row.used_user_id == user.id and row.redeemed_time > 0
    logs = db.session.scalars(select(Log).where(Log.type == LogType.TOPUP)).all()
    assert [(entry.user_id, entry.quota) for entry in logs] == [(user.id, 2500)]
    assert db.session.scalar(select(func.count()).select_from(RedemptionLog)) == 1
    fail(user_client.post("/api/user/topup", json={"key": code.key}), 400, "already been used")
    assert balance(user.id) == 2500 and log_count(LogType.TOPUP) == 1


def test_redeem_with_an_access_token(app, user, token_headers):
    code = make_code()
    resp = app.test_client().post("/api/user/topup", json={"key": f"  {code.key} "}, headers=token_headers)
    assert resp.get_json()["data"]["quota"] == 1000


def test_refusals_have_distinct_messages(user_client, user):
    now = int(time.time())
    codes = {
        "used": make_code("u" * 32, status=RedemptionStatus.USED, used_count=1),
        "disabled": make_code("d" * 32, status=RedemptionStatus.DISABLED),
        "expired": make_code("e" * 32, valid_until=now - 5),
        "not_yet": make_code("n" * 32, valid_from=now + 3600),
    }
    messages = {}
    for name, code in codes.items():
        messages[name] = fail(user_client.post("/api/user/topup", json={"key": code.key}), 400)
    messages["unknown"] = fail(user_client.post("/api/user/topup", json={"key": "z" * 32}), 400)
    messages["missing"] = fail(user_client.post("/api/user/topup", json={"key": ""}), 400)
    assert "used" in messages["used"] and "disabled" in messages["disabled"]
    assert "expired" in messages["expired"] and "not valid yet" in messages["not_yet"]
    assert "invalid" in messages["unknown"]
    assert len(set(messages.values())) == len(messages)
    assert balance(user.id) == 0 and log_count(LogType.TOPUP) == 0


@pytest.mark.parametrize("key", [None, 123, True, [], {}, "x" * 65, "abc\x00def", "k\u00e9y", "\ud800", "a b"])
def test_bad_key_values(user_client, user, key):
    fail(user_client.post("/api/user/topup", json={"key": key}), 400)
    assert balance(user.id) == 0


def test_gift_code_once_per_user_and_max_uses(app, user_client, user):
    code = make_code(is_gift=True, max_uses=2, quota=300)
    assert user_client.post("/api/user/topup", json={"key": code.key}).get_json()["data"] == {
        "quota": 300, "is_gift": True}
    fail(user_client.post("/api/user/topup", json={"key": code.key}), 400, "already redeemed this gift")
    bob = make_user("bob")
    carol = make_user("carol")
    assert login_client(app, bob).post("/api/user/topup", json={"key": code.key}).get_json()["success"]
    fail(login_client(app, carol).post("/api/user/topup", json={"key": code.key}), 400, "maximum number of uses")
    assert [balance(u.id) for u in (user, bob, carol)] == [300, 300, 0]
    row = code_row(code.id)
    assert row.used_count == 2 and row.status == RedemptionStatus.USED
    assert log_count(LogType.TOPUP) == 2


def test_unlimited_gift_code(app, user):
    code = make_code(is_gift=True, max_uses=-1, quota=10)
    for i in range(5):
        member = make_user(f"m{i}")
        assert login_client(app, member).post("/api/user/topup", json={"key": code.key}).get_json()["success"]
    assert code_row(code.id).used_count == 5 and code_row(code.id).status == RedemptionStatus.UNUSED


def test_disabled_user_cannot_redeem(app, user):
    code = make_code()
    client = login_client(app, user)
    user.status = 2
    db.session.commit()
    assert client.post("/api/user/topup", json={"key": code.key}).status_code == 401
    assert code_row(code.id).status == RedemptionStatus.UNUSED


# -- inviter rebate ----------------------------------------------------------------------------------

def test_rebate_to_the_inviter(app, user):
    inviter = make_user("inviter")
    invitee = make_user("invitee", inviter_id=inviter.id)
    options().update({"RebateEnabled": True, "RebatePercentage": 12.5})
    client = login_client(app, invitee)
    assert client.post("/api/user/topup", json={"key": make_code("p" * 32, quota=999).key}).get_json()["success"]
    db.session.expire_all()
    row = db.session.get(User, inviter.id)
    assert (row.aff_quota, row.aff_history_quota, row.quota) == (124, 124, 0)  # 12.5% of 999, rounded down
    rebate_logs = db.session.scalars(select(Log).where(Log.user_id == inviter.id)).all()
    assert [(entry.type, entry.quota) for entry in rebate_logs] == [(LogType.SYSTEM, 124)]
    # gift codes pay no rebate
    assert client.post("/api/user/topup", json={"key": make_code("g" * 32, is_gift=True).key}).get_json()["success"]
    assert db.session.get(User, inviter.id).aff_quota == 124
    # nor does a code redeemed by someone without an inviter
    assert login_client(app, user).post("/api/user/topup", json={"key": make_code("q" * 32).key}).status_code == 200
    db.session.expire_all()
    assert db.session.get(User, inviter.id).aff_quota == 124


def test_no_rebate_when_disabled(app):
    inviter = make_user("inviter")
    invitee = make_user("invitee", inviter_id=inviter.id)
    options().update({"RebateEnabled": False, "RebatePercentage": 50})
    login_client(app, invitee).post("/api/user/topup", json={"key": make_code().key})
    db.session.expire_all()
    assert db.session.get(User, inviter.id).aff_quota == 0


# -- rate limit on guessing ----------------------------------------------------------------------------

class TestGuessingIsRateLimited:
    @pytest.fixture
    def app_overrides(self):
        return {"RATELIMIT_ENABLED": True, "RATELIMIT_REDEEM": "3 per minute"}

    def test_per_user_limit(self, app, user_client, user):
        for _ in range(3):
            fail(user_client.post("/api/user/topup", json={"key": "guess" * 6}), 400, "invalid")
        code = make_code()
        message = fail(user_client.post("/api/user/topup", json={"key": code.key}), 429)
        assert "too many" in message
        assert balance(user.id) == 0
        # another user is not affected
        other = login_client(app, make_user("other"))
        assert other.post("/api/user/topup", json={"key": code.key}).get_json()["success"]


# -- races ---------------------------------------------------------------------------------------------

def race(clients, path: str, body: dict) -> list[tuple[int, dict]]:
    """POST `body` to `path` from every client at once."""
    def post(i: int) -> tuple[int, dict]:
        resp = clients[i].post(path, json=body)
        return resp.status_code, resp.get_json()

    return all_at_once(len(clients), post)


@pytest.mark.slow
def test_race_single_use_code_50_users(race_app):
    users = [make_user(f"racer{i}") for i in range(50)]
    clients = [login_client(race_app, u) for u in users]
    code = make_code(quota=777)
    results = race(clients, "/api/user/topup", {"key": code.key})
    wins = [r for r in results if r[0] == 200]
    assert len(wins) == 1, results
    assert all(status == 400 and "used" in body["message"] for status, body in results if status != 200)
    refresh()
    assert db.session.scalar(select(func.sum(User.quota))) == 777
    assert log_count(LogType.TOPUP) == 1
    assert db.session.scalar(select(func.count()).select_from(RedemptionLog)) == 1
    row = code_row(code.id)
    assert row.status == RedemptionStatus.USED and row.used_count == 1


@pytest.mark.slow
def test_race_gift_code_max_uses(race_app):
    users = [make_user(f"racer{i}") for i in range(50)]
    clients = [login_client(race_app, u) for u in users]
    code = make_code(is_gift=True, max_uses=7, quota=100)
    results = race(clients, "/api/user/topup", {"key": code.key})
    assert sum(1 for status, _ in results if status == 200) == 7, results
    refresh()
    assert db.session.scalar(select(func.sum(User.quota))) == 700
    assert sorted(q for q in db.session.scalars(select(User.quota))) == [0] * 43 + [100] * 7
    assert log_count(LogType.TOPUP) == 7
    assert db.session.scalar(select(func.count()).select_from(RedemptionLog)) == 7
    row = code_row(code.id)
    assert row.used_count == 7 and row.status == RedemptionStatus.USED


@pytest.mark.slow
def test_race_gift_code_same_user_50_times(race_app):
    user = make_user("greedy")
    clients = [login_client(race_app, user) for _ in range(50)]
    code = make_code(is_gift=True, max_uses=-1, quota=100)
    results = race(clients, "/api/user/topup", {"key": code.key})
    assert sum(1 for status, _ in results if status == 200) == 1, results
    assert all("already redeemed" in body["message"] for status, body in results if status != 200)
    assert balance(user.id) == 100
    assert log_count(LogType.TOPUP, user.id) == 1
    assert code_row(code.id).used_count == 1


@pytest.mark.slow
def test_race_one_user_many_codes_and_a_check_in(race_app):
    """One wallet, 20 different codes and a check-in at once: every credit lands, none deadlocks (on
    MySQL the foreign-key checks of redemption_logs/checkins share-lock the user row)."""
    options().update({"CheckInEnabled": True, "CheckInQuota": 5, "CheckInMaxQuota": 5})
    user = make_user("busy")
    keys = [make_code(f"{i:02d}" + "m" * 30, quota=10 + i).key for i in range(20)]
    clients = [login_client(race_app, user) for _ in range(len(keys) + 1)]

    def credit(i: int) -> int:
        if i == len(keys):
            return clients[i].post("/api/user/check_in").status_code
        return clients[i].post("/api/user/topup", json={"key": keys[i]}).status_code

    statuses = all_at_once(len(clients), credit)
    assert statuses == [200] * len(clients)
    assert balance(user.id) == sum(10 + i for i in range(20)) + 5
    assert log_count(LogType.TOPUP, user.id) == 20 and log_count(LogType.CHECKIN, user.id) == 1
