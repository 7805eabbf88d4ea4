"""Midjourney through /mj: submit, billing at submit, polling, refunds on failure, isolation, errors."""

from __future__ import annotations

import json
import threading

import pytest

from app.jobs import tasks as task_jobs
from app.relay.tasks import finish
from tests.mock_upstream import Behaviour
from tests.relay.conftest import balances, channel_row, consume_logs, set_options
from tests.relay.tasks.conftest import IMAGINE_PRICE, MJ_KEY, UPSCALE_PRICE, bearer, mj_rows, refund_logs

START = 10_000_000


def imagine(client, key, prompt="a cat in the rain", path="/mj/submit/imagine", headers=None, **extra):
    body = {"prompt": prompt, "base64Array": [], "notifyHook": "https://evil.example/hook", **extra}
    return client.post(path, json=body, headers=headers if headers is not None else bearer(key))


def test_imagine_is_charged_once_and_polled_to_success(client, make_token, mj_channel, task_upstream, mj_state):
    channel_id = mj_channel()
    key = make_token()
    reply = imagine(client, key)
    assert reply.status_code == 200, reply.get_data(as_text=True)
    body = reply.get_json()
    assert body["code"] == 1 and body["result"]
    mj_id = body["result"]

    sent = task_upstream.last_request
    assert sent.path == "/mj/submit/imagine"
    assert sent.header("mj-api-secret") == MJ_KEY and sent.header("authorization") is None
    assert "notifyHook" not in sent.json and sent.json["prompt"] == "a cat in the rain"

    assert balances(key) == (START - IMAGINE_PRICE, START - IMAGINE_PRICE)
    [log] = consume_logs(key.user_id)
    assert (log["model_name"], log["quota"], log["channel_id"]) == ("mj_imagine", IMAGINE_PRICE, channel_id)
    assert json.loads(log["other"])["task_id"] == mj_id
    [row] = mj_rows(key.user_id)
    assert (row["mj_id"], row["action"], row["quota"], row["progress"]) == (mj_id, "IMAGINE", IMAGINE_PRICE, "0%")
    assert row["token_id"] == key.token_id and row["channel_id"] == channel_id

    assert task_jobs.poll_tasks()["midjourney"]["updated"] == 1
    assert mj_rows()[0]["progress"] == "50%" and mj_rows()[0]["status"] == "IN_PROGRESS"
    assert task_jobs.poll_tasks()["midjourney"]["succeeded"] == 1
    [row] = mj_rows()
    assert (row["status"], row["progress"]) == ("SUCCESS", "100%")
    assert row["image_url"].endswith(f"/attachments/{mj_id}.png")
    assert json.loads(row["buttons"])[0]["customId"].startswith("MJ::JOB::upsample::1::")

    reads = mj_state.reads[mj_id]
    assert task_jobs.poll_tasks()["midjourney"]["polled"] == 0  # finished: never asked again
    assert mj_state.reads[mj_id] == reads
    assert balances(key) == (START - IMAGINE_PRICE, START - IMAGINE_PRICE)
    assert len(consume_logs(key.user_id)) == 1 and refund_logs() == []

    fetched = client.get(f"/mj/task/{mj_id}/fetch", headers={"mj-api-secret": key.key}).get_json()
    assert fetched["id"] == mj_id and fetched["status"] == "SUCCESS" and fetched["progress"] == "100%"
    assert fetched["imageUrl"] == row["image_url"] and fetched["action"] == "IMAGINE"
    assert fetched["buttons"][0]["label"] == "U1"


def test_failed_task_is_refunded_exactly_once(client, make_token, mj_channel):
    mj_channel()
    key = make_token()
    mj_id = imagine(client, key, prompt="mock-fail a forbidden picture").get_json()["result"]
    assert balances(key) == (START - IMAGINE_PRICE, START - IMAGINE_PRICE)

    task_jobs.poll_tasks()
    assert task_jobs.poll_tasks()["midjourney"]["failed"] == 1
    [row] = mj_rows()
    assert (row["status"], row["progress"]) == ("FAILURE", "100%")
    assert "Banned prompt" in row["fail_reason"]
    assert balances(key) == (START, START)
    [refund] = refund_logs(key.user_id)
    assert (refund["type"], refund["quota"], refund["model_name"]) == (6, IMAGINE_PRICE, "mj_imagine")
    assert refund["token_id"] == key.token_id and json.loads(refund["other"])["task_id"] == mj_id

    task_jobs.poll_tasks()
    task_jobs.poll_tasks()
    assert balances(key) == (START, START) and len(refund_logs()) == 1
    assert len(consume_logs(key.user_id)) == 1  # the charge stays in the ledger next to its refund


