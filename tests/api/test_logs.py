"""/api/log/*: lists with filters, self isolation, admin-only fields, search escaping, stat sums and purge."""

from __future__ import annotations

import json
import sys
import time

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Channel, Log, LogType
from app.services.logs import purge_logs
from tests.conftest import login_client
from tests.factories import make_user

NOW = int(time.time())


@pytest.fixture(autouse=True)
def fresh_now(monkeypatch):
    """NOW is taken per test: a module-level time goes stale when a long run reaches this file late,
    and the rpm/tpm window is only 60 seconds wide."""
    monkeypatch.setattr(sys.modules[__name__], "NOW", int(time.time()))


def add_log(user, *, log_type=LogType.CONSUME, quota=100, model="gpt-4o", at=None, token_name="key-a",
            channel_id=0, group="default", content="", prompt=10, completion=5, other=None) -> Log:
    """A log row as the billing layer writes it (the relay is not needed to test the reading side)."""
    row = Log(type=log_type, user_id=user.id, username=user.username, created_at=NOW if at is None else at,
              quota=quota, model_name=model, token_name=token_name, channel_id=channel_id, group=group,
              content=content, prompt_tokens=prompt, completion_tokens=completion,
              other=json.dumps(other) if other is not None else None)
    db.session.add(row)
    db.session.commit()
    return row


@pytest.fixture
def bob(app):
    return make_user("bob")


@pytest.fixture
def bob_client(app, bob):
    return login_client(app, bob)


def _at_now(query: str) -> str:
    """Parameter ids must not change between runs (pytest-xdist compares them): times are filled in here."""
    return (query.replace("{now-150}", str(NOW - 150)).replace("{now-50}", str(NOW - 50))
            .replace("{now-10}", str(NOW - 10)).replace("{now-1}", str(NOW - 1)).replace("{now}", str(NOW)))


