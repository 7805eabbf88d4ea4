"""Users: accounts with a role, a wallet (quota) and affiliate fields (Veloera `users`)."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import SoftDeleteMixin, TimestampMixin


class Role:
    USER = 1
    ADMIN = 10
    ROOT = 100


class UserStatus:
    ENABLED = 1
    DISABLED = 2


class User(UserMixin, TimestampMixin, SoftDeleteMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        Index("idx_users_username_status", "username", "status"),
        Index("idx_users_email_status", "email", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    password: Mapped[str] = mapped_column(String(255), nullable=False)
    display_name: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[int] = mapped_column(Integer, default=Role.USER, server_default="1", nullable=False)
    status: Mapped[int] = mapped_column(Integer, default=UserStatus.ENABLED, server_default="1", nullable=False)
    email: Mapped[str | None] = mapped_column(String(255), index=True)
    github_id: Mapped[str | None] = mapped_column(String(64), index=True)
    oidc_id: Mapped[str | None] = mapped_column(String(64), index=True)
    wechat_id: Mapped[str | None] = mapped_column(String(64), index=True)
    telegram_id: Mapped[str | None] = mapped_column(String(64), index=True)
    linux_do_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # SHA-256 of the system access token; the token itself is shown once.
    access_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    quota: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
    used_quota: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
    request_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
    group: Mapped[str] = mapped_column(
        "group_name", String(64), default="default", server_default="default", nullable=False
    )
    aff_code: Mapped[str | None] = mapped_column(String(32), unique=True)
    aff_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    aff_quota: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
    aff_history_quota: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
    inviter_id: Mapped[int | None] = mapped_column(Integer, index=True)
    setting: Mapped[str | None] = mapped_column(Text)
    last_check_in_time: Mapped[datetime | None] = mapped_column(DateTime)
    # Bumped to invalidate every session of the user (password change, disable).
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1", nullable=False)

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self) -> bool:
        return self.status == UserStatus.ENABLED and self.deleted_at is None

    @property
    def is_admin(self) -> bool:
        return self.role >= Role.ADMIN

    @property
    def is_root(self) -> bool:
        return self.role >= Role.ROOT