def test_two_pollers_racing_refund_once(app, client, make_token, mj_channel, mj_state, monkeypatch):
    """Both runs read the task as unfinished and see it failed; the guarded UPDATE lets one refund."""
    mj_channel()
    key = make_token()
    mj_id = imagine(client, key).get_json()["result"]
    mj_state.finish(mj_id, "FAILURE", failReason="Midjourney job failed")
    barrier = threading.Barrier(2, timeout=20)
    original = finish.finish

    def finish_together(*args, **kwargs):
        barrier.wait()
        return original(*args, **kwargs)

    monkeypatch.setattr(finish, "finish", finish_together)
    results: list = []

    def run():
        with app.app_context():
            results.append(task_jobs.poll_unlocked()["midjourney"])

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 2
    assert sorted(r["failed"] for r in results) == [0, 1]
    assert balances(key) == (START, START)
    assert len(refund_logs(key.user_id)) == 1


def test_the_poll_lock_keeps_a_second_run_out(app, client, make_token, mj_channel, mj_state):
    mj_channel()
    key = make_token()
    mj_id = imagine(client, key).get_json()["result"]
    mj_state.finish(mj_id, "FAILURE")
    with task_jobs.poll_lock() as held:
        assert held
        assert task_jobs.poll_tasks() == {"skipped": True}
    assert task_jobs.poll_tasks()["midjourney"]["failed"] == 1
    assert balances(key) == (START, START) and len(refund_logs()) == 1


@pytest.mark.parametrize("behaviour", [Behaviour(status=500), Behaviour(status=502), Behaviour(drop_connection=True)])
def test_upstream_submit_error_charges_nothing(client, make_token, mj_channel, task_upstream, behaviour):
    set_options(RetryTimes=0)
    mj_channel()
    key = make_token()
    task_upstream.enqueue(behaviour)
    reply = imagine(client, key)
    assert reply.status_code >= 500
    body = reply.get_json()
    assert body["code"] == 5 and body["description"]
    assert balances(key) == (START, START)
    assert consume_logs(key.user_id) == [] and mj_rows() == []


@pytest.mark.parametrize(("prompt", "code"), [("mock-banned nude", 24), ("mock-full please", 23),
                                              ("mock-noinstance", 3)])
def test_refused_submit_is_passed_back_and_not_charged(client, make_token, mj_channel, prompt, code):
    channel_id = mj_channel()
    key = make_token()
    reply = imagine(client, key, prompt=prompt)
    assert reply.status_code == 200 and reply.get_json()["code"] == code
    assert balances(key) == (START, START) and consume_logs(key.user_id) == []
    [row] = mj_rows(key.user_id)  # kept as a failed task, as new-api keeps it
    assert (row["status"], row["progress"], row["quota"], row["code"]) == ("FAILURE", "100%", 0, code)
    assert task_jobs.poll_tasks()["midjourney"]["polled"] == 0
    assert channel_row(channel_id)["status"] == (3 if code == 3 else 1)  # no account instance: auto-disabled


def test_retry_on_another_channel_after_a_server_error(client, make_token, mj_channel, task_upstream):
    first = mj_channel(name="first", priority=10)
    second = mj_channel(name="second", priority=0)
    key = make_token()
    task_upstream.enqueue(Behaviour(status=503))
    reply = imagine(client, key)
    assert reply.status_code == 200 and reply.get_json()["code"] == 1
    [row] = mj_rows()
    assert row["channel_id"] == second and first != second
    [log] = consume_logs(key.user_id)
    assert json.loads(log["other"])["admin_info"]["use_channel"] == [first, second]


def test_queued_and_existing_answers_read_as_submitted(client, make_token, mj_channel):
    mj_channel()
    key = make_token()
    queued = imagine(client, key, prompt="mock-queued dog").get_json()
    existing = imagine(client, key, prompt="mock-exists dog").get_json()
    assert queued["code"] == 1 and existing["code"] == 1
    assert balances(key)[0] == START - 2 * IMAGINE_PRICE
    rows = {r["mj_id"]: r for r in mj_rows()}
    assert rows[existing["result"]]["status"] == "SUCCESS" and rows[existing["result"]]["progress"] == "100%"
    assert rows[queued["result"]]["progress"] == "0%"


