"""Per-user request rate on the relay (the `ModelRequestRateLimitCount` option, requests per minute).

Counted with the `limits` library (Flask-Limiter's engine) on the same storage as the app's other rate
limits: Redis when REDIS_URL is set, so the limit holds across processes; memory otherwise, per process.
Costs nothing while the option is 0.
"""

from __future__ import annotations

from flask import current_app
from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from app.errors import RateLimited

_ITEMS: dict[int, RateLimitItemPerMinute] = {}


def _limiter() -> FixedWindowRateLimiter:
    extensions = current_app.extensions
    limiter = extensions.get("sluice_relay_rate")
    if limiter is None:
        uri = current_app.config.get("REDIS_URL") or "memory://"
        limiter = extensions.setdefault("sluice_relay_rate", FixedWindowRateLimiter(storage_from_string(uri)))
    return limiter


def check_user_rate(user_id: int, per_minute: int) -> None:
    """Count one request for `user_id`; 429 `rate_limit_exceeded` past `per_minute` (0: no limit)."""
    if per_minute <= 0:
        return
    item = _ITEMS.get(per_minute)
    if item is None:
        item = _ITEMS.setdefault(per_minute, RateLimitItemPerMinute(per_minute))
    if not _limiter().hit(item, "relay-user", str(user_id)):
        raise RateLimited(f"too many requests: this account may send {per_minute} per minute")
