"""POST /v1/messages/count_tokens with the anthropic SDK: passed to Claude channels, counted with the tokenizer
for other channel types, never charged. Each call writes exactly one log row, of quota 0, and no balance moves."""

from __future__ import annotations

import anthropic
import pytest
import requests

from app.models import LogType
from app.relay.tokenizer import count_chat_prompt_tokens
from tests.mock_upstream import Behaviour
from tests.relay.conftest import balances, channel_row, consume_logs, set_options

CLAUDE_KEY = "sk-upstream-claude"
MESSAGES = [{"role": "user", "content": "Say hello to the whole wide world, please"}]
WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


@pytest.fixture
def setup(make_channel, make_token):
    claude = make_channel(channel_type=14, key=CLAUDE_KEY, models=("claude-opus-4-1", "mock-claude-prompt-37",
                                                                   "claude-alias"),
                          model_mapping={"claude-alias": "claude-opus-4-1"}, name="claude",
                          param_override={"temperature": 0.1})
    openai_ch = make_channel(models=("gpt-4o-mini",), name="openai")
    # only some models are priced: counting needs no price
    set_options(ModelRatio={"claude-opus-4-1": 1}, PreConsumedQuota=0)
    return claude, openai_ch, make_token()


def uncharged_log(key, before, channel_id):
    """The one log row of the call: quota 0, nothing taken from the user or the key."""
    [log] = consume_logs(key.user_id)
    assert log["quota"] == 0 and log["channel_id"] == channel_id and log["content"] == "token count, not charged"
    assert (log["prompt_tokens"], log["completion_tokens"]) == (0, 0)
    assert balances(key) == before
    assert consume_logs(key.user_id, LogType.ERROR) == []
    return log


def test_count_tokens_native_on_claude_channel(setup, claude_sdk, mock_upstream):
    claude, _, key = setup
    before = balances(key)
    count = claude_sdk(key.key).messages.count_tokens(model="mock-claude-prompt-37", messages=MESSAGES,
                                                      system="Be brief.", tools=[WEATHER])
    assert count.input_tokens == 37  # the upstream's own count
    sent = mock_upstream.last_request
    assert sent.path == "/v1/messages/count_tokens" and sent.header("x-api-key") == CLAUDE_KEY
    assert sent.header("anthropic-version")  # the client's own, forwarded
    # passed as sent: no param_override (count_tokens refuses generation fields), no max_tokens
    assert sent.json == {"model": "mock-claude-prompt-37", "messages": MESSAGES, "system": "Be brief.",
                         "tools": [WEATHER]}
    uncharged_log(key, before, claude)


def test_count_tokens_maps_the_model_and_forwards_beta_headers(setup, claude_sdk, mock_upstream):
    claude, _, key = setup
    before = balances(key)
    count = claude_sdk(key.key, default_headers={"anthropic-beta": "token-counting-2024-11-01"}) \
        .messages.count_tokens(model="claude-alias", messages=MESSAGES)
    assert count.input_tokens == 10
    sent = mock_upstream.last_request
    assert sent.json["model"] == "claude-opus-4-1" and sent.header("anthropic-beta") == "token-counting-2024-11-01"
    log = uncharged_log(key, before, claude)
    assert log["model_name"] == "claude-alias"


def test_count_tokens_on_openai_channel_is_counted_offline(setup, claude_sdk, mock_upstream):
    _, openai_ch, key = setup
    before = balances(key)
    seen = len(mock_upstream.requests)
    client = claude_sdk(key.key)
    plain = client.messages.count_tokens(model="gpt-4o-mini", messages=MESSAGES).input_tokens
    chat = [{"role": "user", "content": MESSAGES[0]["content"]}]
    assert plain == count_chat_prompt_tokens(chat, "gpt-4o-mini")
    with_system = client.messages.count_tokens(model="gpt-4o-mini", messages=MESSAGES, system="Be very brief.",
                                               tools=[WEATHER]).input_tokens
    assert with_system > plain + 4  # the system prompt and the tool are counted too
    assert len(mock_upstream.requests) == seen  # nothing went upstream
    logs = consume_logs(key.user_id)
    assert [(log["quota"], log["channel_id"]) for log in logs] == [(0, openai_ch)] * 2
    assert balances(key) == before


