"""/api/channel/*: admin-only channel CRUD, tags, validation, abilities, and keys that never come back out."""

from __future__ import annotations

import json
import logging
import uuid
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Ability, Channel, ChannelStatus, Option
from app.services import channels as channel_service
from app.web import api as web_api

# page_args() caps `p` (at MAX_PAGE, when it has one); an enormous page is simply empty.
HUGE_PAGE = min(99999999999999999999, getattr(web_api, "MAX_PAGE", 99999999999999999999))


class RecordingClient:
    """A test client that keeps every response body, to prove no key ever appears in one."""

    def __init__(self, client) -> None:
        self.client = client
        self.bodies: list[str] = []

    def _call(self, method: str, path: str, **kwargs):
        response = getattr(self.client, method)(path, **kwargs)
        self.bodies.append(response.get_data(as_text=True) + "\n" + str(response.headers))
        return response

    def get(self, path, **kw):
        return self._call("get", path, **kw)

    def post(self, path, **kw):
        return self._call("post", path, **kw)

    def put(self, path, **kw):
        return self._call("put", path, **kw)

    def delete(self, path, **kw):
        return self._call("delete", path, **kw)

    def assert_never_shown(self, secrets) -> None:
        for secret in secrets:
            for body in self.bodies:
                assert secret not in body


@pytest.fixture
def admin(admin_client):
    return RecordingClient(admin_client)


def secret() -> str:
    return f"sk-upstream-{uuid.uuid4().hex}"


def create(client, expect: int = 200, mode: str = "single", **fields) -> list[dict]:
    fields.setdefault("type", 1)
    fields.setdefault("key", secret())
    response = client.post("/api/channel/", json={"mode": mode, "channel": fields})
    assert response.status_code == expect, response.get_json()
    body = response.get_json()
    assert body["success"] is (expect == 200), body
    return body["data"]


def create_one(client, **fields) -> dict:
    return create(client, **fields)[0]


def abilities(channel_id: int | None = None) -> set[tuple]:
    db.session.expire_all()
    query = select(Ability)
    if channel_id is not None:
        query = query.where(Ability.channel_id == channel_id)
    return {(a.group, a.model, a.channel_id, a.enabled, a.priority, a.weight, a.tag)
            for a in db.session.scalars(query)}


def expected_abilities(channel_id, groups, models, *, enabled=True, priority=0, weight=0, tag=None) -> set:
    return {(g_, m, channel_id, enabled, priority, weight, tag) for g_ in groups for m in models}


def channel_row(channel_id: int) -> Channel:
    db.session.expire_all()
    return db.session.get(Channel, channel_id)


def channel_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(Channel.id)))


def cache_marker():
    db.session.expire_all()
    row = db.session.get(Option, "__version__:channels")
    return row.value if row else None


# -- access --------------------------------------------------------------------------------------------

ROUTES = [
    ("get", "/api/channel/"), ("get", "/api/channel/search"), ("get", "/api/channel/models"),
    ("get", "/api/channel/models_enabled"), ("get", "/api/channel/tag/models?tag=t"), ("get", "/api/channel/1"),
    ("post", "/api/channel/"), ("put", "/api/channel/"), ("delete", "/api/channel/1"),
    ("delete", "/api/channel/disabled"), ("post", "/api/channel/batch"), ("post", "/api/channel/tag/disabled"),
    ("post", "/api/channel/tag/enabled"), ("put", "/api/channel/tag"), ("post", "/api/channel/batch/tag"),
    ("post", "/api/channel/fix"),
]


@pytest.mark.parametrize("method, path", ROUTES)
def test_users_get_403_and_anonymous_401(client, user_client, admin_client, method, path):
    create_one(admin_client, name="existing", tag="t")
    body = {"mode": "single", "channel": {"type": 1, "key": "k", "name": "x"}, "id": 1, "ids": [1], "tag": "t"}
    kwargs = {"json": body} if method in ("post", "put") else {}
    assert getattr(user_client, method)(path, **kwargs).status_code == 403
    assert getattr(client, method)(path, **kwargs).status_code == 401
    row = channel_row(1)
    assert (row.name, row.status, row.tag) == ("existing", ChannelStatus.ENABLED, "t")
    assert channel_count() == 1


def test_access_token_of_a_plain_user_is_refused(client, token_headers):
    assert client.get("/api/channel/", headers=token_headers).status_code == 403


