"""Plan windows (seeds 000, 001, 004): the relay's admission check and the counters behind it.

Contract for the relay:

    check_plan_allows(user_id, model, estimated_quota)   # before reserving; raises PlanLimitExceeded (429)
    record_plan_usage(user_id, model, quota)             # after the settlement transaction has committed

A user's active plan (its limits and the models it counts) and the spend of the current day and month are
kept per process in `local_cache("plans")`, so a warm check reads no database row. The windows are the
calendar day and month in the time zone of the `CheckInTimeZone` option (UTC when unset or invalid).

Where the counters come from:
- Cold cache, a new day or month, a plan change (`bump("plans")`): one query over `quota_data`, which the
  settlement transaction writes together with the log row, so the seed already includes every committed
  request. `record_plan_usage` only adds to counters that exist; a missing counter is seeded later from
  the database, which by then holds the committed row.
- Without Redis, each process counts only its own requests between seeds, so with N processes a user can
  overshoot a limit by what the other processes admitted since this one last seeded. Counters are re-seeded
  at most every `PLAN_COUNTER_RESYNC_SECONDS` (app config, default 60; 0 = only on the events above), which
  bounds that drift in time; the re-seed is one indexed query per user and interval.
- With Redis (`app.extensions["sluice_redis"]`), the counters are Redis hashes keyed by user, plan model
  set and window (`sluice:plan:<user>:<models>:d:<YYYY-MM-DD>` and `:m:<YYYY-MM>`), shared by every
  process: HINCRBY on record (only when the hash exists), seeded from the database with a create-if-absent
  script. The check is then one Redis round trip and exact across processes, except for requests that
  settle during the instant a hash is being seeded (they are in neither the seed nor the hash).
  If Redis fails, the per-process counters are used.

The check is admission, not a reservation: requests that pass at the same moment can together overshoot
a limit by at most their own cost, as one-api's wallet pre-consumption check does.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from sqlalchemy import and_, case, func, or_, select

from app.cache import local_cache
from app.errors import PlanLimitExceeded, ValidationError
from app.extensions import db
from app.models import Plan, QuotaData, QuotaType, UserSubscription
from app.options import get_option

log = logging.getLogger(__name__)

CACHE_NAMESPACE = "plans"
STATE_TTL_SECONDS = 600.0
DEFAULT_RESYNC_SECONDS = 60.0
SUBSCRIPTION_ACTIVE = 1
SUBSCRIPTION_CANCELLED = 2
PLAN_ENABLED = 1
REDIS_PREFIX = "sluice:plan"

_lock = threading.Lock()
_zones: dict[str, tzinfo] = {}

# KEYS[1] = hash; ARGV = seconds to live, then field/value pairs. Creates the hash only when it is absent.
_SEED_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 2))
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return redis.call('HMGET', KEYS[1], 'quota', 'requests')
"""
# KEYS = hashes; ARGV[1] = quota, ARGV[2] = requests. Adds only to hashes that exist (see module docstring).
_RECORD_SCRIPT = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('HINCRBY', key, 'quota', ARGV[1])
    redis.call('HINCRBY', key, 'requests', ARGV[2])
  end
