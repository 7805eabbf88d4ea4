"""Sensitive-word filtering of the asynchronous task submits (Midjourney, Suno, videos): a prompt holding a
listed word is refused in the platform's own error shape before anything is reserved, charged, saved or
sent upstream; the same check (app.relay.sensitive) as the /v1 surfaces."""

from __future__ import annotations

import pytest

from app.models import LogType
from tests.relay.conftest import balances, consume_logs, set_options
from tests.relay.tasks.conftest import bearer, mj_rows, task_rows

WORD = "Forbidden Fruit"


@pytest.fixture
def filtering(mj_channel, suno_channel, video_channel):
    mj_channel()
    suno_channel()
    video_channel()
    set_options(CheckSensitiveEnabled=True, SensitiveWords=f"unrelated\n{WORD}\n")


def assert_nothing_happened(key, before, task_upstream) -> None:
    assert task_upstream.requests == []
    assert balances(key) == before
    assert consume_logs(key.user_id) == [] and consume_logs(key.user_id, LogType.ERROR) == []
    assert mj_rows(key.user_id) == [] and task_rows(key.user_id) == []


@pytest.mark.parametrize("route, body", [
    ("imagine", {"prompt": "a FORBIDDEN fruit bowl", "base64Array": []}),
    ("modal", {"prompt": "then forbidden fruit", "taskId": "does-not-matter"}),
], ids=["imagine", "modal"])
def test_midjourney_refusal_is_midjourney_shaped(client, filtering, make_token, task_upstream, route, body):
    key = make_token()
    before = balances(key)
    if route == "modal":  # a modal acts on one of the caller's tasks: make one with a clean prompt first
        first = client.post("/mj/submit/imagine", json={"prompt": "a cat"}, headers=bearer(key))
        assert first.status_code == 200, first.get_data(as_text=True)
        body = {**body, "taskId": first.get_json()["result"]}
        before, sent = balances(key), len(task_upstream.requests)
        rows_before = mj_rows(key.user_id)
    reply = client.post(f"/mj/submit/{route}", json=body, headers=bearer(key))
    assert reply.status_code == 400, reply.get_data(as_text=True)
    answer = reply.get_json()
    assert answer["code"] == 4 and "sensitive words" in answer["description"] and answer["result"] is None
    assert WORD.lower() not in reply.get_data(as_text=True).lower()
    if route == "modal":
        assert len(task_upstream.requests) == sent and balances(key) == before and mj_rows(key.user_id) == rows_before
    else:
        assert_nothing_happened(key, before, task_upstream)


@pytest.mark.parametrize("field", ["prompt", "gpt_description_prompt"])
def test_suno_refusal_is_suno_shaped(client, filtering, make_token, task_upstream, field):
    key = make_token()
    before = balances(key)
    body = {"prompt": "a song about rain", "tags": "pop", field: f"a song about {WORD}"}
    reply = client.post("/suno/submit/music", json=body, headers=bearer(key))
    assert reply.status_code == 400, reply.get_data(as_text=True)
    assert reply.get_json() == {"code": "sensitive_words_detected", "data": None,
                                "message": "the request was refused: its prompt contains sensitive words"}
    assert_nothing_happened(key, before, task_upstream)


def test_suno_lyrics_prompt_is_checked(client, filtering, make_token, task_upstream):
    key = make_token()
    before = balances(key)
    reply = client.post("/suno/submit/lyrics", json={"prompt": f"{WORD} blues"}, headers=bearer(key))
    assert reply.status_code == 400 and reply.get_json()["code"] == "sensitive_words_detected"
    assert_nothing_happened(key, before, task_upstream)


def test_video_refusal_is_openai_shaped(client, filtering, make_token, task_upstream):
    key = make_token()
    before = balances(key)
    reply = client.post("/v1/videos", json={"model": "sora-2", "prompt": f"a {WORD} falling"}, headers=bearer(key))
    assert reply.status_code == 400, reply.get_data(as_text=True)
    error = reply.get_json()["error"]
    assert error["code"] == "sensitive_words_detected" and error["type"] == "invalid_request_error"
    assert_nothing_happened(key, before, task_upstream)
    form = client.post("/v1/videos", data={"model": "sora-2", "prompt": f"{WORD}!"}, headers=bearer(key),
                       content_type="multipart/form-data")
    assert form.status_code == 400 and form.get_json()["error"]["code"] == "sensitive_words_detected"
    assert_nothing_happened(key, before, task_upstream)


def test_clean_prompts_and_switched_off_filtering_still_submit(client, filtering, make_token, task_upstream):
    key = make_token()
    assert client.post("/mj/submit/imagine", json={"prompt": "forbidden apple"}, headers=bearer(key)).status_code == 200
    set_options(CheckSensitiveOnPromptEnabled=False)
    assert client.post("/mj/submit/imagine", json={"prompt": WORD}, headers=bearer(key)).status_code == 200
    assert client.post("/suno/submit/music", json={"prompt": WORD}, headers=bearer(key)).status_code == 200
    assert client.post("/v1/videos", json={"model": "sora-2", "prompt": WORD}, headers=bearer(key)).status_code == 200
    assert len(task_upstream.requests) == 4
