"""Enqueue jobs: on RQ when REDIS_URL is set, otherwise on an in-process background runner.

The same job functions run in both; they expect an app context, which the RQ worker command and the
in-process runner both provide.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC

from flask import current_app

from app.extensions import db

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "default"
QUEUES = ("relay", DEFAULT_QUEUE, "periodic")


class InProcessRunner:
    """A small thread pool that runs each job inside the app's context and cleans the session up."""

    def __init__(self, app, workers: int = 2) -> None:
        self.app = app
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sluice-job")

    def submit(self, func: Callable, args: tuple, kwargs: dict) -> Future:
        return self._pool.submit(self._run, func, args, kwargs)

    def _run(self, func: Callable, args: tuple, kwargs: dict):
        with self.app.app_context():
            try:
                return func(*args, **kwargs)
            except Exception:
                log.exception("in-process job %s failed", getattr(func, "__name__", func))
                raise
            finally:
                db.session.remove()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


def init_jobs(app) -> None:
    from app.jobs import channel_alerts  # noqa: F401 - connects the channel status mail to app.relay.health

    app.extensions["sluice_jobs"] = None if app.config.get("REDIS_URL") else InProcessRunner(app)


def enqueue(func: Callable, *args, queue: str = DEFAULT_QUEUE, job_id: str | None = None, **kwargs):
    """Run `func(*args, **kwargs)` in the background; returns an RQ Job or a Future."""
    redis = current_app.extensions.get("sluice_redis")
    if redis is not None:
        from rq import Queue

        return Queue(queue, connection=redis).enqueue(func, *args, job_id=job_id, **kwargs)
    runner: InProcessRunner | None = current_app.extensions.get("sluice_jobs")
    if runner is None:
        raise RuntimeError("no job runner: set REDIS_URL or enable the in-process runner")
    return runner.submit(func, args, kwargs)


class PeriodicScheduler:
    """Without Redis: fires the jobs of app.jobs.schedule on their cron strings, in one daemon thread."""

    def __init__(self, app) -> None:
        self.app = app
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, daemon=True, name="sluice-scheduler")
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        from datetime import datetime

        from croniter import croniter

        from app.jobs.schedule import SCHEDULE

        now = datetime.now(UTC)
        plan = [(entry, croniter(entry.cron, now)) for entry in SCHEDULE]
        due = [it.get_next(datetime) for _, it in plan]
        while not self._stop.is_set():
            now = datetime.now(UTC)
            for i, (entry, it) in enumerate(plan):
                if due[i] <= now:
                    with self.app.app_context():
                        try:
                            enqueue(entry.func, queue=entry.queue)
                        except Exception:  # noqa: BLE001 - one bad job must not stop the clock
                            log.exception("could not enqueue %s", entry.name)
                    due[i] = it.get_next(datetime)
            wait = min((d - datetime.now(UTC)).total_seconds() for d in due)
            self._stop.wait(max(1.0, min(wait, 60.0)))
