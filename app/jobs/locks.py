"""One run of a periodic job at a time: a Redis lock shared by every worker, or a process-local one.

With Redis (`current_app.extensions["sluice_redis"]`) the lock is `SET sluice:lock:<name> <token> NX EX
<ttl>`; it is released by a compare-and-delete script, so a run that outlived its TTL never deletes the
lock a later run now holds (redash `tasks/queries/execution.py` locks the same way). The TTL is how long a
run killed mid-way (no `finally`) keeps the next ones out. Without Redis one process runs the jobs (the
in-process runner), and a non-blocking `threading.Lock` per name does the same job.

A lock is a courtesy that saves duplicate work; jobs stay safe to run twice without it (STYLE habit 10).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Iterator

from flask import current_app
from redis.exceptions import RedisError

from app.extensions import get_redis

log = logging.getLogger(__name__)

KEY_PREFIX = "sluice:lock:"

# Delete the key only while it still holds our token (redis.io "Distributed locks", the single-instance case).
_RELEASE = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""

_local_locks: dict[str, threading.Lock] = {}
_local_guard = threading.Lock()


def lock_key(name: str) -> str:
    """The Redis key of the lock called `name`."""
    return KEY_PREFIX + name


def _local_lock(name: str) -> threading.Lock:
    with _local_guard:
        return _local_locks.setdefault(name, threading.Lock())


@contextlib.contextmanager
def job_lock(name: str, ttl_seconds: int) -> Iterator[bool]:
    """Try once to take the lock `name`; yield True when this caller holds it, False when another run does.

    Never waits. With Redis the lock lapses after `ttl_seconds` even if its holder dies; the process-local
    lock has no TTL (it dies with its process).
    """
    if not isinstance(ttl_seconds, int) or isinstance(ttl_seconds, bool) or ttl_seconds < 1:
        raise ValueError("ttl_seconds must be a positive whole number of seconds")
    redis = get_redis()
    if redis is None:
        lock = _local_lock(name)
        acquired = lock.acquire(blocking=False)
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()
        return
    key, token = lock_key(name), uuid.uuid4().hex
    acquired = bool(redis.set(key, token, nx=True, ex=ttl_seconds))
    try:
        yield acquired
    finally:
        if acquired:
            try:
                redis.eval(_RELEASE, 1, key, token)
            except RedisError as exc:  # the TTL frees it; don't hide the job's own result or error
                log.warning("could not release job lock %s: %s", name, exc)


def is_locked(name: str) -> bool:
    """True while some run holds the lock `name` (for "already running" answers; may be stale at once)."""
    redis = get_redis()
    if redis is not None:
        return bool(redis.exists(lock_key(name)))
    return _local_lock(name).locked()


# -- "at most once per interval" -------------------------------------------------------------------------

INTERVAL_PREFIX = "sluice:interval:"


def claim_interval(name: str, seconds: int) -> bool:
    """True for the first caller in each `seconds`-long window of `name`, False for the rest.

    Periodic jobs whose interval is an admin option run from a one-minute cron entry and call this: the
    first run after the window lapses claims the next one (`SET NX EX` in Redis, shared by every worker;
    without Redis a deadline kept on the app, as the in-process scheduler runs in this process). Nothing
    is released: the window simply expires.
    """
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 1:
        raise ValueError("seconds must be a positive whole number")
    redis = get_redis()
    if redis is not None:
        return bool(redis.set(INTERVAL_PREFIX + name, "1", nx=True, ex=seconds))
    now = time.monotonic()
    with _local_guard:
        deadlines = current_app.extensions.setdefault("sluice_intervals", {})
        if deadlines.get(name, 0.0) > now:
            return False
        deadlines[name] = now + seconds
        return True
