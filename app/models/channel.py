"""Upstream channels (Veloera `channels`) and their routing rows (`abilities`)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import TimestampMixin, now_ts


class ChannelStatus:
    ENABLED = 1
    MANUALLY_DISABLED = 2
    AUTO_DISABLED = 3


class Channel(TimestampMixin, db.Model):
    __tablename__ = "channels"
    __table_args__ = (
        Index("idx_channels_type_status", "type", "status"),
        Index("idx_channels_group_status", "group_name", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[int] = mapped_column(Integer, default=1, server_default="1", nullable=False, index=True)
    # One key per line; never sent to a client.
    key: Mapped[str] = mapped_column("key_value", Text, nullable=False)
    openai_organization: Mapped[str | None] = mapped_column(String(255))
    test_model: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[int] = mapped_column(Integer, default=ChannelStatus.ENABLED, server_default="1", index=True)
    name: Mapped[str] = mapped_column(String(255), default="", server_default="", index=True)
    weight: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_time: Mapped[int] = mapped_column(BigInteger, default=now_ts)
    test_time: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    response_time: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    base_url: Mapped[str] = mapped_column(String(512), default="", server_default="")
    # Provider settings as JSON (e.g. Azure api_version).
    other: Mapped[str | None] = mapped_column(Text)
    balance: Mapped[Decimal] = mapped_column(Numeric(16, 6), default=0, server_default="0")
    balance_updated_time: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    models: Mapped[str] = mapped_column(Text, default="", nullable=False)
    group: Mapped[str] = mapped_column(
        "group_name", String(64), default="default", server_default="default", nullable=False, index=True
    )
    used_quota: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
    model_mapping: Mapped[str | None] = mapped_column(Text)
    status_code_mapping: Mapped[str] = mapped_column(String(1024), default="", server_default="")
    priority: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", index=True)
    auto_ban: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Multi-key state and other bookkeeping as JSON: {"key_status": {"0": 1, ...}, "disabled_reason": ...}
    other_info: Mapped[str | None] = mapped_column(Text)
    tag: Mapped[str | None] = mapped_column(String(255), index=True)
    multi_key_mode: Mapped[str] = mapped_column(String(16), default="random", server_default="random")
    param_override: Mapped[str | None] = mapped_column(Text)
    header_override: Mapped[str | None] = mapped_column(Text)

    def model_list(self) -> list[str]:
        return [m.strip() for m in (self.models or "").split(",") if m.strip()]

    def group_list(self) -> list[str]:
        return [g.strip() for g in (self.group or "").split(",") if g.strip()]

    def key_list(self) -> list[str]:
        return [k.strip() for k in (self.key or "").splitlines() if k.strip()]


class Ability(TimestampMixin, db.Model):
    """One (group, model, channel) routing row, rebuilt from the channel on every save."""

    __tablename__ = "abilities"
    __table_args__ = (
        Index("idx_abilities_group_model", "group_name", "model"),
        Index("idx_abilities_model_enabled", "model", "enabled"),
    )

    group: Mapped[str] = mapped_column("group_name", String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(255), primary_key=True)
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1", index=True)
    priority: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", index=True)
    weight: Mapped[int] = mapped_column(Integer, default=0, server_default="0", index=True)
    tag: Mapped[str | None] = mapped_column(String(255), index=True)
