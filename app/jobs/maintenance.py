"""Housekeeping jobs: expire tokens, purge old logs, cancel stale epay orders."""

from __future__ import annotations

import logging

from sqlalchemy import delete, update

from app.extensions import db
from app.models import Log, Token, TokenStatus
from app.models.base import now_ts

log = logging.getLogger(__name__)


def expire_tokens(now: int | None = None) -> int:
    """Mark enabled tokens whose expired_time has passed as expired; returns how many changed."""
    now = now_ts() if now is None else now
    result = db.session.execute(
        update(Token)
        .where(Token.status == TokenStatus.ENABLED, Token.expired_time > 0, Token.expired_time < now)
        .values(status=TokenStatus.EXPIRED)
    )
    db.session.commit()
    if result.rowcount:
        log.info("expired %d tokens", result.rowcount)
    return result.rowcount


def purge_old_logs(batch: int = 5000) -> int:
    """Delete logs older than LogRetentionDays (0 keeps everything), in batches to keep locks short."""
    from sqlalchemy import select

    from app.options import get_option

    days = get_option("LogRetentionDays")
    if not days:
        return 0
    cutoff = now_ts() - days * 86400
    removed = 0
    while True:
        ids = db.session.scalars(select(Log.id).where(Log.created_at < cutoff).limit(batch)).all()
        if not ids:
            break
        db.session.execute(delete(Log).where(Log.id.in_(ids)))
        db.session.commit()
        removed += len(ids)
    return removed


def cancel_stale_epay_orders() -> int:
    """Cancel epay orders left unpaid for EpayOrderExpireHours (0 keeps them pending forever)."""
    from app.options import get_option
    from app.services import payments

    hours = get_option("EpayOrderExpireHours")
    if not hours:
        return 0
    return payments.cancel_stale_epay_orders(hours)
