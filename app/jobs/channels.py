"""Channel jobs: test every channel, refresh every balance. Plain functions, safe to run twice.

Only one run of each job at a time: with Redis a `SET NX EX` lock shared by every worker, without it a
process-local lock (one process runs the in-process job runner). A run that finds the lock taken
returns at once with `{"skipped": true}`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Iterator

from app.extensions import db, get_redis
from app.relay import channel_test

log = logging.getLogger(__name__)

LOCK_SECONDS = 3600
_local_locks: dict[str, threading.Lock] = {"channel-test": threading.Lock(), "channel-balance": threading.Lock()}


@contextlib.contextmanager
def run_lock(name: str) -> Iterator[bool]:
    """Yield True when this caller holds the job's lock, False when another run has it."""
    redis = get_redis()
    if redis is not None:
        key, token = f"sluice:lock:{name}", uuid.uuid4().hex
        acquired = bool(redis.set(key, token, nx=True, ex=LOCK_SECONDS))
        try:
            yield acquired
        finally:
            if acquired and redis.get(key) in (token, token.encode()):
                redis.delete(key)
        return
    lock = _local_locks.setdefault(name, threading.Lock())
    acquired = lock.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            lock.release()


def is_running(name: str) -> bool:
    redis = get_redis()
    if redis is not None:
        return bool(redis.exists(f"sluice:lock:{name}"))
    return _local_locks.setdefault(name, threading.Lock()).locked()


def test_all_channels() -> dict:
    """Test every enabled or auto-disabled channel (batch rules: may disable and re-enable)."""
    with run_lock("channel-test") as acquired:
        if not acquired:
            return {"skipped": True}
        summary = {"tested": 0, "succeeded": 0, "failed": 0, "disabled": 0, "enabled": 0}
        for channel_id in channel_test.testable_channel_ids():
            try:
                result = channel_test.test_channel(channel_id, batch=True)
            except Exception:  # noqa: BLE001 - one broken channel must not stop the run
                log.exception("channel test of %s failed", channel_id)
                db.session.rollback()
                continue
            summary["tested"] += 1
            summary["succeeded" if result.success else "failed"] += 1
            summary["disabled"] += int(result.disabled)
            summary["enabled"] += int(result.enabled)
        log.info("channel test run: %s", summary)
        return summary


def update_all_balances() -> dict:
    """Refresh the balance of every enabled channel whose provider has a balance endpoint."""
    with run_lock("channel-balance") as acquired:
        if not acquired:
            return {"skipped": True}
        summary = {"updated": 0, "failed": 0}
        for channel_id in channel_test.balance_channel_ids():
            try:
                channel_test.update_balance(channel_id)
                summary["updated"] += 1
            except Exception:  # noqa: BLE001 - providers without a balance endpoint fail here
                summary["failed"] += 1
                db.session.rollback()
        return summary
