"""Chat completions through the relay with the real openai SDK: plain, streaming, and failing upstreams."""

from __future__ import annotations

import json

import openai
import pytest
import requests

from tests.mock_upstream import DEFAULT_CONTENT, Behaviour
from tests.relay.conftest import balances, channel_row, consume_logs, set_options, wait_for_logs

MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def setup(make_channel, make_token, sdk):
    """One OpenAI channel for gpt-4o-mini and mock-* models, a funded key, and its SDK client."""
    channel_id = make_channel(models=("gpt-4o-mini", "mock-cut-3", "mock-streamerror-2", "mock-nousage",
                                      "mock-eof-3"))
    set_options(ModelRatio={"gpt-4o-mini": 1, "mock-cut-3": 1, "mock-streamerror-2": 1, "mock-nousage": 1,
                            "mock-eof-3": 1}, CompletionRatio={"gpt-4o-mini": 2}, PreConsumedQuota=0)
    key = make_token()
    return channel_id, key, sdk(key.key)


def test_plain_chat_is_relayed_and_billed_once(setup, mock_upstream):
    channel_id, key, client = setup
    before = balances(key)
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert reply.choices[0].message.content == DEFAULT_CONTENT
    assert reply.usage.prompt_tokens == 10 and reply.usage.completion_tokens == 7
    sent = mock_upstream.last_request
    assert sent.api_key == "sk-upstream-good" and sent.json == {"model": "gpt-4o-mini", "messages": MESSAGES}
    [log] = consume_logs(key.user_id)
    assert log["quota"] == 10 + 7 * 2
    assert (log["prompt_tokens"], log["completion_tokens"], log["channel_id"]) == (10, 7, channel_id)
    assert log["token_id"] == key.token_id and log["model_name"] == "gpt-4o-mini" and not log["is_stream"]
    other = json.loads(log["other"])
    assert other["model_ratio"] == 1 and other["completion_ratio"] == 2 and other["group_ratio"] == 1
    assert other["admin_info"] == {"use_channel": [channel_id]}
    assert balances(key) == (before[0] - 24, before[1] - 24)
    assert channel_row(channel_id)["used_quota"] == 24


def test_stream_with_and_without_usage_chunk(setup, mock_upstream):
    _, key, client = setup
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == DEFAULT_CONTENT
    assert all(c.choices for c in chunks), "the usage chunk we asked for must not reach a client that did not"
    assert mock_upstream.last_request.json["stream_options"] == {"include_usage": True}

    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                 stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 7
    logs = wait_for_logs(key.user_id, 2)
    assert [row["quota"] for row in logs] == [24, 24] and all(row["is_stream"] for row in logs)


