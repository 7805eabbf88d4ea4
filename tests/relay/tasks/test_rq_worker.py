"""The poll job on RQ: enqueued through app.jobs.queues.enqueue, run by a real `flask rq-worker --burst`
process against the real redis-server, refunding a failed task; a second run while the Redis lock is
held is skipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from redis import Redis
from rq.job import Job

from app.extensions import db
from app.jobs import tasks as task_jobs
from app.jobs.queues import enqueue
from tests.relay.conftest import balances, release
from tests.relay.tasks.conftest import IMAGINE_PRICE, bearer, mj_rows, refund_logs

ROOT = Path(__file__).resolve().parents[3]
START = 10_000_000


@pytest.fixture
def app_overrides(fresh_redis_url):
    return {"REDIS_URL": fresh_redis_url}


def _run_worker(app, redis_url: str) -> None:
    db.engine.dispose()
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "REDIS_URL": redis_url,
           "INSTANCE_PATH": str(app.config["INSTANCE_PATH"]), "SECRET_KEY": "x", "SLUICE_ENV": "testing"}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "rq-worker", "--burst", "default"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_poll_job_runs_on_a_real_rq_worker(app, client, make_token, mj_channel, mj_state, fresh_redis_url):
    mj_channel()
    key = make_token()
    mj_id = client.post("/mj/submit/imagine", json={"prompt": "a cat"}, headers=bearer(key)).get_json()["result"]
    mj_state.finish(mj_id, "FAILURE", failReason="Midjourney job failed")
    assert balances(key)[0] == START - IMAGINE_PRICE
    release()

    first = enqueue(task_jobs.poll_tasks)
    redis = Redis.from_url(fresh_redis_url)
    redis.set(f"sluice:lock:{task_jobs.LOCK_NAME}", "someone-else", ex=60)  # another poller is running
    _run_worker(app, fresh_redis_url)
    assert Job.fetch(first.id, connection=redis).return_value() == {"skipped": True}
    assert balances(key)[0] == START - IMAGINE_PRICE

    redis.delete(f"sluice:lock:{task_jobs.LOCK_NAME}")
    second = enqueue(task_jobs.poll_tasks)
    again = enqueue(task_jobs.poll_tasks)  # safe to run twice: the second finds nothing to refund
    _run_worker(app, fresh_redis_url)
    summaries = [Job.fetch(job.id, connection=redis).return_value() for job in (second, again)]
    assert [s["midjourney"]["failed"] for s in summaries] == [1, 0]
    assert balances(key) == (START, START)
    [refund] = refund_logs(key.user_id)
    assert refund["quota"] == IMAGINE_PRICE
    assert mj_rows()[0]["status"] == "FAILURE"
    assert redis.get(f"sluice:lock:{task_jobs.LOCK_NAME}") is None  # released after each run