end
return 1
"""


# -- windows -------------------------------------------------------------------------------------------

def plan_timezone() -> tzinfo:
    """The zone of the day/month windows: the `CheckInTimeZone` option, UTC if it is not a known zone."""
    name = (get_option("CheckInTimeZone") or "UTC").strip() or "UTC"
    zone = _zones.get(name)
    if zone is None:
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("CheckInTimeZone %r is not a known time zone; using UTC", name)
            zone = UTC
        _zones[name] = zone
    return zone


@dataclass(frozen=True)
class Windows:
    """The day and month containing a moment, as unix-second bounds [start, end) and string keys."""

    day_key: str
    month_key: str
    day_start: int
    day_end: int
    month_start: int
    month_end: int


def window_bounds(now: float, zone: tzinfo | None = None) -> Windows:
    """The day and month that contain `now` in `zone` (default: `plan_timezone()`)."""
    zone = zone or plan_timezone()
    local = datetime.fromtimestamp(now, zone)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    # Adding a day through the date, then localising, keeps days of 23 or 25 hours right across DST.
    next_day = datetime.combine(day.date() + timedelta(days=1), datetime.min.time(), zone)
    month = day.replace(day=1)
    next_month = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=zone)
    return Windows(
        day_key=day.strftime("%Y-%m-%d"), month_key=day.strftime("%Y-%m"),
        day_start=int(day.timestamp()), day_end=int(next_day.timestamp()),
        month_start=int(month.timestamp()), month_end=int(next_month.timestamp()),
    )


# -- the active plan -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlanState:
    """What the check needs to know of a user's active subscription."""

    subscription_id: int
    plan_id: int
    plan_name: str
    daily_quota_limit: int
    monthly_quota_limit: int
    daily_request_limit: int
    models: frozenset[str] | None  # None: every model counts
    start_time: int
    end_time: int
    valid_until: float = field(compare=False, default=0.0)

    def counts(self, model: str) -> bool:
        return self.models is None or model in self.models

    @property
    def has_limits(self) -> bool:
        return bool(self.daily_quota_limit or self.monthly_quota_limit or self.daily_request_limit)

    @property
    def models_digest(self) -> str:
        if self.models is None:
            return "all"
        return hashlib.sha1("\n".join(sorted(self.models)).encode()).hexdigest()[:12]


def parse_id_list(text: str | None) -> list[int]:
    """`"1, 2,3"` -> [1, 2, 3]; blanks and non-numbers are skipped."""
    return [int(part) for part in (text or "").split(",") if part.strip().isdigit()]


def split_models(text: str | None) -> list[str]:
    return [m.strip() for m in (text or "").split(",") if m.strip()]


def plan_models(plan: Plan) -> frozenset[str] | None:
    """The models a plan's limits count: the union of its quota types' models; None means every model."""
    ids = parse_id_list(plan.quota_type_ids)
    if not ids:
        return None
    types = db.session.scalars(select(QuotaType).where(QuotaType.id.in_(ids))).all()
    models: set[str] = set()
    for quota_type in types:
        names = split_models(quota_type.models)
        if not names:
            return None  # a quota type without models covers everything
        models.update(names)
    return frozenset(models) if types else None


@dataclass(frozen=True)
class _NoPlan:
    """A cached "this user has no active plan", valid until `valid_until`."""

    valid_until: float

    def __bool__(self) -> bool:
        return False


def load_active_plan(user_id: int, now: float | None = None) -> PlanState | None:
    """The user's active subscription read from the database (no cache); the latest start wins."""
    return _load_state(user_id, time.time() if now is None else now) or None


def _load_state(user_id: int, now: float) -> PlanState | _NoPlan:
    ts = int(now)
    active = and_(UserSubscription.user_id == user_id, UserSubscription.status == SUBSCRIPTION_ACTIVE)
    row = db.session.execute(
        select(UserSubscription, Plan)
        .join(Plan, Plan.id == UserSubscription.plan_id)
        .where(active, Plan.status == PLAN_ENABLED, UserSubscription.start_time <= ts,
               or_(UserSubscription.end_time == 0, UserSubscription.end_time > ts))
        .order_by(UserSubscription.start_time.desc(), UserSubscription.id.desc())
        .limit(1)
    ).first()
    # The cached answer must not outlive the subscription, nor miss the start of a future one.
    next_start = db.session.scalar(
        select(func.min(UserSubscription.start_time)).where(active, UserSubscription.start_time > ts))
    valid_until = now + STATE_TTL_SECONDS
    if next_start:
        valid_until = min(valid_until, float(next_start))
    if row is None:
        return _NoPlan(valid_until)
    sub, plan = row
    if sub.end_time:
        valid_until = min(valid_until, float(sub.end_time))
    return PlanState(
        subscription_id=sub.id, plan_id=plan.id, plan_name=plan.name,
        daily_quota_limit=int(plan.daily_quota_limit or 0), monthly_quota_limit=int(plan.monthly_quota_limit or 0),
        daily_request_limit=int(plan.daily_request_limit or 0), models=plan_models(plan),
        start_time=int(sub.start_time), end_time=int(sub.end_time or 0), valid_until=valid_until,
    )