def test_stream_without_upstream_usage_is_estimated(setup, mock_upstream):
    _, key, client = setup
    chunks = list(client.chat.completions.create(model="mock-nousage", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == DEFAULT_CONTENT
    [log] = wait_for_logs(key.user_id, 1)
    assert log["completion_tokens"] > 0 and log["prompt_tokens"] > 0
    assert json.loads(log["other"])["usage_estimated"] is True
    assert log["quota"] == log["prompt_tokens"] + log["completion_tokens"]


def test_cut_mid_stream_bills_what_was_delivered(setup, mock_upstream):
    _, key, client = setup
    stream = client.chat.completions.create(model="mock-cut-3", messages=MESSAGES, stream=True)
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    assert "upstream" in str(info.value.message)
    assert "".join(received) == "Hello! This is"
    [log] = wait_for_logs(key.user_id, 1)
    assert 1 <= log["completion_tokens"] <= 5  # three words delivered, estimated by the tokenizer
    assert json.loads(log["other"])["usage_estimated"] is True


def test_error_inside_a_200_stream_ends_with_error_event(setup, relay_url):
    _, key, _ = setup
    with requests.post(relay_url + "/chat/completions", stream=True, timeout=10,
                       headers={"Authorization": f"Bearer {key.key}"},
                       json={"model": "mock-streamerror-2", "messages": MESSAGES, "stream": True}) as resp:
        assert resp.status_code == 200
        events = [line for line in resp.iter_lines() if line]
    assert events[-1] == b"data: [DONE]"
    error = json.loads(events[-2][6:])
    assert error["error"]["type"] == "server_error"
    content = [json.loads(e[6:])["choices"][0]["delta"].get("content") for e in events[:-2]]
    assert "".join(c or "" for c in content) == "Hello! This"
    [log] = wait_for_logs(key.user_id, 1)
    assert log["completion_tokens"] >= 1


def test_stream_eof_without_done_is_reported(setup, relay_url):
    _, key, _ = setup
    with requests.post(relay_url + "/chat/completions", stream=True, timeout=10,
                       headers={"Authorization": f"Bearer {key.key}"},
                       json={"model": "mock-eof-3", "messages": MESSAGES, "stream": True}) as resp:
        events = [line for line in resp.iter_lines() if line]
    assert events[-1] == b"data: [DONE]"
    assert json.loads(events[-2][6:])["error"]["code"] == "upstream_incomplete"


def test_client_disconnect_closes_upstream_and_bills_delivered(setup, mock_upstream, relay_url):
    _, key, _ = setup
    mock_upstream.set_behaviour(chunks=200, chunk_delay=0.02)
    resp = requests.post(relay_url + "/chat/completions", stream=True, timeout=10,
                         headers={"Authorization": f"Bearer {key.key}"},
                         json={"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True})
    lines = resp.iter_lines()
    got = [next(lines) for _ in range(6)]
    assert got[0].startswith(b"data: ")
    resp.close()
    upstream = mock_upstream.wait_for_requests(1)[0]
    assert upstream.finished.wait(5), "the upstream response must be closed when the client leaves"
    assert upstream.aborted
    [log] = wait_for_logs(key.user_id, 1)
    assert 1 <= log["completion_tokens"] < 200
    assert json.loads(log["other"])["usage_estimated"] is True


@pytest.mark.parametrize(
    ("behaviour", "status", "error_class"),
    [
        ({"status": 400}, 400, openai.BadRequestError),
        ({"status": 401}, 502, openai.InternalServerError),
        ({"status": 429}, 429, openai.RateLimitError),
        ({"status": 500}, 500, openai.InternalServerError),
        ({"drop_connection": True}, 502, openai.InternalServerError),
    ],
)
def test_upstream_errors_refund_everything(setup, mock_upstream, behaviour, status, error_class):
    _, key, client = setup
    set_options(RetryTimes=0)
    before = balances(key)
    mock_upstream.set_behaviour(**behaviour)
    with pytest.raises(error_class) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.status_code == status
    body = info.value.body
    assert set(body) == {"message", "type", "param", "code"}
    assert "sk-upstream" not in json.dumps(body)
    assert balances(key) == before
    assert consume_logs(key.user_id) == []


def test_stream_failure_before_first_byte_refunds(setup, mock_upstream):
    _, key, client = setup
    set_options(RetryTimes=0)
    before = balances(key)
    mock_upstream.set_behaviour(status=503)
    with pytest.raises(openai.InternalServerError):
        list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert balances(key) == before and consume_logs(key.user_id) == []


def test_slow_upstream_times_out_and_refunds(app, setup, mock_upstream):
    _, key, client = setup
    set_options(RetryTimes=0)
    app.config["RELAY_READ_TIMEOUT"] = 0.3
    app.config["STREAM_IDLE_TIMEOUT"] = 0.3
    before = balances(key)
    mock_upstream.set_behaviour(first_byte_delay=2)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.status_code == 504
    mock_upstream.set_behaviour(first_byte_delay=0, chunks=5, chunk_delay=1.0)
    events = []
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
            events.append(chunk)
    [log] = wait_for_logs(key.user_id, 1)
    assert balances(key)[0] < before[0]  # the stalled stream had delivered its first chunk: billed
    assert log["is_stream"]


def test_upstream_quota_error_after_retries_is_passed_as_429(setup, mock_upstream, make_channel):
    _, key, client = setup
    mock_upstream.set_behaviour(status=429)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert consume_logs(key.user_id) == []
    [error] = consume_logs(key.user_id, log_type=7)
    assert error["quota"] == 0


def test_channel_model_mapping_prices_the_requested_model(make_channel, make_token, sdk, mock_upstream):
    make_channel(models=("alias-model",), model_mapping={"alias-model": "gpt-4o-mini"})
    set_options(ModelRatio={"alias-model": 2, "gpt-4o-mini": 1000}, PreConsumedQuota=0)
    key = make_token()
    sdk(key.key).chat.completions.create(model="alias-model", messages=MESSAGES)
    assert mock_upstream.last_request.json["model"] == "gpt-4o-mini"
    [log] = consume_logs(key.user_id)
    assert log["model_name"] == "alias-model" and log["quota"] == (10 + 7) * 2
    assert json.loads(log["other"])["upstream_model_name"] == "gpt-4o-mini"


def test_param_and_header_override(make_channel, make_token, sdk, mock_upstream):
    make_channel(param_override={"temperature": 0.1, "user": "sluice"},
                 header_override={"X-Extra": "yes", "X-Key-Echo": "{api_key}"})
    key = make_token()
    sdk(key.key).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.9)
    sent = mock_upstream.last_request
    assert sent.json["temperature"] == 0.1 and sent.json["user"] == "sluice"
    assert sent.header("x-extra") == "yes" and sent.header("x-key-echo") == "sk-upstream-good"


def test_unpriced_model_is_refused_before_upstream(make_channel, make_token, sdk, mock_upstream):
    make_channel(models=("mystery",))
    key = make_token()
    with pytest.raises(openai.BadRequestError) as info:
        sdk(key.key).chat.completions.create(model="mystery", messages=MESSAGES)
    assert info.value.body["code"] == "model_price_error"
    assert mock_upstream.requests == []


def test_insufficient_quota_is_refused(make_channel, make_token, sdk, mock_upstream):
    make_channel()
    set_options(PreConsumedQuota=500)
    poor = make_token(quota=100)
    with pytest.raises(openai.PermissionDeniedError) as info:
        sdk(poor.key).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.body["code"] == "insufficient_user_quota"
    empty_key = make_token(remain_quota=10)
    with pytest.raises(openai.PermissionDeniedError) as info:
        sdk(empty_key.key).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.body["code"] == "insufficient_token_quota"
    assert mock_upstream.requests == []
    assert balances(poor) == (100, 10_000_000)


def test_unlimited_key_only_limited_by_the_user(make_channel, make_token, sdk):
    make_channel()
    key = make_token(remain_quota=0, unlimited=True)
    sdk(key.key).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    user_quota, token_remain = balances(key)
    assert token_remain == 0 and user_quota < 10_000_000
    [log] = consume_logs(key.user_id)
    assert log["quota"] == 10_000_000 - user_quota


def test_behaviour_queue_retry_goes_to_second_channel(make_channel, make_token, sdk, mock_upstream):
    first = make_channel(key="sk-first", priority=10)
    second = make_channel(key="sk-second", priority=0)
    mock_upstream.set_key_behaviour("sk-first", Behaviour(status=500))
    key = make_token()
    sdk(key.key).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert [r.api_key for r in mock_upstream.requests] == ["sk-first", "sk-second"]
    [log] = consume_logs(key.user_id)
    assert log["channel_id"] == second
    assert json.loads(log["other"])["admin_info"]["use_channel"] == [first, second]
