"""Channel health: automatic disabling on failures that mean "this channel's credentials are bad",
and re-enabling when a channel test passes.

A failure disables when AutomaticDisableChannelEnabled is on, the channel's `auto_ban` is on, and the
upstream answered 401 or 403, or its error message contains one of AutomaticDisableKeywords
(case-insensitive; e.g. "You exceeded your current quota", which OpenAI sends with a 429). A 429 that
is only a rate limit, a 5xx, a timeout or a network error never disables.
On a multi-key channel the failing key is disabled (`other_info.key_status[index] = 3`); the channel
itself only when no enabled key is left. Every disable writes a system log row (type 4) for the admins
and bumps the "channels" cache so every process stops routing to it within a second.

The status change itself is a conditional UPDATE (`WHERE status = <the status read>`), so of two processes
racing to disable (or re-enable) one channel exactly one changes it; only that one sends
`channel_status_changed` after its transaction commits (app.jobs.channel_alerts mails the root user).
"""

from __future__ import annotations

import json
import logging
import time

from blinker import Namespace
from flask import current_app
from sqlalchemy import select, update

from app.billing import ledger
from app.billing.quota import release_session
from app.cache import bump
from app.extensions import db
from app.models import Ability, Channel, ChannelStatus, LogType
from app.options import options
from app.relay.types import ChannelInfo, UpstreamFailure

log = logging.getLogger(__name__)

KEY_ENABLED = 1
KEY_AUTO_DISABLED = 3
_channels = Channel.__table__
_abilities = Ability.__table__
# Sent once per channel status change, after it committed: (app, channel_id=, name=, enabled=, reason=).
channel_status_changed = Namespace().signal("channel-status-changed")


def _announce(channel_id: int, name: str, *, enabled: bool, reason: str) -> None:
    """Tell the listeners; they only enqueue work, and a failing one never undoes the change."""
    try:
        channel_status_changed.send(current_app._get_current_object(), channel_id=channel_id, name=name,
                                    enabled=enabled, reason=reason)
    except Exception:  # noqa: BLE001 - a notification must never break the request that caused it
        log.exception("could not announce the status change of channel %s", channel_id)


def should_disable(channel: ChannelInfo, failure: UpstreamFailure) -> bool:
    """True when `failure` says the channel (or its key) should stop taking requests."""
    if failure.network or not channel.auto_ban:
        return False
    store = options()
    if not store.get("AutomaticDisableChannelEnabled"):
        return False
    if failure.status in (401, 403):
        return True
    message = (failure.message or "").lower()
    code = (failure.code or "").lower()
    return any(k and (k.lower() in message or k.lower() == code) for k in store.get("AutomaticDisableKeywords"))


def record_failure(channel: ChannelInfo, key_index: int, failure: UpstreamFailure) -> bool:
    """Disable the key (and the channel when it was the last) if `failure` calls for it; True if done."""
    if not should_disable(channel, failure):
        return False
    reason = f"status {failure.status}: {failure.message}"[:500]
    release_session()
    try:
        return disable(channel.id, key_index, reason)
    except Exception:  # noqa: BLE001 - health bookkeeping must never break the request being retried
        log.exception("could not disable channel %s", channel.id)
        return False


def _other_info(text: str | None) -> dict:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        value = {}
    return value if isinstance(value, dict) else {}


