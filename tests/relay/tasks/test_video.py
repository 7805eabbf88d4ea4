"""OpenAI's Videos API through /v1/videos: the openai SDK as the client, charged per second at submit,
polled to completion, refunded once when the job fails, and private to the user who made it."""

from __future__ import annotations

import io
import json
import threading

import openai
import pytest

from app.jobs import tasks as task_jobs
from app.relay.tasks import finish
from app.services import tasks as task_service
from tests.mock_upstream import Behaviour, openai_video
from tests.relay.conftest import balances, consume_logs, create_key, set_options
from tests.relay.tasks.conftest import SORA_4S_PRICE, VIDEO_KEY, bearer, refund_logs, task_rows

START = 10_000_000

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API is scheduled:DeprecationWarning")


def create(client, key, **body):
    body.setdefault("prompt", "a calico cat playing a piano")
    return client.post("/v1/videos", json=body, headers=bearer(key))


def upstream_id(video_id: str) -> str:
    [row] = [r for r in task_rows() if r["task_id"] == video_id]
    return row["properties"]["upstream_id"]


def test_sdk_create_poll_and_download(sdk, make_token, video_channel, task_upstream, video_state):
    channel_id = video_channel()
    key = make_token()
    client = sdk(key.key)
    job = client.videos.create(model="sora-2", prompt="a calico cat playing a piano", seconds="8",
                               size="1280x720")
    assert job.object == "video" and job.status == "queued" and job.progress == 0
    assert job.id.startswith("video_") and job.model == "sora-2" and (job.seconds, job.size) == ("8", "1280x720")
    sent = task_upstream.last_request
    assert (sent.method, sent.path, sent.header("authorization")) == ("POST", "/v1/videos", f"Bearer {VIDEO_KEY}")
    assert sent.json == {"model": "sora-2", "prompt": "a calico cat playing a piano", "seconds": "8",
                         "size": "1280x720"}
    remote = upstream_id(job.id)
    assert remote in video_state.videos and remote != job.id  # the client never sees the upstream's id

    price = 2 * SORA_4S_PRICE  # 8 seconds
    assert balances(key) == (START - price, START - price)
    [log] = consume_logs(key.user_id)
    assert (log["model_name"], log["quota"], log["channel_id"]) == ("sora-2", price, channel_id)
    assert remote not in (log["content"] or "") and json.loads(log["other"])["task_id"] == job.id

    with pytest.raises(openai.BadRequestError) as early:
        client.videos.download_content(job.id)
    assert early.value.code == "video_not_ready" and early.value.status_code == 400

    assert task_jobs.poll_tasks()["video"]["updated"] == 1
    running = client.videos.retrieve(job.id)
    assert (running.status, running.progress, running.completed_at) == ("in_progress", 50, None)
    assert task_jobs.poll_tasks()["video"]["succeeded"] == 1
    done = client.videos.retrieve(job.id)
    assert (done.status, done.progress, done.id) == ("completed", 100, job.id)
    assert done.completed_at and done.expires_at and done.error is None
    assert task_jobs.poll_tasks()["video"]["polled"] == 0

    content = client.videos.download_content(job.id)
    assert content.content == openai_video.MP4_BYTES
    assert content.response.headers["content-type"] == "video/mp4"
    assert task_upstream.last_request.path == f"/v1/videos/{remote}/content"
    thumbnail = client.videos.download_content(job.id, variant="thumbnail")
    assert thumbnail.response.headers["content-type"] == "image/webp"

    second = client.videos.create(prompt="waves", model="sora-2")
    listed = client.videos.list()
    assert [v.id for v in listed.data] == [second.id, job.id] and listed.has_more is False
    page = client.videos.list(limit=1, order="asc")
    assert [v.id for v in page.data] == [job.id] and page.has_more is True
    assert balances(key)[0] == START - price - SORA_4S_PRICE and refund_logs() == []


