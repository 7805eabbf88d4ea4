"""API keys (Veloera `tokens`). Only a SHA-256 of the key is stored; the key is shown once."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import SoftDeleteMixin, TimestampMixin, now_ts


class TokenStatus:
    ENABLED = 1
    DISABLED = 2
    EXPIRED = 3
    EXHAUSTED = 4


class Token(TimestampMixin, SoftDeleteMixin, db.Model):
    __tablename__ = "tokens"
    __table_args__ = (
        Index("idx_tokens_user_status", "user_id", "status"),
        Index("idx_tokens_key_status", "key_hash", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    # First and last four characters after "sk-", enough to recognise a key in a list.
    key_hint: Mapped[str] = mapped_column(String(16), default="", server_default="", nullable=False)
    status: Mapped[int] = mapped_column(Integer, default=TokenStatus.ENABLED, server_default="1", index=True)
    name: Mapped[str] = mapped_column(String(255), default="", server_default="", index=True)
    created_time: Mapped[int] = mapped_column(BigInteger, default=now_ts)
    accessed_time: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    expired_time: Mapped[int] = mapped_column(BigInteger, default=-1, server_default="-1")
    remain_quota: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
    unlimited_quota: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0", nullable=False)
    used_quota: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
    model_limits_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    model_limits: Mapped[str] = mapped_column(String(1024), default="", server_default="")
    allow_ips: Mapped[str] = mapped_column(String(1024), default="", server_default="")
    group: Mapped[str] = mapped_column("group_name", String(64), default="", server_default="")

    @property
    def masked_key(self) -> str:
        head, _, tail = self.key_hint.partition("|")
        return f"sk-{head}...{tail}" if head else "sk-..."