def disable(channel_id: int, key_index: int, reason: str) -> bool:
    """Mark key `key_index` of the channel auto-disabled, and the channel when no key is left enabled."""
    c = _channels.c
    now = int(time.time())
    changed = False
    with db.engine.begin() as conn:
        row = conn.execute(select(c.name, c.key_value, c.other_info, c.status).where(c.id == channel_id)
                           .with_for_update()).first()
        if row is None:
            return False
        keys = [k for k in (row.key_value or "").splitlines() if k.strip()]
        info = _other_info(row.other_info)
        values: dict = {}
        channel_off = True
        what = f"channel #{channel_id} ({row.name})"
        if len(keys) > 1:
            status = info.get("key_status") if isinstance(info.get("key_status"), dict) else {}
            if status.get(str(key_index), KEY_ENABLED) == KEY_ENABLED:
                status[str(key_index)] = KEY_AUTO_DISABLED
                reasons = info.get("key_disabled_reason") if isinstance(info.get("key_disabled_reason"), dict) else {}
                reasons[str(key_index)] = reason
                info["key_status"], info["key_disabled_reason"] = status, reasons
                changed = True
                what = f"key {key_index} of channel #{channel_id} ({row.name})"
            channel_off = all(status.get(str(i), KEY_ENABLED) != KEY_ENABLED for i in range(len(keys)))
        if channel_off and row.status == ChannelStatus.ENABLED:
            values["status"] = ChannelStatus.AUTO_DISABLED
            info["disabled_reason"], info["disabled_time"] = reason, now
            changed = True
            what = f"channel #{channel_id} ({row.name})"
        if not changed:
            return False
        values["other_info"] = json.dumps(info, ensure_ascii=False, separators=(",", ":"))
        if not _update_if_unchanged(conn, channel_id, row.status, values):
            return False
        if "status" in values:
            conn.execute(update(_abilities).where(_abilities.c.channel_id == channel_id).values(enabled=False))
        ledger.insert_log(conn, {"type": LogType.SYSTEM, "created_at": now, "channel_id": channel_id,
                                 "content": f"{what} was disabled automatically: {reason}"})
    log.warning("auto-disabled %s: %s", what, reason)
    bump("channels")
    if "status" in values:
        _announce(channel_id, row.name, enabled=False, reason=reason)
    return True


def _update_if_unchanged(conn, channel_id: int, status_read: int, values: dict) -> bool:
    """Write `values` only if the channel's status is still `status_read`; True when a row changed.

    FOR UPDATE already serializes this on PostgreSQL and MySQL; SQLite ignores it, and there the condition
    is what keeps two racing writers from both changing the status (and both announcing it)."""
    c = _channels.c
    result = conn.execute(update(_channels).where(c.id == channel_id, c.status == status_read).values(**values))
    return result.rowcount == 1


def enable(channel_id: int, key_index: int | None = None, *, note: str = "passed a channel test") -> bool:
    """Re-enable an auto-disabled channel (and key `key_index`); manually disabled channels stay off."""
    c = _channels.c
    now = int(time.time())
    with db.engine.begin() as conn:
        row = conn.execute(select(c.name, c.other_info, c.status).where(c.id == channel_id)
                           .with_for_update()).first()
        if row is None:
            return False
        info = _other_info(row.other_info)
        values: dict = {}
        status = info.get("key_status") if isinstance(info.get("key_status"), dict) else None
        if key_index is not None and status and status.get(str(key_index)) == KEY_AUTO_DISABLED:
            status[str(key_index)] = KEY_ENABLED
            (info.get("key_disabled_reason") or {}).pop(str(key_index), None)
            values["other_info"] = None
        if row.status == ChannelStatus.AUTO_DISABLED:
            values["status"] = ChannelStatus.ENABLED
            info.pop("disabled_reason", None)
            info.pop("disabled_time", None)
            values["other_info"] = None
        if not values:
            return False
        values["other_info"] = json.dumps(info, ensure_ascii=False, separators=(",", ":"))
        if not _update_if_unchanged(conn, channel_id, row.status, values):
            return False
        if "status" in values:
            conn.execute(update(_abilities).where(_abilities.c.channel_id == channel_id).values(enabled=True))
        ledger.insert_log(conn, {"type": LogType.SYSTEM, "created_at": now, "channel_id": channel_id,
                                 "content": f"channel #{channel_id} ({row.name}) was re-enabled: {note}"})
    bump("channels")
    if "status" in values:
        _announce(channel_id, row.name, enabled=True, reason=note)
    return True
