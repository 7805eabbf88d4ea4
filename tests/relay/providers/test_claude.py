"""Claude through the relay: the openai SDK on a Claude channel (translated), and the anthropic SDK on
/v1/messages, natively on a Claude channel and translated on an OpenAI channel. Every request is billed
with the right ratios and writes exactly one log row whose quota is what left the balances."""

from __future__ import annotations

import json

import anthropic
import pytest
import requests

from app.relay.tokenizer import count_tokens
from tests.mock_upstream import DEFAULT_CONTENT, Behaviour
from tests.relay.conftest import balances, channel_row, consume_logs, set_options, wait_for_logs

CLAUDE_KEY = "sk-upstream-claude"
MESSAGES = [{"role": "user", "content": "Say hello"}]
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                            "parameters": {"type": "object",
                                                           "properties": {"location": {"type": "string"}}}}}


@pytest.fixture
def setup(make_channel, make_token):
    """A Claude channel and an OpenAI channel, priced so that cache reads and writes show in the quota."""
    claude = make_channel(channel_type=14, key=CLAUDE_KEY, models=(
        "claude-opus-4-1", "mock-claude-cached-30-cachewrite-20", "mock-claude-tools", "mock-claude-cut-3",
        "mock-claude-streamerror-2", "mock-claude-error-400"), name="claude")
    openai_ch = make_channel(models=("gpt-4o-mini", "mock-gpt-cut-3", "mock-gpt-tools"), name="openai")
    ratios = {m: 1 for m in ("claude-opus-4-1", "mock-claude-cached-30-cachewrite-20", "mock-claude-tools",
                             "mock-claude-cut-3", "mock-claude-streamerror-2", "mock-claude-error-400",
                             "gpt-4o-mini", "mock-gpt-cut-3", "mock-gpt-tools")}
    set_options(ModelRatio=ratios, CompletionRatio={m: 5 for m in ratios},
                CacheRatio={"mock-claude-cached-30-cachewrite-20": 0.1},
                CacheCreationRatio={"mock-claude-cached-30-cachewrite-20": 1.25}, PreConsumedQuota=0)
    return claude, openai_ch, make_token()


def delivered_tokens(pieces: int) -> int:
    """Tokenizer count of the first `pieces` words of the mock's reply (what a cut stream delivered)."""
    return count_tokens("".join(Behaviour().reply_pieces()[:pieces]), "claude-opus-4-1")


def one_log(key, before):
    """The single consume log of `key`'s user; its quota is exactly what left the user and the key."""
    [log] = wait_for_logs(key.user_id, 1)
    assert balances(key) == (before[0] - log["quota"], before[1] - log["quota"])
    return log


# -- OpenAI clients on a Claude channel ---------------------------------------------------------------------
def test_openai_sdk_on_claude_channel_plain_with_cache_usage(setup, sdk, mock_upstream):
    claude, _, key = setup
    before = balances(key)
    reply = sdk(key.key).chat.completions.create(model="mock-claude-cached-30-cachewrite-20", messages=[
        {"role": "system", "content": "Be brief."}, *MESSAGES])
    assert reply.choices[0].message.content == DEFAULT_CONTENT and reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens == 10 + 30 + 20 and reply.usage.completion_tokens == 7
    assert reply.usage.prompt_tokens_details.cached_tokens == 30
    sent = mock_upstream.last_request
    assert sent.path == "/v1/messages" and sent.header("x-api-key") == CLAUDE_KEY
    assert sent.header("anthropic-version") == "2023-06-01" and sent.header("authorization") is None
    assert sent.json == {"model": "mock-claude-cached-30-cachewrite-20", "system": "Be brief.",
                         "messages": MESSAGES, "max_tokens": 4096}
    log = one_log(key, before)
    # (60 - 30 - 20) uncached + 30 x 0.1 cache reads + 20 x 1.25 cache writes + 7 x 5 completion
    assert log["quota"] == 73 and (log["prompt_tokens"], log["completion_tokens"]) == (60, 7)
    other = json.loads(log["other"])
    assert other["cache_tokens"] == 30 and other["cache_creation_tokens"] == 20
    assert other["cache_ratio"] == 0.1 and other["cache_creation_ratio"] == 1.25
    assert log["channel_id"] == claude and channel_row(claude)["used_quota"] == 73