def test_count_tokens_is_free_even_for_an_empty_key(setup, claude_sdk, make_token):
    claude, _, _ = setup
    empty = make_token(remain_quota=0, quota=0)
    assert claude_sdk(empty.key).messages.count_tokens(model="claude-opus-4-1", messages=MESSAGES).input_tokens == 10
    [log] = consume_logs(empty.user_id)
    assert log["quota"] == 0 and balances(empty) == (0, 0)


def test_count_tokens_refusals_are_claude_shaped_and_write_nothing(setup, claude_sdk, relay_origin, make_token,
                                                                  mock_upstream):
    claude, _, key = setup
    with pytest.raises(anthropic.AuthenticationError) as info:
        claude_sdk("sk-wrong").messages.count_tokens(model="claude-opus-4-1", messages=MESSAGES)
    assert info.value.body["error"]["type"] == "authentication_error"
    limited = make_token(model_limits_enabled=True, model_limits="gpt-4o-mini")
    with pytest.raises(anthropic.PermissionDeniedError) as info:
        claude_sdk(limited.key).messages.count_tokens(model="claude-opus-4-1", messages=MESSAGES)
    assert info.value.body["type"] == "error" and info.value.body["error"]["type"] == "permission_error"
    with pytest.raises(anthropic.InternalServerError) as info:  # 503: no channel serves the model
        claude_sdk(key.key).messages.count_tokens(model="claude-nowhere", messages=MESSAGES)
    assert info.value.status_code == 503 and info.value.body["error"]["type"] == "api_error"

    url = relay_origin + "/v1/messages/count_tokens"
    headers = {"x-api-key": key.key, "anthropic-version": "2023-06-01"}
    for body, fragment in [
        ({"model": "claude-opus-4-1", "max_tokens": 5, "messages": MESSAGES}, "max_tokens"),
        ({"model": "claude-opus-4-1", "stream": True, "messages": MESSAGES}, "stream"),
        ({"model": "claude-opus-4-1", "messages": []}, "messages"),
        ({"model": "claude-opus-4-1", "messages": [{"role": "system", "content": "x"}]}, "role"),
        ({"messages": MESSAGES}, "model"),
        ({"model": "claude-opus-4-1", "messages": MESSAGES, "system": 5}, "system"),
    ]:
        r = requests.post(url, json=body, headers=headers, timeout=10)
        assert r.status_code == 400, body
        assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"
        assert fragment in r.json()["error"]["message"]
    r = requests.post(url, data=b"[1]", headers={**headers, "content-type": "application/json"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert consume_logs(key.user_id) == [] and consume_logs(key.user_id, LogType.ERROR) == []
    assert len(mock_upstream.requests) == 0


def test_count_tokens_upstream_failure_retries_then_writes_one_error_row(setup, claude_sdk, make_channel,
                                                                        mock_upstream):
    claude, _, key = setup
    second = make_channel(channel_type=14, key=CLAUDE_KEY, models=("claude-opus-4-1",), name="claude-2")
    set_options(RetryTimes=2)
    before = balances(key)
    mock_upstream.enqueue(Behaviour(status=529))
    assert claude_sdk(key.key).messages.count_tokens(model="claude-opus-4-1", messages=MESSAGES).input_tokens == 10
    [log] = consume_logs(key.user_id)
    assert log["quota"] == 0 and log["channel_id"] in (claude, second)

    set_options(RetryTimes=0)
    mock_upstream.enqueue(Behaviour(status=500))
    with pytest.raises(anthropic.InternalServerError) as info:
        claude_sdk(key.key).messages.count_tokens(model="claude-opus-4-1", messages=MESSAGES)
    assert info.value.body["type"] == "error"
    assert len(consume_logs(key.user_id)) == 1
    [error] = consume_logs(key.user_id, LogType.ERROR)
    assert error["quota"] == 0 and balances(key) == before
    assert channel_row(claude)["status"] == 1
