"""OpenAI's legacy billing endpoints, which clients such as ChatGPT-Next-Web poll for a key's balance:
GET /dashboard/billing/subscription and /dashboard/billing/usage (also under /v1).

Like new-api's controller/billing.go, amounts are USD = quota / QuotaPerUnit. The limit is what the key
can spend in all (its remaining quota plus what it has used); an unlimited key shows its user's
balance instead. `total_usage` is in cents, as OpenAI reported it.
"""

from __future__ import annotations

from flask import jsonify, request
from sqlalchemy import select

from app.billing.quota import release_session
from app.blueprints.relay import bp
from app.extensions import db
from app.models import Token, User
from app.options import options
from app.relay.keys import authenticate


def _balance() -> tuple[int, int, int]:
    """(remaining quota, used quota, expiry timestamp or 0) of the calling key."""
    caller = authenticate(request.headers.get("Authorization"), request.remote_addr or "")
    t, u = Token.__table__.c, User.__table__.c
    release_session()
    with db.engine.connect() as conn:
        token = conn.execute(select(t.remain_quota, t.used_quota, t.expired_time)
                             .where(t.id == caller.key.token_id)).one()
        if caller.key.unlimited:
            user = conn.execute(select(u.quota, u.used_quota).where(u.id == caller.user.id)).one()
            remain, used = user.quota, user.used_quota
        else:
            remain, used = token.remain_quota, token.used_quota
    expires = int(token.expired_time or 0)
    return max(int(remain or 0), 0), max(int(used or 0), 0), expires if expires > 0 else 0


def _usd(quota: int) -> float:
    return round(quota / float(options().get("QuotaPerUnit")), 6)


@bp.get("/dashboard/billing/subscription")
@bp.get("/v1/dashboard/billing/subscription")
def billing_subscription():
    remain, used, expires = _balance()
    limit = _usd(remain + used)
    return jsonify({"object": "billing_subscription", "has_payment_method": True, "soft_limit_usd": limit,
                    "hard_limit_usd": limit, "system_hard_limit_usd": limit, "access_until": expires})


@bp.get("/dashboard/billing/usage")
@bp.get("/v1/dashboard/billing/usage")
def billing_usage():
    _, used, _ = _balance()
    return jsonify({"object": "list", "daily_costs": [], "total_usage": round(_usd(used) * 100, 4)})
