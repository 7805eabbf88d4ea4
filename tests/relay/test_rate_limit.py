"""Request rate per user on the relay (new-api's ModelRequestRateLimit* options): refused with 429 at no cost.

With ModelRequestRateLimitEnabled off, ModelRequestRateLimitCount keeps Sluice's earlier meaning (requests
per user per minute); switched on, new-api's: a window of DurationMinutes, a limit on all requests (failed
ones included) and one on successful requests, and per-group overrides. In memory and on Redis."""

from __future__ import annotations

import openai
import pytest

from app.errors import RateLimited, ValidationError
from app.options import get_option, options
from app.relay import ratelimit
from tests.relay.conftest import balances, consume_logs, set_options

MODEL = "gpt-4o-mini"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(params=["memory", "redis"])
def app_overrides(request):
    """Every test here runs on both storages (Redis: a real server, emptied first)."""
    if request.param == "memory":
        return {}
    return {"REDIS_URL": request.getfixturevalue("fresh_redis_url")}


def chat(client, key):
    return client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key.key}"})


def test_requests_past_the_per_minute_limit_are_refused_and_free(app, make_channel, make_token, sdk):
    make_channel(models=(MODEL,))
    key = make_token()
    set_options(ModelRequestRateLimitCount=2)
    client = sdk(key.key)
    for _ in range(2):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    before = balances(key)
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert refused.value.body["code"] == "rate_limit_exceeded"
    assert "2 requests per minute" in refused.value.body["message"]
    assert balances(key) == before
    assert len(consume_logs(key.user_id)) == 2


def test_other_users_are_not_counted_together(app, make_channel, make_token, sdk):
    make_channel(models=(MODEL,))
    set_options(ModelRequestRateLimitCount=1)
    for key in (make_token(), make_token()):
        sdk(key.key).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])


def test_without_the_switch_failures_count_and_success_limits_and_groups_do_not_apply(
        client, make_channel, make_token, mock_upstream):
    make_channel(models=(MODEL,))
    set_options(ModelRequestRateLimitCount=2, ModelRequestRateLimitSuccessCount=1,
                ModelRequestRateLimitGroup={"default": [0, 0]}, ModelRequestRateLimitDurationMinutes=60)
    key = make_token()
    mock_upstream.enqueue({"status": 400})
    assert chat(client, key).status_code == 400  # the upstream's refusal still counts as a request
    assert chat(client, key).status_code == 200
    refused = chat(client, key)
    assert refused.status_code == 429 and "2 requests per minute" in refused.get_json()["error"]["message"]
    assert len(mock_upstream.requests) == 2


def test_total_limit_over_the_duration_counts_failures(client, make_channel, make_token, mock_upstream):
    make_channel(models=(MODEL,))
    set_options(ModelRequestRateLimitEnabled=True, ModelRequestRateLimitDurationMinutes=5,
                ModelRequestRateLimitCount=2, ModelRequestRateLimitSuccessCount=0)
    key = make_token()
    mock_upstream.enqueue({"status": 400}, {"status": 400})
    assert chat(client, key).status_code == 400
    assert chat(client, key).status_code == 400
    before = balances(key)
    refused = chat(client, key)
    assert refused.status_code == 429
    error = refused.get_json()["error"]
    assert error["code"] == "rate_limit_exceeded" and error["type"] == "rate_limit_error"
    assert error["message"] == ("too many requests: this account may send 2 requests per 5 minutes, "
                                "failed ones included")
    assert balances(key) == before and len(mock_upstream.requests) == 2


def test_success_limit_counts_only_answered_requests(client, make_channel, make_token, mock_upstream):
    make_channel(models=(MODEL,))
    set_options(ModelRequestRateLimitEnabled=True, ModelRequestRateLimitCount=0, ModelRequestRateLimitSuccessCount=2)
    key = make_token()
    mock_upstream.enqueue({"status": 400}, {"status": 400}, {"status": 400})
    for _ in range(3):  # failures do not use up the success limit
        assert chat(client, key).status_code == 400
    assert chat(client, key).status_code == 200
    stream = client.post("/v1/chat/completions", json={**CHAT, "stream": True},
                         headers={"Authorization": f"Bearer {key.key}"})
    assert stream.status_code == 200 and stream.get_data()  # a stream counts once it has started
    before = balances(key)
    refused = chat(client, key)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["message"] == ("too many requests: this account may send 2 successful "
                                                      "requests per minute")
    assert balances(key) == before and len(mock_upstream.requests) == 5
    assert chat(client, make_token()).status_code == 200  # another user has their own count


