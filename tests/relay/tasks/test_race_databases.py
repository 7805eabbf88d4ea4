"""Racing pollers on PostgreSQL and MariaDB (SQLite is covered in test_midjourney and test_video): four runs
see the same failed Midjourney task, Suno task and video at once; each task is refunded exactly once.
The servers start on first use and the test is skipped where they are not installed."""

from __future__ import annotations

import threading

import pytest

from app.extensions import db
from app.jobs import tasks as task_jobs
from app.relay.tasks import finish
from tests.conftest import build_app, pushed
from tests.relay.conftest import balances
from tests.relay.tasks.conftest import (
    IMAGINE_PRICE,
    SORA_4S_PRICE,
    SUNO_PRICE,
    bearer,
    refund_logs,
    task_rows,
)

RUNS = 4
START = 10_000_000


@pytest.fixture(params=["postgresql", "mariadb"])
def app(request, tmp_path, tiktoken_cache):
    url = request.getfixturevalue("fresh_postgres_url" if request.param == "postgresql" else "fresh_mysql_url")
    with pushed(build_app(tmp_path, url, TIKTOKEN_CACHE_DIR=tiktoken_cache)) as app:
        yield app


def test_racing_pollers_refund_each_task_once(app, client, make_token, mj_channel, suno_channel, video_channel,
                                              mj_state, video_state, monkeypatch):
    mj_channel()
    suno_channel()
    video_channel()
    key = make_token()
    mj_id = client.post("/mj/submit/imagine", json={"prompt": "x"}, headers=bearer(key)).get_json()["result"]
    mj_state.finish(mj_id, "FAILURE")
    reply = client.post("/suno/submit/music", json={"prompt": "mock-fail"}, headers=bearer(key)).get_json()
    assert reply["code"] == "success"
    task_jobs.poll_suno()  # IN_PROGRESS; the next read is the FAILURE
    video_id = client.post("/v1/videos", json={"prompt": "x"}, headers=bearer(key)).get_json()["id"]
    [video_row] = [row for row in task_rows() if row["task_id"] == video_id]
    video_state.finish(video_row["properties"]["upstream_id"], "failed",
                       error={"code": "internal_error", "message": "generation failed"})
    assert balances(key)[0] == START - IMAGINE_PRICE - SUNO_PRICE - SORA_4S_PRICE
    db.session.rollback()

    barrier = threading.Barrier(RUNS, timeout=30)
    original = finish.finish
    arrived: set[str] = set()

    def finish_together(model, row, values, **kwargs):
        name = f"{threading.get_ident()}:{model.__name__}:{getattr(row, 'platform', '')}"
        if name not in arrived:  # each run waits for the others once per platform
            arrived.add(name)
            barrier.wait()
        return original(model, row, values, **kwargs)

    monkeypatch.setattr(finish, "finish", finish_together)
    results: list = []

    def run():
        with app.app_context():
            results.append(task_jobs.poll_unlocked())
            db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(RUNS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == RUNS
    assert sum(r["midjourney"]["failed"] for r in results) == 1
    assert sum(r["suno"]["failed"] for r in results) == 1
    assert sum(r["video"]["failed"] for r in results) == 1
    assert balances(key) == (START, START)
    assert sorted(r["model_name"] for r in refund_logs(key.user_id)) == ["mj_imagine", "sora-2", "suno_music"]
