"""Channel health: automatic disabling on bad credentials (never on a plain 429), per key on multi-key
channels, retries that never repeat a channel, and re-enabling through channel tests."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Ability, ChannelStatus, LogType
from tests.relay.conftest import channel_row, consume_logs, set_options

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def post(client, key):
    return client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key.key}"})


def abilities_enabled(channel_id: int) -> set[bool]:
    with db.engine.connect() as conn:
        return set(conn.execute(select(Ability.enabled).where(Ability.channel_id == channel_id)).scalars())


def system_logs() -> list:
    return consume_logs(None, LogType.SYSTEM)


def test_401_disables_the_channel_and_the_retry_reaches_another(client, make_channel, make_token, mock_upstream):
    bad = make_channel(key="sk-revoked", priority=10)
    good = make_channel(key="sk-fine", priority=0)
    mock_upstream.bad_keys.add("sk-revoked")
    key = make_token()
    answer = post(client, key)
    assert answer.status_code == 200
    assert [r.api_key for r in mock_upstream.requests] == ["sk-revoked", "sk-fine"]
    row = channel_row(bad)
    assert row["status"] == ChannelStatus.AUTO_DISABLED
    assert "401" in json.loads(row["other_info"])["disabled_reason"]
    assert abilities_enabled(bad) == {False}
    [notice] = system_logs()
    assert notice["channel_id"] == bad and "disabled automatically" in notice["content"]
    assert consume_logs(key.user_id)[0]["channel_id"] == good
    assert post(client, key).status_code == 200
    assert [r.api_key for r in mock_upstream.requests][2:] == ["sk-fine"]


@pytest.mark.parametrize("behaviour", [{"status": 429}, {"status": 500}, {"drop_connection": True}])
def test_rate_limits_and_server_errors_never_disable(client, make_channel, make_token, mock_upstream, behaviour):
    channel = make_channel()
    set_options(RetryTimes=3)
    mock_upstream.set_behaviour(**behaviour)
    key = make_token()
    assert post(client, key).status_code >= 429
    assert len(mock_upstream.requests) == 1, "a channel is never tried twice for one request"
    assert channel_row(channel)["status"] == ChannelStatus.ENABLED
    assert system_logs() == []


def test_quota_exhausted_429_disables_by_keyword(client, make_channel, make_token, mock_upstream):
    channel = make_channel()
    mock_upstream.set_behaviour(status=429, error_type="insufficient_quota", error_code="insufficient_quota")
    post(client, make_token())
    assert channel_row(channel)["status"] == ChannelStatus.AUTO_DISABLED


def test_no_disable_when_auto_ban_is_off_or_the_option_is(client, make_channel, make_token, mock_upstream):
    manual = make_channel(key="sk-a", auto_ban=0)
    mock_upstream.bad_keys.update({"sk-a", "sk-b"})
    key = make_token()
    post(client, key)
    assert channel_row(manual)["status"] == ChannelStatus.ENABLED
    set_options(AutomaticDisableChannelEnabled=False)
    other = make_channel(key="sk-b")
    for _ in range(3):
        post(client, key)
    assert channel_row(other)["status"] == ChannelStatus.ENABLED


def test_multi_key_channel_disables_keys_one_by_one(client, make_channel, make_token, mock_upstream):
    channel = make_channel(key="sk-k0\nsk-k1\nsk-k2", multi_key_mode="polling")
    mock_upstream.bad_keys.update({"sk-k0", "sk-k2"})
    key = make_token()
    statuses = [post(client, key).status_code for _ in range(6)]
    row = channel_row(channel)
    info = json.loads(row["other_info"])
    assert info["key_status"] == {"0": 3, "2": 3}
    assert row["status"] == ChannelStatus.ENABLED
    assert statuses.count(200) >= 3 and statuses[-2:] == [200, 200]
    assert {r.api_key for r in mock_upstream.requests[-2:]} == {"sk-k1"}
    mock_upstream.bad_keys.add("sk-k1")
    post(client, key)
    row = channel_row(channel)
    assert row["status"] == ChannelStatus.AUTO_DISABLED
    assert json.loads(row["other_info"])["key_status"] == {"0": 3, "1": 3, "2": 3}


def test_retries_never_repeat_a_channel_and_stop_at_retry_times(client, make_channel, make_token, mock_upstream):
    channels = [make_channel(key=f"sk-c{i}") for i in range(5)]
    set_options(RetryTimes=2)
    mock_upstream.set_behaviour(status=503)
    key = make_token()
    assert post(client, key).status_code == 503
    used = [r.api_key for r in mock_upstream.requests]
    assert len(used) == 3 and len(set(used)) == 3
    assert len(channels) == 5


def test_400_is_not_retried(client, make_channel, make_token, mock_upstream):
    make_channel(key="sk-a")
    make_channel(key="sk-b")
    mock_upstream.set_behaviour(status=400)
    assert post(client, make_token()).status_code == 400
    assert len(mock_upstream.requests) == 1


def test_weight_zero_channels_are_still_chosen(client, make_channel, make_token, mock_upstream):
    make_channel(key="sk-heavy", weight=5)
    make_channel(key="sk-zero", weight=0)
    key = make_token()
    for _ in range(40):
        post(client, key)
    used = [r.api_key for r in mock_upstream.requests]
    assert used.count("sk-zero") >= 1 and used.count("sk-heavy") > used.count("sk-zero")


def test_priority_levels_are_tried_in_order(client, make_channel, make_token, mock_upstream):
    make_channel(key="sk-low", priority=1)
    make_channel(key="sk-high", priority=5)
    key = make_token()
    for _ in range(5):
        post(client, key)
    assert {r.api_key for r in mock_upstream.requests} == {"sk-high"}


def test_manual_test_reenables_an_auto_disabled_channel(admin_client, make_channel, mock_upstream):
    channel = make_channel(status=ChannelStatus.AUTO_DISABLED)
    answer = admin_client.get(f"/api/channel/test/{channel}")
    body = answer.get_json()
    assert answer.status_code == 200 and body["success"] is True and body["time"] >= 0
    row = channel_row(channel)
    assert row["status"] == ChannelStatus.ENABLED and row["test_time"] > 0
    assert abilities_enabled(channel) == {True}
    assert mock_upstream.last_request.json["max_tokens"] == 16
    assert "re-enabled" in system_logs()[-1]["content"]


def test_manual_test_leaves_manually_disabled_channels_off(admin_client, make_channel):
    channel = make_channel(status=ChannelStatus.MANUALLY_DISABLED)
    assert admin_client.get(f"/api/channel/test/{channel}").get_json()["success"] is True
    assert channel_row(channel)["status"] == ChannelStatus.MANUALLY_DISABLED


def test_failed_test_reports_the_upstream_message(admin_client, make_channel, mock_upstream):
    channel = make_channel()
    mock_upstream.set_behaviour(status=500)
    body = admin_client.get(f"/api/channel/test/{channel}?model=gpt-4o").get_json()
    assert body["success"] is False and "error" in body["message"].lower()
    assert mock_upstream.last_request.json["model"] == "gpt-4o"
    assert channel_row(channel)["status"] == ChannelStatus.ENABLED  # a manual test never disables


def test_batch_test_disables_and_reenables(app, admin_client, make_channel, mock_upstream):
    set_options(AutomaticEnableChannelEnabled=True)
    broken = make_channel(key="sk-broken")
    healed = make_channel(key="sk-healed", status=ChannelStatus.AUTO_DISABLED)
    mock_upstream.bad_keys.add("sk-broken")
    assert admin_client.get("/api/channel/test").get_json()["success"] is True
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (channel_row(broken)["status"] == ChannelStatus.ENABLED
                                           or channel_row(healed)["status"] != ChannelStatus.ENABLED):
        time.sleep(0.05)
    assert channel_row(broken)["status"] == ChannelStatus.AUTO_DISABLED
    assert channel_row(healed)["status"] == ChannelStatus.ENABLED


def test_channel_ops_need_an_admin(user_client, make_channel):
    channel = make_channel()
    for path in (f"/api/channel/test/{channel}", "/api/channel/test", f"/api/channel/fetch_models/{channel}",
                 f"/api/channel/update_balance/{channel}", "/api/channel/update_balance"):
        assert user_client.get(path).status_code == 403


def test_fetch_models_and_balance(admin_client, make_channel, mock_upstream):
    channel = make_channel()
    body = admin_client.get(f"/api/channel/fetch_models/{channel}").get_json()
    assert body["success"] and "gpt-4o-mini" in body["data"]
    body = admin_client.post("/api/channel/fetch_models",
                             json={"type": 1, "key": "sk-any", "base_url": mock_upstream.origin}).get_json()
    assert body["success"] and "whisper-1" in body["data"]
    body = admin_client.get(f"/api/channel/update_balance/{channel}").get_json()
    assert body["success"] and body["balance"] == 87.5
    row = channel_row(channel)
    assert float(row["balance"]) == 87.5 and row["balance_updated_time"] > 0
    mock_upstream.bad_keys.add("sk-upstream-good")
    body = admin_client.get(f"/api/channel/update_balance/{channel}").get_json()
    assert body["success"] is False and "401" in body["message"]
