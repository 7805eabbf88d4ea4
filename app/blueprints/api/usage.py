"""Usage breakdowns: per channel and per key for admins (seed 003), and a user's own spend and plan (seed 001).

The channel routes sit beside the channel CRUD module's `/api/channel/<int:id>` without clashing:
`/api/channel/usage-stats` is a static path and the others have a second static segment.
"""

from __future__ import annotations

from flask import request
from flask_login import current_user

from app.blueprints.api import bp
from app.errors import NotFound, ValidationError
from app.services import stats
from app.services.logs import parse_timestamp
from app.web.api import ok
from app.web.auth import admin_required, user_required

MAX_ID = 2**31 - 1


def _channel_id(value: int) -> int:
    if value > MAX_ID:
        raise NotFound("channel not found")
    return value


@bp.get("/channel/usage-stats")
@admin_required
def channel_usage_stats():
    """Every channel's quota and requests today, this month and in total, with a summary."""
    return ok(stats.channel_usage_stats())


@bp.get("/channel/<int:channel_id>/usage-stats")
@admin_required
def channel_usage_stats_one(channel_id: int):
    """One channel's quota and requests today, this month and in total, also per model."""
    return ok(stats.channel_usage(_channel_id(channel_id)))


@bp.get("/channel/<int:channel_id>/usage-breakdown")
@admin_required
def channel_usage_breakdown(channel_id: int):
    """One channel's usage per API key, over `start_timestamp`..`end_timestamp` (default: all time)."""
    start = parse_timestamp(request.args.get("start_timestamp"), "start_timestamp")
    end = parse_timestamp(request.args.get("end_timestamp"), "end_timestamp")
    if start and end and start > end:
        raise ValidationError("start_timestamp must not be after end_timestamp")
    return ok(stats.channel_usage_breakdown(_channel_id(channel_id), start=start, end=end))


@bp.get("/usage/self")
@user_required
def usage_self():
    """The caller's spend today and this month, their wallet, and their plan's limits and what remains."""
    return ok(stats.user_usage_summary(current_user))
