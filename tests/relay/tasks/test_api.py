"""/api/mj/* and /api/task/*: a user lists only their own tasks; admins list everyone's, with filters."""

from __future__ import annotations

from app.extensions import db
from app.models import Role, User
from tests.conftest import login_client
from tests.relay.tasks.conftest import bearer


def _login(app, user_id: int):
    client = login_client(app, db.session.get(User, user_id))
    db.session.rollback()
    return client


def _submit_mj(client, key, prompt):
    return client.post("/mj/submit/imagine", json={"prompt": prompt}, headers=bearer(key)).get_json()["result"]


def _submit_suno(client, key):
    return client.post("/suno/submit/music", json={"prompt": "x"}, headers=bearer(key)).get_json()["data"]


def test_midjourney_lists(app, client, make_token, mj_channel):
    channel_id = mj_channel()
    alice, bob = make_token(), make_token()
    admin = make_token(role=Role.ADMIN)
    a1, a2 = _submit_mj(client, alice, "one"), _submit_mj(client, alice, "two")
    b1 = _submit_mj(client, bob, "three")

    own = _login(app, alice.user_id).get("/api/mj/self").get_json()
    assert own["success"] and own["data"]["total"] == 2
    assert [i["mj_id"] for i in own["data"]["items"]] == [a2, a1]  # newest first
    assert "channel_id" not in own["data"]["items"][0] and own["data"]["items"][0]["quota"] == 50_000
    filtered = _login(app, alice.user_id).get(f"/api/mj/self?mj_id={b1}").get_json()
    assert filtered["data"]["total"] == 0
    assert _login(app, alice.user_id).get("/api/mj/").status_code == 403

    everyone = _login(app, admin.user_id).get("/api/mj/?p=1&page_size=2").get_json()["data"]
    assert everyone["total"] == 3 and len(everyone["items"]) == 2 and everyone["page_size"] == 2
    assert everyone["items"][0]["channel_id"] == channel_id and everyone["items"][0]["username"]
    by_id = _login(app, admin.user_id).get(f"/api/mj/?mj_id={b1}&channel_id={channel_id}").get_json()["data"]
    assert [i["mj_id"] for i in by_id["items"]] == [b1]
    submit_time = by_id["items"][0]["submit_time"]
    after = _login(app, admin.user_id).get(f"/api/mj/?start_timestamp={submit_time + 1}").get_json()["data"]
    assert all(i["submit_time"] > submit_time for i in after["items"])
    bad = _login(app, admin.user_id).get("/api/mj/?channel_id=abc")
    assert bad.status_code == 400 and bad.get_json()["success"] is False


def test_task_lists(app, client, make_token, suno_channel):
    suno_channel()
    alice, bob = make_token(), make_token()
    admin = make_token(role=Role.ADMIN)
    a1 = _submit_suno(client, alice)
    _submit_suno(client, bob)

    own = _login(app, alice.user_id).get("/api/task/self").get_json()["data"]
    assert own["total"] == 1 and own["items"][0]["task_id"] == a1 and own["items"][0]["platform"] == "suno"
    assert "channel_id" not in own["items"][0]
    assert _login(app, alice.user_id).get("/api/task/self?platform=midjourney").get_json()["data"]["total"] == 0
    assert _login(app, alice.user_id).get("/api/task/").status_code == 403

    everyone = _login(app, admin.user_id).get("/api/task/").get_json()["data"]
    assert everyone["total"] == 2 and all(i["username"] and i["channel_id"] for i in everyone["items"])
    assert _login(app, admin.user_id).get("/api/task/?status=SUBMITTED&action=MUSIC").get_json()["data"]["total"] == 2
    assert _login(app, admin.user_id).get(f"/api/task/?task_id={a1}").get_json()["data"]["total"] == 1
    assert client.get("/api/task/self").status_code == 401
