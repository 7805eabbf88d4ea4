"""Per-user request rate on the relay: new-api's model request rate limit.

Options (new-api's names):
- `ModelRequestRateLimitEnabled`: the switch for new-api's semantics below.
- `ModelRequestRateLimitDurationMinutes`: the window (any N minutes, sliding).
- `ModelRequestRateLimitCount`: all requests a user may send in the window, failed ones included (0: no limit).
- `ModelRequestRateLimitSuccessCount`: successful requests in the window (answered below 400; 0: no limit).
  Only checked before a request; a request is counted after its answer, as new-api does, so concurrent
  requests may pass it together by a few.
- `ModelRequestRateLimitGroup`: group -> [count, successCount], replacing both for callers in that group
  (the key's group, else the user's).

With the switch off, Sluice's earlier meaning of `ModelRequestRateLimitCount` still holds: that many
requests per user per minute, whatever the group, and nothing counted on success.

Counted with the `limits` library (Flask-Limiter's engine) on the same storage as the app's other rate
limits: Redis when REDIS_URL is set, so the limits hold across processes; memory otherwise, per process.
Costs two option reads and nothing else while no limit is set.
"""

from __future__ import annotations

from flask import after_this_request, current_app
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.errors import RateLimited

TOTAL, SUCCESS = "relay-user", "relay-user-ok"

_ITEMS: dict[tuple[int, int], RateLimitItem] = {}


def _limiter() -> MovingWindowRateLimiter:
    extensions = current_app.extensions
    limiter = extensions.get("sluice_relay_rate")
    if limiter is None:
        uri = current_app.config.get("REDIS_URL") or "memory://"
        limiter = extensions.setdefault("sluice_relay_rate", MovingWindowRateLimiter(storage_from_string(uri)))
    return limiter


def _item(count: int, minutes: int) -> RateLimitItem:
    item = _ITEMS.get((count, minutes))
    if item is None:
        item = _ITEMS.setdefault((count, minutes), RateLimitItemPerMinute(count, minutes))
    return item


def _per(minutes: int) -> str:
    return "per minute" if minutes == 1 else f"per {minutes} minutes"


def limits_for(store, group: str) -> tuple[int, int, int]:
    """(count, success count, minutes) that apply to a caller in `group`; 0 counts mean no limit."""
    count = int(store.get("ModelRequestRateLimitCount"))
    if not store.get("ModelRequestRateLimitEnabled"):
        return count, 0, 1
    override = store.get("ModelRequestRateLimitGroup").get(group)
    if override is not None:
        count, success = override
    else:
        success = int(store.get("ModelRequestRateLimitSuccessCount"))
    return count, success, int(store.get("ModelRequestRateLimitDurationMinutes"))


def check_request_rate(store, user_id: int, group: str) -> None:
    """Count one request of `user_id`; 429 `rate_limit_exceeded` when a limit is reached. A successful
    answer (below 400) is counted against the success limit when the response goes out."""
    if not (store.get("ModelRequestRateLimitEnabled") or store.get("ModelRequestRateLimitCount")):
        return
    count, success, minutes = limits_for(store, group)
    limiter, who = _limiter(), str(user_id)
    if success > 0:
        success_item = _item(success, minutes)
        if not limiter.test(success_item, SUCCESS, who):
            raise RateLimited(f"too many requests: this account may send {success} successful requests "
                              f"{_per(minutes)}")
    if count > 0 and not limiter.hit(_item(count, minutes), TOTAL, who):
        raise RateLimited(f"too many requests: this account may send {count} requests {_per(minutes)}, "
                          "failed ones included")
    if success > 0:
        @after_this_request
        def count_success(response):
            if response.status_code < 400:
                limiter.hit(success_item, SUCCESS, who)
            return response

