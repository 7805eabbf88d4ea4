"""/api/token/*: a user's own API keys: shown once, stored as a hash, validated, isolated per user."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.models import Option, Token, TokenStatus
from app.security import hash_secret
from app.services import tokens as token_service
from app.web import api as web_api
from tests.conftest import login_client
from tests.factories import make_user

KEY_RE = re.compile(r"^sk-[A-Za-z0-9]{48}$")

# page_args() caps `p` (at MAX_PAGE, when it has one); an enormous page is simply empty.
HUGE_PAGE = min(99999999999999999999, getattr(web_api, "MAX_PAGE", 99999999999999999999))


def create(client, expect: int = 200, **fields):
    response = client.post("/api/token/", json=fields)
    assert response.status_code == expect, response.get_json()
    body = response.get_json()
    assert body["success"] is (expect == 200)
    return body


def token_row(token_id: int) -> Token:
    db.session.expire_all()
    return db.session.get(Token, token_id)


def live_count(user_id: int) -> int:
    db.session.expire_all()
    return len(db.session.scalars(select(Token).where(Token.user_id == user_id,
                                                      Token.deleted_at.is_(None))).all())


@pytest.fixture
def bob(app):
    return make_user("bob")


@pytest.fixture
def bob_client(app, bob):
    return login_client(app, bob)


# -- the key -------------------------------------------------------------------------------------------

def test_create_shows_the_full_key_once_and_stores_only_its_hash(app, user_client, user):
    data = create(user_client, name="laptop", remain_quota=1000)["data"]
    key = data["key"]
    assert KEY_RE.match(key)
    masked = f"sk-{key[3:7]}...{key[-4:]}"

    row = token_row(data["id"])
    assert row.key_hash == hash_secret(key)
    assert row.masked_key == masked
    assert row.user_id == user.id

    # No column of any row holds the key or its 48 secret characters.
    for record in db.session.execute(text("SELECT * FROM tokens")).mappings():
        for column, value in record.items():
            assert key[3:] not in str(value), column
            assert key[3:20] not in str(value), column

    # Every later view shows the masked key only.
    listed = user_client.get("/api/token/").get_json()["data"]["items"]
    got = user_client.get(f"/api/token/{data['id']}").get_json()["data"]
    updated = user_client.put("/api/token/", json={"id": data["id"], "name": "renamed"}).get_json()["data"]
    searched = user_client.get("/api/token/search?keyword=renamed").get_json()["data"]["items"]
    for shown in (listed[0], got, updated, searched[0]):
        assert shown["key"] == masked
    for path in ("/api/token/", f"/api/token/{data['id']}", "/api/token/search?keyword="):
        assert key[3:] not in user_client.get(path).get_data(as_text=True)


def test_keys_are_unique_and_random(user_client):
    keys = {create(user_client, name=f"k{i}")["data"]["key"] for i in range(5)}
    assert len(keys) == 5


def test_defaults(user_client):
    data = create(user_client)["data"]
    assert data["name"] == ""
    assert data["expired_time"] == -1
    assert data["remain_quota"] == 0
    assert data["unlimited_quota"] is False
    assert data["status"] == TokenStatus.ENABLED
    assert data["group"] == ""


def test_access_token_auth_works_and_no_auth_is_401(client, token_headers):
    response = client.post("/api/token/", json={"name": "script"}, headers=token_headers)
    assert response.status_code == 200
    assert client.get("/api/token/", headers=token_headers).get_json()["data"]["total"] == 1
    assert client.get("/api/token/").status_code == 401
    assert client.post("/api/token/", json={"name": "x"}).status_code == 401


def test_create_bumps_the_tokens_cache(app, user_client):
    def marker():
        db.session.expire_all()
        return db.session.get(Option, "__version__:tokens")

    before = marker().value if marker() else None
    token_id = create(user_client, name="a")["data"]["id"]
    after_create = marker().value
    assert after_create != before
    user_client.put("/api/token/?status_only=true", json={"id": token_id, "status": 2})
    after_update = marker().value
    assert after_update != after_create
    user_client.delete(f"/api/token/{token_id}")
    assert marker().value != after_update


# -- two users -----------------------------------------------------------------------------------------

def test_another_users_key_is_not_found_and_unchanged(user_client, bob_client, bob):
    mine = create(user_client, name="alice-key")["data"]["id"]
    theirs = create(bob_client, name="bob-key", remain_quota=5)["data"]["id"]

    assert user_client.get(f"/api/token/{theirs}").status_code == 404
    response = user_client.put("/api/token/", json={"id": theirs, "name": "stolen", "remain_quota": 999})
    assert response.status_code == 404
    assert user_client.put("/api/token/?status_only=true", json={"id": theirs, "status": 2}).status_code == 404
    assert user_client.delete(f"/api/token/{theirs}").status_code == 404
    batch = user_client.post("/api/token/batch", json={"ids": [theirs, mine]}).get_json()
    assert batch["data"] == 1  # only alice's own key

    row = token_row(theirs)
    assert (row.name, row.remain_quota, row.status, row.deleted_at) == ("bob-key", 5, TokenStatus.ENABLED, None)
    assert live_count(bob.id) == 1
    # Lists and searches never show another user's keys.
    assert user_client.get("/api/token/").get_json()["data"]["total"] == 0
    assert user_client.get("/api/token/search?keyword=bob").get_json()["data"]["total"] == 0
    assert [t["id"] for t in bob_client.get("/api/token/").get_json()["data"]["items"]] == [theirs]


# -- listing, searching, paging ------------------------------------------------------------------------

def test_list_is_newest_first_and_paged(user_client):
    ids = [create(user_client, name=f"t{i}")["data"]["id"] for i in range(5)]
    data = user_client.get("/api/token/?p=1&page_size=2").get_json()["data"]
    assert data["total"] == 5 and data["page"] == 1 and data["page_size"] == 2
    assert [t["id"] for t in data["items"]] == ids[::-1][:2]
    page3 = user_client.get("/api/token/?p=3&page_size=2").get_json()["data"]
    assert [t["id"] for t in page3["items"]] == [ids[0]]


@pytest.mark.parametrize("query, page, size", [
    ("p=0&page_size=0", 1, 1), ("p=-3&page_size=-1", 1, 1), ("p=abc&page_size=xyz", 1, 10),
    ("page_size=100000", 1, 100), ("p=99999999999999999999", HUGE_PAGE, 10),
])
def test_paging_is_clamped(user_client, query, page, size):
    create(user_client, name="one")
    data = user_client.get(f"/api/token/?{query}").get_json()["data"]
    assert (data["page"], data["page_size"]) == (page, size)
    if page > 1:
        assert data["items"] == []


def test_search_escapes_like_wildcards(user_client):
    for name in ("100%", "100 percent", "a_b", "axb", "plain"):
        create(user_client, name=name)

    def names(keyword):
        from urllib.parse import quote
        items = user_client.get(f"/api/token/search?keyword={quote(keyword)}").get_json()["data"]["items"]
        return sorted(t["name"] for t in items)

    assert names("%") == ["100%"]
    assert names("_") == ["a_b"]
    assert names("0%") == ["100%"]
    assert names("a_") == ["a_b"]
    assert names("\\") == []
    assert names("") == sorted(["100%", "100 percent", "a_b", "axb", "plain"])


def test_search_by_key(user_client):
    key = create(user_client, name="target")["data"]["key"]
    create(user_client, name="other")

    def found(token):
        from urllib.parse import quote
        return [t["name"] for t in user_client.get(f"/api/token/search?token={quote(token)}")
                .get_json()["data"]["items"]]

    assert found(key) == ["target"]
    assert found(key[3:]) == ["target"]
    assert found(f"sk-{key[3:7]}...{key[-4:]}") == ["target"]
    assert "target" in found(key[3:6])
    assert "target" in found(key[-3:])


# -- validation ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    '{"remain_quota": -1}', '{"remain_quota": 1.5}', '{"remain_quota": "100"}', '{"remain_quota": true}',
    '{"remain_quota": NaN}', '{"remain_quota": Infinity}', '{"remain_quota": 1e309}',
    '{"remain_quota": 9223372036854775808}', '{"remain_quota": null}', '{"remain_quota": [1]}',
    '{"unlimited_quota": "true"}', '{"unlimited_quota": 1}', '{"model_limits_enabled": "yes"}',
    '{"expired_time": 0}', '{"expired_time": -2}', '{"expired_time": 1}', '{"expired_time": 1.5}',
    '{"expired_time": "never"}', '{"expired_time": 1700000000000}',
    '{"name": "' + "x" * 51 + '"}', '{"name": 5}', '{"name": "bad\\u0000name"}',
    '{"allow_ips": "999.1.1.1"}', '{"allow_ips": "10.0.0.0/33"}', '{"allow_ips": "not-an-ip"}',
    '{"allow_ips": "1.2.3.4\\nexample.com"}', '{"allow_ips": "fe80::1%eth0"}', '{"allow_ips": 17}',
    '{"group": "svip"}', '{"group": "nope"}', '{"group": 1}',
    '{"model_limits": 5}', '{"model_limits": "' + "m" * 300 + '"}',
    '[]', '"x"', 'not json', '{"name": "a", "name": "b"}',
])
def test_invalid_fields_are_refused_and_nothing_is_written(user_client, user, raw):
    response = user_client.post("/api/token/", data=raw, content_type="application/json")
    assert response.status_code == 400, raw
    body = response.get_json()
    assert body["success"] is False and body["message"]
    assert live_count(user.id) == 0


def test_quota_bounds(user_client):
    assert create(user_client, remain_quota=0)["data"]["remain_quota"] == 0
    big = 2**63 - 1
    assert create(user_client, remain_quota=big)["data"]["remain_quota"] == big
    assert create(user_client, remain_quota=5.0)["data"]["remain_quota"] == 5


def test_name_limit_and_html_is_stored_as_text(user_client):
    assert create(user_client, name="n" * 50)["data"]["name"] == "n" * 50
    html = '<script>alert("x")</script>'
    token_id = create(user_client, name=html)["data"]["id"]
    assert token_row(token_id).name == html
    assert user_client.get(f"/api/token/{token_id}").get_json()["data"]["name"] == html


def test_expired_time(user_client):
    future = int(time.time()) + 3600
    assert create(user_client, expired_time=future)["data"]["expired_time"] == future
    assert create(user_client, expired_time=-1)["data"]["expired_time"] == -1
    create(user_client, expect=400, expired_time=int(time.time()) - 10)


def test_allow_ips_are_validated_and_normalised(user_client):
    data = create(user_client, allow_ips="10.0.0.5/8, 192.168.1.1\n::1\n\n2001:db8::/32,10.0.0.0/8")["data"]
    assert data["allow_ips"] == "10.0.0.0/8\n192.168.1.1\n::1\n2001:db8::/32"


def test_model_limits_are_normalised(user_client):
    data = create(user_client, model_limits_enabled=True, model_limits=" gpt-4o , claude-3,gpt-4o,, ")["data"]
    assert data["model_limits"] == "gpt-4o,claude-3"
    assert data["model_limits_enabled"] is True


def test_group_must_be_usable(app, user_client):
    assert create(user_client, group="")["data"]["group"] == ""
    assert create(user_client, group="vip")["data"]["group"] == "vip"  # in the default UserUsableGroups
    assert create(user_client, group="default")["data"]["group"] == "default"
    special = make_user("carol", group="special")
    carol = login_client(app, special)
    assert create(carol, group="special")["data"]["group"] == "special"
    create(user_client, expect=400, group="special")


def test_per_user_cap(monkeypatch, user_client, bob_client):
    monkeypatch.setattr(token_service, "MAX_TOKENS_PER_USER", 2)
    first = create(user_client)["data"]["id"]
    create(user_client)
    body = create(user_client, expect=400)
    assert "limit" in body["message"]
    create(bob_client)  # the cap is per user
    user_client.delete(f"/api/token/{first}")
    create(user_client)  # deleted keys do not count


# -- updates and status --------------------------------------------------------------------------------

def test_update_changes_only_the_fields_sent(user_client):
    data = create(user_client, name="a", remain_quota=10, allow_ips="1.1.1.1", model_limits="m1")["data"]
    response = user_client.put("/api/token/", json={"id": data["id"], "remain_quota": 20, "key": "ignored",
                                                    "used_quota": 999, "user_id": 12345})
    updated = response.get_json()["data"]
    assert (updated["name"], updated["remain_quota"], updated["allow_ips"], updated["model_limits"]) == \
        ("a", 20, "1.1.1.1", "m1")
    row = token_row(data["id"])
    assert row.used_quota == 0 and row.user_id != 12345
    assert row.key_hash == hash_secret(data["key"])


def test_update_validates(user_client):
    token_id = create(user_client, name="a", remain_quota=10)["data"]["id"]
    for bad in ({"remain_quota": -5}, {"name": "x" * 51}, {"allow_ips": "1.2.3"}, {"status": 7},
                {"status": 3}, {"group": "svip"}, {"expired_time": int(time.time()) - 100}):
        response = user_client.put("/api/token/", json={"id": token_id, **bad})
        assert response.status_code == 400, bad
    row = token_row(token_id)
    assert (row.name, row.remain_quota, row.status) == ("a", 10, TokenStatus.ENABLED)
    for bad_id in ({}, {"id": "1"}, {"id": 0}, {"id": True}):
        assert user_client.put("/api/token/", json=bad_id).status_code == 400


def test_update_keeps_a_stored_past_expiry(user_client):
    token_id = create(user_client, name="a")["data"]["id"]
    past = int(time.time()) - 100
    row = token_row(token_id)
    row.expired_time, row.status = past, TokenStatus.EXPIRED
    db.session.commit()
    # The edit form sends the stored expiry back unchanged: that is not an error.
    response = user_client.put("/api/token/", json={"id": token_id, "name": "b", "expired_time": past})
    assert response.status_code == 200


def test_status_only_changes_only_status(user_client):
    token_id = create(user_client, name="a", remain_quota=10)["data"]["id"]
    response = user_client.put("/api/token/?status_only=true",
                               json={"id": token_id, "status": 2, "name": "ignored", "remain_quota": 1})
    assert response.status_code == 200
    row = token_row(token_id)
    assert (row.status, row.name, row.remain_quota) == (TokenStatus.DISABLED, "a", 10)
    assert user_client.put("/api/token/?status_only=true", json={"id": token_id}).status_code == 400
    assert user_client.put("/api/token/?status_only=true", json={"id": token_id, "status": 1}).status_code == 200
    assert token_row(token_id).status == TokenStatus.ENABLED


def test_expired_or_exhausted_key_cannot_be_enabled(user_client):
    expired = create(user_client, name="old")["data"]["id"]
    row = token_row(expired)
    row.status, row.expired_time = TokenStatus.EXPIRED, int(time.time()) - 10
    db.session.commit()
    response = user_client.put("/api/token/?status_only=true", json={"id": expired, "status": 1})
    assert response.status_code == 400
    assert "expired" in response.get_json()["message"]
    assert token_row(expired).status == TokenStatus.EXPIRED
    # Extending the expiry and enabling in one update is fine.
    future = int(time.time()) + 3600
    response = user_client.put("/api/token/", json={"id": expired, "expired_time": future, "status": 1})
    assert response.status_code == 200
    assert token_row(expired).status == TokenStatus.ENABLED

    exhausted = create(user_client, name="empty")["data"]["id"]
    row = token_row(exhausted)
    row.status, row.remain_quota = TokenStatus.EXHAUSTED, 0
    db.session.commit()
    response = user_client.put("/api/token/?status_only=true", json={"id": exhausted, "status": 1})
    assert response.status_code == 400
    assert "quota" in response.get_json()["message"]
    assert token_row(exhausted).status == TokenStatus.EXHAUSTED
    response = user_client.put("/api/token/", json={"id": exhausted, "unlimited_quota": True, "status": 1})
    assert response.status_code == 200
    assert token_row(exhausted).status == TokenStatus.ENABLED


# -- deletion ------------------------------------------------------------------------------------------

def test_delete_is_soft_and_hides_the_key(user_client, user):
    token_id = create(user_client, name="gone")["data"]["id"]
    assert user_client.delete(f"/api/token/{token_id}").get_json()["success"] is True
    row = token_row(token_id)
    assert row.deleted_at is not None and row.status == TokenStatus.DISABLED
    assert user_client.get(f"/api/token/{token_id}").status_code == 404
    assert user_client.delete(f"/api/token/{token_id}").status_code == 404
    assert user_client.put("/api/token/", json={"id": token_id, "name": "x"}).status_code == 404
    assert user_client.get("/api/token/").get_json()["data"]["total"] == 0


def test_batch_delete(user_client, user):
    ids = [create(user_client, name=f"t{i}")["data"]["id"] for i in range(3)]
    response = user_client.post("/api/token/batch", json={"ids": ids[:2] + [99999]})
    assert response.get_json()["data"] == 2
    assert live_count(user.id) == 1
    for bad in ({}, {"ids": []}, {"ids": "1,2"}, {"ids": [1.5]}, {"ids": [True]}, {"ids": [-1]}):
        assert user_client.post("/api/token/batch", json=bad).status_code == 400, bad
    assert live_count(user.id) == 1
