"""Admin channels page: list, filters, create/edit with JSON validation, status, delete, batch and tags."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Channel, ChannelStatus
from app.services import channels
from tests.web.conftest import HX, fragment, full


def make_channel(name="main", **fields):
    data = {"name": name, "key": "sk-upstream-secret-1", "models": "gpt-4o-mini", "group": "default"} | fields
    return channels.create_channels({"mode": "single", "channel": data})[0]


@pytest.mark.parametrize(("who", "status"), [("client", 302), ("user_client", 403)])
def test_channels_page_is_for_admins(request, who, status):
    assert request.getfixturevalue(who).get("/admin/channels").status_code == status


def test_list_full_and_fragment(admin_client):
    make_channel("alpha", tag="team-a")
    make_channel("beta", models="claude-3-haiku-20240307")
    body = full(admin_client, "/admin/channels")
    assert "alpha" in body and "beta" in body and "team-a" in body
    assert "sk-upstream-secret-1" not in body
    part = fragment(admin_client, "/admin/channels?model=claude")
    assert part.lstrip().startswith('<div id="channel-list"') and "beta" in part and "alpha" not in part


def test_new_and_edit_forms_full_and_fragment(admin_client):
    channel = make_channel("gamma")
    assert 'data-testid="channel-form"' in full(admin_client, "/admin/channels/new")
    assert fragment(admin_client, "/admin/channels/new").lstrip().startswith("<form")
    body = full(admin_client, f"/admin/channels/{channel.id}/edit")
    assert 'value="gamma"' in body and "sk-upstream-secret-1" not in body
    assert 'value="gamma"' in fragment(admin_client, f"/admin/channels/{channel.id}/edit")


def test_create_channel(admin_client):
    response = admin_client.post("/admin/channels", headers=HX, data={
        "type": "1", "name": "new one", "key": "sk-a\nsk-b", "mode": "batch", "models": "gpt-4o",
        "group": "default", "priority": "0", "weight": "0", "auto_ban": "on", "model_mapping": '{"gpt-4": "gpt-4o"}'})
    assert response.status_code == 200 and "channels-changed" in response.headers["HX-Trigger"]
    created = db.session.query(Channel).filter_by(name="new one").all()
    assert len(created) == 2 and created[0].model_mapping == '{"gpt-4":"gpt-4o"}'


@pytest.mark.parametrize("field,value", [("model_mapping", "{not json"), ("header_override", '["a"]'),
                                         ("status_code_mapping", '{"abc": "500"}')])
def test_invalid_json_fields_rerender_the_form(admin_client, field, value):
    response = admin_client.post("/admin/channels", headers=HX, data={
        "type": "1", "name": "bad", "key": "sk-a", "models": "gpt-4o", field: value})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert 'role="alert"' in body and field in body
    assert db.session.query(Channel).filter_by(name="bad").count() == 0


def test_update_keeps_keys_when_empty(admin_client):
    channel = make_channel("delta")
    response = admin_client.post(f"/admin/channels/{channel.id}", headers=HX, data={
        "type": "1", "name": "delta 2", "key": "", "models": "gpt-4o", "group": "default",
        "priority": "5", "weight": "1"})
    assert response.status_code == 200
    db.session.refresh(channel)
    assert channel.name == "delta 2" and channel.priority == 5 and channel.key == "sk-upstream-secret-1"


def test_disable_swaps_the_row(admin_client):
    channel = make_channel()
    response = admin_client.post(f"/admin/channels/{channel.id}/status", headers=HX, data={"status": "2"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.lstrip().startswith("<tr") and "Enable" in body
    db.session.refresh(channel)
    assert channel.status == ChannelStatus.MANUALLY_DISABLED


def test_delete_and_batch_actions(admin_client):
    one, two, three = make_channel("one"), make_channel("two"), make_channel("three")
    response = admin_client.post("/admin/channels/batch", headers=HX,
                                 data={"action": "tag", "tag": "bulk", "ids": [one.id, two.id]})
    assert response.status_code == 200
    assert {c.tag for c in db.session.query(Channel).filter(Channel.id.in_([one.id, two.id]))} == {"bulk"}
    response = admin_client.post("/admin/channels/tag", headers=HX, data={"tag": "bulk", "status": "2"})
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(Channel, one.id).status == ChannelStatus.MANUALLY_DISABLED
    assert db.session.get(Channel, three.id).status == ChannelStatus.ENABLED
    response = admin_client.post("/admin/channels/batch", headers=HX, data={"action": "delete", "ids": [one.id]})
    assert response.status_code == 200
    response = admin_client.post(f"/admin/channels/{two.id}/delete", headers=HX)
    assert response.status_code == 200 and response.get_data(as_text=True) == ""
    assert [c.id for c in db.session.query(Channel)] == [three.id]


def test_batch_without_checked_rows_is_an_error_toast(admin_client):
    response = admin_client.post("/admin/channels/batch", headers=HX, data={"action": "delete"})
    assert response.status_code == 400 and 'role="alert"' in response.get_data(as_text=True)


def test_plain_form_batch_redirects(admin_client):
    channel = make_channel()
    response = admin_client.post("/admin/channels/batch", data={"action": "delete", "ids": [channel.id]})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/channels")


def test_test_button_swaps_in_the_response_time(admin_client):
    from tests.mock_upstream import MockUpstream

    with MockUpstream() as upstream:
        channel = make_channel("mocked", base_url=upstream.origin, key="sk-upstream-good")
        response = admin_client.post(f"/admin/channels/{channel.id}/test", headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and 'data-testid="channel-test-result"' in body and " ms" in body
    assert "toast" in response.headers["HX-Trigger"] and "success" in response.headers["HX-Trigger"]
    assert "<html" not in body


def test_failed_test_shows_the_error(admin_client):
    channel = make_channel("nowhere", base_url="http://127.0.0.1:9")
    response = admin_client.post(f"/admin/channels/{channel.id}/test", headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "text-bg-danger" in body and "danger" in response.headers["HX-Trigger"]


def test_balance_refresh_explains_a_failure(admin_client):
    channel = make_channel("nobalance", base_url="http://127.0.0.1:9")
    response = admin_client.post(f"/admin/channels/{channel.id}/balance", headers=HX)
    assert response.status_code == 200 and 'role="alert"' in response.get_data(as_text=True)


def test_total_used_column_and_usage_panel(admin_client, user):
    from app.services import tokens
    from tests.web.usage_rows import add_usage

    channel = make_channel("busy")
    token, _ = tokens.create_token(user, {"name": "team key"})
    add_usage(user, channel_id=channel.id, token_id=token.id, quota=1_000_000)
    body = full(admin_client, "/admin/channels")
    row = body[body.index(f'id="channel-{channel.id}"'):]
    assert "$2.00" in row[:row.index("</tr>")]
    url = f"/admin/channels/{channel.id}/usage"
    assert 'data-testid="channel-usage"' in full(admin_client, url)
    part = fragment(admin_client, url)
    assert part.lstrip().startswith("{#") is False and 'data-testid="usage-by-key"' in part
    assert "team key" in part and token.masked_key in part and "alice" in part