# -- creation and abilities ----------------------------------------------------------------------------

def test_create_single_builds_abilities(admin):
    data = create_one(admin, name="main", key="k-one\nk-two\n\n", models="gpt-4o, gpt-4o-mini,gpt-4o",
                      group="default,vip", priority=5, weight=3, tag="fast", multi_key_mode="round_robin")
    assert data["key"] == "" and data["key_count"] == 2
    assert data["channel_info"] == {"is_multi_key": True, "multi_key_size": 2, "multi_key_mode": "round_robin"}
    assert data["models"] == "gpt-4o,gpt-4o-mini"
    row = channel_row(data["id"])
    assert row.key_list() == ["k-one", "k-two"]
    assert abilities() == expected_abilities(data["id"], ["default", "vip"], ["gpt-4o", "gpt-4o-mini"],
                                             priority=5, weight=3, tag="fast")


def test_create_batch_makes_one_channel_per_key(admin):
    keys = [secret() for _ in range(3)]
    created = create(admin, mode="batch", name="bulk", key="\n".join(keys), models="m1")
    assert len(created) == 3
    assert sorted(channel_row(c["id"]).key for c in created) == sorted(keys)
    assert abilities() == set().union(*(expected_abilities(c["id"], ["default"], ["m1"]) for c in created))
    admin.assert_never_shown(keys)


def test_bare_channel_object_is_one_api_batch(admin):
    response = admin.post("/api/channel/", json={"type": 1, "key": "a1\nb2", "name": "legacy", "models": "m"})
    assert len(response.get_json()["data"]) == 2
    response = admin.post("/api/channel/", json={"mode": "single", "type": 1, "key": "c3\nd4", "models": "m"})
    assert len(response.get_json()["data"]) == 1
    assert channel_count() == 3


def test_multi_to_single_takes_the_top_level_multi_key_mode(admin):
    response = admin.post("/api/channel/", json={"mode": "multi_to_single", "multi_key_mode": "round_robin",
                                                 "channel": {"type": 1, "key": "a\nb"}})
    assert response.get_json()["data"][0]["multi_key_mode"] == "round_robin"


def test_defaults(admin):
    data = create_one(admin)
    assert (data["type"], data["group"], data["status"], data["priority"], data["weight"], data["auto_ban"],
            data["multi_key_mode"], data["tag"], data["models"]) == (1, "default", 1, 0, 0, 1, "random", None, "")


def test_json_fields_round_trip(admin):
    data = create_one(
        admin, type=3, model_mapping='{"gpt-4": "gpt-4-0613", "gpt-4-0613": "gpt-4-1106"}',
        status_code_mapping={"429": "503"}, param_override={"temperature": 0.2, "nested": {"a": [1]}},
        header_override='{"X-Team": "ml", "x-api-version": "2"}', other="2024-10-21",
        openai_organization="org-1", test_model="gpt-4o", base_url="https://example.openai.azure.com/")
    assert json.loads(data["model_mapping"]) == {"gpt-4": "gpt-4-0613", "gpt-4-0613": "gpt-4-1106"}
    assert json.loads(data["status_code_mapping"]) == {"429": "503"}
    assert json.loads(data["param_override"]) == {"temperature": 0.2, "nested": {"a": [1]}}
    assert json.loads(data["header_override"]) == {"X-Team": "ml", "x-api-version": "2"}
    assert json.loads(data["other"]) == {"api_version": "2024-10-21"}
    assert data["base_url"] == "https://example.openai.azure.com"
    assert (data["openai_organization"], data["test_model"]) == ("org-1", "gpt-4o")
    # Empty values clear the field.
    response = admin.put("/api/channel/", json={"id": data["id"], "model_mapping": "", "param_override": "{}",
                                                "header_override": None, "other": "", "status_code_mapping": ""})
    cleared = response.get_json()["data"]
    assert (cleared["model_mapping"], cleared["param_override"], cleared["header_override"], cleared["other"],
            cleared["status_code_mapping"]) == (None, None, None, None, "")


