"""Low-balance reminders: e-mail a user once each time their balance falls below QuotaRemindThreshold.

new-api sends this mail from the billing path; here a job does it every few minutes, so the relay's hot
path never waits on SMTP. Who gets one: an enabled user with an e-mail address, who has spent something
(used_quota > 0: the balance fell by use, not a fresh account that never had any), whose quota is below
the threshold, and who has not been reminded since the balance was last at or above it.

The "reminded" marker lives in the user's `setting` JSON (REMINDED_KEY: the Unix time of the mail). A run
first re-arms users whose balance is back at or above the threshold (drops the marker), then mails the
others. Every marker write is a compare-and-set on the whole `setting` text, so a concurrent change to
the user's settings is never lost (that user is simply retried next run), and two overlapping runs never
mail one user twice: the marker is set before the mail is sent and taken back when the mail fails, so
the next run tries again.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select, update

from app.extensions import db
from app.jobs.locks import job_lock
from app.models import User, UserStatus
from app.options import get_option
from app.services import mail
from app.web.filters import format_quota

log = logging.getLogger(__name__)

REMINDED_KEY = "low_quota_reminded_at"
LOCK_SECONDS = 900
BATCH = 500  # users handled per query; a run goes through every batch
WALLET_PATH = "/console/wallet"


def _settings(raw: str | None) -> dict[str, Any] | None:
    """The user's `setting` JSON as a dict ({} when empty); None when the text is not a JSON object, which
    this job leaves alone rather than overwrite."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _dump(settings: dict[str, Any]) -> str | None:
    return json.dumps(settings, ensure_ascii=False, separators=(",", ":")) if settings else None


def _compare_and_set(user_id: int, old: str | None, new: str | None) -> bool:
    """Write `new` into the user's setting only if it still holds `old`; True when it did."""
    current = User.setting.is_(None) if old is None else User.setting == old
    result = db.session.execute(update(User).where(User.id == user_id, current).values(setting=new))
    db.session.commit()
    return result.rowcount == 1


def _user_batch(threshold: int, *, below: bool, after_id: int) -> list:
    """The next batch of users after `after_id`: candidates for a reminder when `below`, else users at or
    above the threshold who still carry the marker."""
    c = User.__table__.c
    # LIKE narrows the scan to rows that mention the key; the JSON is still parsed before acting on it.
    mentions = c.setting.like(f'%"{REMINDED_KEY}"%')
    if below:
        where = [c.quota < threshold, c.used_quota > 0, c.status == UserStatus.ENABLED, c.deleted_at.is_(None),
                 c.email.is_not(None), c.email != "", (c.setting.is_(None) | ~mentions)]
    else:
        where = [c.quota >= threshold, mentions]
    stmt = (select(c.id, c.username, c.email, c.quota, c.setting).where(c.id > after_id, *where)
            .order_by(c.id).limit(BATCH))
    rows = db.session.execute(stmt).all()
    db.session.commit()  # end the read transaction: SMTP waits happen between batches
    return rows


def _rearm(threshold: int) -> int:
    """Drop the marker of every user whose balance is back at or above the threshold."""
    rearmed, after = 0, 0
    while rows := _user_batch(threshold, below=False, after_id=after):
        for row in rows:
            settings = _settings(row.setting)
            if settings is not None and settings.pop(REMINDED_KEY, None) is not None:
                rearmed += _compare_and_set(row.id, row.setting, _dump(settings))
        after = rows[-1].id
    return rearmed


def _message(username: str, quota: int, threshold: int) -> tuple[str, str]:
    """Subject and text in the site's default language (a job has no request to pick one from)."""
    site = get_option("SystemName") or "Sluice"
    with force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE", "en")):
        subject = _("%(site)s: your balance is running low", site=site)
        text = _("Hello %(name)s,\n\nyour balance on %(site)s is %(balance)s, below %(threshold)s. Requests "
                 "stop when it runs out.", name=username, site=site, balance=format_quota(quota),
                 threshold=format_quota(threshold))
        base = (get_option("ServerAddress") or "").strip().rstrip("/")
        if base.startswith(("http://", "https://")):
            text += "\n\n" + _("Top up here: %(link)s", link=base + WALLET_PATH)
    return subject, text


def _remind(row, threshold: int) -> str:
    """Mail one user; returns "sent", "failed", "busy" (their setting changed under us) or "unreadable"
    (their setting is not a JSON object, so no marker can be kept: no mail rather than one every run)."""
    settings = _settings(row.setting)
    if settings is None:
        return "unreadable"
    marked = _dump({**settings, REMINDED_KEY: int(time.time())})
    if not _compare_and_set(row.id, row.setting, marked):
        return "busy"
    subject, text = _message(row.username, row.quota, threshold)
    try:
        mail.send_mail(row.email, subject, text)
    except (mail.MailDeliveryFailed, mail.MailNotConfigured) as exc:
        log.warning("low-balance reminder to user %s failed: %s", row.id, exc)
        _compare_and_set(row.id, marked, row.setting)  # try again next run
        return "failed"
    return "sent"


def send_low_quota_reminders() -> dict:
    """The periodic job (every 5 minutes). Off while QuotaRemindThreshold is 0 or e-mail is not set up."""
    threshold = int(get_option("QuotaRemindThreshold") or 0)
    if threshold <= 0 or not mail.is_configured():
        return {"off": True}
    with job_lock("quota-reminders", LOCK_SECONDS) as acquired:
        if not acquired:
            return {"skipped": True}
        summary = {"rearmed": _rearm(threshold), "sent": 0, "failed": 0, "busy": 0, "unreadable": 0}
        after = 0
        while rows := _user_batch(threshold, below=True, after_id=after):
            for row in rows:
                summary[_remind(row, threshold)] += 1
            after = rows[-1].id
        if summary["sent"] or summary["failed"]:
            log.info("low-balance reminders: %s", summary)
        return summary
