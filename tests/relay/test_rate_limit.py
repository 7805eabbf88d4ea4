"""ModelRequestRateLimitCount: requests per user per minute on the relay, refused with 429 at no cost."""

from __future__ import annotations

import openai
import pytest

from tests.relay.conftest import balances, consume_logs, set_options


def test_requests_past_the_per_minute_limit_are_refused_and_free(app, make_channel, make_token, sdk):
    make_channel(models=("gpt-4o-mini",))
    key = make_token()
    set_options(ModelRequestRateLimitCount=2)
    client = sdk(key.key)
    for _ in range(2):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    before = balances(key)
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert refused.value.body["code"] == "rate_limit_exceeded"
    assert balances(key) == before
    assert len(consume_logs(key.user_id)) == 2


def test_other_users_are_not_counted_together(app, make_channel, make_token, sdk):
    make_channel(models=("gpt-4o-mini",))
    set_options(ModelRequestRateLimitCount=1)
    for key in (make_token(), make_token()):
        sdk(key.key).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])


def test_limit_is_shared_across_processes_with_redis(tmp_path, tiktoken_cache, fresh_redis_url):
    from app.errors import RateLimited
    from app.relay.ratelimit import check_user_rate
    from tests.conftest import build_app

    first = build_app(tmp_path / "a", REDIS_URL=fresh_redis_url, TIKTOKEN_CACHE_DIR=tiktoken_cache)
    second = build_app(tmp_path / "b", REDIS_URL=fresh_redis_url, TIKTOKEN_CACHE_DIR=tiktoken_cache)
    with first.app_context():
        check_user_rate(7, 2)
    with second.app_context():
        check_user_rate(7, 2)
        with pytest.raises(RateLimited):
            check_user_rate(7, 2)