def test_multipart_reference_upload_and_large_pro_price(sdk, make_token, video_channel, task_upstream,
                                                        video_state):
    video_channel()
    key = make_token()
    image = b"\x89PNG\r\n\x1a\nmock-reference"
    job = sdk(key.key).videos.create(model="sora-2-pro", prompt="zoom out", seconds="8", size="1792x1024",
                                     input_reference=("ref.png", image, "image/png"))
    sent = task_upstream.last_request
    assert sent.form == {"model": "sora-2-pro", "prompt": "zoom out", "seconds": "8", "size": "1792x1024"}
    assert sent.files["input_reference"].data == image
    assert video_state.references[upstream_id(job.id)] == image
    # sora-2-pro at 1792x1024 is 0.50 USD/s: 8 s x 0.5 x 500000
    assert balances(key)[0] == START - 2_000_000


def test_reference_by_url_as_json_and_as_form_fields(client, make_token, video_channel, task_upstream,
                                                     video_state):
    video_channel()
    key = make_token()
    ref = {"image_url": "https://cdn.example/r.png"}
    as_json = create(client, key, input_reference=ref).get_json()
    assert task_upstream.last_request.json["input_reference"] == ref
    as_form = client.post("/v1/videos", data={"prompt": "pan left", "input_reference[image_url]": ref["image_url"]},
                          headers=bearer(key), content_type="multipart/form-data").get_json()
    assert task_upstream.last_request.json == {"model": "sora-2", "prompt": "pan left", "seconds": "4",
                                               "size": "720x1280", "input_reference": ref}
    assert [video_state.references[upstream_id(v["id"])] for v in (as_json, as_form)] == [ref, ref]
    twice = client.post("/v1/videos", data={"prompt": "x", "input_reference[image_url]": ref["image_url"],
                                            "input_reference": (io.BytesIO(b"\x89PNG"), "r.png", "image/png")},
                        headers=bearer(key), content_type="multipart/form-data")
    assert twice.status_code == 400 and twice.get_json()["error"]["param"] == "input_reference"
    wrong_type = client.post("/v1/videos", data={"prompt": "x", "input_reference": (io.BytesIO(b"MZ"), "r.exe",
                                                                                     "application/x-msdownload")},
                             headers=bearer(key), content_type="multipart/form-data")
    assert wrong_type.status_code == 400 and balances(key)[0] == START - 2 * SORA_4S_PRICE


