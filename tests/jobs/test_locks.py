"""app.jobs.locks: one holder at a time, on a real redis-server and in-process; the holder's token guards release."""

from __future__ import annotations

import threading

import pytest
from redis import Redis

from app import create_app
from app.config import TestConfig
from app.jobs import channels as channel_jobs
from app.jobs import tasks as task_jobs
from app.jobs.locks import is_locked, job_lock, lock_key


@pytest.fixture
def redis_app(tmp_path, fresh_redis_url):
    """An app on a real, empty redis-server (the `app` fixture has no Redis)."""
    app = create_app(TestConfig(tmp_path, f"sqlite:///{tmp_path / 'locks.db'}", REDIS_URL=fresh_redis_url))
    with app.app_context():
        yield app, Redis.from_url(fresh_redis_url)


def test_redis_lock_is_exclusive_and_released(redis_app):
    app, redis = redis_app
    with job_lock("demo", 30) as held:
        assert held and is_locked("demo")
        assert 0 < redis.ttl(lock_key("demo")) <= 30
        with job_lock("demo", 30) as second:
            assert not second
        assert is_locked("demo")  # the loser's exit leaves the holder's lock alone
        with job_lock("other", 30) as other:
            assert other  # names are independent
    assert not is_locked("demo") and redis.get(lock_key("demo")) is None
    with job_lock("demo", 30) as again:
        assert again


def test_redis_release_spares_a_lock_taken_after_ours_expired(redis_app):
    app, redis = redis_app
    with job_lock("slow", 30) as held:
        assert held
        redis.set(lock_key("slow"), "next-run", ex=30)  # our TTL ran out and another run took the lock
    assert redis.get(lock_key("slow")) == b"next-run"


def test_redis_lock_is_released_when_the_job_raises(redis_app):
    with pytest.raises(RuntimeError), job_lock("boom", 30) as held:
        assert held
        raise RuntimeError("job failed")
    assert not is_locked("boom")


def test_redis_lock_is_shared_across_apps(redis_app, tmp_path):
    """Two workers (two apps, two clients) on one Redis: only one holds the lock."""
    app, redis = redis_app
    other = create_app(TestConfig(tmp_path / "b", f"sqlite:///{tmp_path / 'b.db'}",
                                  REDIS_URL=app.config["REDIS_URL"]))
    with job_lock("shared", 30) as held:
        assert held
        with other.app_context(), job_lock("shared", 30) as second:
            assert not second


def test_callers_keep_their_ttls(redis_app):
    app, redis = redis_app
    with task_jobs.poll_lock() as held:
        assert held and 290 < redis.ttl(lock_key(task_jobs.LOCK_NAME)) <= 300
    with channel_jobs.run_lock("channel-test") as held:
        assert held and 3590 < redis.ttl(lock_key("channel-test")) <= 3600
        assert channel_jobs.is_running("channel-test")
        assert channel_jobs.test_all_channels() == {"skipped": True}
    assert not channel_jobs.is_running("channel-test")


def test_in_process_lock(app):
    assert app.extensions.get("sluice_redis") is None
    with job_lock("local", 30) as held:
        assert held and is_locked("local")
        with job_lock("local", 30) as second:
            assert not second
        assert is_locked("local")
    assert not is_locked("local")
    with pytest.raises(RuntimeError), job_lock("local", 30):
        raise RuntimeError("job failed")
    assert not is_locked("local")


def test_in_process_lock_between_threads(app):
    """Threads of one process (the in-process runner and a request) never both hold it."""
    entered, release = threading.Event(), threading.Event()
    seen: list[bool] = []

    def holder():
        with app.app_context(), job_lock("threads", 30) as held:
            seen.append(held)
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    assert entered.wait(10)
    with job_lock("threads", 30) as second:
        assert not second
    release.set()
    thread.join(10)
    assert seen == [True] and not is_locked("threads")


@pytest.mark.parametrize("ttl", [0, -5, 1.5, True])
def test_ttl_must_be_positive_seconds(app, ttl):
    with pytest.raises(ValueError), job_lock("bad", ttl):
        pass
