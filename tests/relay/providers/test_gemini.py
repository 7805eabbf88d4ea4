"""Gemini through the relay: the openai SDK on a Gemini channel (chat, stream, tools, embeddings), and
google-genai on /v1beta natively on a Gemini channel and translated on OpenAI and Claude channels."""

from __future__ import annotations

import json

import pytest
import requests
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from tests.mock_upstream import DEFAULT_CONTENT, Behaviour
from tests.relay.conftest import balances, channel_row, consume_logs, set_options, wait_for_logs

GEMINI_KEY = "sk-upstream-gemini"
MESSAGES = [{"role": "user", "content": "Say hello"}]
MODELS = ("gemini-2.5-flash", "mock-gemini-cached-4-reasoning-3", "mock-gemini-tools", "mock-gemini-cut-3",
          "mock-gemini-error-400", "text-embedding-004")


@pytest.fixture
def setup(make_channel, make_token):
    gemini = make_channel(channel_type=24, key=GEMINI_KEY, models=MODELS, name="gemini")
    openai_ch = make_channel(models=("gpt-4o-mini",), name="openai")
    claude = make_channel(channel_type=14, key="sk-upstream-claude", models=("claude-opus-4-1",), name="claude")
    ratios = {m: 1 for m in (*MODELS, "gpt-4o-mini", "claude-opus-4-1")}
    set_options(ModelRatio=ratios, CompletionRatio={m: 4 for m in ratios}, PreConsumedQuota=0,
                CacheRatio={"mock-gemini-cached-4-reasoning-3": 0.25})
    return gemini, openai_ch, claude, make_token()