BAD_FIELDS = [
    {"type": 9999}, {"type": "1"}, {"type": 1.5}, {"type": True}, {"type": None},
    {"key": ""}, {"key": "   \n  "}, {"key": 5}, {"key": "bad\x00key"},
    {"name": "n" * 256}, {"name": 3},
    {"base_url": "ftp://example.com"}, {"base_url": "javascript:alert(1)"}, {"base_url": "http://"},
    {"base_url": "example.com"}, {"base_url": "http://exa mple.com"}, {"base_url": "http://host:99999"},
    {"base_url": "https://x.com/#frag"}, {"base_url": 7},
    {"models": 5}, {"models": "m" * 300}, {"group": "a b"}, {"group": "vip;drop"}, {"group": "g" * 65},
    {"model_mapping": "not json"}, {"model_mapping": "[1]"}, {"model_mapping": {"a": 1}},
    {"model_mapping": {"a": ""}}, {"model_mapping": '{"a": "b", "a": "c"}'},
    {"status_code_mapping": {"429": 503}}, {"status_code_mapping": {"4290": "503"}},
    {"status_code_mapping": {"abc": "500"}}, {"status_code_mapping": "[]"},
    {"priority": 1.5}, {"priority": "1"}, {"priority": 2**63}, {"weight": -1}, {"weight": 2**31},
    {"weight": "5"}, {"auto_ban": 2}, {"auto_ban": True}, {"auto_ban": "1"},
    {"param_override": "[1,2]"}, {"param_override": "nope"}, {"param_override": '{"t": NaN}'},
    {"header_override": {"X-A": "1\r\nInjected: yes"}}, {"header_override": {"Bad Header": "1"}},
    {"header_override": {"X-A": 1}}, {"header_override": {"X-A": "line\nbreak"}},
    {"other": "[1]"}, {"other": "has spaces in it"}, {"other": 5}, {"other": '{"a": Infinity}'},
    {"multi_key_mode": "sequential"}, {"multi_key_mode": None},
    {"status": 9}, {"status": "1"}, {"tag": 5}, {"test_model": ["x"]},
]


@pytest.mark.parametrize("bad", BAD_FIELDS, ids=lambda b: json.dumps(b, default=str)[:60])
def test_invalid_fields_are_refused_and_nothing_is_written(admin, bad):
    fields = {"type": 1, "key": secret(), "models": "m1", **bad}
    response = admin.post("/api/channel/", json={"mode": "single", "channel": fields})
    assert response.status_code == 400, bad
    body = response.get_json()
    assert body["success"] is False and body["message"]
    assert channel_count() == 0 and abilities() == set()
    admin.assert_never_shown([fields["key"]] if isinstance(fields["key"], str) and fields["key"].strip() else [])


@pytest.mark.parametrize("body", [
    {"mode": "everything", "channel": {"type": 1, "key": "k"}}, {"channel": {"type": 1}},
    {"mode": "single", "channel": {"type": 1, "key": "k"}, "multi_key_mode": "bad"},
])
def test_invalid_create_requests(admin, body):
    assert admin.post("/api/channel/", json=body).status_code == 400
    assert channel_count() == 0


def test_raw_json_constants_are_refused(admin_client):
    response = admin_client.post("/api/channel/", data='{"mode": "single", "channel": {"type": 1, "key": "k", '
                                 '"priority": NaN}}', content_type="application/json")
    assert response.status_code == 400
    assert channel_count() == 0


@pytest.mark.parametrize("mapping, ok", [
    ({"a": "b", "b": "a"}, False),
    ({"a": "a"}, False),
    ({"a": "b", "b": "c", "c": "a"}, False),
    ({"x": "y", "a": "b", "b": "c", "c": "b"}, False),
    ({"a": "b", "b": "c"}, True),
    ({"gpt-4": "gpt-4o", "gpt-3.5-turbo": "gpt-4o"}, True),
])
def test_model_mapping_cycles_are_refused(admin, mapping, ok):
    response = admin.post("/api/channel/", json={"mode": "single", "channel": {
        "type": 1, "key": "k", "models": "a", "model_mapping": json.dumps(mapping)}})
    assert (response.status_code == 200) is ok, response.get_json()
    if not ok:
        assert "model_mapping" in response.get_json()["message"]
        assert channel_count() == 0


# -- keys never leave the server -----------------------------------------------------------------------

