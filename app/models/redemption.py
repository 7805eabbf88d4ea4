"""Redemption and gift codes (Veloera `redemptions`) and who redeemed them (`redemption_logs`)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import SoftDeleteMixin, TimestampMixin, now_ts


class RedemptionStatus:
    UNUSED = 1
    USED = 2
    DISABLED = 3


class Redemption(TimestampMixin, SoftDeleteMixin, db.Model):
    __tablename__ = "redemptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)  # the admin who created it
    key: Mapped[str] = mapped_column("key_value", String(64), unique=True, nullable=False)
    status: Mapped[int] = mapped_column(Integer, default=RedemptionStatus.UNUSED, server_default="1", index=True)
    name: Mapped[str] = mapped_column(String(255), default="", server_default="", index=True)
    quota: Mapped[int] = mapped_column(BigInteger, default=100, server_default="100", nullable=False)
    created_time: Mapped[int] = mapped_column(BigInteger, default=now_ts)
    redeemed_time: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    used_user_id: Mapped[int | None] = mapped_column(Integer)
    is_gift: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0", index=True)
    max_uses: Mapped[int] = mapped_column(Integer, default=-1, server_default="-1")
    used_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    valid_from: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    valid_until: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class RedemptionLog(db.Model):
    __tablename__ = "redemption_logs"
    __table_args__ = (UniqueConstraint("redemption_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    redemption_id: Mapped[int] = mapped_column(
        ForeignKey("redemptions.id", ondelete="CASCADE"), nullable=False, index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    used_time: Mapped[int] = mapped_column(BigInteger, default=now_ts, index=True)
    quota: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
