"""Suno through /suno: submit (charged once), fetch in new-api's shapes, polling, refunds, isolation."""

from __future__ import annotations

import json

from app.jobs import tasks as task_jobs
from tests.mock_upstream import Behaviour
from tests.relay.conftest import balances, consume_logs, set_options
from tests.relay.tasks.conftest import SUNO_KEY, SUNO_PRICE, bearer, refund_logs, task_rows

START = 10_000_000


def music(client, key, prompt="a song about rain", **extra):
    body = {"prompt": prompt, "tags": "pop", "title": "Rain", "callback_url": "https://x.example/cb", **extra}
    return client.post("/suno/submit/music", json=body, headers=bearer(key))


def test_music_is_charged_once_and_polled_to_success(client, make_token, suno_channel, task_upstream):
    channel_id = suno_channel()
    key = make_token()
    reply = music(client, key)
    assert reply.status_code == 200, reply.get_data(as_text=True)
    body = reply.get_json()
    assert body["code"] == "success" and body["data"]
    task_id = body["data"]
    sent = task_upstream.last_request
    assert sent.path == "/suno/submit/MUSIC" and sent.header("authorization") == f"Bearer {SUNO_KEY}"
    assert sent.json == {"prompt": "a song about rain", "tags": "pop", "title": "Rain", "mv": "chirp-v3-0"}

    assert balances(key) == (START - SUNO_PRICE, START - SUNO_PRICE)
    [log] = consume_logs(key.user_id)
    assert (log["model_name"], log["quota"], log["channel_id"]) == ("suno_music", SUNO_PRICE, channel_id)
    [row] = task_rows(key.user_id)
    assert (row["task_id"], row["platform"], row["action"], row["quota"]) == (task_id, "suno", "MUSIC", SUNO_PRICE)

    one = client.get(f"/suno/fetch/{task_id}", headers=bearer(key)).get_json()
    assert one["code"] == "success" and one["data"]["task_id"] == task_id and one["data"]["status"] == "SUBMITTED"

    assert task_jobs.poll_tasks()["suno"]["updated"] == 1
    assert task_jobs.poll_tasks()["suno"]["succeeded"] == 1
    [row] = task_rows()
    assert (row["status"], row["progress"]) == ("SUCCESS", "100%")
    assert len(row["data"]) == 2 and row["data"][0]["audio_url"].endswith(".mp3")
    assert task_jobs.poll_tasks()["suno"]["polled"] == 0
    assert balances(key) == (START - SUNO_PRICE, START - SUNO_PRICE) and refund_logs() == []

    many = client.post("/suno/fetch", json={"ids": [task_id], "action": "MUSIC"}, headers=bearer(key)).get_json()
    assert many["code"] == "success" and [t["task_id"] for t in many["data"]] == [task_id]
    assert many["data"][0]["data"][1]["title"] == "Mock song"


def test_lyrics_price_and_validation(client, make_token, suno_channel, task_upstream):
    suno_channel()
    key = make_token()
    empty = client.post("/suno/submit/lyrics", json={"prompt": " "}, headers=bearer(key))
    assert empty.status_code == 400 and empty.get_json() == {"code": "invalid_request", "message": "prompt_empty",
                                                              "data": None}
    bad = client.post("/suno/submit/video", json={"prompt": "x"}, headers=bearer(key))
    assert bad.status_code == 400 and bad.get_json()["message"] == "invalid_action"
    assert task_upstream.requests == [] and balances(key) == (START, START)
    ok = client.post("/suno/submit/lyrics", json={"prompt": "rain"}, headers=bearer(key))
    assert ok.get_json()["code"] == "success"
    assert balances(key)[0] == START - 5_000  # suno_lyrics: 0.01 USD
    assert consume_logs(key.user_id)[0]["model_name"] == "suno_lyrics"


def test_failed_task_is_refunded_once(client, make_token, suno_channel):
    suno_channel()
    key = make_token()
    task_id = music(client, key, prompt="mock-fail").get_json()["data"]
    task_jobs.poll_tasks()
    assert task_jobs.poll_tasks()["suno"]["failed"] == 1
    [row] = task_rows()
    assert (row["status"], row["progress"]) == ("FAILURE", "100%") and "moderation" in row["fail_reason"]
    assert balances(key) == (START, START)
    [refund] = refund_logs(key.user_id)
    assert (refund["quota"], refund["model_name"]) == (SUNO_PRICE, "suno_music")
    assert json.loads(refund["other"])["task_id"] == task_id
    task_jobs.poll_tasks()
    assert balances(key) == (START, START) and len(refund_logs()) == 1


def test_upstream_refusals_charge_nothing(client, make_token, suno_channel, task_upstream):
    set_options(RetryTimes=0)
    suno_channel()
    key = make_token()
    refused = music(client, key, prompt="mock-reject")
    assert refused.status_code == 500
    assert refused.get_json() == {"code": "fail_to_submit", "message": "the prompt contains banned words",
                                  "data": None}
    task_upstream.enqueue(Behaviour(status=500, error_message="boom"))
    broken = music(client, key)
    assert broken.status_code == 500 and broken.get_json()["code"] == "fail_to_fetch_task"
    task_upstream.enqueue(Behaviour(drop_connection=True))
    assert music(client, key).status_code == 502
    assert balances(key) == (START, START) and consume_logs(key.user_id) == [] and task_rows() == []


def test_continuation_needs_an_own_task_and_uses_its_channel(client, make_token, suno_channel):
    first = suno_channel(name="first", priority=10)
    alice, bob = make_token(), make_token()
    task_id = music(client, alice).get_json()["data"]
    suno_channel(name="second", priority=100)
    stolen = music(client, bob, continue_clip_id="clip-1", task_id=task_id, continue_at=30)
    assert stolen.status_code == 400 and stolen.get_json()["code"] == "task_not_exist"
    missing = music(client, alice, continue_clip_id="clip-1")
    assert missing.status_code == 400 and missing.get_json()["message"] == "task id is empty"
    extended = music(client, alice, continue_clip_id="clip-1", task_id=task_id, continue_at=30)
    assert extended.get_json()["code"] == "success"
    assert [r["channel_id"] for r in task_rows(alice.user_id)] == [first, first]
    assert balances(bob) == (START, START)


def test_users_see_only_their_own_tasks(client, make_token, suno_channel):
    suno_channel()
    alice, bob = make_token(), make_token()
    a_id = music(client, alice).get_json()["data"]
    b_id = music(client, bob).get_json()["data"]
    other = client.get(f"/suno/fetch/{a_id}", headers=bearer(bob))
    assert other.status_code == 400 and other.get_json()["code"] == "task_not_exist"
    listed = client.post("/suno/fetch", json={"ids": [a_id, b_id]}, headers=bearer(bob)).get_json()
    assert [t["task_id"] for t in listed["data"]] == [b_id]
    assert client.post("/suno/fetch", json={"ids": [a_id]}).status_code == 401