def test_keys_never_appear_in_any_response_or_log(admin, caplog):
    caplog.set_level(logging.DEBUG)
    keys = [secret(), secret(), secret(), secret()]
    first = create_one(admin, name="one", key=f"{keys[0]}\n{keys[1]}", models="m1,m2", tag="grp")
    second = create(admin, mode="batch", name="two", key=keys[2], models="m3", group="vip")[0]
    cid = first["id"]
    admin.get("/api/channel/")
    admin.get("/api/channel/?tag_mode=true")
    admin.get("/api/channel/?id_sort=true&page_size=100")
    admin.get(f"/api/channel/{cid}")
    admin.get(f"/api/channel/search?keyword={quote(keys[0])}")
    admin.get(f"/api/channel/search?keyword={quote(keys[2])}")
    admin.get("/api/channel/search?keyword=one&model=m&group=default")
    admin.get("/api/channel/models")
    admin.get("/api/channel/models_enabled")
    admin.get("/api/channel/tag/models?tag=grp")
    admin.put("/api/channel/", json={"id": cid, "name": "renamed"})
    admin.put("/api/channel/", json={"id": cid, "key": keys[3]})
    admin.put("/api/channel/", json={"id": cid, "key": keys[0], "key_mode": "append"})
    admin.put("/api/channel/", json={"id": cid, "key": "bad\x00" + keys[1]})  # a refused key
    admin.put("/api/channel/tag", json={"tag": "grp", "priority": 3})
    admin.post("/api/channel/tag/disabled", json={"tag": "grp"})
    admin.post("/api/channel/tag/enabled", json={"tag": "grp"})
    admin.post("/api/channel/batch/tag", json={"ids": [second["id"]], "tag": "grp"})
    admin.post("/api/channel/fix")
    assert channel_row(cid).key_list() == [keys[3], keys[0]]
    admin.assert_never_shown(keys)
    for key in keys:
        assert key not in caplog.text
    assert all(body for body in admin.bodies)


def test_search_by_exact_key_finds_the_channel_without_showing_it(admin):
    key = secret()
    cid = create_one(admin, name="hidden", key=key)["id"]
    create_one(admin, name="other")
    items = admin.get(f"/api/channel/search?keyword={quote(key)}").get_json()["data"]["items"]
    assert [c["id"] for c in items] == [cid]
    assert items[0]["key"] == ""
    # A fragment of a key matches nothing: keys are compared whole, never with LIKE.
    assert admin.get(f"/api/channel/search?keyword={quote(key[:20])}").get_json()["data"]["total"] == 0
    admin.assert_never_shown([key])


# -- updates -------------------------------------------------------------------------------------------

def test_update_keeps_the_key_when_empty_and_changes_only_sent_fields(admin):
    key = secret()
    data = create_one(admin, name="a", key=key, models="m1", priority=2, base_url="https://a.example")
    for empty in ("", None, "  \n "):
        response = admin.put("/api/channel/", json={"id": data["id"], "key": empty, "name": "b"})
        assert response.status_code == 200
    response = admin.put("/api/channel/", json={"id": data["id"], "weight": 7})
    updated = response.get_json()["data"]
    assert (updated["name"], updated["priority"], updated["weight"], updated["base_url"], updated["models"]) == \
        ("b", 2, 7, "https://a.example", "m1")
    assert channel_row(data["id"]).key == key
    new_key = secret()
    admin.put("/api/channel/", json={"id": data["id"], "key": new_key})
    assert channel_row(data["id"]).key == new_key
    admin.assert_never_shown([key, new_key])


def test_update_ignores_read_only_fields(admin):
    data = create_one(admin, name="a")
    admin.put("/api/channel/", json={"id": data["id"], "used_quota": 999, "balance": 5, "created_time": 1,
                                     "response_time": 42})
    row = channel_row(data["id"])
    assert (row.used_quota, float(row.balance), row.response_time) == (0, 0.0, 0)
    assert row.created_time == data["created_time"]


def test_invalid_update_changes_nothing(admin):
    key = secret()
    data = create_one(admin, name="a", key=key, models="m1", group="default")
    before = (channel_row(data["id"]).key, abilities())
    for bad in ({"model_mapping": {"a": "b", "b": "a"}}, {"type": 12345}, {"base_url": "gopher://x"},
                {"weight": -3}, {"key": "x\x07y"}, {"key_mode": "merge", "key": "new"}, {"status": 0},
                {"header_override": {"A": "b\r\n"}}, {"models": "ok", "group": "bad group"}):
        response = admin.put("/api/channel/", json={"id": data["id"], "name": "changed", **bad})
        assert response.status_code == 400, bad
    row = channel_row(data["id"])
    assert row.name == "a" and (row.key, abilities()) == before
    for bad_id in ({}, {"id": "1"}, {"id": 0}, {"id": 1.5}):
        assert admin.put("/api/channel/", json=bad_id).status_code == 400
    assert admin.put("/api/channel/", json={"id": 999, "name": "x"}).status_code == 404


