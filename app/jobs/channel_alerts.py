"""E-mail the root user when a channel is disabled or re-enabled automatically (one-api's notifyRootUser,
new-api's NotifyRootUser).

app.relay.health sends `channel_status_changed` once per status change, after it committed; `on_status_change`
only enqueues `mail_root_about_channel` (so the relay's request path never waits on SMTP), and only when
e-mail is set up. The job then looks for the root user's address: no root, or a root without an e-mail,
means no mail. The upstream's error message may echo the channel's key: every key of the channel is
masked in the mail.
"""

from __future__ import annotations

import logging

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from app.extensions import db
from app.jobs.queues import enqueue
from app.models import Channel, Role, User
from app.options import get_option
from app.relay.health import channel_status_changed
from app.services import mail

log = logging.getLogger(__name__)


def root_email() -> str | None:
    """The address of the root user (the first one, if several), or None."""
    address = db.session.scalar(select(User.email).where(User.role >= Role.ROOT, User.deleted_at.is_(None),
                                                         User.email.is_not(None), User.email != "")
                                .order_by(User.id).limit(1))
    return address or None


def _masked(text: str, channel_id: int) -> str:
    """`text` with every key of the channel masked (a hint of a short key would show all of it)."""
    raw = db.session.scalar(select(Channel.key).where(Channel.id == channel_id)) or ""
    for key in sorted((k.strip() for k in raw.splitlines() if k.strip()), key=len, reverse=True):
        text = text.replace(key, "***")
    return text


def _message(channel_id: int, name: str, enabled: bool, reason: str) -> tuple[str, str]:
    """Subject and text in the site's default language (a job has no request to pick one from)."""
    site = get_option("SystemName") or "Sluice"
    with force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE", "en")):
        if enabled:
            subject = _('%(site)s: channel "%(name)s" (#%(id)s) was re-enabled', site=site, name=name,
                        id=channel_id)
            text = _('Channel "%(name)s" (#%(id)s) was re-enabled automatically: %(reason)s.', name=name,
                     id=channel_id, reason=reason)
        else:
            subject = _('%(site)s: channel "%(name)s" (#%(id)s) was disabled', site=site, name=name,
                        id=channel_id)
            text = _('Channel "%(name)s" (#%(id)s) was disabled automatically.\n\nReason: %(reason)s', name=name,
                     id=channel_id, reason=reason)
    return subject, text


def mail_root_about_channel(channel_id: int, name: str, enabled: bool, reason: str) -> str:
    """The job: mail the root user; returns "sent", "no-address", "off" or "failed" (logged, not retried:
    the system log row already records the change)."""
    if not mail.is_configured():
        return "off"
    address = root_email()
    if address is None:
        return "no-address"
    subject, text = _message(channel_id, name, enabled, _masked(reason, channel_id))
    try:
        mail.send_mail(address, subject, text)
    except (mail.MailDeliveryFailed, mail.MailNotConfigured) as exc:
        log.warning("mail to root about channel %s failed: %s", channel_id, exc)
        return "failed"
    return "sent"


def on_status_change(app, *, channel_id: int, name: str, enabled: bool, reason: str) -> None:
    """Receiver of `channel_status_changed`: enqueue the mail when e-mail is set up."""
    if mail.is_configured():
        enqueue(mail_root_about_channel, channel_id, name, enabled, reason)


channel_status_changed.connect(on_status_change)
