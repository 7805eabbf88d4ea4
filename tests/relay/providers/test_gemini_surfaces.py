"""Gemini surfaces beyond generateContent: streamGenerateContent without alt=sse (Google's JSON array),
countTokens (never charged) and embedContent / batchEmbedContents (billed like /v1/embeddings), natively on
Gemini channels and translated on OpenAI channels. Every call writes exactly one log row, and the balances
drop by exactly its quota."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from app.models import LogType
from app.relay.tokenizer import count_chat_prompt_tokens, count_tokens
from tests.mock_upstream import DEFAULT_CONTENT, Behaviour
from tests.relay.conftest import balances, consume_logs, set_options, wait_for_logs

GEMINI_KEY = "sk-upstream-gemini"
MODELS = ("gemini-2.5-flash", "mock-gemini-cut-3", "mock-gemini-streamerror-2", "mock-gemini-d40-n30",
          "mock-gemini-prompt-42", "gemini-alias", "text-embedding-004", "embed-alias")
BODY = {"contents": [{"role": "user", "parts": [{"text": "Hello there"}]}]}


@pytest.fixture
def setup(make_channel, make_token):
    gemini = make_channel(channel_type=24, key=GEMINI_KEY, models=MODELS, name="gemini",
                          model_mapping={"gemini-alias": "gemini-2.5-flash", "embed-alias": "text-embedding-004"})
    openai_ch = make_channel(models=("gpt-4o-mini", "text-embedding-3-small", "mock-gpt-d40-n30"), name="openai")
    claude = make_channel(channel_type=14, key="sk-upstream-claude", models=("claude-opus-4-1",), name="claude")
    priced = (*MODELS, "gpt-4o-mini", "text-embedding-3-small", "mock-gpt-d40-n30", "claude-opus-4-1")
    set_options(ModelRatio={m: 1 for m in priced if m != "mock-gemini-prompt-42"},
                CompletionRatio={m: 4 for m in priced}, PreConsumedQuota=0)
    return gemini, openai_ch, claude, make_token()


def one_log(key, before, count=1):
    logs = wait_for_logs(key.user_id, count)
    assert len(logs) == count
    spent = sum(log["quota"] for log in logs)
    assert balances(key) == (before[0] - spent, before[1] - spent)
    return logs[-1]


def texts(elements) -> str:
    return "".join(p.get("text", "") for e in elements for c in e.get("candidates", ())
                   for p in c["content"]["parts"])


# -- streamGenerateContent without alt=sse ------------------------------------------------------------------
@pytest.mark.parametrize("alt", [None, "json"])
def test_json_array_stream_native_on_gemini_channel(setup, relay_origin, mock_upstream, alt):
    gemini, _, _, key = setup
    before = balances(key)
    params = {"alt": alt} if alt else {}
    r = requests.post(relay_origin + "/v1beta/models/gemini-2.5-flash:streamGenerateContent", params=params,
                      headers={"x-goog-api-key": key.key}, json=BODY, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert r.content.startswith(b"[{") and r.content.endswith(b"}\n]") and b"\n,{" in r.content
    elements = json.loads(r.content)
    assert len(elements) == len(DEFAULT_CONTENT.split()) + 1
    assert texts(elements) == DEFAULT_CONTENT and elements[-1]["candidates"][0]["finishReason"] == "STOP"
    assert elements[-1]["usageMetadata"]["candidatesTokenCount"] == 7
    assert mock_upstream.last_request.query == {"alt": "sse"}  # the upstream is always asked for events
    log = one_log(key, before)
    assert log["quota"] == 10 + 7 * 4 and log["is_stream"] and log["channel_id"] == gemini


def test_json_array_stream_arrives_element_by_element(setup, relay_origin):
    _, _, _, key = setup
    url = urlsplit(relay_origin)
    body = json.dumps(BODY).encode()
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(b"POST /v1beta/models/mock-gemini-d40-n30:streamGenerateContent HTTP/1.1\r\nHost: x\r\n"
                     b"x-goog-api-key: " + key.key.encode() + b"\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        head = sock.recv(65536)
        started = time.monotonic()
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        payload = head.split(b"\r\n\r\n", 1)[1]
        while b'"text"' not in payload:
            payload += sock.recv(65536)
        first_after = time.monotonic() - started
        assert payload.lstrip(b"0123456789abcdef\r\n").startswith(b"[{")  # the first element, at once
        assert first_after < 0.04 * 30 / 2  # long before the 30 x 40 ms stream is over
        while not payload.endswith(b"0\r\n\r\n"):
            payload += sock.recv(65536)
    assert b"\n]" in payload and b"finishReason" in payload


def test_json_array_stream_translated_on_openai_channel(setup, relay_origin, mock_upstream):
    _, openai_ch, _, key = setup
    before = balances(key)
    r = requests.post(relay_origin + "/v1beta/models/gpt-4o-mini:streamGenerateContent", params={"key": key.key},
                      json=BODY, timeout=10)
    assert r.headers["Content-Type"].startswith("application/json")
    elements = json.loads(r.content)
    assert texts(elements) == DEFAULT_CONTENT and elements[-1]["candidates"][0]["finishReason"] == "STOP"
    assert elements[-1]["usageMetadata"]["promptTokenCount"] == 10
    assert mock_upstream.last_request.path == "/v1/chat/completions"
    log = one_log(key, before)
    assert log["quota"] == 10 + 7 * 4 and log["channel_id"] == openai_ch


def test_json_array_stream_cut_or_failing_mid_way_ends_with_an_error_element(setup, relay_origin):
    _, _, _, key = setup
    before = balances(key)
    for model, status in [("mock-gemini-cut-3", "INTERNAL"), ("mock-gemini-streamerror-2", "INTERNAL")]:
        r = requests.post(relay_origin + f"/v1beta/models/{model}:streamGenerateContent",
                          headers={"x-goog-api-key": key.key}, json=BODY, timeout=10)
        assert r.status_code == 200
        elements = json.loads(r.content)  # still one well-formed array
        assert elements[-1]["error"]["status"] == status and "candidates" not in elements[-1]
        assert len(elements) - 1 == int(model[-1])
    logs = wait_for_logs(key.user_id, 2)
    # billed for what was delivered: the prompt and the words sent, estimated with the tokenizer
    pieces = Behaviour().reply_pieces()
    assert [log["completion_tokens"] for log in logs] == [
        count_tokens("".join(pieces[:3]), "mock-gemini-cut-3"),
        count_tokens("".join(pieces[:2]), "mock-gemini-streamerror-2")]
    assert all(json.loads(log["other"])["usage_estimated"] and log["prompt_tokens"] > 0 for log in logs)
    spent = sum(log["quota"] for log in logs)
    assert spent > 0 and balances(key) == (before[0] - spent, before[1] - spent)


def test_json_array_stream_client_gone_is_billed_for_what_was_delivered(setup, relay_origin, mock_upstream):
    _, _, _, key = setup
    before = balances(key)
    r = requests.post(relay_origin + "/v1beta/models/mock-gemini-d40-n30:streamGenerateContent",
                      headers={"x-goog-api-key": key.key}, json=BODY, timeout=10, stream=True)
    first = next(r.iter_content(chunk_size=None))
    assert first.startswith(b"[")
    r.close()
    log = one_log(key, before)
    assert 0 < log["completion_tokens"] < 30 and json.loads(log["other"])["usage_estimated"]
    deadline = time.monotonic() + 5
    while not mock_upstream.last_request.aborted and time.monotonic() < deadline:
        time.sleep(0.02)
    assert mock_upstream.last_request.aborted  # the upstream stream was closed, not read to its end


def test_stream_errors_before_the_first_element_are_plain_gemini_errors(setup, relay_origin, mock_upstream):
    _, _, _, key = setup
    url = relay_origin + "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    set_options(RetryTimes=0)
    mock_upstream.enqueue(Behaviour(status=429))
    r = requests.post(url, headers={"x-goog-api-key": key.key}, json=BODY, timeout=10)
    assert r.status_code == 429 and r.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    r = requests.post(url, params={"alt": "proto"}, headers={"x-goog-api-key": key.key}, json=BODY, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT" and "alt" in r.text
    r = requests.post(url, headers={"x-goog-api-key": key.key}, json={"contents": []}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert consume_logs(key.user_id) == [] and len(consume_logs(key.user_id, LogType.ERROR)) == 1


# -- countTokens ---------------------------------------------------------------------------------------------
def test_count_tokens_native_on_gemini_channel(setup, genai_sdk, mock_upstream):
    gemini, _, _, key = setup
    before = balances(key)
    client = genai_sdk(key.key)
    assert client.models.count_tokens(model="mock-gemini-prompt-42", contents="Hello there").total_tokens == 42
    sent = mock_upstream.last_request
    assert sent.path == "/v1beta/models/mock-gemini-prompt-42:countTokens"
    assert sent.header("x-goog-api-key") == GEMINI_KEY and sent.json["contents"][0]["parts"] == [
        {"text": "Hello there"}]
    [log] = consume_logs(key.user_id)  # the model has no price: counting needs none
    assert log["quota"] == 0 and log["channel_id"] == gemini and log["content"] == "token count, not charged"
    assert balances(key) == before


def test_count_tokens_with_generate_content_request_maps_the_model(setup, relay_origin, mock_upstream):
    _, _, _, key = setup
    body = {"generateContentRequest": {"model": "models/gemini-alias", **BODY,
                                       "systemInstruction": {"parts": [{"text": "Be brief."}]}}}
    r = requests.post(relay_origin + "/v1beta/models/gemini-alias:countTokens", headers={"x-goog-api-key": key.key},
                      json=body, timeout=10)
    assert r.status_code == 200 and r.json()["totalTokens"] == 10
    sent = mock_upstream.last_request
    assert sent.path == "/v1beta/models/gemini-2.5-flash:countTokens"
    assert sent.json["generateContentRequest"]["model"] == "models/gemini-2.5-flash"
    assert [log["quota"] for log in consume_logs(key.user_id)] == [0]


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-opus-4-1"])
def test_count_tokens_on_other_channels_is_counted_offline(setup, genai_sdk, relay_origin, mock_upstream, model):
    _, openai_ch, claude, key = setup
    before = balances(key)
    client = genai_sdk(key.key)  # held: a collected Client closes its HTTP client
    total = client.models.count_tokens(model=model, contents="Hello there").total_tokens
    assert total == count_chat_prompt_tokens([{"role": "user", "content": "Hello there"}], model)
    body = {"generateContentRequest": {"model": f"models/{model}", **BODY,
                                       "systemInstruction": {"parts": [{"text": "Be brief and kind."}]}}}
    r = requests.post(relay_origin + f"/v1beta/models/{model}:countTokens", params={"key": key.key}, json=body,
                      timeout=10)
    assert r.json()["totalTokens"] > total  # the system instruction counts too
    assert mock_upstream.requests == []
    logs = consume_logs(key.user_id)
    assert [(log["quota"], log["channel_id"]) for log in logs] == [(0, openai_ch if model == "gpt-4o-mini"
                                                                    else claude)] * 2
    assert balances(key) == before


def test_count_tokens_refusals_are_gemini_shaped(setup, genai_sdk, relay_origin, make_token, mock_upstream):
    _, _, _, key = setup
    bad, client = genai_sdk("sk-wrong"), genai_sdk(key.key)  # held: a collected Client closes its HTTP client
    with pytest.raises(genai_errors.ClientError) as info:
        bad.models.count_tokens(model="gemini-2.5-flash", contents="x")
    assert info.value.code == 401 and info.value.status == "UNAUTHENTICATED"
    limited = make_token(model_limits_enabled=True, model_limits="gpt-4o-mini")
    limited_client = genai_sdk(limited.key)
    with pytest.raises(genai_errors.ClientError) as info:
        limited_client.models.count_tokens(model="gemini-2.5-flash", contents="x")
    assert info.value.code == 403 and info.value.status == "PERMISSION_DENIED"
    with pytest.raises(genai_errors.ServerError) as info:
        client.models.count_tokens(model="gemini-nowhere", contents="x")
    assert info.value.code == 503 and info.value.status == "UNAVAILABLE"
    url = relay_origin + "/v1beta/models/gemini-2.5-flash:countTokens"
    for body, fragment in [({"contents": []}, "contents is not specified"),
                           ({**BODY, "generateContentRequest": BODY}, "cannot both be set"),
                           ({"generateContentRequest": "x"}, "must be an object"),
                           ({"generateContentRequest": {"model": "models/other", **BODY}}, "models/gemini-2.5-flash"),
                           ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "valid role")]:
        r = requests.post(url, headers={"x-goog-api-key": key.key}, json=body, timeout=10)
        assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT", body
        assert fragment in r.json()["error"]["message"]
    r = requests.post(relay_origin + "/v1beta/models/gemini-2.5-flash:predictLater",
                      headers={"x-goog-api-key": key.key}, json=BODY, timeout=10)
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
    assert consume_logs(key.user_id) == [] and mock_upstream.requests == []


# -- embedContent / batchEmbedContents ------------------------------------------------------------------------
def test_embed_native_on_gemini_channel(setup, genai_sdk, relay_origin, mock_upstream):
    gemini, _, _, key = setup
    before = balances(key)
    client = genai_sdk(key.key)  # held: a collected Client closes its HTTP client
    result = client.models.embed_content(
        model="text-embedding-004", contents=["hello world", "goodbye moon"],
        config=genai_types.EmbedContentConfig(output_dimensionality=8, task_type="RETRIEVAL_DOCUMENT"))
    assert [len(e.values) for e in result.embeddings] == [8, 8]
    sent = mock_upstream.last_request
    assert sent.path == "/v1beta/models/text-embedding-004:batchEmbedContents"
    assert [r["model"] for r in sent.json["requests"]] == ["models/text-embedding-004"] * 2
    log = one_log(key, before)
    expected = count_tokens("hello world", "text-embedding-004") + count_tokens("goodbye moon", "text-embedding-004")
    assert (log["prompt_tokens"], log["completion_tokens"], log["quota"]) == (expected, 0, expected)

    r = requests.post(relay_origin + "/v1beta/models/embed-alias:embedContent", headers={"x-goog-api-key": key.key},
                      timeout=10, json={"model": "models/embed-alias", "outputDimensionality": 4,
                                        "content": {"parts": [{"text": "one"}, {"text": "two"}]}})
    assert r.status_code == 200 and len(r.json()["embedding"]["values"]) == 4
    sent = mock_upstream.last_request
    assert sent.path == "/v1beta/models/text-embedding-004:embedContent"
    assert sent.json["model"] == "models/text-embedding-004"  # mapped, in the body too
    log = one_log(key, before, count=2)
    assert log["quota"] == count_tokens("one two", "embed-alias") and log["channel_id"] == gemini


def test_embed_translated_on_openai_channel(setup, genai_sdk, relay_origin, mock_upstream):
    _, openai_ch, _, key = setup
    before = balances(key)
    client = genai_sdk(key.key)  # held: a collected Client closes its HTTP client
    result = client.models.embed_content(
        model="text-embedding-3-small", contents=["hello world", "goodbye moon", "third"],
        config=genai_types.EmbedContentConfig(output_dimensionality=16))
    assert [len(e.values) for e in result.embeddings] == [16] * 3
    sent = mock_upstream.last_request
    assert sent.path == "/v1/embeddings"
    assert sent.json == {"model": "text-embedding-3-small", "input": ["hello world", "goodbye moon", "third"],
                         "dimensions": 16}
    log = one_log(key, before)
    assert (log["prompt_tokens"], log["quota"], log["channel_id"]) == (10, 10, openai_ch)  # the upstream's usage

    r = requests.post(relay_origin + "/v1beta/models/text-embedding-3-small:embedContent", params={"key": key.key},
                      json={"content": {"parts": [{"text": "just one"}]}}, timeout=10)
    assert r.status_code == 200 and len(r.json()["embedding"]["values"]) == 1536
    assert mock_upstream.last_request.json["input"] == ["just one"]
    one_log(key, before, count=2)


def test_embed_refusals_charge_nothing(setup, relay_origin, mock_upstream):
    _, _, _, key = setup
    before = balances(key)
    url = relay_origin + "/v1beta/models/{}:{}"
    one = {"content": {"parts": [{"text": "x"}]}}
    cases = [
        ("text-embedding-004", "embedContent", {}, "content.parts"),
        ("text-embedding-004", "embedContent", {"content": {"parts": []}}, "content.parts"),
        ("text-embedding-004", "embedContent", {**one, "model": "models/other"}, "must match"),
        ("text-embedding-004", "embedContent", {**one, "taskType": "GUESSING"}, "task_type"),
        ("text-embedding-004", "embedContent", {**one, "outputDimensionality": 0}, "output_dimensionality"),
        ("text-embedding-004", "batchEmbedContents", {"requests": []}, "requests is not specified"),
        ("text-embedding-004", "batchEmbedContents", {"requests": [one] * 101}, "at most 100 requests"),
        ("text-embedding-004", "batchEmbedContents", {"requests": [{**one, "model": "models/x"}]}, "must match"),
        # what OpenAI embeddings cannot express: refused before anything is charged
        ("text-embedding-3-small", "batchEmbedContents",
         {"requests": [{**one, "outputDimensionality": 8}, {**one, "outputDimensionality": 16}]}, "same"),
        ("text-embedding-3-small", "embedContent",
         {"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}}, "only text"),
    ]
    for model, action, body, fragment in cases:
        r = requests.post(url.format(model, action), headers={"x-goog-api-key": key.key}, json=body, timeout=10)
        assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT", (model, action, body)
        assert fragment in r.json()["error"]["message"], r.json()
    # a Claude channel has no embeddings at all
    r = requests.post(url.format("claude-opus-4-1", "embedContent"), headers={"x-goog-api-key": key.key},
                      json=one, timeout=10)
    assert r.status_code == 501 and r.json()["error"]["status"] == "UNIMPLEMENTED"
    assert consume_logs(key.user_id) == [] and balances(key) == before
    assert mock_upstream.requests == []


def test_gemini_model_list_names_embedding_methods(setup, genai_sdk):
    _, _, _, key = setup
    client = genai_sdk(key.key)
    assert client.models.get(model="text-embedding-004").supported_actions == [
        "embedContent", "batchEmbedContents", "countTokens"]
    assert "streamGenerateContent" in client.models.get(model="gemini-2.5-flash").supported_actions