def test_openai_sdk_on_claude_channel_stream_and_tools(setup, sdk, mock_upstream):
    _, _, key = setup
    client = sdk(key.key)
    chunks = list(client.chat.completions.create(model="claude-opus-4-1", messages=MESSAGES, stream=True,
                                                 stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == DEFAULT_CONTENT
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 10
    assert mock_upstream.last_request.json["stream"] is True

    reply = client.chat.completions.create(model="mock-claude-tools", messages=MESSAGES, tools=[WEATHER],
                                           tool_choice="required")
    call = reply.choices[0].message.tool_calls[0]
    assert reply.choices[0].finish_reason == "tool_calls" and call.id.startswith("toolu_")
    assert json.loads(call.function.arguments) == {"location": "Paris, France", "unit": "celsius"}
    assert mock_upstream.last_request.json["tool_choice"] == {"type": "any"}

    chunks = list(client.chat.completions.create(model="mock-claude-tools", messages=MESSAGES, tools=[WEATHER],
                                                 stream=True))
    args = "".join(c.choices[0].delta.tool_calls[0].function.arguments or "" for c in chunks
                   if c.choices and c.choices[0].delta.tool_calls)
    assert json.loads(args) == {"location": "Paris, France", "unit": "celsius"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    logs = wait_for_logs(key.user_id, 3)
    assert [log["quota"] for log in logs] == [10 + 7 * 5] * 3  # the mock counts 7 output tokens for tool calls


def test_claude_stream_cut_mid_event_bills_what_was_delivered(setup, sdk, mock_upstream):
    claude, _, key = setup
    before = balances(key)
    stream = sdk(key.key).chat.completions.create(model="mock-claude-cut-3", messages=MESSAGES, stream=True)
    with pytest.raises(Exception):  # noqa: B017 - the SDK raises on the error event
        for _ in stream:
            pass
    log = one_log(key, before)
    assert log["completion_tokens"] == delivered_tokens(3) and json.loads(log["other"])["usage_estimated"]
    assert channel_row(claude)["status"] == 1


# -- Claude clients: native on Claude, translated on OpenAI ------------------------------------------------
def test_anthropic_sdk_native_on_claude_channel(setup, claude_sdk, mock_upstream):
    _, _, key = setup
    before = balances(key)
    client = claude_sdk(key.key)
    message = client.messages.create(model="mock-claude-cached-30-cachewrite-20", max_tokens=64,
                                     system=[{"type": "text", "text": "Be brief.",
                                              "cache_control": {"type": "ephemeral"}}], messages=MESSAGES)
    assert message.content[0].text == DEFAULT_CONTENT
    assert (message.usage.cache_read_input_tokens, message.usage.cache_creation_input_tokens) == (30, 20)
    sent = mock_upstream.last_request
    assert sent.header("x-api-key") == CLAUDE_KEY and sent.header("authorization") is None
    assert sent.header("anthropic-version") == client.default_headers["anthropic-version"]  # the client's own
    assert sent.json["system"][0]["cache_control"] == {"type": "ephemeral"}  # passed through as sent
    assert one_log(key, before)["quota"] == 73


def test_anthropic_sdk_stream_native_and_with_x_api_key(setup, relay_origin, mock_upstream):
    _, _, key = setup
    client = anthropic.Anthropic(base_url=relay_origin, api_key=None, auth_token=None, max_retries=0,
                                 default_headers={"x-api-key": key.key, "anthropic-beta": "prompt-caching-2024-07-31"})
    with client.messages.stream(model="claude-opus-4-1", max_tokens=64, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == DEFAULT_CONTENT and final.usage.output_tokens == 7 and final.stop_reason == "end_turn"
    assert mock_upstream.last_request.header("anthropic-beta") == "prompt-caching-2024-07-31"
    [log] = wait_for_logs(key.user_id, 1)
    assert log["quota"] == 10 + 7 * 5 and log["is_stream"]


def test_anthropic_sdk_on_openai_channel_plain_and_stream(setup, claude_sdk, mock_upstream):
    _, openai_ch, key = setup
    client = claude_sdk(key.key)
    message = client.messages.create(model="gpt-4o-mini", max_tokens=64, system="Be brief.", messages=MESSAGES)
    assert message.content[0].text == DEFAULT_CONTENT and message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (10, 7)
    sent = mock_upstream.last_request
    assert sent.path == "/v1/chat/completions" and sent.api_key == "sk-upstream-good"
    assert sent.json == {"model": "gpt-4o-mini", "max_tokens": 64,
                         "messages": [{"role": "system", "content": "Be brief."}, *MESSAGES]}

    with client.messages.stream(model="gpt-4o-mini", max_tokens=64, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == DEFAULT_CONTENT and final.usage.output_tokens == 7 and final.usage.input_tokens == 10
    assert mock_upstream.last_request.json["stream_options"] == {"include_usage": True}

    message = client.messages.create(model="mock-gpt-tools", max_tokens=64, messages=MESSAGES, tools=[
        {"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}])
    assert message.stop_reason == "tool_use" and message.content[0].name == "get_weather"
    assert message.content[0].input == {"location": "Paris, France", "unit": "celsius"}
    logs = wait_for_logs(key.user_id, 3)
    assert [log["quota"] for log in logs] == [10 + 7 * 5] * 3
    assert all(log["channel_id"] == openai_ch for log in logs)


def test_anthropic_errors_are_claude_shaped(setup, claude_sdk, relay_origin, mock_upstream):
    claude, _, key = setup
    client = claude_sdk(key.key)
    with pytest.raises(anthropic.AuthenticationError) as info:
        claude_sdk("sk-wrong").messages.create(model="claude-opus-4-1", max_tokens=5, messages=MESSAGES)
    assert info.value.body["type"] == "error" and info.value.body["error"]["type"] == "authentication_error"

    with pytest.raises(anthropic.BadRequestError) as info:  # the upstream's own 400, relayed
        client.messages.create(model="mock-claude-error-400", max_tokens=5, messages=MESSAGES)
    assert info.value.body["error"]["type"] == "invalid_request_error"
    assert channel_row(claude)["status"] == 1  # the client's mistake never disables the channel

    url = relay_origin + "/v1/messages"
    headers = {"x-api-key": key.key, "anthropic-version": "2023-06-01"}
    for body, fragment in [
        ({"model": "claude-opus-4-1", "messages": MESSAGES}, "max_tokens"),
        ({"model": "claude-opus-4-1", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}, "role"),
        ({"model": "claude-opus-4-1", "max_tokens": 5, "messages": []}, "messages"),
        ({"max_tokens": 5, "messages": MESSAGES}, "model"),
    ]:
        r = requests.post(url, json=body, headers=headers, timeout=10)
        assert r.status_code == 400, body
        assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"
        assert fragment in r.json()["error"]["message"]
    r = requests.post(url, data=b"{not json", headers={**headers, "content-type": "application/json"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    # a tool_result with no id is fine for Claude itself but cannot be translated for an OpenAI channel
    r = requests.post(url, headers=headers, timeout=10, json={
        "model": "gpt-4o-mini", "max_tokens": 5,
        "messages": [{"role": "user", "content": [{"type": "tool_result", "content": "42"}]}]})
    assert r.status_code == 400 and "tool_use_id" in r.json()["error"]["message"]
    assert consume_logs(key.user_id) == [] and balances(key)[1] == 10_000_000  # nothing charged


def test_claude_stream_error_mid_stream_reaches_the_client_as_a_claude_error(setup, relay_origin, mock_upstream):
    claude, openai_ch, key = setup
    headers = {"x-api-key": key.key, "anthropic-version": "2023-06-01"}
    r = requests.post(relay_origin + "/v1/messages", headers=headers, timeout=10, json={
        "model": "mock-claude-streamerror-2", "max_tokens": 64, "stream": True, "messages": MESSAGES})
    assert r.text.count("event: content_block_delta") == 2
    assert r.text.endswith('event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
                           '"message":"Overloaded"}}\n\n')
    # an OpenAI upstream cut mid-stream: the Claude client gets a Claude error event, billed as delivered
    r = requests.post(relay_origin + "/v1/messages", headers=headers, timeout=10, json={
        "model": "mock-gpt-cut-3", "max_tokens": 64, "stream": True, "messages": MESSAGES})
    assert r.text.count("text_delta") == 3 and "event: message_stop" not in r.text
    assert r.text.endswith("\n\n") and 'event: error\ndata: {"type":"error","error":{"type":"api_error"' in r.text
    logs = wait_for_logs(key.user_id, 2)
    assert [log["completion_tokens"] for log in logs] == [delivered_tokens(2), delivered_tokens(3)]
    assert all(json.loads(log["other"])["usage_estimated"] and log["prompt_tokens"] > 0 for log in logs)
    assert channel_row(claude)["status"] == 1 and channel_row(openai_ch)["status"] == 1


def test_upstream_rate_limit_retries_another_claude_channel(setup, make_channel, claude_sdk, mock_upstream):
    claude, _, key = setup
    mock_upstream.enqueue(Behaviour(status=429))
    second = make_channel(channel_type=14, key=CLAUDE_KEY, models=("claude-opus-4-1",), name="claude-2")
    set_options(RetryTimes=3)
    message = claude_sdk(key.key).messages.create(model="claude-opus-4-1", max_tokens=5, messages=MESSAGES)
    assert message.content[0].text == DEFAULT_CONTENT
    [log] = consume_logs(key.user_id)
    assert len(json.loads(log["other"])["admin_info"]["use_channel"]) == 2
    assert {claude, second} >= set(json.loads(log["other"])["admin_info"]["use_channel"])


def test_upstream_stream_ending_mid_event(make_channel, make_token, sdk, relay_origin, mock_upstream):
    """The Claude upstream's body stops inside an event: each client gets its own format's error, the
    delivered part is billed, and the channel stays enabled."""
    channel = make_channel(channel_type=14, key=CLAUDE_KEY, models=("claude-half",),
                           base_url=mock_upstream.origin + "/halfway")
    set_options(ModelRatio={"claude-half": 1}, CompletionRatio={"claude-half": 1}, PreConsumedQuota=0)
    key = make_token()
    r = requests.post(relay_origin + "/v1/messages", timeout=10,
                      headers={"x-api-key": key.key, "anthropic-version": "2023-06-01"},
                      json={"model": "claude-half", "max_tokens": 64, "stream": True, "messages": MESSAGES})
    assert r.text.count('"text":"Hello"') == 1 and r.text.count("event: content_block_delta") == 1
    assert r.text.endswith('"type":"api_error","message":"the upstream stream ended before the answer was '
                           'complete"}}\n\n')
    r = requests.post(relay_origin + "/v1/chat/completions", headers={"Authorization": f"Bearer {key.key}"},
                      json={"model": "claude-half", "stream": True, "messages": MESSAGES}, timeout=10)
    assert '"content":"Hello"' in r.text and r.text.endswith("data: [DONE]\n\n")
    assert '"code":"upstream_incomplete"' in r.text
    logs = wait_for_logs(key.user_id, 2)
    assert [log["completion_tokens"] for log in logs] == [1, 1] and all(log["prompt_tokens"] for log in logs)
    assert channel_row(channel)["status"] == 1
