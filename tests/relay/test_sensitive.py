"""Sensitive-word filtering (new-api's CheckSensitiveEnabled, CheckSensitiveOnPromptEnabled, SensitiveWords):
a prompt holding a listed word is refused with 400 sensitive_words_detected in the surface's own error
shape, before anything is reserved, charged, logged or sent upstream."""

from __future__ import annotations

import pytest

from app.models import LogType
from app.options import get_option
from app.relay import sensitive
from app.relay.types import Mode
from tests.relay.conftest import balances, consume_logs, set_options, wait_for_logs

MODEL = "gpt-4o-mini"
WORD = "Forbidden Fruit"


def openai_headers(key):
    return {"Authorization": f"Bearer {key.key}"}


# (surface, path, body, headers) for a prompt that holds `text`
def surfaces(text: str):
    return [
        ("chat text part", "/v1/chat/completions", {"model": MODEL, "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": f"tell me about {text}"}]}]}, openai_headers),
        ("chat string", "/v1/chat/completions",
         {"model": MODEL, "messages": [{"role": "user", "content": f"x {text} y"}]}, openai_headers),
        ("completions", "/v1/completions", {"model": MODEL, "prompt": ["fine", f"a {text}"]}, openai_headers),
        ("embeddings", "/v1/embeddings", {"model": MODEL, "input": [f"{text}!"]}, openai_headers),
        ("claude", "/v1/messages", {"model": MODEL, "max_tokens": 16, "system": "be brief",
                                    "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]},
         lambda key: {"x-api-key": key.key, "anthropic-version": "2023-06-01"}),
        ("gemini", f"/v1beta/models/{MODEL}:generateContent",
         {"contents": [{"role": "user", "parts": [{"text": f"about {text}"}]}]},
         lambda key: {"x-goog-api-key": key.key}),
        ("responses", "/v1/responses", {"model": MODEL, "input": [
            {"role": "user", "content": [{"type": "input_text", "text": text}]}]}, openai_headers),
    ]


def assert_refused_in_its_shape(surface: str, answer) -> None:
    assert answer.status_code == 400, answer.get_data(as_text=True)
    body = answer.get_json()
    assert "sensitive words" in body["error"]["message"]
    if surface == "claude":
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    elif surface == "gemini":
        assert body["error"]["code"] == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    else:
        assert body["error"]["code"] == "sensitive_words_detected"
        assert body["error"]["type"] == "invalid_request_error"


@pytest.fixture
def filtering(make_channel):
    make_channel(models=(MODEL,))
    set_options(CheckSensitiveEnabled=True, SensitiveWords=f"unrelated\n{WORD}\n")


@pytest.mark.parametrize("index", range(len(surfaces(""))), ids=[s[0] for s in surfaces("")])
def test_each_surface_is_refused_with_nothing_charged_or_sent(client, filtering, make_token, mock_upstream, index):
    key = make_token()
    before = balances(key)
    surface, path, body, headers = surfaces("forbidden FRUIT")[index]  # another case than the list's
    answer = client.post(path, json=body, headers=headers(key))
    assert_refused_in_its_shape(surface, answer)
    assert mock_upstream.requests == []
    assert balances(key) == before
    assert consume_logs(key.user_id) == [] and consume_logs(key.user_id, LogType.ERROR) == []


def test_a_clean_prompt_still_goes_through(client, filtering, make_token, mock_upstream):
    key = make_token()
    answer = client.post("/v1/chat/completions", headers=openai_headers(key),
                         json={"model": MODEL, "messages": [{"role": "user", "content": "forbidden apple"}]})
    assert answer.status_code == 200
    assert len(mock_upstream.requests) == 1
    assert len(wait_for_logs(key.user_id, 1)) == 1


def test_words_in_the_answer_are_not_checked(client, filtering, make_token, mock_upstream):
    mock_upstream.default = mock_upstream.default.replace(content=f"Here is the {WORD} you asked about")
    key = make_token()
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    answer = client.post("/v1/chat/completions", headers=openai_headers(key), json=chat)
    assert answer.status_code == 200 and WORD in answer.get_json()["choices"][0]["message"]["content"]
    streamed = client.post("/v1/chat/completions", headers=openai_headers(key), json={**chat, "stream": True})
    assert streamed.status_code == 200 and "Fruit" in streamed.get_data(as_text=True)
    assert len(mock_upstream.requests) == 2


def test_off_by_default(client, make_channel, make_token, mock_upstream):
    assert get_option("CheckSensitiveEnabled") is False
    make_channel(models=(MODEL,))
    set_options(SensitiveWords=WORD)  # a list alone does nothing while the switch is off
    key = make_token()
    answer = client.post("/v1/chat/completions", headers=openai_headers(key),
                         json={"model": MODEL, "messages": [{"role": "user", "content": WORD}]})
    assert answer.status_code == 200 and len(mock_upstream.requests) == 1


def test_the_prompt_switch_and_option_updates_apply_without_restart(client, filtering, make_token, mock_upstream):
    key = make_token()
    body = {"model": MODEL, "messages": [{"role": "user", "content": f"a {WORD}"}]}
    assert client.post("/v1/chat/completions", json=body, headers=openai_headers(key)).status_code == 400
    set_options(CheckSensitiveOnPromptEnabled=False)
    assert client.post("/v1/chat/completions", json=body, headers=openai_headers(key)).status_code == 200
    set_options(CheckSensitiveOnPromptEnabled=True, SensitiveWords="something else")
    assert client.post("/v1/chat/completions", json=body, headers=openai_headers(key)).status_code == 200
    set_options(SensitiveWords="A FORBIDDEN")
    answer = client.post("/v1/chat/completions", json=body, headers=openai_headers(key))
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "sensitive_words_detected"
    assert len(mock_upstream.requests) == 2


def test_claude_count_tokens_is_refused_before_it_is_sent(client, filtering, make_token, mock_upstream):
    key = make_token()
    answer = client.post("/v1/messages/count_tokens", headers={"x-api-key": key.key},
                         json={"model": MODEL, "messages": [{"role": "user", "content": WORD}]})
    assert_refused_in_its_shape("claude", answer)
    assert mock_upstream.requests == []


def test_the_matcher_is_built_once_per_word_list():
    words = ["Alpha", "beta"]
    first = sensitive.matcher_for(words)
    assert sensitive.matcher_for(words) is first
    assert first.first_match("xx ALPHA yy") == "alpha" and first.first_match("gamma") is None
    assert sensitive.matcher_for(["Alpha", "beta"]) is not first  # a new list is a new options version


def test_media_ids_and_roles_are_not_prompt_text():
    body = {"messages": [
        {"role": "user", "name": "alpha", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/alpha.png"}},
            {"type": "text", "text": "hello"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "alpha", "type": "function", "function": {"name": "alpha", "arguments": "{\"q\": \"beta\"}"}}]}]}
    assert sensitive.prompt_text(Mode.CHAT, body) == "hello\n{\"q\": \"beta\"}"
    assert sensitive.prompt_text(Mode.MODERATIONS, {"input": "alpha"}) == ""