def test_changes_use_the_origin_channel_and_their_own_price(client, make_token, mj_channel):
    origin_channel = mj_channel(name="origin", priority=10)
    key = make_token()
    mj_id = imagine(client, key).get_json()["result"]
    early = client.post("/mj/submit/change", json={"action": "UPSCALE", "index": 1, "taskId": mj_id},
                        headers=bearer(key))
    assert early.status_code == 400 and early.get_json()["description"] == "task_status_not_success"
    task_jobs.poll_tasks()
    task_jobs.poll_tasks()
    mj_channel(name="newer", priority=100)  # routing would pick this one; the change must not
    up = client.post("/mj/submit/change", json={"action": "UPSCALE", "index": 2, "taskId": mj_id},
                     headers=bearer(key))
    assert up.status_code == 200 and up.get_json()["code"] == 1
    simple = client.post("/mj/submit/simple-change", json={"content": f"{mj_id} V3"}, headers=bearer(key))
    assert simple.get_json()["code"] == 1
    button = client.post("/mj/submit/action", json={"customId": f"MJ::JOB::upsample::4::{mj_id}", "taskId": mj_id},
                         headers=bearer(key))
    assert button.get_json()["code"] == 1
    rows = mj_rows()
    assert [r["action"] for r in rows] == ["IMAGINE", "UPSCALE", "VARIATION", "UPSCALE"]
    assert {r["channel_id"] for r in rows} == {origin_channel}
    assert [log["model_name"] for log in consume_logs(key.user_id)] == ["mj_imagine", "mj_upscale", "mj_variation",
                                                                        "mj_upscale"]
    assert balances(key)[0] == START - IMAGINE_PRICE - 2 * UPSCALE_PRICE - IMAGINE_PRICE


def test_users_see_only_their_own_tasks(client, make_token, mj_channel):
    mj_channel()
    alice, bob = make_token(), make_token()
    a_id = imagine(client, alice).get_json()["result"]
    b_id = imagine(client, bob).get_json()["result"]
    missing = client.get(f"/mj/task/{a_id}/fetch", headers=bearer(bob))
    assert missing.status_code == 404 and missing.get_json()["description"] == "task_no_found"
    assert client.get(f"/mj/task/{b_id}/fetch", headers=bearer(bob)).get_json()["id"] == b_id
    listed = client.post("/mj/task/list-by-condition", json={"ids": [a_id, b_id, "nope"]}, headers=bearer(bob))
    assert [t["id"] for t in listed.get_json()] == [b_id]
    stolen = client.post("/mj/submit/change", json={"action": "UPSCALE", "index": 1, "taskId": a_id},
                         headers=bearer(bob))
    assert stolen.status_code == 400 and stolen.get_json()["description"] == "task_not_found"
    assert balances(bob)[0] == START - IMAGINE_PRICE


def test_refusals_before_the_upstream(client, make_token, mj_channel, task_upstream):
    mj_channel()
    key = make_token()
    no_key = client.post("/mj/submit/imagine", json={"prompt": "x"})
    assert no_key.status_code == 401 and no_key.get_json()["code"] == 4
    empty = imagine(client, key, prompt="")
    assert empty.status_code == 400 and empty.get_json()["description"] == "prompt_is_required"
    bad_change = client.post("/mj/submit/change", json={"action": "UPSCALE", "taskId": "1"}, headers=bearer(key))
    assert bad_change.get_json()["description"] == "index_is_required"
    assert client.post("/mj/submit/nope", json={}, headers=bearer(key)).status_code == 404
    poor = make_token(quota=10, remain_quota=10)
    broke = imagine(client, poor)
    assert broke.status_code == 403 and broke.get_json()["code"] == 4
    assert balances(poor) == (10, 10)
    assert task_upstream.requests == []
    assert balances(key) == (START, START)


def test_no_channel_for_the_action(client, make_token, mj_channel):
    mj_channel(models=("mj_imagine",))
    key = make_token()
    reply = client.post("/mj/submit/describe", json={"base64": "data:image/png;base64,AA=="}, headers=bearer(key))
    assert reply.status_code == 503 and reply.get_json()["code"] == 4
    assert balances(key) == (START, START)


def test_mode_prefix_and_mj_api_secret(client, make_token, mj_channel, task_upstream):
    mj_channel()
    key = make_token()
    reply = imagine(client, key, path="/mj-turbo/mj/submit/imagine", headers={"mj-api-secret": key.key})
    assert reply.get_json()["code"] == 1
    assert task_upstream.last_request.path == "/mj/submit/imagine"
    mj_id = reply.get_json()["result"]
    assert client.get(f"/mj-fast/mj/task/{mj_id}/fetch", headers={"mj-api-secret": key.key}).status_code == 200
    assert client.post("/other/mj/submit/imagine", json={"prompt": "x"}, headers=bearer(key)).status_code == 404


def test_image_proxy_serves_the_task_image(client, make_token, mj_channel):
    mj_channel()
    key = make_token()
    mj_id = imagine(client, key).get_json()["result"]
    assert client.get(f"/mj/image/{mj_id}").status_code == 404  # no image yet
    task_jobs.poll_tasks()
    task_jobs.poll_tasks()
    image = client.get(f"/mj/image/{mj_id}")
    assert image.status_code == 200 and image.content_type == "image/png"
    assert image.get_data().startswith(b"\x89PNG")
