"""Channel jobs: test every channel, refresh every balance. Plain functions, safe to run twice.

Only one run of each job at a time (app.jobs.locks: Redis when configured, else process-local). A run
that finds the lock taken returns at once with `{"skipped": true}`.
"""

from __future__ import annotations

import contextlib
import logging

from app.extensions import db
from app.jobs.locks import is_locked, job_lock
from app.relay import channel_test

log = logging.getLogger(__name__)

LOCK_SECONDS = 3600  # a run killed mid-way keeps the next ones out for at most this long


def run_lock(name: str) -> contextlib.AbstractContextManager[bool]:
    """The job's lock: yields True when this caller holds it, False when another run has it."""
    return job_lock(name, LOCK_SECONDS)


def is_running(name: str) -> bool:
    """True while a run of the job `name` holds its lock."""
    return is_locked(name)


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