def test_openai_sdk_on_gemini_channel(setup, sdk, mock_upstream):
    gemini, _, _, key = setup
    before = balances(key)
    client = sdk(key.key)
    reply = client.chat.completions.create(model="mock-gemini-cached-4-reasoning-3", messages=[
        {"role": "system", "content": "Be brief."}, *MESSAGES], max_tokens=50, temperature=0.2)
    assert reply.choices[0].message.content == DEFAULT_CONTENT
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (10, 10)
    sent = mock_upstream.last_request
    assert sent.path == "/v1beta/models/mock-gemini-cached-4-reasoning-3:generateContent"
    assert sent.header("x-goog-api-key") == GEMINI_KEY and "key" not in sent.query
    assert sent.json["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert sent.json["contents"] == [{"role": "user", "parts": [{"text": "Say hello"}]}]
    assert sent.json["generationConfig"] == {"temperature": 0.2, "maxOutputTokens": 50}
    assert {s["threshold"] for s in sent.json["safetySettings"]} == {"BLOCK_NONE"}
    [log] = consume_logs(key.user_id)
    # 10 prompt tokens of which 4 cached at 0.25, 7 + 3 thought tokens at completion ratio 4
    assert log["quota"] == 6 + 1 + 40 and balances(key) == (before[0] - 47, before[1] - 47)
    assert json.loads(log["other"])["reasoning_tokens"] == 3 and log["channel_id"] == gemini

    chunks = list(client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES, stream=True,
                                                 stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == DEFAULT_CONTENT
    assert chunks[-1].usage.completion_tokens == 7
    assert mock_upstream.last_request.query == {"alt": "sse"}

    reply = client.chat.completions.create(model="mock-gemini-tools", messages=MESSAGES, tools=[
        {"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"location": {"type": "string"}}, "additionalProperties": False}}}])
    assert reply.choices[0].finish_reason == "tool_calls"
    assert json.loads(reply.choices[0].message.tool_calls[0].function.arguments)["location"] == "Paris, France"
    assert "additionalProperties" not in json.dumps(mock_upstream.last_request.json["tools"])
    logs = wait_for_logs(key.user_id, 3)
    assert [log["quota"] for log in logs] == [47, 10 + 28, 10 + 28]


def test_embeddings_on_gemini_channel(setup, sdk, mock_upstream):
    _, _, _, key = setup
    result = sdk(key.key).embeddings.create(model="text-embedding-004", input=["hello world", "bye"], dimensions=8)
    assert [len(d.embedding) for d in result.data] == [8, 8] and result.data[1].index == 1
    sent = mock_upstream.last_request
    assert sent.path == "/v1beta/models/text-embedding-004:batchEmbedContents"
    assert sent.json["requests"][0]["model"] == "models/text-embedding-004"
    [log] = consume_logs(key.user_id)
    assert log["prompt_tokens"] == 3 and log["quota"] == 3


def test_genai_sdk_native_on_gemini_channel(setup, genai_sdk, mock_upstream):
    _, _, _, key = setup
    before = balances(key)
    client = genai_sdk(key.key)
    answer = client.models.generate_content(
        model="mock-gemini-cached-4-reasoning-3", contents="Hello",
        config=genai_types.GenerateContentConfig(system_instruction="Be brief.", max_output_tokens=64))
    assert answer.text == DEFAULT_CONTENT and answer.usage_metadata.cached_content_token_count == 4
    sent = mock_upstream.last_request
    assert sent.header("x-goog-api-key") == GEMINI_KEY
    assert sent.json["systemInstruction"]["parts"] == [{"text": "Be brief."}]  # passed through as sent
    [log] = consume_logs(key.user_id)
    assert log["quota"] == 47 and balances(key) == (before[0] - 47, before[1] - 47)

    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="Hello"))
    assert "".join(c.text or "" for c in chunks) == DEFAULT_CONTENT
    assert chunks[-1].candidates[0].finish_reason == genai_types.FinishReason.STOP
    assert mock_upstream.last_request.query == {"alt": "sse"}
    logs = wait_for_logs(key.user_id, 2)
    assert logs[1]["quota"] == 10 + 28 and logs[1]["is_stream"]


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-opus-4-1"])
def test_genai_sdk_translated_on_openai_and_claude_channels(setup, genai_sdk, mock_upstream, model):
    _, openai_ch, claude, key = setup
    client = genai_sdk(key.key)
    answer = client.models.generate_content(model=model, contents="Hello",
                                            config=genai_types.GenerateContentConfig(max_output_tokens=32))
    assert answer.text == DEFAULT_CONTENT
    assert answer.candidates[0].finish_reason == genai_types.FinishReason.STOP
    assert answer.usage_metadata.prompt_token_count == 10
    sent = mock_upstream.last_request
    assert sent.path == ("/v1/chat/completions" if model == "gpt-4o-mini" else "/v1/messages")
    chunks = list(client.models.generate_content_stream(model=model, contents="Hello"))
    assert "".join(c.text or "" for c in chunks) == DEFAULT_CONTENT
    assert chunks[-1].usage_metadata.candidates_token_count == 7
    logs = wait_for_logs(key.user_id, 2)
    assert [log["quota"] for log in logs] == [10 + 28] * 2
    assert {log["channel_id"] for log in logs} == {openai_ch if model == "gpt-4o-mini" else claude}


def test_gemini_errors_are_gemini_shaped(setup, genai_sdk, relay_origin, mock_upstream):
    gemini, _, _, key = setup
    bad = genai_sdk("sk-wrong")  # held: a collected Client closes its HTTP client
    with pytest.raises(genai_errors.ClientError) as info:
        bad.models.generate_content(model="gemini-2.5-flash", contents="x")
    assert info.value.code == 401 and info.value.status == "UNAUTHENTICATED"

    url = relay_origin + "/v1beta/models/gemini-2.5-flash:generateContent"
    r = requests.post(url, params={"key": key.key}, json={"contents": []}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    r = requests.post(url, headers={"x-goog-api-key": key.key}, timeout=10,
                      json={"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]})
    assert r.status_code == 400 and "valid role" in r.json()["error"]["message"]
    r = requests.post(relay_origin + "/v1beta/models/mock-gemini-error-400:generateContent",
                      params={"key": key.key}, json={"contents": [{"parts": [{"text": "x"}]}]}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    # a functionResponse that answers nothing cannot be translated for an OpenAI channel: 400, no charge
    r = requests.post(relay_origin + "/v1beta/models/gpt-4o-mini:generateContent", params={"key": key.key},
                      timeout=10, json={"contents": [{"role": "user", "parts": [
                          {"functionResponse": {"name": "f", "response": {}}}]}]})
    assert r.status_code == 400 and "functionResponse" in r.json()["error"]["message"]
    assert consume_logs(key.user_id) == [] and channel_row(gemini)["status"] == 1


def test_gemini_bad_key_upstream_disables_the_channel(setup, sdk, mock_upstream):
    gemini, _, _, key = setup
    mock_upstream.enqueue(Behaviour(status=400, error_message="API key not valid. Please pass a valid API key.",
                                    error_type="INVALID_ARGUMENT"))
    set_options(RetryTimes=0)
    with pytest.raises(Exception):  # noqa: B017
        sdk(key.key).chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
    assert channel_row(gemini)["status"] == 3  # auto-disabled: the channel's key, not the client's request


def test_gemini_stream_cut_mid_event(setup, relay_origin, mock_upstream):
    gemini, _, _, key = setup
    before = balances(key)
    r = requests.post(relay_origin + "/v1beta/models/mock-gemini-cut-3:streamGenerateContent?alt=sse",
                      headers={"x-goog-api-key": key.key}, json={"contents": [{"parts": [{"text": "x"}]}]},
                      timeout=10)
    frames = [f for f in r.content.split(b"\n\n") if f]
    assert len(frames) == 4 and json.loads(frames[-1][6:])["error"]["status"] == "INTERNAL"
    [log] = wait_for_logs(key.user_id, 1)
    assert log["prompt_tokens"] > 0 and json.loads(log["other"])["usage_estimated"]
    assert balances(key) == (before[0] - log["quota"], before[1] - log["quota"])
    assert channel_row(gemini)["status"] == 1