def active_plan(user_id: int, now: float | None = None) -> PlanState | None:
    """The user's active plan, from this process's cache when fresh; None when the user has no plan."""
    now = time.time() if now is None else now
    cache = local_cache(CACHE_NAMESPACE)
    state = cache.get(("state", user_id))
    if state is None or state.valid_until <= now:
        state = _load_state(user_id, now)
        with _lock:
            cache[("state", user_id)] = state
            cache.pop(("win", user_id), None)  # counted under the old plan: seed again
    return state or None


# -- counters ------------------------------------------------------------------------------------------

@dataclass
class Usage:
    """Spend and requests of the current day and month (for the plan's models)."""

    day_quota: int = 0
    day_requests: int = 0
    month_quota: int = 0
    month_requests: int = 0


@dataclass
class _LocalCounters:
    day_key: str
    month_key: str
    usage: Usage
    synced_at: float


def query_window_usage(user_id: int, models: frozenset[str] | None, windows: Windows) -> Usage:
    """Day and month spend from `quota_data` in one query (hour buckets starting inside each window)."""
    in_day = and_(QuotaData.created_at >= windows.day_start, QuotaData.created_at < windows.day_end)
    stmt = select(
        func.coalesce(func.sum(case((in_day, QuotaData.quota), else_=0)), 0),
        func.coalesce(func.sum(case((in_day, QuotaData.count), else_=0)), 0),
        func.coalesce(func.sum(QuotaData.quota), 0),
        func.coalesce(func.sum(QuotaData.count), 0),
    ).where(QuotaData.user_id == user_id, QuotaData.created_at >= windows.month_start,
            QuotaData.created_at < windows.month_end)
    if models is not None:
        if not models:
            return Usage()
        stmt = stmt.where(QuotaData.model_name.in_(sorted(models)))
    day_quota, day_requests, month_quota, month_requests = db.session.execute(stmt).one()
    return Usage(int(day_quota), int(day_requests), int(month_quota), int(month_requests))


def _resync_seconds() -> float:
    return float(current_app.config.get("PLAN_COUNTER_RESYNC_SECONDS", DEFAULT_RESYNC_SECONDS))


def _local_usage(user_id: int, state: PlanState, windows: Windows, now: float) -> Usage:
    cache = local_cache(CACHE_NAMESPACE)
    counters = cache.get(("win", user_id))
    resync = _resync_seconds()
    if (counters is None or counters.day_key != windows.day_key or counters.month_key != windows.month_key
            or (resync > 0 and now - counters.synced_at >= resync)):
        usage = query_window_usage(user_id, state.models, windows)
        counters = _LocalCounters(windows.day_key, windows.month_key, usage, now)
        with _lock:
            cache[("win", user_id)] = counters
    return counters.usage


def _redis_keys(user_id: int, state: PlanState, windows: Windows) -> tuple[str, str]:
    base = f"{REDIS_PREFIX}:{user_id}:{state.models_digest}"
    return f"{base}:d:{windows.day_key}", f"{base}:m:{windows.month_key}"


def _ttl(window_end: int, now: float) -> int:
    return max(int(window_end - now), 0) + 86400


def _redis_usage(redis, user_id: int, state: PlanState, windows: Windows, now: float) -> Usage:
    day_key, month_key = _redis_keys(user_id, state, windows)
    pipe = redis.pipeline(transaction=False)
    pipe.hmget(day_key, "quota", "requests")
    pipe.hmget(month_key, "quota", "requests")
    day, month = pipe.execute()
    if None in day or None in month:
        seed = query_window_usage(user_id, state.models, windows)
        # Kept a day past the window's end, so processes whose clocks differ a little still find it.
        day = redis.eval(_SEED_SCRIPT, 1, day_key, _ttl(windows.day_end, now),
                         "quota", seed.day_quota, "requests", seed.day_requests)
        month = redis.eval(_SEED_SCRIPT, 1, month_key, _ttl(windows.month_end, now),
                           "quota", seed.month_quota, "requests", seed.month_requests)
    return Usage(int(day[0] or 0), int(day[1] or 0), int(month[0] or 0), int(month[1] or 0))


