"""Usage statistics read from `quota_data`, and the check that keeps it equal to the logs.

`quota_data` holds one row per (user, model, key, channel, hour) with the number of consume logs, their
quota and their tokens. The settlement transaction writes it together with the consume log row (DESIGN.md
section 2), so it is a derivation of `logs`, never a second source of truth (seed 001): `verify_quota_data`
recomputes it from the consume logs and `repair_quota_data` rewrites the buckets that drifted
(`flask usage verify|repair`).

"Today" and "this month" are calendar windows in the `CheckInTimeZone` zone, the same windows as the plan
limits (app/billing/plans.py). quota_data buckets are hours (UTC-aligned), so in a zone whose offset is not
a whole number of hours a bucket counts for the day in which it starts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy import and_, case, delete, func, literal_column, select, update

from app.billing.ledger import add_system_log
from app.billing.plans import Windows, load_active_plan, plan_timezone, query_window_usage, window_bounds
from app.errors import NotFound, ValidationError
from app.extensions import db
from app.models import Channel, Log, LogType, QuotaData, Token, User
from app.options import get_option

HOUR = 3600
DAY = 86400
WEEK = 7 * DAY
# 1970-01-01 was a Thursday; weeks start on Monday, four days later.
WEEK_ORIGIN = 4 * DAY
GROUP_BY = ("hour", "day", "week")
SELF_MAX_SPAN = 31 * DAY  # new-api refuses more than a month on the self route
SELF_MAX_SPAN_LONG = 366 * DAY  # ... we allow a year when grouping by day or week
ADMIN_MAX_SPAN = 366 * DAY
DEFAULT_SPAN = 7 * DAY


def _const(value: int):
    """An integer constant rendered inline, so the same bucket expression in SELECT and GROUP BY is
    textually identical (PostgreSQL rejects them when each carries its own bind parameter)."""
    return literal_column(str(int(value)))


def _quota_per_unit() -> float:
    return float(get_option("QuotaPerUnit") or 500000)


def _usd(quota: int) -> float:
    return round(quota / _quota_per_unit(), 6)


def _windows(now: float | None) -> tuple[float, Windows]:
    now = time.time() if now is None else now
    return now, window_bounds(now)


# -- charts (GET /api/data) ----------------------------------------------------------------------------

def bucket_expression(column, group_by: str, offset: int):
    """The start of the hour, local day or local (Monday) week containing `column`, in unix seconds."""
    if group_by == "hour":
        return column
    size, origin = (DAY, 0) if group_by == "day" else (WEEK, WEEK_ORIGIN)
    shift = offset - origin
    return ((column + _const(shift)) // _const(size)) * _const(size) - _const(shift)


def parse_range(start: int, end: int, group_by: str, *, own: bool, now: float | None = None) -> tuple[int, int]:
    """Validate a chart range: defaults to the last 7 days; bounded to a month for users by the hour
    (as new-api), a year otherwise."""
    if group_by not in GROUP_BY:
        raise ValidationError("group_by must be hour, day or week")
    now = int(time.time() if now is None else now)
    end = end or now
    start = start or max(end - DEFAULT_SPAN, 0)
    if start > end:
        raise ValidationError("start_timestamp must not be after end_timestamp")
    limit = ADMIN_MAX_SPAN
    if own:
        limit = SELF_MAX_SPAN if group_by == "hour" else SELF_MAX_SPAN_LONG
    if end - start > limit:
        raise ValidationError(f"the time range may span at most {limit // DAY} days")
    return start, end


def quota_data_series(start: int, end: int, *, user_id: int | None = None, username: str = "",
                      group_by: str = "hour") -> list[dict[str, Any]]:
    """Chart rows `{created_at, model_name, count, quota, token_used}` per bucket and model, oldest first.

    `user_id` limits to one user (the self route); `username` is the admin's filter. Hour buckets whose
    start lies in [start, end] are included. Day and week buckets use the offset of the `CheckInTimeZone`
    zone at `end` (a DST change inside the range shifts one day's edge by an hour).
    """
    offset = int(plan_timezone().utcoffset(datetime.fromtimestamp(end, UTC)).total_seconds())
    bucket = bucket_expression(QuotaData.created_at, group_by, offset).label("created_at")
    conds = [QuotaData.created_at >= start - start % HOUR, QuotaData.created_at <= end]
    if user_id is not None:
        conds.append(QuotaData.user_id == user_id)
    if username:
        conds.append(QuotaData.username == username)
    rows = db.session.execute(
        select(bucket, QuotaData.model_name, func.sum(QuotaData.count), func.sum(QuotaData.quota),
               func.sum(QuotaData.token_used))
        .where(*conds).group_by(bucket_expression(QuotaData.created_at, group_by, offset), QuotaData.model_name)
        .order_by(bucket, QuotaData.model_name)
    ).all()
    return [{"created_at": int(b), "model_name": m, "count": int(c or 0), "quota": int(q or 0),
             "token_used": int(t or 0)} for b, m, c, q, t in rows]


# -- per channel (seed 003) ----------------------------------------------------------------------------

def _window_sums(windows: Windows) -> list:
    """today / this month / total of quota and requests (and total tokens) as conditional aggregates."""
    today = QuotaData.created_at >= windows.day_start
    month = QuotaData.created_at >= windows.month_start
    return [
        func.coalesce(func.sum(case((today, QuotaData.quota), else_=0)), 0),
        func.coalesce(func.sum(case((today, QuotaData.count), else_=0)), 0),
        func.coalesce(func.sum(case((month, QuotaData.quota), else_=0)), 0),
        func.coalesce(func.sum(case((month, QuotaData.count), else_=0)), 0),
        func.coalesce(func.sum(QuotaData.quota), 0),
        func.coalesce(func.sum(QuotaData.count), 0),
        func.coalesce(func.sum(QuotaData.token_used), 0),
    ]


def _windows_dict(values) -> dict[str, Any]:
    tq, tr, mq, mr, aq, ar, at = (int(v or 0) for v in values)
    return {"today_quota": tq, "today_requests": tr, "month_quota": mq, "month_requests": mr,
            "total_quota": aq, "total_requests": ar, "total_tokens": at,
            "today_usd": _usd(tq), "month_usd": _usd(mq), "total_usd": _usd(aq)}


def _window_info(windows: Windows) -> dict[str, Any]:
    return {"time_zone": str(plan_timezone()), "day_start": windows.day_start,
            "month_start": windows.month_start, "quota_per_unit": _quota_per_unit()}


def channel_usage_stats(*, now: float | None = None) -> dict[str, Any]:
    """Every channel's today / this month / total quota and requests, in one query over quota_data,
    with a summary over all channels."""
    _, windows = _windows(now)
    rows = db.session.execute(
        select(Channel.id, Channel.name, Channel.type, Channel.status, *_window_sums(windows))
        .select_from(Channel).join(QuotaData, QuotaData.channel_id == Channel.id, isouter=True)
        .group_by(Channel.id, Channel.name, Channel.type, Channel.status).order_by(Channel.id)
    ).all()
    items = [{"channel_id": cid, "name": name, "type": ctype, "status": status, **_windows_dict(rest)}
             for cid, name, ctype, status, *rest in rows]
    keys = ("today_quota", "today_requests", "month_quota", "month_requests", "total_quota",
            "total_requests", "total_tokens")
    summary = _windows_dict([sum(item[k] for item in items) for k in keys])
    return {"items": items, "summary": {"channels": len(items), **summary}, **_window_info(windows)}


def _get_channel(channel_id: int) -> Channel:
    channel = db.session.get(Channel, channel_id)
    if channel is None:
        raise NotFound("channel not found")
    return channel


def channel_usage(channel_id: int, *, now: float | None = None) -> dict[str, Any]:
    """One channel's today / this month / total, and the same per model."""
    channel = _get_channel(channel_id)
    _, windows = _windows(now)
    sums = _window_sums(windows)
    total = db.session.execute(select(*sums).where(QuotaData.channel_id == channel_id)).one()
    per_model = db.session.execute(
        select(QuotaData.model_name, *sums).where(QuotaData.channel_id == channel_id)
        .group_by(QuotaData.model_name).order_by(func.sum(QuotaData.quota).desc(), QuotaData.model_name)
    ).all()
    return {"channel_id": channel.id, "name": channel.name, "type": channel.type, "status": channel.status,
            **_windows_dict(total),
            "models": [{"model_name": m, **_windows_dict(rest)} for m, *rest in per_model],
            **_window_info(windows)}


def channel_usage_breakdown(channel_id: int, *, start: int = 0, end: int = 0,
                            now: float | None = None) -> dict[str, Any]:
    """One channel's usage per API key: token id and name, owner, quota and requests over [start, end]
    (all time when not given), plus today / this month / total."""
    channel = _get_channel(channel_id)
    _, windows = _windows(now)
    in_range = [QuotaData.created_at >= start - start % HOUR] if start else []
    if end:
        in_range.append(QuotaData.created_at <= end)
    ranged = and_(*in_range) if in_range else None
    quota = func.sum(case((ranged, QuotaData.quota), else_=0)) if ranged is not None else func.sum(QuotaData.quota)
    count = func.sum(case((ranged, QuotaData.count), else_=0)) if ranged is not None else func.sum(QuotaData.count)
    tokens = (func.sum(case((ranged, QuotaData.token_used), else_=0)) if ranged is not None
              else func.sum(QuotaData.token_used))
    rows = db.session.execute(
        select(QuotaData.token_id, Token.name, Token.key_hint, func.max(QuotaData.user_id),
               func.max(QuotaData.username), func.coalesce(quota, 0), func.coalesce(count, 0),
               func.coalesce(tokens, 0), *_window_sums(windows))
        .select_from(QuotaData).join(Token, Token.id == QuotaData.token_id, isouter=True)
        .where(QuotaData.channel_id == channel_id)
        .group_by(QuotaData.token_id, Token.name, Token.key_hint)
        .order_by(func.coalesce(quota, 0).desc(), QuotaData.token_id)
    ).all()
    items = []
    for token_id, name, hint, user_id, username, q, c, t, *rest in rows:
        head, _, tail = (hint or "").partition("|")
        items.append({"token_id": token_id, "token_name": name or "", "key": f"sk-{head}...{tail}" if head else "",
                      "user_id": user_id, "username": username or "", "quota": int(q), "count": int(c),
                      "token_used": int(t), "usd": _usd(int(q)), **_windows_dict(rest)})
    return {"channel_id": channel.id, "name": channel.name, "start_timestamp": start, "end_timestamp": end,
            "items": items, **_window_info(windows)}


# -- a user's spend and plan (seed 001) ----------------------------------------------------------------

def _limit_block(limit: int, used: int, *, money: bool) -> dict[str, Any]:
    remaining = max(limit - used, 0) if limit else None
    block: dict[str, Any] = {"limit": limit, "used": used, "remaining": remaining}
    if money:
        block.update(limit_usd=_usd(limit) if limit else None, used_usd=_usd(used),
                     remaining_usd=_usd(remaining) if remaining is not None else None)
    return block


def user_usage_summary(user: User, *, now: float | None = None) -> dict[str, Any]:
    """Today's and this month's spend and requests from quota_data, the wallet, and — with an active
    plan — its limits and what remains of them. The settlement transaction writes quota_data with the
    log row, so this agrees with the logs and moves with the very next request."""
    now, windows = _windows(now)
    today = QuotaData.created_at >= windows.day_start
    in_day = and_(today, QuotaData.created_at < windows.day_end)
    tq, tr, tt, mq, mr, mt = (int(v or 0) for v in db.session.execute(
        select(func.coalesce(func.sum(case((in_day, QuotaData.quota), else_=0)), 0),
               func.coalesce(func.sum(case((in_day, QuotaData.count), else_=0)), 0),
               func.coalesce(func.sum(case((in_day, QuotaData.token_used), else_=0)), 0),
               func.coalesce(func.sum(QuotaData.quota), 0), func.coalesce(func.sum(QuotaData.count), 0),
               func.coalesce(func.sum(QuotaData.token_used), 0))
        .where(QuotaData.user_id == user.id, QuotaData.created_at >= windows.month_start,
               QuotaData.created_at < windows.month_end)
    ).one())
    result: dict[str, Any] = {
        "today": {"quota": tq, "requests": tr, "tokens": tt, "usd": _usd(tq)},
        "month": {"quota": mq, "requests": mr, "tokens": mt, "usd": _usd(mq)},
        "wallet": {"quota": user.quota, "used_quota": user.used_quota, "request_count": user.request_count,
                   "quota_usd": _usd(user.quota), "used_usd": _usd(user.used_quota)},
        "plan": None,
        **_window_info(windows),
    }
    state = load_active_plan(user.id, now)
    if state is not None:
        if state.models is None:
            day_q, day_r, month_q = tq, tr, mq
        else:
            usage = query_window_usage(user.id, state.models, windows)
            day_q, day_r, month_q = usage.day_quota, usage.day_requests, usage.month_quota
        result["plan"] = {
            "id": state.plan_id, "name": state.plan_name, "subscription_id": state.subscription_id,
            "start_time": state.start_time, "end_time": state.end_time,
            "models": sorted(state.models) if state.models is not None else None,
            "daily_quota": _limit_block(state.daily_quota_limit, day_q, money=True),
            "monthly_quota": _limit_block(state.monthly_quota_limit, month_q, money=True),
            "daily_requests": _limit_block(state.daily_request_limit, day_r, money=False),
        }
    return result


# -- verify / repair quota_data from the logs ----------------------------------------------------------

Key = tuple[int, str, int, int, int]  # user_id, model_name, token_id, channel_id, hour


@dataclass
class Drift:
    key: Key
    expected: tuple[int, int, int] | None  # count, quota, token_used from the logs
    actual: tuple[int, int, int] | None  # from quota_data

    def describe(self) -> str:
        user_id, model, token_id, channel_id, hour = self.key
        when = datetime.fromtimestamp(hour, UTC).strftime("%Y-%m-%d %H:00Z")
        return (f"{when} user={user_id} model={model!r} token={token_id} channel={channel_id}: "
                f"logs={self.expected or '-'} quota_data={self.actual or '-'}")


@dataclass
class UsageReport:
    since: int
    until: int
    buckets: int = 0
    drift: list[Drift] = field(default_factory=list)
    repaired: int = 0

    @property
    def ok(self) -> bool:
        return not self.drift


def _expected_buckets(start: int, end: int) -> dict[Key, tuple[int, int, int]]:
    hour = Log.created_at - Log.created_at % _const(HOUR)
    model = func.coalesce(Log.model_name, literal_column("''"))
    token = func.coalesce(Log.token_id, _const(0))
    channel = func.coalesce(Log.channel_id, _const(0))
    rows = db.session.execute(
        select(Log.user_id, model, token, channel, hour,
               func.count(), func.coalesce(func.sum(Log.quota), 0),
               func.coalesce(func.sum(Log.prompt_tokens + Log.completion_tokens), 0))
        .where(Log.type == LogType.CONSUME, Log.user_id.is_not(None), Log.created_at >= start,
               Log.created_at < end)
        .group_by(Log.user_id, model, token, channel, hour)
    ).all()
    return {(int(u), m, int(t), int(c), int(h)): (int(n), int(q), int(tk)) for u, m, t, c, h, n, q, tk in rows}


def _actual_buckets(start: int, end: int) -> dict[Key, tuple[int, int, int]]:
    rows = db.session.execute(
        select(QuotaData.user_id, QuotaData.model_name, QuotaData.token_id, QuotaData.channel_id,
               QuotaData.created_at, QuotaData.count, QuotaData.quota, QuotaData.token_used)
        .where(QuotaData.created_at >= start, QuotaData.created_at < end)
    ).all()
    return {(u, m, t, c, h): (int(n), int(q), int(tk)) for u, m, t, c, h, n, q, tk in rows}


def _usernames(user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    return dict(db.session.execute(select(User.id, User.username).where(User.id.in_(user_ids))).all())


def _check(since: int | None, until: int | None, *, repair: bool, now: float | None = None,
           chunk: int = DAY, log_repairs: bool = False) -> UsageReport:
    now = int(time.time() if now is None else now)
    until = until if until is not None else now - now % HOUR  # the current hour is still being written
    since = since if since is not None else until - 7 * DAY
    since, until = since - since % HOUR, until - until % HOUR
    if since >= until:
        raise ValidationError("since must be before until (whole hours)")
    report = UsageReport(since, until)
    for start in range(since, until, chunk):
        end = min(start + chunk, until)
        expected, actual = _expected_buckets(start, end), _actual_buckets(start, end)
        report.buckets += len(expected.keys() | actual.keys())
        drift = [Drift(k, expected.get(k), actual.get(k)) for k in sorted(expected.keys() | actual.keys())
                 if expected.get(k) != actual.get(k)]
        report.drift.extend(drift)
        if repair and drift:
            _rewrite(drift, log_repairs=log_repairs)
            report.repaired += len(drift)
    return report


REPAIR_LOG_SHOWN = 10  # drifted buckets described in a repair's system log row; the rest are counted


def repair_log_content(drift: list[Drift]) -> str:
    """The system log text for one repair: how many buckets, and the first few as `describe()` says them."""
    shown = "; ".join(d.describe() for d in drift[:REPAIR_LOG_SHOWN])
    more = f"; and {len(drift) - REPAIR_LOG_SHOWN} more" if len(drift) > REPAIR_LOG_SHOWN else ""
    return (f"Usage rollup repaired: {len(drift)} hourly bucket(s) of quota_data differed from the consume "
            f"logs and were rewritten from them: {shown}{more}")


def _rewrite(drift: list[Drift], *, log_repairs: bool = False) -> None:
    """Make quota_data equal the logs for the drifted buckets, in one transaction (with its system log row
    when `log_repairs`, so the record of a repair exists exactly when the repair does)."""
    names = _usernames({d.key[0] for d in drift if d.actual is None})
    try:
        for d in drift:
            user_id, model, token_id, channel_id, hour = d.key
            where = and_(QuotaData.user_id == user_id, QuotaData.model_name == model,
                         QuotaData.token_id == token_id, QuotaData.channel_id == channel_id,
                         QuotaData.created_at == hour)
            if d.expected is None:
                db.session.execute(delete(QuotaData).where(where))
            elif d.actual is None:
                count, quota, tokens = d.expected
                db.session.add(QuotaData(user_id=user_id, username=names.get(user_id, ""), model_name=model,
                                         token_id=token_id, channel_id=channel_id, created_at=hour,
                                         count=count, quota=quota, token_used=tokens))
            else:
                count, quota, tokens = d.expected
                db.session.execute(update(QuotaData).where(where).values(count=count, quota=quota,
                                                                         token_used=tokens))
        if log_repairs:
            add_system_log(repair_log_content(drift), other={"repaired_buckets": len(drift)})
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise


def verify_quota_data(since: int | None = None, until: int | None = None, *,
                      now: float | None = None) -> UsageReport:
    """Compare quota_data with the consume logs hour by hour over [since, until) (default: the last 7
    days up to the current hour). Logs purged before `since` are not compared: start after them."""
    return _check(since, until, repair=False, now=now)


def repair_quota_data(since: int | None = None, until: int | None = None, *,
                      now: float | None = None, log_repairs: bool = False) -> UsageReport:
    """Like verify, then rewrite every drifted bucket from the logs (one transaction per day; with
    `log_repairs`, each such transaction also writes a system log row saying what it rewrote)."""
    return _check(since, until, repair=True, now=now, log_repairs=log_repairs)


usage_cli = AppGroup("usage", help="Check and repair quota_data (the hourly rollup) against the logs.")


def _cli_range(days: int, since: int | None, until: int | None) -> tuple[int | None, int | None]:
    if since is None and days:
        end = until if until is not None else int(time.time())
        since = end - days * DAY
    return since, until


def _cli_run(repair: bool, days: int, since: int | None, until: int | None, show: int) -> None:
    since, until = _cli_range(days, since, until)
    try:
        report = _check(since, until, repair=repair)
    except ValidationError as exc:
        raise click.ClickException(exc.message) from None
    fmt = "%Y-%m-%d %H:00Z"
    click.echo(f"checked {report.buckets} bucket(s) from {datetime.fromtimestamp(report.since, UTC):{fmt}} "
               f"to {datetime.fromtimestamp(report.until, UTC):{fmt}}")
    for d in report.drift[:show]:
        click.echo("  drift: " + d.describe())
    if len(report.drift) > show:
        click.echo(f"  ... and {len(report.drift) - show} more")
    if repair:
        click.echo(f"repaired {report.repaired} bucket(s)")
    elif report.drift:
        click.echo(f"{len(report.drift)} bucket(s) drifted; run `flask usage repair` with the same range")
        raise SystemExit(1)
    else:
        click.echo("quota_data agrees with the logs")


_range_options = [
    click.option("--days", default=7, show_default=True, help="Check the last N days (when --since is not set)."),
    click.option("--since", type=int, default=None, help="Unix seconds (rounded down to the hour)."),
    click.option("--until", type=int, default=None, help="Unix seconds, exclusive (default: this hour's start)."),
    click.option("--show", default=20, show_default=True, help="How many drifted buckets to print."),
]


def _with_range(func_):
    for option in reversed(_range_options):
        func_ = option(func_)
    return func_


@usage_cli.command("verify")
@_with_range
def usage_verify_command(days: int, since: int | None, until: int | None, show: int) -> None:
    """Report hours where quota_data differs from the consume logs (exit status 1 if any)."""
    _cli_run(False, days, since, until, show)


@usage_cli.command("repair")
@_with_range
def usage_repair_command(days: int, since: int | None, until: int | None, show: int) -> None:
    """Rewrite the hours where quota_data differs from the consume logs."""
    _cli_run(True, days, since, until, show)


def register_usage_cli(app) -> None:
    """Add `flask usage verify|repair` to the app's CLI."""
    app.cli.add_command(usage_cli)
