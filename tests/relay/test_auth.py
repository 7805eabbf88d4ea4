"""Key checks: one 401 for every bad key, IP allow-lists, model limits, groups, admin channel pinning."""

from __future__ import annotations

import time

import pytest

from app.models import Role, TokenStatus, UserStatus
from tests.relay.conftest import balances, consume_logs, create_key, create_user, set_options

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def post(client, key: str | None, body=None, *, ip: str = "127.0.0.1", path: str = "/v1/chat/completions"):
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return client.post(path, json=body or CHAT, headers=headers, environ_base={"REMOTE_ADDR": ip})


@pytest.fixture
def channel(make_channel):
    return make_channel()


def test_unknown_disabled_expired_keys_share_one_401(client, channel, make_token, mock_upstream):
    from app.extensions import db
    from app.models import Token, User

    good = make_token()
    disabled = make_token(status=TokenStatus.DISABLED)
    expired = make_token(expired_time=int(time.time()) - 10)
    expired_status = make_token(status=TokenStatus.EXPIRED)
    banned_user = make_token()
    db.session.execute(User.__table__.update().where(User.id == banned_user.user_id)
                       .values(status=UserStatus.DISABLED))
    deleted = make_token()
    db.session.execute(Token.__table__.update().where(Token.id == deleted.token_id)
                       .values(deleted_at=db.func.now()))
    db.session.commit()

    answers = [post(client, k) for k in (
        "sk-" + "x" * 48, disabled.key, expired.key, expired_status.key, banned_user.key, deleted.key,
        None, "", "Bearer", "sk-", "not a key", good.key + "-abc", "sk-" + "é" * 48)]
    bodies = {a.get_data() for a in answers}
    assert {a.status_code for a in answers} == {401}
    assert len(bodies) == 1
    assert answers[0].get_json()["error"]["code"] == "invalid_api_key"
    assert post(client, good.key).status_code == 200
    assert post(client, good.key[3:]).status_code == 200  # without "sk-"
    assert len(mock_upstream.requests) == 2


def test_ip_allow_list(client, channel, make_token):
    key = make_token(allow_ips="10.0.0.0/8\n192.168.1.7, 2001:db8::/32")
    assert post(client, key.key, ip="10.1.2.3").status_code == 200
    assert post(client, key.key, ip="192.168.1.7").status_code == 200
    assert post(client, key.key, ip="2001:db8::1").status_code == 200
    refused = post(client, key.key, ip="192.168.1.8")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "ip_not_allowed"
    nothing_valid = make_token(allow_ips="not-an-ip")
    assert post(client, nothing_valid.key, ip="10.1.2.3").status_code == 403


def test_model_limits(client, make_channel, make_token, mock_upstream):
    make_channel(models=("gpt-4o-mini", "gpt-4o"))
    key = make_token(model_limits_enabled=True, model_limits="gpt-4o-mini")
    assert post(client, key.key).status_code == 200
    refused = post(client, key.key, {**CHAT, "model": "gpt-4o"})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "model_not_allowed"
    assert len(mock_upstream.requests) == 1
    assert balances(key) == (10_000_000 - consume_logs(key.user_id)[0]["quota"],) * 2


def test_group_must_be_usable(client, make_channel, make_token):
    make_channel(group="default,secret")
    set_options(UserUsableGroups={"default": "Default"})
    own = make_token(group="default")
    assert post(client, own.key).status_code == 200
    foreign = make_token(group="secret")
    refused = post(client, foreign.key)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "group_not_allowed"
    user_in_secret = create_user(quota=10_000_000, group="secret")
    assert post(client, create_key(user_in_secret, remain_quota=10**7).key).status_code == 200


def test_admin_channel_pinning(client, make_channel, make_token, mock_upstream):
    first = make_channel(key="sk-first", priority=10)
    second = make_channel(key="sk-second", priority=0)
    admin = make_token(role=Role.ADMIN)
    assert post(client, f"{admin.key}-{second}").status_code == 200
    assert mock_upstream.last_request.api_key == "sk-second"
    assert consume_logs(admin.user_id)[-1]["channel_id"] == second
    user = make_token()
    refused = post(client, f"{user.key}-{second}")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "channel_pinning_forbidden"
    missing = post(client, f"{admin.key}-9999")
    assert missing.status_code == 503
    assert first != second and len(mock_upstream.requests) == 1


def test_pinned_channel_is_never_retried(client, make_channel, make_token, mock_upstream):
    from tests.mock_upstream import Behaviour

    pinned = make_channel(key="sk-first")
    make_channel(key="sk-second")
    mock_upstream.set_key_behaviour("sk-first", Behaviour(status=500))
    admin = make_token(role=Role.ROOT)
    assert post(client, f"{admin.key}-{pinned}").status_code == 500
    assert [r.api_key for r in mock_upstream.requests] == ["sk-first"]


def test_exhausted_key_status(client, channel, make_token):
    key = make_token(status=TokenStatus.EXHAUSTED)
    answer = post(client, key.key)
    assert answer.status_code == 403 and answer.get_json()["error"]["code"] == "insufficient_token_quota"


def test_key_cache_follows_bumps(client, channel, make_token):
    from app.cache import bump
    from app.extensions import db
    from app.models import Token

    key = make_token()
    assert post(client, key.key).status_code == 200
    db.session.execute(Token.__table__.update().where(Token.id == key.token_id)
                       .values(status=TokenStatus.DISABLED))
    db.session.commit()
    bump("tokens")
    db.session.rollback()
    assert post(client, key.key).status_code == 401
