"""Daily check-in (Veloera): a random reward between CheckInQuota and CheckInMaxQuota, once per calendar
day in CheckInTimeZone.

"Once per day" is the database's UNIQUE(user_id, checkin_date) on `checkins`, not a read of
last_check_in_time: the check-in row, the credit and the log row (type 5) are one transaction, so when
many requests race exactly one inserts the row and the rest roll back. The user's row is locked first,
so racing requests queue there instead of deadlocking on MySQL (see users.lock_wallet).
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.billing.ledger import add_log
from app.database import retry_on_deadlock
from app.errors import Conflict, Forbidden, ValidationError
from app.extensions import db
from app.models import CheckIn, LogType, User, UserStatus
from app.options import get_option
from app.services.accounts import quota_text
from app.services.users import MAX_QUOTA, atomic, lock_wallet

log = logging.getLogger(__name__)


def check_in_zone() -> ZoneInfo:
    """The CheckInTimeZone option as a zone; UTC (with a warning) if the name is unknown."""
    name = get_option("CheckInTimeZone") or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("CheckInTimeZone %r is not a known time zone; using UTC", name)
        return ZoneInfo("UTC")


def today(now: datetime | None = None) -> date:
    """The calendar day it is now in CheckInTimeZone."""
    now = now or datetime.now(UTC)
    return now.astimezone(check_in_zone()).date()


def reward_range() -> tuple[int, int]:
    """(minimum, maximum) reward; the maximum is never below the minimum (as in Veloera)."""
    low = int(get_option("CheckInQuota"))
    high = int(get_option("CheckInMaxQuota"))
    return low, max(low, high)


def draw_reward(low: int, high: int) -> int:
    """A uniformly random reward in [low, high] from the CSPRNG."""
    return low + secrets.randbelow(high - low + 1)


def _iso(value: datetime | None) -> str | None:
    return value.replace(tzinfo=UTC).isoformat() if value is not None else None


def check_in_status(user: User, now: datetime | None = None) -> dict[str, Any]:
    """`{can_check_in, enabled, date, checked_in_today, last_check_in_time, last_reward, min_quota,
    max_quota}` for `user`; `can_check_in` is false when check-in is off or already done today."""
    day = today(now)
    enabled = bool(get_option("CheckInEnabled"))
    last = db.session.execute(
        select(CheckIn.checkin_date, CheckIn.quota_awarded).where(CheckIn.user_id == user.id)
        .order_by(CheckIn.checkin_date.desc()).limit(1)
    ).first()
    done_today = last is not None and last.checkin_date == day
    low, high = reward_range()
    last_time = db.session.scalar(select(User.last_check_in_time).where(User.id == user.id))
    return {
        "can_check_in": enabled and not done_today,
        "enabled": enabled,
        "date": day.isoformat(),
        "checked_in_today": done_today,
        "last_check_in_time": _iso(last_time),
        "last_reward": last.quota_awarded if last is not None else None,
        "min_quota": low,
        "max_quota": high,
    }


@retry_on_deadlock
def check_in(user: User, now: datetime | None = None) -> int:
    """Check `user` in for today and credit the reward; returns it. Refused when check-in is off, the
    reward is not configured, or the user has already checked in today."""
    if not get_option("CheckInEnabled"):
        raise Forbidden("check-in is not enabled", code="checkin_disabled")
    low, high = reward_range()
    if low <= 0:
        raise ValidationError("the check-in reward is not configured", code="checkin_misconfigured")
    now = now or datetime.now(UTC)
    day = today(now)
    reward = draw_reward(low, high)
    user_id, username = user.id, user.username
    try:
        with atomic():
            if not lock_wallet(user_id):
                raise ValidationError("your account cannot receive quota right now", code="account_unavailable")
            db.session.add(CheckIn(user_id=user_id, checkin_date=day, quota_awarded=reward))
            db.session.flush()  # UNIQUE(user_id, checkin_date): a second check-in today fails here
            result = db.session.execute(
                update(User)
                .where(User.id == user_id, User.status == UserStatus.ENABLED, User.deleted_at.is_(None),
                       User.quota <= MAX_QUOTA - reward)
                .values(quota=User.quota + reward,
                        last_check_in_time=now.astimezone(UTC).replace(tzinfo=None))
                .execution_options(synchronize_session=False))
            if result.rowcount != 1:
                raise ValidationError("your account cannot receive quota right now", code="account_unavailable")
            add_log(log_type=LogType.CHECKIN, user_id=user_id, username=username, quota=reward,
                    content=f"Daily check-in reward: {quota_text(reward)} ({day.isoformat()})",
                    other={"checkin_date": day.isoformat()})
    except IntegrityError:
        raise Conflict("you have already checked in today", code="already_checked_in") from None
    return reward
