"""The poll job: run through app.jobs.queues.enqueue in-process, timeouts, lost channels, the schedule,
the adaptor registry, and the pure translation helpers."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import delete, update

from app.extensions import db
from app.jobs import tasks as task_jobs
from app.jobs.queues import enqueue
from app.jobs.schedule import SCHEDULE
from app.models import Channel, Midjourney
from app.relay.adaptors.registry import adaptor_for, get_adaptor, type_name
from app.relay.tasks import midjourney, suno
from app.relay.tasks.common import TaskAdaptor
from app.relay.types import Mode
from app.services.channels import CHANNEL_TYPES
from tests.relay.conftest import balances, release
from tests.relay.tasks.conftest import bearer, mj_rows, refund_logs

START = 10_000_000


def _imagine(client, key, prompt="a cat"):
    return client.post("/mj/submit/imagine", json={"prompt": prompt}, headers=bearer(key)).get_json()["result"]


def test_poll_job_through_the_in_process_queue(app, client, make_token, mj_channel, suno_channel):
    mj_channel()
    suno_channel()
    key = make_token()
    _imagine(client, key, "mock-fail")
    client.post("/suno/submit/music", json={"prompt": "mock-fail"}, headers=bearer(key))
    assert balances(key)[0] == START - 100_000
    for _ in range(2):
        summary = enqueue(task_jobs.poll_tasks).result(timeout=30)
    assert summary["midjourney"]["failed"] == 1 and summary["suno"]["failed"] == 1
    assert balances(key) == (START, START)
    assert sorted(r["model_name"] for r in refund_logs(key.user_id)) == ["mj_imagine", "suno_music"]


def test_a_task_stuck_for_an_hour_fails_and_is_refunded(client, make_token, mj_channel, mj_state):
    mj_channel()
    key = make_token()
    mj_id = _imagine(client, key, "mock-stuck")
    assert task_jobs.poll_tasks()["midjourney"]["failed"] == 0
    an_hour_ago = int(time.time() * 1000) - 3601 * 1000
    with db.engine.begin() as conn:
        conn.execute(update(Midjourney.__table__).values(submit_time=an_hour_ago))
    mj_state.tasks[mj_id]["submitTime"] = an_hour_ago
    assert task_jobs.poll_tasks()["midjourney"]["failed"] == 1
    [row] = mj_rows()
    assert row["status"] == "FAILURE" and "timed out" in row["fail_reason"]
    assert balances(key) == (START, START) and len(refund_logs()) == 1


def test_a_task_the_upstream_forgot_fails_after_the_timeout(client, make_token, mj_channel, mj_state):
    mj_channel()
    key = make_token()
    mj_id = _imagine(client, key)
    mj_state.tasks.pop(mj_id)
    assert task_jobs.poll_tasks()["midjourney"]["failed"] == 0  # not yet: it may come back
    assert task_jobs.poll_midjourney(now_ms=int(time.time() * 1000) + 3601 * 1000)["failed"] == 1
    assert balances(key) == (START, START)


def test_a_task_whose_channel_was_deleted_fails_and_is_refunded(client, make_token, mj_channel):
    channel_id = mj_channel()
    key = make_token()
    _imagine(client, key)
    with db.engine.begin() as conn:
        conn.execute(delete(Channel.__table__).where(Channel.__table__.c.id == channel_id))
    release()
    assert task_jobs.poll_tasks()["midjourney"]["failed"] == 1
    assert balances(key) == (START, START) and mj_rows()[0]["fail_reason"].startswith("the task's channel")


def test_a_disabled_channel_still_finishes_its_tasks(client, make_token, mj_channel):
    channel_id = mj_channel()
    key = make_token()
    _imagine(client, key)
    with db.engine.begin() as conn:
        conn.execute(update(Channel.__table__).where(Channel.__table__.c.id == channel_id).values(status=2))
    task_jobs.poll_tasks()
    assert task_jobs.poll_tasks()["midjourney"]["succeeded"] == 1
    assert balances(key)[0] == START - 50_000


def test_the_poller_is_scheduled_every_15_seconds():
    [entry] = [e for e in SCHEDULE if e.func is task_jobs.poll_tasks]
    from datetime import datetime

    from croniter import croniter

    it = croniter(entry.cron, datetime(2024, 1, 1, 0, 0, 1))
    assert [it.get_next(datetime).second for _ in range(4)] == [15, 30, 45, 0]


@pytest.mark.parametrize(("type_id", "platform"), [(2, "midjourney"), (5, "midjourney"), (36, "suno")])
def test_task_channel_types_resolve_in_the_registry(type_id, platform):
    adaptor = get_adaptor(type_id)
    assert isinstance(adaptor, TaskAdaptor) and adaptor.platform == platform
    assert type_id in CHANNEL_TYPES and type_name(type_id) == CHANNEL_TYPES[type_id]
    assert adaptor_for(type_id, Mode.CHAT) is None and adaptor_for(type_id, Mode.MESSAGES) is None
    assert adaptor_for(type_id, platform) is adaptor


def test_plus_buttons_and_simple_changes():
    assert midjourney.plus_action("MJ::JOB::upsample::2::3dbbd469") == ("UPSCALE", 2)
    assert midjourney.plus_action("MJ::JOB::upsample_v5_2x::1::abc") == ("UPSCALE", 1)
    assert midjourney.plus_action("MJ::JOB::variation::3::abc") == ("VARIATION", 3)
    assert midjourney.plus_action("MJ::JOB::low_variation::1::abc::SOLO") == ("LOW_VARIATION", 1)
    assert midjourney.plus_action("MJ::JOB::pan_left::1::abc::SOLO") == ("PAN", 1)
    assert midjourney.plus_action("MJ::JOB::reroll::0::abc::SOLO") == ("REROLL", 1)
    assert midjourney.plus_action("MJ::Outpaint::50::1::abc::SOLO") == ("ZOOM", 1)
    assert midjourney.plus_action("MJ::CustomZoom::abc") == ("CUSTOM_ZOOM", 1)
    assert midjourney.plus_action("MJ::Inpaint::1::abc::SOLO") == ("INPAINT", 1)
    for bad in ("", "MJ", "MJ::JOB::upsample::x::abc", "MJ::JOB::dance::1::abc"):
        with pytest.raises(midjourney.MidjourneyError):
            midjourney.plus_action(bad)
    assert midjourney.simple_change("1320098173412546 U2") == ("1320098173412546", "UPSCALE", 2)
    assert midjourney.simple_change("1320098173412546 v4") == ("1320098173412546", "VARIATION", 4)
    assert midjourney.simple_change("1320098173412546 R") == ("1320098173412546", "REROLL", 1)
    for bad in ("1320098173412546", "1 U5", "1 X1", "1 U1 U2", None):
        with pytest.raises(midjourney.MidjourneyError):
            midjourney.simple_change(bad)


def test_model_names_and_free_actions():
    assert midjourney.model_name("IMAGINE") == "mj_imagine"
    assert midjourney.model_name("HIGH_VARIATION") == "mj_high_variation"
    assert midjourney.model_name("SWAP_FACE") == "swap_face"
    inpaint = midjourney.check_submit("action", {"customId": "MJ::Inpaint::1::abc::SOLO", "taskId": "1"})
    assert inpaint.free and inpaint.model == "mj_inpaint" and inpaint.origin_id == "1"
    assert suno.model_name("MUSIC") == "suno_music" and suno.model_name("LYRICS") == "suno_lyrics"


def test_submit_answers():
    ok = midjourney.parse_submit(200, b'{"code":22,"description":"queued","result":"9"}', "IMAGINE")
    assert ok.accepted and ok.remote_id == "9" and b'"code":1' in ok.reply
    exists = midjourney.parse_submit(200, b'{"code":21,"result":"9","properties":{"status":"SUCCESS",'
                                          b'"imageUrl":"https://x/y.png"}}', "CUSTOM_ZOOM")
    assert exists.accepted and exists.extra["status"] == "SUCCESS" and b'"code":21' in exists.reply
    no_id = midjourney.parse_submit(200, b'{"code":1,"description":"ok","result":null}', "IMAGINE")
    assert not no_id.accepted and not no_id.retry
    html = midjourney.parse_submit(502, b"<html>bad gateway</html>", "IMAGINE")
    assert not html.accepted and html.retry and html.status == 502
    lost = midjourney.parse_submit(200, b'{"code":3,"description":"\xe5\x85\xb3\xe8\x81\x94 not found"}', "IMAGINE")
    assert not lost.accepted and not lost.extra["no_instance"]
    assert suno.parse_submit(200, b'{"code":"success","data":"abc"}').remote_id == "abc"
    assert not suno.parse_submit(200, b'{"code":"success","data":""}').accepted
    assert suno.parse_submit(429, b"slow down").retry