def test_delete_an_ended_video(sdk, make_token, video_channel, task_upstream, video_state):
    video_channel()
    alice, bob = make_token(), make_token()
    client = sdk(alice.key)
    job = client.videos.create(prompt="a lighthouse")
    with pytest.raises(openai.BadRequestError) as running:
        client.videos.delete(job.id)
    assert running.value.code == "video_not_finished"
    remote = upstream_id(job.id)
    video_state.finish(remote, "completed", expires_at=None)
    task_jobs.poll_tasks()
    with pytest.raises(openai.NotFoundError):
        sdk(bob.key).videos.delete(job.id)
    task_upstream.enqueue(Behaviour(status=500))
    with pytest.raises(openai.InternalServerError):
        client.videos.delete(job.id)
    assert client.videos.retrieve(job.id).status == "completed"  # nothing changed on the error

    deleted = client.videos.delete(job.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (job.id, "video.deleted", True)
    sent = task_upstream.last_request
    assert (sent.method, sent.path) == ("DELETE", f"/v1/videos/{remote}") and remote not in video_state.videos
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(job.id)
    with pytest.raises(openai.NotFoundError):
        client.videos.delete(job.id)
    assert client.videos.list().data == []
    [row] = task_rows()
    assert (row["status"], row["quota"]) == ("DELETED", SORA_4S_PRICE)  # the charge's record stays
    assert balances(alice)[0] == START - SORA_4S_PRICE and refund_logs() == []
    assert task_jobs.poll_tasks()["video"]["polled"] == 0


@pytest.mark.parametrize("body, param", [
    ({"prompt": ""}, "prompt"),
    ({"model": "sora-2", "seconds": "5"}, "seconds"),
    ({"model": "sora-2", "size": "1792x1024"}, "size"),
    ({"size": "big"}, "size"),
    ({"seconds": True}, "seconds"),
    ({"duration": 4}, "duration"),
    ({"input_reference": {"image_url": "file:///etc/passwd"}}, "input_reference"),
])
def test_bad_input_is_an_openai_400_before_any_charge(client, make_token, video_channel, task_upstream, body,
                                                      param):
    video_channel()
    key = make_token()
    reply = create(client, key, **body)
    assert reply.status_code == 400, reply.get_data(as_text=True)
    error = reply.get_json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["message"]
    assert task_upstream.requests == [] and balances(key) == (START, START) and task_rows() == []


def test_not_json_and_no_key(client, make_token, video_channel, task_upstream):
    video_channel()
    key = make_token()
    reply = client.post("/v1/videos", data=b"prompt=x", headers={**bearer(key),
                                                                "Content-Type": "text/plain"})
    assert reply.status_code == 400 and reply.get_json()["error"]["type"] == "invalid_request_error"
    assert client.post("/v1/videos", json={"prompt": "x"}).status_code == 401
    assert client.get("/v1/videos").status_code == 401
    assert task_upstream.requests == []


def test_insufficient_quota_is_refused_before_the_upstream(client, make_token, video_channel, task_upstream):
    video_channel()
    key = make_token(quota=SORA_4S_PRICE - 1)
    reply = create(client, key)
    assert reply.status_code == 403 and reply.get_json()["error"]["code"] == "insufficient_user_quota"
    assert task_upstream.requests == [] and balances(key) == (SORA_4S_PRICE - 1, START) and task_rows() == []


def test_failed_job_is_refunded_in_full_once(sdk, make_token, video_channel):
    video_channel()
    key = make_token()
    client = sdk(key.key)
    job = client.videos.create(prompt="mock-fail please", seconds="12")
    assert balances(key)[0] == START - 3 * SORA_4S_PRICE
    task_jobs.poll_tasks()
    assert task_jobs.poll_tasks()["video"]["failed"] == 1
    failed = client.videos.retrieve(job.id)
    assert failed.status == "failed" and failed.error.code == "moderation_blocked"
    assert balances(key) == (START, START)
    [refund] = refund_logs(key.user_id)
    assert (refund["quota"], refund["model_name"]) == (3 * SORA_4S_PRICE, "sora-2")
    assert json.loads(refund["other"])["task_id"] == job.id
    with pytest.raises(openai.BadRequestError) as no_content:
        client.videos.download_content(job.id)
    assert no_content.value.code == "video_generation_failed"
    assert task_jobs.poll_tasks()["video"]["polled"] == 0
    assert balances(key) == (START, START) and len(refund_logs()) == 1


def test_job_over_the_time_limit_fails_and_is_refunded(client, make_token, video_channel):
    video_channel()
    key = make_token()
    video_id = create(client, key, prompt="mock-stuck").get_json()["id"]
    [row] = task_rows()
    assert task_jobs.poll_video(now=row["submit_time"] + 60)["failed"] == 0
    assert task_jobs.poll_video(now=row["submit_time"] + task_jobs.TASK_TIMEOUT_SECONDS + 1)["failed"] == 1
    body = client.get(f"/v1/videos/{video_id}", headers=bearer(key)).get_json()
    assert body["status"] == "failed" and body["error"]["code"] == "video_generation_timeout"
    assert balances(key) == (START, START)


def test_job_the_upstream_forgot_fails_after_the_time_limit(client, make_token, video_channel, video_state,
                                                             task_upstream):
    video_channel()
    key = make_token()
    video_id = create(client, key).get_json()["id"]
    [row] = task_rows()
    with video_state.lock:
        video_state.videos.clear()  # the upstream answers 404 from now on
    assert task_jobs.poll_video(now=row["submit_time"] + 60) == {"polled": 1, "updated": 0, "succeeded": 0,
                                                                  "failed": 0}
    task_upstream.enqueue(Behaviour(drop_connection=True))  # unreachable: no verdict, even past the limit
    late = row["submit_time"] + task_jobs.TASK_TIMEOUT_SECONDS + 1
    assert task_jobs.poll_video(now=late)["failed"] == 0
    assert task_jobs.poll_video(now=late)["failed"] == 1
    assert client.get(f"/v1/videos/{video_id}", headers=bearer(key)).get_json()["status"] == "failed"
    assert balances(key) == (START, START) and len(refund_logs()) == 1


def test_upstream_refusals_charge_nothing(client, make_token, video_channel, task_upstream):
    set_options(RetryTimes=0)
    video_channel()
    key = make_token()
    refused = create(client, key, prompt="mock-reject this")
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "moderation_blocked"
    task_upstream.enqueue(Behaviour(status=500))
    broken = create(client, key)
    assert broken.status_code == 500 and broken.get_json()["error"]["type"] == "server_error"
    task_upstream.enqueue(Behaviour(drop_connection=True))
    assert create(client, key).status_code == 502
    assert balances(key) == (START, START) and consume_logs(key.user_id) == [] and task_rows() == []


def test_retry_on_another_channel_after_a_server_error(client, make_token, video_channel, task_upstream):
    first = video_channel(name="first", priority=10)
    second = video_channel(name="second", priority=0)
    key = make_token()
    task_upstream.enqueue(Behaviour(status=503))
    reply = create(client, key)
    assert reply.status_code == 200, reply.get_data(as_text=True)
    [row] = task_rows()
    assert row["channel_id"] == second and first != second
    assert balances(key)[0] == START - SORA_4S_PRICE


def test_a_channel_that_cannot_serve_videos_is_skipped(client, make_token, video_channel, task_upstream):
    video_channel(name="deepseek", channel_type=43, priority=10)  # DeepSeek: chat only
    key = make_token()
    reply = create(client, key)
    assert reply.status_code == 501 and task_upstream.requests == [] and balances(key) == (START, START)
    video_channel(name="openai")
    assert create(client, key).status_code == 200


def test_users_see_only_their_own_videos(client, make_token, video_channel, task_upstream):
    video_channel()
    alice, bob = make_token(), make_token()
    a_id = create(client, alice).get_json()["id"]
    b_id = create(client, bob).get_json()["id"]
    for path in (f"/v1/videos/{a_id}", f"/v1/videos/{a_id}/content"):
        other = client.get(path, headers=bearer(bob))
        assert other.status_code == 404 and other.get_json()["error"]["param"] == "video_id"
    remote = upstream_id(a_id)
    assert client.get(f"/v1/videos/{remote}", headers=bearer(alice)).status_code == 404  # upstream ids mean nothing
    listed = client.get("/v1/videos", headers=bearer(bob)).get_json()
    assert [v["id"] for v in listed["data"]] == [b_id]
    assert client.get(f"/v1/videos?after={a_id}", headers=bearer(bob)).get_json()["data"] == []
    alice_second_key = create_key(alice.user_id, remain_quota=START)  # a user's keys share their videos
    assert client.get(f"/v1/videos/{a_id}", headers=bearer(alice_second_key)).status_code == 200
    bad = client.get("/v1/videos?limit=0", headers=bearer(bob))
    assert bad.status_code == 400 and bad.get_json()["error"]["type"] == "invalid_request_error"


def test_task_lists_hide_the_upstream_id_from_users(client, make_token, video_channel, app):
    video_channel()
    key = make_token()
    video_id = create(client, key).get_json()["id"]
    f = task_service.TaskFilter(user_id=key.user_id, platform="video")
    [mine], _ = task_service.list_tasks(f, 1, 10, admin=False)
    assert mine["task_id"] == video_id and "upstream_id" not in mine["properties"]
    assert mine["properties"]["origin_model_name"] == "sora-2" and "channel_id" not in mine
    [theirs], _ = task_service.list_tasks(f, 1, 10, admin=True)
    assert theirs["properties"]["upstream_id"] == upstream_id(video_id)


def test_two_pollers_racing_refund_a_failed_video_once(app, client, make_token, video_channel, video_state,
                                                       monkeypatch):
    video_channel()
    key = make_token()
    video_id = create(client, key, prompt="fine").get_json()["id"]
    video_state.finish(upstream_id(video_id), "failed", error={"code": "internal_error", "message": "boom"})
    barrier = threading.Barrier(2, timeout=20)
    original = finish.finish

    def finish_together(*args, **kwargs):
        barrier.wait()
        return original(*args, **kwargs)

    monkeypatch.setattr(finish, "finish", finish_together)
    results: list = []

    def run():
        with app.app_context():
            results.append(task_jobs.poll_video())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r["failed"] for r in results) == [0, 1]
    assert balances(key) == (START, START) and len(refund_logs(key.user_id)) == 1

