"""Payments (Veloera `topups`): credit and status change happen in one transaction."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import TimestampMixin, now_ts


class TopUpStatus:
    PENDING = 1
    PAID = 2
    CANCELLED = 3


class TopUp(TimestampMixin, db.Model):
    __tablename__ = "topups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=0)
    quota: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
    trade_no: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    status: Mapped[int] = mapped_column(Integer, default=TopUpStatus.PENDING, server_default="1", index=True)
    payment_method: Mapped[str | None] = mapped_column(String(64), index=True)
    created_time: Mapped[int] = mapped_column(BigInteger, default=now_ts, index=True)
    paid_time: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