def test_abilities_follow_models_groups_status_priority_and_tag(admin):
    cid = create_one(admin, models="m1,m2", group="default")["id"]
    assert abilities(cid) == expected_abilities(cid, ["default"], ["m1", "m2"])

    admin.put("/api/channel/", json={"id": cid, "models": "m2,m3,m4"})
    assert abilities(cid) == expected_abilities(cid, ["default"], ["m2", "m3", "m4"])

    admin.put("/api/channel/", json={"id": cid, "group": "vip,svip"})
    assert abilities(cid) == expected_abilities(cid, ["vip", "svip"], ["m2", "m3", "m4"])

    admin.put("/api/channel/", json={"id": cid, "status": 2})
    assert channel_row(cid).status == ChannelStatus.MANUALLY_DISABLED
    assert abilities(cid) == expected_abilities(cid, ["vip", "svip"], ["m2", "m3", "m4"], enabled=False)

    admin.put("/api/channel/", json={"id": cid, "status": 1, "priority": -4, "weight": 9, "tag": "t1"})
    assert abilities(cid) == expected_abilities(cid, ["vip", "svip"], ["m2", "m3", "m4"],
                                                priority=-4, weight=9, tag="t1")

    admin.put("/api/channel/", json={"id": cid, "models": ""})
    assert abilities(cid) == set()


def test_update_bumps_the_channel_cache(admin):
    cid = create_one(admin)["id"]
    first = cache_marker()
    assert first is not None
    admin.put("/api/channel/", json={"id": cid, "name": "x"})
    second = cache_marker()
    assert second != first
    admin.delete(f"/api/channel/{cid}")
    assert cache_marker() != second


def test_set_channel_status_service(admin):
    cid = create_one(admin, models="m1")["id"]
    channel_service.set_channel_status(cid, ChannelStatus.AUTO_DISABLED)
    assert abilities(cid) == expected_abilities(cid, ["default"], ["m1"], enabled=False)
    channel_service.set_channel_status(cid, ChannelStatus.ENABLED)
    assert abilities(cid) == expected_abilities(cid, ["default"], ["m1"])


# -- reading -------------------------------------------------------------------------------------------

def test_get_one_and_not_found(admin):
    cid = create_one(admin, name="x")["id"]
    assert admin.get(f"/api/channel/{cid}").get_json()["data"]["name"] == "x"
    assert admin.get("/api/channel/9999").status_code == 404
    assert admin.get("/api/channel/abc").status_code == 404


def test_list_order_paging_and_filters(admin):
    low = create_one(admin, name="low", priority=0, type=1)["id"]
    high = create_one(admin, name="high", priority=10, type=14, group="vip")["id"]
    mid = create_one(admin, name="mid", priority=5, type=1, status=2)["id"]
    data = admin.get("/api/channel/").get_json()["data"]
    assert [c["id"] for c in data["items"]] == [high, mid, low]
    assert data["total"] == 3 and data["type_counts"] == {"1": 2, "14": 1}
    by_id = admin.get("/api/channel/?id_sort=true").get_json()["data"]["items"]
    assert [c["id"] for c in by_id] == [mid, high, low]
    paged = admin.get("/api/channel/?p=2&page_size=2").get_json()["data"]
    assert [c["id"] for c in paged["items"]] == [low] and paged["page"] == 2
    assert [c["id"] for c in admin.get("/api/channel/?status=enabled").get_json()["data"]["items"]] == [high, low]
    assert [c["id"] for c in admin.get("/api/channel/?status=0").get_json()["data"]["items"]] == [mid]
    assert [c["id"] for c in admin.get("/api/channel/?type=14").get_json()["data"]["items"]] == [high]
    assert [c["id"] for c in admin.get("/api/channel/?group=vip").get_json()["data"]["items"]] == [high]


@pytest.mark.parametrize("query, page, size", [
    ("p=0&page_size=0", 1, 1), ("p=-1&page_size=-5", 1, 1), ("p=x&page_size=y", 1, 10),
    ("page_size=5000", 1, 100), ("p=99999999999999999999", HUGE_PAGE, 10),
])
def test_paging_is_clamped(admin, query, page, size):
    create_one(admin)
    for path in ("/api/channel/", "/api/channel/search", "/api/channel/?tag_mode=1"):
        data = admin.get(f"{path}{'&' if '?' in path else '?'}{query}").get_json()["data"]
        assert (data["page"], data["page_size"]) == (page, size), path


