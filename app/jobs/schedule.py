"""Every periodic job, in one place. `rq cron app.jobs.schedule` (or `flask rq-cron`) reads this with Redis;
without Redis the app's in-process scheduler fires the same entries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rq import cron

from app.jobs import channels, maintenance, reminders, tasks, usage
from app.jobs.queues import DEFAULT_QUEUE


@dataclass(frozen=True)
class Periodic:
    func: Callable
    cron: str
    queue: str = DEFAULT_QUEUE

    @property
    def name(self) -> str:
        return f"{self.func.__module__}.{self.func.__name__}"


SCHEDULE: list[Periodic] = [
    Periodic(maintenance.expire_tokens, "* * * * *"),
    Periodic(maintenance.purge_old_logs, "17 3 * * *"),
    Periodic(maintenance.cancel_stale_epay_orders, "*/10 * * * *"),
    # After midnight UTC, once yesterday's last requests have settled; before the log purge at 03:17.
    Periodic(usage.verify_yesterday_usage, "37 0 * * *"),
    Periodic(tasks.poll_tasks, "* * * * * */15"),  # every 15 s (croniter's sixth field is seconds)
    # Every minute; each runs only once per its option's interval (0 = off), see app/jobs/channels.py.
    Periodic(channels.scheduled_channel_test, "* * * * *"),
    Periodic(channels.scheduled_balance_update, "* * * * *"),
    Periodic(reminders.send_low_quota_reminders, "*/5 * * * *"),
]

for _entry in SCHEDULE:
    cron.register(_entry.func, _entry.queue, cron=_entry.cron, name=_entry.name)
