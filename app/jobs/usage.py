"""The nightly usage job: prove yesterday's hourly rollup (quota_data) agrees with the consume logs.

Settlement writes the consume log row and its quota_data bucket in one transaction, so they should never
differ; this job is the check that they do not (seed 001's post-mortem: aggregates must be provably in
step). It runs app.services.stats.repair_quota_data over yesterday (UTC), which rewrites any drifted
bucket from the logs and, in the same transaction, writes a system log row naming what it rewrote. A
clean day writes nothing. Safe to run twice: a second run finds nothing to repair.
"""

from __future__ import annotations

import logging
import time

from app.jobs.locks import job_lock
from app.services import stats

log = logging.getLogger(__name__)

LOCK_SECONDS = 3600


def yesterday_bounds(now: float | None = None) -> tuple[int, int]:
    """[start, end) of the previous UTC day, in Unix seconds."""
    now = int(time.time() if now is None else now)
    today = now - now % stats.DAY
    return today - stats.DAY, today


def verify_yesterday_usage(now: float | None = None) -> dict:
    """The nightly job: verify yesterday's quota_data against the logs and repair any drift."""
    with job_lock("usage-verify", LOCK_SECONDS) as acquired:
        if not acquired:
            return {"skipped": True}
        since, until = yesterday_bounds(now)
        report = stats.repair_quota_data(since, until, now=now, log_repairs=True)
        if report.repaired:
            log.warning("usage rollup: repaired %d drifted bucket(s) between %s and %s",
                        report.repaired, since, until)
        return {"since": since, "until": until, "buckets": report.buckets, "repaired": report.repaired}