def _items(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["success"] is True
    return body["data"]["items"]


# -- listing and filters -------------------------------------------------------------------------------

def test_admin_lists_every_users_logs_newest_first(admin_client, user, bob):
    first = add_log(user, quota=1)
    second = add_log(bob, quota=2)
    body = admin_client.get("/api/log/").get_json()["data"]
    assert [i["id"] for i in body["items"]] == [second.id, first.id]
    assert body["total"] == 2 and body["page"] == 1 and body["page_size"] == 10
    item = body["items"][0]
    for key in ("user_id", "created_at", "type", "content", "username", "token_name", "model_name", "quota",
                "prompt_tokens", "completion_tokens", "use_time", "is_stream", "channel", "channel_name",
                "token_id", "group", "other"):
        assert key in item


@pytest.mark.parametrize("query, expected", [
    ("type=2", {"c1", "c2", "c3", "c4"}),
    ("type=1", {"topup"}),
    ("username=bob", {"c3"}),
    ("token_name=key-b", {"c2"}),
    ("model_name=claude-3-haiku-20240307", {"c4"}),
    ("channel=7", {"c2"}),
    ("group=vip", {"c3"}),
    ("start_timestamp={now-150}&end_timestamp={now-50}", {"c4"}),
    ("start_timestamp={now-10}", {"c1", "c2", "c3", "topup"}),
    ("model_name=gpt-4o&token_name=key-a", {"c1", "c3"}),
])
def test_admin_filters(admin_client, user, bob, query, expected):
    add_log(user, content="c1")
    add_log(user, content="c2", token_name="key-b", channel_id=7)
    add_log(bob, content="c3", group="vip")
    add_log(user, content="c4", model="claude-3-haiku-20240307", at=NOW - 100)
    add_log(user, log_type=LogType.TOPUP, content="topup", model="", token_name="")
    items = _items(admin_client.get(f"/api/log/?{_at_now(query)}"))
    assert {i["content"] for i in items} == expected


def test_paging_is_clamped(admin_client, user):
    for n in range(3):
        add_log(user, content=f"n{n}")
    body = admin_client.get("/api/log/?p=0&page_size=1000").get_json()["data"]
    assert body["page"] == 1 and body["page_size"] == 100 and len(body["items"]) == 3
    body = admin_client.get("/api/log/?p=2&page_size=2").get_json()["data"]
    assert [i["content"] for i in body["items"]] == ["n0"] and body["total"] == 3
    body = admin_client.get("/api/log/?p=abc&page_size=-5").get_json()["data"]
    assert body["page"] == 1 and body["page_size"] == 1


@pytest.mark.parametrize("query", [
    "start_timestamp=abc", "end_timestamp=-1", "start_timestamp=1.5", "end_timestamp=99999999999999",
    "start_timestamp={now}&end_timestamp={now-1}", "type=99", "type=x", "channel=-3",
])
def test_bad_filters_are_refused(admin_client, user_client, h, query):
    query = _at_now(query)
    h.envelope_error(admin_client.get(f"/api/log/?{query}"), 400)
    h.envelope_error(admin_client.get(f"/api/log/stat?{query}"), 400)
    if "channel" not in query:  # the self routes ignore channel
        h.envelope_error(user_client.get(f"/api/log/self?{query}"), 400)


def test_admin_routes_need_admin(client, user_client, h):
    for path in ("/api/log/", "/api/log/search?keyword=x", "/api/log/stat"):
        h.envelope_error(user_client.get(path), 403)
        h.envelope_error(client.get(path), 401)
    h.envelope_error(user_client.delete(f"/api/log/?target_timestamp={NOW}"), 403)
    for path in ("/api/log/self", "/api/log/self/search", "/api/log/self/stat"):
        h.envelope_error(client.get(path), 401)


# -- the self routes -----------------------------------------------------------------------------------

def test_self_sees_only_own_rows(user_client, bob_client, user, bob):
    add_log(user, content="mine")
    add_log(bob, content="bobs")
    assert [i["content"] for i in _items(user_client.get("/api/log/self"))] == ["mine"]
    assert [i["content"] for i in _items(bob_client.get("/api/log/self"))] == ["bobs"]
    # username and channel are not filters on the self route: they cannot widen it either
    assert [i["content"] for i in _items(user_client.get("/api/log/self?username=bob"))] == ["mine"]
    assert [i["content"] for i in _items(user_client.get("/api/log/self/search?keyword=bobs"))] == []
    assert _items(user_client.get("/api/log/self/search?keyword=bob")) == []


def test_self_with_access_token(client, user, token_headers):
    add_log(user, content="mine")
    response = client.get("/api/log/self", headers=token_headers)
    assert [i["content"] for i in _items(response)] == ["mine"]


def test_admin_info_and_channel_name_are_for_admins_only(admin_client, user_client, user):
    channel = Channel(name="secret-upstream", key="sk-x", type=1)
    db.session.add(channel)
    db.session.commit()
    other = {"model_ratio": 1.25, "admin_info": {"use_channel": [channel.id, 9]}}
    add_log(user, channel_id=channel.id, other=other)
    mine = _items(user_client.get("/api/log/self"))[0]
    assert json.loads(mine["other"]) == {"model_ratio": 1.25}
    assert mine["channel_name"] == ""
    found = _items(user_client.get("/api/log/self/search?keyword=gpt-4o"))[0]
    assert "admin_info" not in found["other"]
    admin_view = _items(admin_client.get("/api/log/"))[0]
    assert json.loads(admin_view["other"])["admin_info"] == {"use_channel": [channel.id, 9]}
    assert admin_view["channel_name"] == "secret-upstream" and admin_view["channel"] == channel.id


def test_self_other_that_is_not_json_is_dropped(user_client, user):
    row = add_log(user)
    row.other = "not json"
    db.session.commit()
    assert _items(user_client.get("/api/log/self"))[0]["other"] == ""


# -- search --------------------------------------------------------------------------------------------

def test_search_treats_wildcards_literally(admin_client, user_client, user):
    add_log(user, content="100% done")
    add_log(user, content="under_score")
    add_log(user, content="plain text")
    for client in (admin_client, user_client):
        path = "/api/log/search" if client is admin_client else "/api/log/self/search"
        assert [i["content"] for i in _items(client.get(f"{path}?keyword=%25"))] == ["100% done"]
        assert [i["content"] for i in _items(client.get(f"{path}?keyword=_"))] == ["under_score"]
        assert len(_items(client.get(f"{path}?keyword=TEXT"))) == 1  # case-insensitive
        assert len(_items(client.get(f"{path}?keyword="))) == 3


def test_admin_search_by_username_and_type(admin_client, user, bob):
    add_log(user, content="a")
    add_log(bob, content="b")
    add_log(bob, log_type=LogType.TOPUP, content="top up 5")
    assert {i["content"] for i in _items(admin_client.get("/api/log/search?keyword=bob"))} == {"b", "top up 5"}
    assert [i["content"] for i in _items(admin_client.get("/api/log/search?keyword=1"))] == ["top up 5"]


# -- stat ----------------------------------------------------------------------------------------------

def test_stat_sums_consume_quota_over_the_filter(admin_client, user, bob):
    add_log(user, quota=100, prompt=10, completion=5)
    add_log(user, quota=50, prompt=1, completion=1, model="gpt-4.1")
    add_log(bob, quota=7)
    add_log(user, quota=1000, at=NOW - 3600)  # counts for quota, not for rpm/tpm
    add_log(user, log_type=LogType.TOPUP, quota=99999)  # not usage
    body = admin_client.get("/api/log/stat").get_json()
    assert body["success"] and body["data"] == {"quota": 1157, "rpm": 3, "tpm": 10 + 5 + 2 + 15}
    data = admin_client.get("/api/log/stat?username=alice").get_json()["data"]
    assert data == {"quota": 1150, "rpm": 2, "tpm": 17}
    data = admin_client.get(f"/api/log/stat?username=alice&start_timestamp={NOW - 60}").get_json()["data"]
    assert data["quota"] == 150
    data = admin_client.get("/api/log/stat?model_name=gpt-4.1").get_json()["data"]
    assert data == {"quota": 50, "rpm": 1, "tpm": 2}


def test_self_stat_is_isolated(user_client, bob_client, user, bob):
    add_log(user, quota=100)
    add_log(bob, quota=5)
    assert user_client.get("/api/log/self/stat").get_json()["data"]["quota"] == 100
    assert user_client.get("/api/log/self/stat?username=bob").get_json()["data"]["quota"] == 100
    assert bob_client.get("/api/log/self/stat").get_json()["data"] == {"quota": 5, "rpm": 1, "tpm": 15}


# -- purge ---------------------------------------------------------------------------------------------

def _log_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Log))


def test_purge_deletes_older_rows_and_answers_the_count(admin_client, user, h):
    for age in (5000, 4000, 3000):
        add_log(user, at=NOW - age)
    add_log(user, at=NOW)
    body = admin_client.delete(f"/api/log/?target_timestamp={NOW - 3500}").get_json()
    assert body == {"success": True, "message": "", "data": 2}
    assert _log_count() == 2
    h.envelope_error(admin_client.delete("/api/log/"), 400)
    h.envelope_error(admin_client.delete("/api/log/?target_timestamp=abc"), 400)
    assert _log_count() == 2


def test_purge_works_in_batches(app, user):
    for n in range(7):
        add_log(user, at=NOW - 1000 - n)
    add_log(user, at=NOW)
    assert purge_logs(NOW - 10, batch_size=3) == 7
    assert _log_count() == 1