def _redis():
    return current_app.extensions.get("sluice_redis")


def current_usage(user_id: int, state: PlanState, now: float | None = None) -> Usage:
    """The counters the check compares with the limits (Redis when configured, else this process's)."""
    now = time.time() if now is None else now
    windows = window_bounds(now)
    redis = _redis()
    if redis is not None:
        try:
            return _redis_usage(redis, user_id, state, windows, now)
        except Exception:  # noqa: BLE001 - a Redis outage must not stop the relay
            log.warning("plan counters: Redis unavailable, using this process's counters", exc_info=True)
    return _local_usage(user_id, state, windows, now)


# -- the contract --------------------------------------------------------------------------------------

def _money(quota: int) -> str:
    per_unit = float(get_option("QuotaPerUnit") or 500000)
    return f"${quota / per_unit:.4f}".rstrip("0").rstrip(".")


def check_plan_allows(user_id: int, model: str, estimated_quota: int, *, now: float | None = None) -> None:
    """Raise PlanLimitExceeded when the user's active plan would be exceeded by this request.

    Passes when the user has no active plan, when the plan does not count `model`, or when the day's and
    month's spend plus `estimated_quota` stay within the limits (a limit of 0 means none) and the day's
    request count is below its limit. Spend exactly up to a limit passes; once it is reached, the next
    request is refused. Warm: no database read.
    """
    if isinstance(estimated_quota, bool) or not isinstance(estimated_quota, int) or estimated_quota < 0:
        raise ValidationError("estimated_quota must be a non-negative integer")
    now = time.time() if now is None else now
    state = active_plan(user_id, now)
    if state is None or not state.has_limits or not state.counts(model):
        return
    usage = current_usage(user_id, state, now)
    name = state.plan_name
    if state.daily_request_limit and usage.day_requests >= state.daily_request_limit:
        raise PlanLimitExceeded(f"plan {name!r}: daily request limit of {state.daily_request_limit} reached; "
                                "it resets at midnight")
    if state.daily_quota_limit and (usage.day_quota >= state.daily_quota_limit
                                    or usage.day_quota + estimated_quota > state.daily_quota_limit):
        raise PlanLimitExceeded(
            f"plan {name!r}: daily spend limit {_money(state.daily_quota_limit)} reached "
            f"({_money(usage.day_quota)} used today); it resets at midnight")
    if state.monthly_quota_limit and (usage.month_quota >= state.monthly_quota_limit
                                      or usage.month_quota + estimated_quota > state.monthly_quota_limit):
        raise PlanLimitExceeded(
            f"plan {name!r}: monthly spend limit {_money(state.monthly_quota_limit)} reached "
            f"({_money(usage.month_quota)} used this month); it resets on the 1st")


def record_plan_usage(user_id: int, model: str, quota: int, *, requests: int = 1,
                      now: float | None = None) -> None:
    """Count a settled request (call after the settlement transaction commits). Never reads the database.

    Only counters that already exist are changed: a missing one is seeded from `quota_data` later, and the
    committed row is in it then. Safe to call for users without a plan (it does nothing).
    """
    now = time.time() if now is None else now
    cache = local_cache(CACHE_NAMESPACE)
    state = cache.get(("state", user_id))
    if not state or state.valid_until <= now or not state.counts(model):
        return
    windows = window_bounds(now)
    redis = _redis()
    if redis is not None:
        try:
            redis.eval(_RECORD_SCRIPT, 2, *_redis_keys(user_id, state, windows), int(quota), int(requests))
        except Exception:  # noqa: BLE001 - the database still has the row; the next seed includes it
            log.warning("plan counters: could not record usage in Redis", exc_info=True)
    with _lock:
        counters = cache.get(("win", user_id))
        if counters is None:
            return
        if counters.day_key != windows.day_key or counters.month_key != windows.month_key:
            cache.pop(("win", user_id), None)
            return
        counters.usage.day_quota += int(quota)
        counters.usage.day_requests += int(requests)
        counters.usage.month_quota += int(quota)
        counters.usage.month_requests += int(requests)
