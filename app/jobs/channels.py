"""Channel jobs: test every channel, refresh every balance. Plain functions, safe to run twice.

Only one run of each job at a time (app.jobs.locks: Redis when configured, else process-local). A run
that finds the lock taken returns at once with `{"skipped": true}`.

The scheduled forms (`scheduled_channel_test`, `scheduled_balance_update`) fire every minute from
app/jobs/schedule.py and run the job once per ChannelTestFrequencyMinutes / ChannelUpdateFrequencyMinutes
(one-api's CHANNEL_TEST_FREQUENCY and CHANNEL_UPDATE_FREQUENCY, new-api's auto_test_channel_minutes;
0 = off). Options can change at runtime, so the interval is claimed per run (app.jobs.locks.claim_interval)
instead of being baked into a cron string.
"""

from __future__ import annotations

import contextlib
import logging

from app.extensions import db
from app.jobs.locks import claim_interval, is_locked, job_lock
from app.options import get_option
from app.relay import channel_test

log = logging.getLogger(__name__)

LOCK_SECONDS = 3600  # a run killed mid-way keeps the next ones out for at most this long
# The cron entry fires at each minute's start; a window this much shorter than the interval lets the run
# N minutes later claim the next one even when this run was picked up a few seconds late.
INTERVAL_SLACK_SECONDS = 30


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
        summary = {"updated": 0, "failed": 0, "unsupported": 0}
        for channel_id in channel_test.balance_channel_ids():
            try:
                channel_test.update_balance(channel_id)
                summary["updated"] += 1
            except channel_test.NoBalanceEndpoint:  # decided before any request is sent
                summary["unsupported"] += 1
            except Exception as exc:  # noqa: BLE001 - one broken channel must not stop the run
                log.warning("balance refresh of channel %s failed: %s", channel_id, exc)
                summary["failed"] += 1
                db.session.rollback()
        return summary


def _claim_every(option: str, name: str) -> bool:
    """True when the job `name` should run now: its option (minutes) is on and its window has lapsed.

    The window's key carries the interval, so shortening the option takes effect at the next minute.
    """
    minutes = int(get_option(option) or 0)
    if minutes <= 0:
        return False
    return claim_interval(f"{name}:{minutes}", max(1, minutes * 60 - INTERVAL_SLACK_SECONDS))


def scheduled_channel_test() -> dict:
    """The every-minute entry: test all channels once per ChannelTestFrequencyMinutes (0 = off)."""
    if not _claim_every("ChannelTestFrequencyMinutes", "channel-test"):
        return {"due": False}
    return test_all_channels()


def scheduled_balance_update() -> dict:
    """The every-minute entry: refresh balances once per ChannelUpdateFrequencyMinutes (0 = off)."""
    if not _claim_every("ChannelUpdateFrequencyMinutes", "channel-balance"):
        return {"due": False}
    return update_all_balances()
