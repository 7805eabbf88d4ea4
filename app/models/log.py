"""The usage ledger (Veloera `logs`): the single source of truth for usage, one row per event."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import BigIntPK, now_ts


class LogType:
    UNKNOWN = 0
    TOPUP = 1
    CONSUME = 2
    MANAGE = 3
    SYSTEM = 4
    CHECKIN = 5
    REFUND = 6
    ERROR = 7


class Log(db.Model):
    __tablename__ = "logs"
    __table_args__ = (
        Index("idx_logs_user_time", "user_id", "created_at"),
        Index("idx_logs_model_time", "model_name", "created_at"),
        Index("idx_logs_channel_time", "channel_id", "created_at"),
        Index("idx_logs_token_time", "token_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    # Only indexes the queries use: user/model/channel/token lookups go through the composite
    # (x, created_at) indexes above, so single-column copies would only slow every settlement down.
    user_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ts, index=True)
    type: Mapped[int] = mapped_column(Integer, default=LogType.UNKNOWN, server_default="0")
    content: Mapped[str | None] = mapped_column(Text)
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    token_name: Mapped[str | None] = mapped_column(String(255))
    model_name: Mapped[str | None] = mapped_column(String(255))
    quota: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    use_time: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    is_stream: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    channel_id: Mapped[int | None] = mapped_column(Integer)
    token_id: Mapped[int | None] = mapped_column(Integer)
    group: Mapped[str | None] = mapped_column("group_name", String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    # JSON: ratios, first-response ms, retry chain (admin only), cache tokens ...
    other: Mapped[str | None] = mapped_column(Text)


class QuotaData(db.Model):
    """Hourly rollup of consume logs per user, model, token and channel, written with the log row."""

    __tablename__ = "quota_data"
    __table_args__ = (
        Index("idx_quota_data_model_user_name", "model_name", "username"),
        Index(
            "uq_quota_data_bucket", "user_id", "model_name", "token_id", "channel_id", "created_at", unique=True
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    # user_id and model_name lead the unique bucket and (model_name, username) indexes.
    user_id: Mapped[int] = mapped_column(Integer, nullable=False)
    username: Mapped[str] = mapped_column(String(64), default="", server_default="", index=True)
    model_name: Mapped[str] = mapped_column(String(255), default="", server_default="")
    token_id: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    channel_id: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False, index=True)
    # Start of the hour, unix seconds.
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    token_used: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
    count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
    quota: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
