"""The mock upstream's Claude and Gemini provider modules, checked with the real SDKs and raw HTTP."""

from __future__ import annotations

import anthropic
import pytest
import requests
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from tests.mock_upstream import Behaviour, MockUpstream
from tests.mock_upstream import anthropic as claude_mock
from tests.mock_upstream import gemini as gemini_mock

KEY = "sk-upstream-claude"
CONTENT = "Hello! This is the mock upstream speaking."


@pytest.fixture
def upstream():
    with MockUpstream(providers=[claude_mock.PROVIDER, gemini_mock.PROVIDER]) as server:
        yield server


@pytest.fixture
def claude(upstream):
    return anthropic.Anthropic(base_url=upstream.origin, api_key=KEY, max_retries=0, timeout=10)


@pytest.fixture
def gemini(upstream):
    return genai.Client(api_key=KEY, http_options=genai_types.HttpOptions(
        base_url=upstream.origin, api_version="v1beta", timeout=10_000,
        retry_options=genai_types.HttpRetryOptions(attempts=1)))


# -- Claude -----------------------------------------------------------------------------------------------
def test_claude_message_with_cache_usage(claude, upstream):
    message = claude.messages.create(model="mock-claude-cached-30-cachewrite-20", max_tokens=100,
                                     messages=[{"role": "user", "content": "Hi"}])
    assert message.content[0].text == CONTENT and message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens,
            message.usage.cache_creation_input_tokens, message.usage.output_tokens) == (10, 30, 20, 7)
    rec = upstream.last_request
    assert rec.api_key == KEY and rec.header("anthropic-version")  # this SDK sends its key as a Bearer token


def test_claude_stream_text_and_tools(claude):
    with claude.messages.stream(model="claude-opus-4-1", max_tokens=50,
                                messages=[{"role": "user", "content": "Hi"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == CONTENT and final.usage.output_tokens == 7 and final.stop_reason == "end_turn"

    with claude.messages.stream(model="mock-tools", max_tokens=50,
                                messages=[{"role": "user", "content": "Weather?"}]) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[0].input == {"location": "Paris, France", "unit": "celsius"}


def test_claude_errors_and_validation(claude, upstream):
    with pytest.raises(anthropic.RateLimitError) as info:
        claude.messages.create(model="mock-error-429", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert info.value.body["error"]["type"] == "rate_limit_error"
    upstream.enqueue(Behaviour(status=529))
    with pytest.raises(anthropic.APIStatusError) as info:
        claude.messages.create(model="claude-opus-4-1", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 529 and info.value.body["error"]["type"] == "overloaded_error"

    r = requests.post(upstream.url("/v1/messages"), headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
                      json={"model": "m", "messages": [{"role": "user", "content": "x"}]}, timeout=5)
    assert r.status_code == 400 and r.json()["error"]["message"] == "max_tokens: Field required"
    r = requests.post(upstream.url("/v1/messages"), headers={"x-api-key": KEY},
                      json={"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, timeout=5)
    assert r.status_code == 400 and "anthropic-version" in r.json()["error"]["message"]
    r = requests.post(upstream.url("/v1/messages"), headers={"anthropic-version": "2023-06-01"}, json={}, timeout=5)
    assert r.status_code == 401 and r.json()["type"] == "error"


def test_claude_stream_error_event(upstream):
    r = requests.post(upstream.url("/v1/messages"), headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
                      json={"model": "mock-streamerror-2", "max_tokens": 5, "stream": True,
                            "messages": [{"role": "user", "content": "x"}]}, timeout=5)
    assert r.text.count("text_delta") == 2
    assert r.text.endswith('event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
                           '"message":"Overloaded"}}\n\n')


# -- Gemini -----------------------------------------------------------------------------------------------
def test_gemini_generate_content_with_sdk(gemini, upstream):
    answer = gemini.models.generate_content(model="mock-cached-4-reasoning-3", contents="Hello")
    assert answer.text == CONTENT
    assert answer.usage_metadata.prompt_token_count == 10
    assert answer.usage_metadata.cached_content_token_count == 4
    assert answer.usage_metadata.thoughts_token_count == 3
    assert answer.usage_metadata.candidates_token_count == 7
    rec = upstream.last_request
    assert rec.path == "/v1beta/models/mock-cached-4-reasoning-3:generateContent"
    assert rec.header("x-goog-api-key") == KEY


def test_gemini_stream_with_sdk(gemini, upstream):
    chunks = list(gemini.models.generate_content_stream(model="gemini-2.5-flash", contents="Hello"))
    assert "".join(c.text or "" for c in chunks) == CONTENT
    assert chunks[-1].candidates[0].finish_reason == genai_types.FinishReason.STOP
    assert upstream.last_request.query["alt"] == "sse"


def test_gemini_function_calls_embeddings_and_models(gemini):
    answer = gemini.models.generate_content(model="mock-tools", contents="Weather?")
    assert answer.function_calls[0].name == "get_weather"
    assert answer.function_calls[0].args == {"location": "Paris, France", "unit": "celsius"}
    emb = gemini.models.embed_content(model="text-embedding-004", contents=["a", "b"],
                                      config=genai_types.EmbedContentConfig(output_dimensionality=8))
    assert [len(e.values) for e in emb.embeddings] == [8, 8]
    names = [m.name for m in gemini.models.list()]
    assert "models/gemini-2.5-flash" in names


def test_gemini_errors(gemini, upstream):
    with pytest.raises(genai_errors.ClientError) as info:
        gemini.models.generate_content(model="mock-error-429", contents="x")
    assert info.value.code == 429 and info.value.status == "RESOURCE_EXHAUSTED"
    r = requests.post(upstream.url("/v1beta/models/gemini-2.5-flash:generateContent"), params={"key": KEY},
                      json={"messages": [{"role": "user", "content": "x"}]}, timeout=5)
    assert r.status_code == 400 and 'Unknown name "messages"' in r.json()["error"]["message"]
    r = requests.post(upstream.url("/v1beta/models/gemini-2.5-flash:generateContent"), params={"key": KEY},
                      json={"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, timeout=5)
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_gemini_stream_framing_and_error(upstream):
    r = requests.post(upstream.url("/v1beta/models/mock-streamerror-1:streamGenerateContent"),
                      params={"alt": "sse", "key": KEY}, json={"contents": [{"parts": [{"text": "x"}]}]}, timeout=5)
    assert r.headers["content-type"].startswith("text/event-stream")
    frames = r.content.split(b"\r\n\r\n")
    assert frames[-1] == b"" and b'"status":"INTERNAL"' in frames[-2]
    r = requests.post(upstream.url("/v1beta/models/gemini-2.5-flash:streamGenerateContent"), params={"key": KEY},
                      json={"contents": [{"parts": [{"text": "x"}]}]}, timeout=5)
    assert r.json()[-1]["candidates"][0]["finishReason"] == "STOP"
