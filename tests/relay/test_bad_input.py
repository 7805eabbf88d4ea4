"""Bad input is refused before anything is reserved or sent upstream, always as an OpenAI error."""

from __future__ import annotations

import json

import pytest

from tests.relay.conftest import balances, consume_logs

GOOD = '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]'


def chat(extra: str) -> bytes:
    return (GOOD + extra + "}").encode()


CASES = {
    "stream as a string": chat(', "stream": "true"'),
    "stream as a number": chat(', "stream": 1'),
    "n too large": chat(', "n": 100000'),
    "n zero": chat(', "n": 0'),
    "n as a float": chat(', "n": 2.0'),
    "max_tokens negative": chat(', "max_tokens": -1'),
    "max_tokens huge float": chat(', "max_tokens": 1e12'),
    "max_tokens huge int": chat(', "max_tokens": 1000000000000'),
    "max_tokens as a bool": chat(', "max_tokens": true'),
    "max_completion_tokens negative": chat(', "max_completion_tokens": -5'),
    "NaN": chat(', "temperature": NaN'),
    "Infinity": chat(', "temperature": Infinity'),
    "-Infinity": chat(', "top_p": -Infinity'),
    "duplicate keys": b'{"model": "gpt-4o-mini", "model": "gpt-4o", "messages": []}',
    "nested duplicate keys": chat(', "metadata": {"a": 1, "a": 2}'),
    "lone high surrogate": b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "\\ud800"}]}',
    "lone low surrogate": b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x\\uDC00y"}]}',
    "deep nesting": b'{"model": "gpt-4o-mini", "messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "model with CRLF": b'{"model": "gpt-4o-mini\\r\\nX-Injected: 1", "messages": [{"role": "user", "content": "hi"}]}',
    "model with a control char": b'{"model": "gpt\\u0000-4o", "messages": [{"role": "user", "content": "hi"}]}',
    "model too long": ('{"model": "' + "m" * 257 + '", "messages": [{"role": "user", "content": "hi"}]}').encode(),
    "model not a string": b'{"model": 42, "messages": [{"role": "user", "content": "hi"}]}',
    "missing model": b'{"messages": [{"role": "user", "content": "hi"}]}',
    "empty model": b'{"model": "", "messages": [{"role": "user", "content": "hi"}]}',
    "array body": b'[{"model": "gpt-4o-mini"}]',
    "string body": b'"hello"',
    "empty body": b"",
    "not json": b"model=gpt-4o-mini",
    "invalid utf-8": b'{"model": "gpt-4o-mini\xff", "messages": []}',
    "messages not a list": b'{"model": "gpt-4o-mini", "messages": "hi"}',
    "messages empty": b'{"model": "gpt-4o-mini", "messages": []}',
    "stream_options not an object": chat(', "stream": true, "stream_options": "yes"'),
    "trailing garbage": chat("") + b"}",
}


@pytest.fixture
def funded(make_channel, make_token):
    make_channel()
    return make_token()


@pytest.mark.parametrize("name", list(CASES))
def test_bad_chat_bodies_are_refused_for_free(client, funded, mock_upstream, name):
    before = balances(funded)
    answer = client.post("/v1/chat/completions", data=CASES[name], content_type="application/json",
                         headers={"Authorization": f"Bearer {funded.key}"})
    assert answer.status_code == 400, answer.get_data()[:300]
    error = answer.get_json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert mock_upstream.requests == []
    assert balances(funded) == before
    assert consume_logs() == []


def test_body_over_the_limit_is_413(client, funded, mock_upstream):
    body = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "' + b"a" * (50 * 1024 * 1024) + b'"}]}'
    answer = client.post("/v1/chat/completions", data=body, content_type="application/json",
                         headers={"Authorization": f"Bearer {funded.key}"})
    assert answer.status_code == 413
    assert answer.get_json()["error"]["code"] == "request_too_large"
    assert mock_upstream.requests == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/completions", {"model": "gpt-3.5-turbo-instruct"}),
        ("/v1/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": 5}),
        ("/v1/embeddings", {"model": "text-embedding-3-small"}),
        ("/v1/images/generations", {"model": "dall-e-3", "prompt": "cat", "n": 50}),
        ("/v1/images/generations", {"model": "dall-e-3"}),
        ("/v1/audio/speech", {"model": "tts-1", "voice": "alloy"}),
        ("/v1/moderations", {"model": "omni-moderation-latest"}),
        ("/v1/embeddings", {"model": "text-embedding-3-small", "input": "x", "stream": "yes"}),
    ],
)
def test_other_endpoints_check_their_fields(client, funded, mock_upstream, path, body):
    answer = client.post(path, data=json.dumps(body), content_type="application/json",
                         headers={"Authorization": f"Bearer {funded.key}"})
    assert answer.status_code == 400
    assert mock_upstream.requests == []


def test_multipart_without_file_or_model(client, funded, mock_upstream):
    headers = {"Authorization": f"Bearer {funded.key}"}
    answer = client.post("/v1/audio/transcriptions", data={"model": "whisper-1"}, headers=headers)
    assert answer.status_code == 400 and answer.get_json()["error"]["param"] == "file"
    answer = client.post("/v1/audio/transcriptions", data={}, headers=headers,
                         content_type="multipart/form-data")
    assert answer.status_code == 400
    assert mock_upstream.requests == []


def test_unknown_relay_path_is_an_openai_404(client):
    answer = client.post("/v1/nope", json={})
    assert answer.status_code == 404 and "error" in answer.get_json()