def test_tag_mode_pages_over_tags_and_keeps_untagged_channels(admin):
    a1 = create_one(admin, name="a1", tag="alpha")["id"]
    a2 = create_one(admin, name="a2", tag="alpha", priority=3)["id"]
    b1 = create_one(admin, name="b1", tag="beta")["id"]
    loose = create_one(admin, name="loose")["id"]
    first = admin.get("/api/channel/?tag_mode=true&page_size=1").get_json()["data"]
    assert first["total"] == 3  # alpha, beta, one untagged channel
    assert [c["id"] for c in first["items"]] == [a2, a1]
    second = admin.get("/api/channel/?tag_mode=true&page_size=1&p=2").get_json()["data"]
    assert [c["id"] for c in second["items"]] == [b1]
    third = admin.get("/api/channel/?tag_mode=true&page_size=1&p=3").get_json()["data"]
    assert [c["id"] for c in third["items"]] == [loose]
    everything = admin.get("/api/channel/?tag_mode=true&page_size=10").get_json()["data"]
    assert [c["id"] for c in everything["items"]] == [a2, a1, b1, loose]


def test_search_escapes_wildcards_and_filters(admin):
    ids = {name: create_one(admin, name=name, models=models, group=group)["id"] for name, models, group in [
        ("100%", "gpt-4o", "default"), ("100 percent", "gpt-4o-mini", "vip"), ("a_b", "claude-3", "default"),
        ("axb", "gpt_x", "default,vip")]}

    def found(query):
        return sorted(c["name"] for c in admin.get(f"/api/channel/search?{query}").get_json()["data"]["items"])

    assert found("keyword=" + quote("%")) == ["100%"]
    assert found("keyword=_") == ["a_b"]
    assert found("keyword=") == sorted(ids)
    assert found("model=_") == ["axb"]
    assert found("model=gpt-4o") == ["100 percent", "100%"]
    assert found("group=vip") == ["100 percent", "axb"]
    assert found("group=vi") == []
    assert found("group=" + quote("%")) == []
    assert found(f"keyword={ids['axb']}") == ["axb"]
    assert found("keyword=100&group=vip") == ["100 percent"]
    data = admin.get("/api/channel/search?keyword=100&page_size=1").get_json()["data"]
    assert data["total"] == 2 and len(data["items"]) == 1


def test_models_lists(admin):
    create_one(admin, type=14, models="claude-3,shared")
    create_one(admin, type=1, models="gpt-4o,shared", status=2)
    models = admin.get("/api/channel/models").get_json()["data"]
    assert [m["id"] for m in models] == ["claude-3", "gpt-4o", "shared"]
    assert models[0]["owned_by"] == channel_service.CHANNEL_TYPES[14]
    assert admin.get("/api/channel/models_enabled").get_json()["data"] == ["claude-3", "shared"]


# -- deletion ------------------------------------------------------------------------------------------

def test_delete_one_many_and_disabled(admin):
    a = create_one(admin, models="m")["id"]
    b = create_one(admin, models="m")["id"]
    c = create_one(admin, models="m", status=2)["id"]
    d = create_one(admin, models="m", status=3)["id"]
    e = create_one(admin, models="m")["id"]
    assert admin.delete(f"/api/channel/{a}").get_json()["success"] is True
    assert admin.delete(f"/api/channel/{a}").status_code == 404
    assert admin.delete("/api/channel/disabled").get_json()["data"] == 2
    assert admin.post("/api/channel/batch", json={"ids": [b, 9999]}).get_json()["data"] == 1
    for bad in ({}, {"ids": []}, {"ids": ["1"]}, {"ids": [0]}):
        assert admin.post("/api/channel/batch", json=bad).status_code == 400
    db.session.expire_all()
    assert [ch.id for ch in db.session.scalars(select(Channel))] == [e]
    assert {row[2] for row in abilities()} == {e}
    assert c and d


# -- tags ----------------------------------------------------------------------------------------------

