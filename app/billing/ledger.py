"""Writes log rows. Callers add them to the session inside the same transaction as the quota change."""

from __future__ import annotations

import json
from typing import Any

from app.extensions import db
from app.models import Log, LogType


def add_log(*, log_type: int, user_id: int | None, username: str | None, quota: int = 0,
            content: str = "", other: dict[str, Any] | None = None, **fields: Any) -> Log:
    """Add a log row to the current transaction (the caller commits)."""
    row = Log(type=log_type, user_id=user_id, username=username, quota=quota, content=content,
              other=json.dumps(other, ensure_ascii=False, separators=(",", ":")) if other else None, **fields)
    db.session.add(row)
    return row


def add_manage_log(user, quota: int, content: str, **extra: Any) -> Log:
    return add_log(log_type=LogType.MANAGE, user_id=user.id, username=user.username, quota=quota,
                   content=content, **extra)


def add_topup_log(user, quota: int, content: str, **extra: Any) -> Log:
    return add_log(log_type=LogType.TOPUP, user_id=user.id, username=user.username, quota=quota,
                   content=content, **extra)


def add_system_log(content: str, user=None, **extra: Any) -> Log:
    return add_log(log_type=LogType.SYSTEM, user_id=getattr(user, "id", None),
                   username=getattr(user, "username", None), content=content, **extra)
