"""Jobs: the same functions run in-process without Redis and on RQ with a real redis-server and worker."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask_migrate import upgrade
from redis import Redis
from rq import Queue

from app import create_app
from app.config import TestConfig
from app.extensions import db
from app.jobs import maintenance
from app.jobs.queues import enqueue
from app.models import Token, TokenStatus
from app.models.base import now_ts
from app.security import hash_secret
from tests.factories import make_user

ROOT = Path(__file__).resolve().parents[2]


def _make_tokens(user_id: int) -> tuple[int, int]:
    past = Token(user_id=user_id, key_hash=hash_secret("sk-past"), name="past", expired_time=now_ts() - 10)
    never = Token(user_id=user_id, key_hash=hash_secret("sk-never"), name="never", expired_time=-1)
    db.session.add_all([past, never])
    db.session.commit()
    return past.id, never.id


def test_expire_tokens_is_idempotent(app):
    past_id, never_id = _make_tokens(make_user().id)
    assert maintenance.expire_tokens() == 1
    assert maintenance.expire_tokens() == 0
    assert db.session.get(Token, past_id).status == TokenStatus.EXPIRED
    assert db.session.get(Token, never_id).status == TokenStatus.ENABLED


def test_in_process_runner_without_redis(app):
    past_id, _ = _make_tokens(make_user().id)
    future = enqueue(maintenance.expire_tokens)
    assert future.result(timeout=10) == 1
    db.session.expire_all()
    assert db.session.get(Token, past_id).status == TokenStatus.EXPIRED


def test_periodic_job_runs_on_real_rq_worker(tmp_path, fresh_redis_url):
    """rq's cron scheduler enqueues the schedule; a real `flask rq-worker` process runs it."""
    database_url = f"sqlite:///{tmp_path / 'jobs.db'}"
    app = create_app(TestConfig(tmp_path, database_url, REDIS_URL=fresh_redis_url))
    with app.app_context():
        upgrade()
        past_id, never_id = _make_tokens(make_user().id)

        from rq.cron import create_cron

        import app.jobs.schedule as schedule

        # Registering again is what `rq cron app.jobs.schedule` does when it imports the file.
        for entry in schedule.SCHEDULE:
            from rq import cron

            cron.register(entry.func, entry.queue, cron=entry.cron, name=entry.name)
        scheduler = create_cron(Redis.from_url(fresh_redis_url))
        names = {job.name for job in scheduler.get_jobs()}
        assert "app.jobs.maintenance.expire_tokens" in names
        for job in scheduler.get_jobs():
            job.next_enqueue_time = datetime.now(UTC) - timedelta(seconds=1)
        enqueued = scheduler.enqueue_jobs()
        assert "app.jobs.maintenance.expire_tokens" in {job.name for job in enqueued}
        assert Queue("default", connection=Redis.from_url(fresh_redis_url)).count >= 1
        db.engine.dispose()

    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": fresh_redis_url,
           "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x", "SLUICE_ENV": "testing"}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "rq-worker", "--burst", "default", "periodic"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    with app.app_context():
        assert db.session.get(Token, past_id).status == TokenStatus.EXPIRED
        assert db.session.get(Token, never_id).status == TokenStatus.ENABLED
        db.engine.dispose()