def test_tag_disable_enable_flip_channels_and_abilities(admin):
    t1 = create_one(admin, tag="team", models="m")["id"]
    t2 = create_one(admin, tag="team", models="m")["id"]
    other = create_one(admin, tag="else", models="m")["id"]
    assert admin.post("/api/channel/tag/disabled", json={"tag": "team"}).get_json()["success"] is True
    assert [channel_row(i).status for i in (t1, t2, other)] == [2, 2, 1]
    assert {(row[2], row[3]) for row in abilities()} == {(t1, False), (t2, False), (other, True)}
    admin.post("/api/channel/tag/enabled", json={"tag": "team"})
    assert [channel_row(i).status for i in (t1, t2)] == [1, 1]
    assert all(row[3] for row in abilities())
    for path in ("/api/channel/tag/disabled", "/api/channel/tag/enabled", "/api/channel/tag"):
        assert admin.post(path, json={"tag": ""}).status_code in (400, 405)
    assert admin.put("/api/channel/tag", json={}).status_code == 400


def test_edit_tag_sets_fields_and_rebuilds_abilities(admin):
    t1 = create_one(admin, tag="team", models="m1", priority=1)["id"]
    t2 = create_one(admin, tag="team", models="m2", weight=4)["id"]
    other = create_one(admin, tag="else", models="m1")["id"]
    response = admin.put("/api/channel/tag", json={"tag": "team", "new_tag": "crew", "priority": 8,
                                                   "models": "x,y", "groups": "vip", "weight": None,
                                                   "model_mapping": '{"x": "y2"}'})
    assert response.get_json()["data"] == 2
    for cid, weight in ((t1, 0), (t2, 4)):
        row = channel_row(cid)
        assert (row.tag, row.priority, row.models, row.group, row.weight) == ("crew", 8, "x,y", "vip", weight)
        assert json.loads(row.model_mapping) == {"x": "y2"}
        assert abilities(cid) == expected_abilities(cid, ["vip"], ["x", "y"], priority=8, weight=weight, tag="crew")
    assert channel_row(other).tag == "else"
    bad = admin.put("/api/channel/tag", json={"tag": "crew", "model_mapping": '{"a": "b", "b": "a"}'})
    assert bad.status_code == 400
    assert admin.put("/api/channel/tag", json={"tag": "crew", "weight": -1}).status_code == 400
    assert channel_row(t1).weight == 0


def test_batch_set_tag(admin):
    a = create_one(admin, models="m")["id"]
    b = create_one(admin, models="m", tag="old")["id"]
    assert admin.post("/api/channel/batch/tag", json={"ids": [a, b, 777], "tag": "new"}).get_json()["data"] == 2
    assert {row[6] for row in abilities()} == {"new"}
    assert admin.get("/api/channel/tag/models?tag=new").get_json()["data"] == "m"
    admin.post("/api/channel/batch/tag", json={"ids": [a], "tag": None})
    assert channel_row(a).tag is None and abilities(a) == expected_abilities(a, ["default"], ["m"])
    assert admin.post("/api/channel/batch/tag", json={"ids": [], "tag": "x"}).status_code == 400


def test_fix_rebuilds_every_ability(admin):
    cid = create_one(admin, models="m1,m2", group="default,vip")["id"]
    db.session.execute(Ability.__table__.delete())
    db.session.commit()
    assert abilities() == set()
    assert admin.post("/api/channel/fix").get_json()["data"] == {"success": 1, "fails": 0}
    assert abilities() == expected_abilities(cid, ["default", "vip"], ["m1", "m2"])


def test_channel_types_table():
    for type_id, name in {1: "OpenAI", 3: "Azure OpenAI", 14: "Anthropic Claude", 24: "Google Gemini",
                          43: "DeepSeek", 8: "Custom"}.items():
        assert channel_service.CHANNEL_TYPES[type_id] == name


def test_a_database_error_is_a_500_that_quotes_no_key(admin, monkeypatch, caplog):
    from sqlalchemy.exc import IntegrityError

    key = secret()

    def broken(channels):
        # SQLAlchemy's messages quote the statement's parameters, keys included.
        raise IntegrityError("INSERT INTO channels ...", {"key_value": key}, Exception("constraint failed"))

    monkeypatch.setattr(channel_service, "rebuild_abilities", broken)
    caplog.set_level(logging.DEBUG)
    response = admin.post("/api/channel/", json={"mode": "single", "channel": {"type": 1, "key": key}})
    assert response.status_code == 500
    body = response.get_json()
    assert body["success"] is False and "nothing was saved" in body["message"]
    assert channel_count() == 0
    assert key not in caplog.text
    admin.assert_never_shown([key])