def test_the_group_override_replaces_both_limits(client, make_channel, make_token, mock_upstream):
    make_channel(models=(MODEL,))
    make_channel(models=(MODEL,), group="vip")
    set_options(ModelRequestRateLimitEnabled=True, ModelRequestRateLimitCount=1, ModelRequestRateLimitSuccessCount=1,
                ModelRequestRateLimitGroup={"vip": [3, 0]})
    plain = make_token()
    assert chat(client, plain).status_code == 200
    assert chat(client, plain).status_code == 429
    vip_key = make_token(group="vip")  # the key's group decides, as in new-api
    assert [chat(client, vip_key).status_code for _ in range(4)] == [200, 200, 200, 429]
    set_options(ModelRequestRateLimitGroup={"vip": [0, 0]})  # 0: no limit for that group
    assert all(chat(client, vip_key).status_code == 200 for _ in range(3))


def test_option_changes_apply_and_the_switch_off_lifts_new_limits(client, make_channel, make_token):
    make_channel(models=(MODEL,))
    set_options(ModelRequestRateLimitEnabled=True, ModelRequestRateLimitSuccessCount=1)
    key = make_token()
    assert chat(client, key).status_code == 200
    assert chat(client, key).status_code == 429
    set_options(ModelRequestRateLimitEnabled=False)
    assert chat(client, key).status_code == 200


def test_defaults_are_new_apis_and_limits_nothing(app):
    assert get_option("ModelRequestRateLimitEnabled") is False
    assert get_option("ModelRequestRateLimitDurationMinutes") == 1
    assert get_option("ModelRequestRateLimitCount") == 0
    assert get_option("ModelRequestRateLimitSuccessCount") == 1000
    assert get_option("ModelRequestRateLimitGroup") == {}
    with app.test_request_context("/v1/chat/completions", method="POST"):
        for _ in range(5):
            ratelimit.check_request_rate(options(), 1, "default")


@pytest.mark.parametrize("changes", [
    {"ModelRequestRateLimitDurationMinutes": 0},
    {"ModelRequestRateLimitCount": -1},
    {"ModelRequestRateLimitSuccessCount": 2_147_483_648},
    {"ModelRequestRateLimitGroup": '{"vip": [1]}'},
    {"ModelRequestRateLimitGroup": '{"vip": [1, -1]}'},
    {"ModelRequestRateLimitGroup": '{"vip": [1, 2.5]}'},
    {"ModelRequestRateLimitGroup": '{"vip": [true, 1]}'},
    {"ModelRequestRateLimitGroup": '{" ": [1, 1]}'},
    {"ModelRequestRateLimitGroup": '[1, 2]'},
    {"ModelRequestRateLimitGroup": 'not json'},
])
def test_bad_values_are_refused_and_nothing_changes(app, changes):
    with pytest.raises(ValidationError):
        options().update(changes)
    assert get_option("ModelRequestRateLimitGroup") == {} and get_option("ModelRequestRateLimitCount") == 0
    assert get_option("ModelRequestRateLimitDurationMinutes") == 1


def test_limit_is_shared_across_processes_with_redis(tmp_path, tiktoken_cache, fresh_redis_url):
    from tests.conftest import build_app

    first = build_app(tmp_path / "a", REDIS_URL=fresh_redis_url, TIKTOKEN_CACHE_DIR=tiktoken_cache)
    second = build_app(tmp_path / "b", REDIS_URL=fresh_redis_url, TIKTOKEN_CACHE_DIR=tiktoken_cache)
    settings = {"ModelRequestRateLimitEnabled": True, "ModelRequestRateLimitDurationMinutes": 10,
                "ModelRequestRateLimitCount": 2, "ModelRequestRateLimitSuccessCount": 0}
    with first.app_context():
        options().update(settings)
        ratelimit.check_request_rate(options(), 7, "default")
    with second.app_context():
        options().update(settings)
        ratelimit.check_request_rate(options(), 7, "default")
        with pytest.raises(RateLimited):
            ratelimit.check_request_rate(options(), 7, "default")
