"""Plans with spend windows (seeds 000, 001, 004): quota types, plans and user subscriptions."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import TimestampMixin, now_ts


class QuotaType(TimestampMixin, db.Model):
    """A kind of spend a plan can count, e.g. "chat", "image"; models are assigned to it by name."""

    __tablename__ = "quota_types"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(String(255), default="", server_default="")
    # Comma-separated model names; empty means every model.
    models: Mapped[str] = mapped_column(Text, default="", nullable=False)


class Plan(TimestampMixin, db.Model):
    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(String(255), default="", server_default="")
    status: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Limits in quota units; 0 means no limit.
    daily_quota_limit: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
    monthly_quota_limit: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
    daily_request_limit: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
    # Comma-separated quota type ids the limits count; empty means all usage.
    quota_type_ids: Mapped[str] = mapped_column(String(255), default="", server_default="")


class UserSubscription(TimestampMixin, db.Model):
    __tablename__ = "user_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), nullable=False, index=True)
    start_time: Mapped[int] = mapped_column(BigInteger, default=now_ts, nullable=False)
    end_time: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)  # 0: open
    status: Mapped[int] = mapped_column(Integer, default=1, server_default="1", index=True)
