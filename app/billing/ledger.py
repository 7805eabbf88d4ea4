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


# -- the relay's ledger writes: Core statements built once, run on the settlement connection ------------
# The hot path writes a consume row and the hourly rollup with prebuilt statements on the connection of
# the settlement transaction (no ORM objects): `quota.settle` calls these inside its one transaction.

_LOG_TABLE = Log.__table__
_LOG_INSERT = _LOG_TABLE.insert()
_UPSERTS: dict[str, Any] = {}


def dumps_other(other: dict[str, Any] | None) -> str | None:
    """The `other` column's compact JSON."""
    return json.dumps(other, ensure_ascii=False, separators=(",", ":")) if other else None


def insert_log(conn, row: dict[str, Any]) -> None:
    """Insert one log row (a dict of `logs` column names) on `conn`; `other` may be a dict."""
    other = row.get("other")
    if isinstance(other, dict):
        row = {**row, "other": dumps_other(other)}
    conn.execute(_LOG_INSERT, row)


def _quota_data_upsert(dialect: str):
    """INSERT ... ON CONFLICT (bucket) DO UPDATE (SQLite, PostgreSQL) or ON DUPLICATE KEY UPDATE (MySQL)."""
    stmt = _UPSERTS.get(dialect)
    if stmt is not None:
        return stmt
    from app.models import QuotaData

    table = QuotaData.__table__
    c = table.c
    if dialect == "mysql" or dialect == "mariadb":
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        base = mysql_insert(table)
        stmt = base.on_duplicate_key_update(
            count=c["count"] + base.inserted["count"], quota=c.quota + base.inserted.quota,
            token_used=c.token_used + base.inserted.token_used)
    else:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        base = dialect_insert(table)
        stmt = base.on_conflict_do_update(
            index_elements=[c.user_id, c.model_name, c.token_id, c.channel_id, c.created_at],
            set_={"count": c["count"] + base.excluded["count"], "quota": c.quota + base.excluded.quota,
                  "token_used": c.token_used + base.excluded.token_used})
    _UPSERTS[dialect] = stmt
    return stmt


def upsert_quota_data(conn, *, user_id: int, username: str, model_name: str, token_id: int, channel_id: int,
                      created_at: int, quota: int, token_used: int, count: int = 1) -> None:
    """Add one request to the hourly rollup bucket (user, model, token, channel, hour start)."""
    hour = created_at - created_at % 3600
    conn.execute(_quota_data_upsert(conn.dialect.name), {
        "user_id": user_id, "username": username or "", "model_name": model_name, "token_id": token_id or 0,
        "channel_id": channel_id or 0, "created_at": hour, "quota": quota, "token_used": token_used,
        "count": count,
    })
