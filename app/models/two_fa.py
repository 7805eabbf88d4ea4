"""Two-factor authentication (TOTP, as new-api's TwoFA / TwoFABackupCode): one settings row per user and
that user's backup codes. Times are unix seconds like the other *_time columns; 0 means "never"."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import TimestampMixin


class TwoFA(TimestampMixin, db.Model):
    __tablename__ = "two_fa"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, unique=True)
    # Fernet token of the base32 secret (key derived from SECRET_KEY); never sent back after setup.
    secret_encrypted: Mapped[str] = mapped_column(String(255), nullable=False)
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0", nullable=False)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    locked_until: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
    # The last accepted 30-second step: a code of this step or an earlier one is a replay and is refused.
    last_used_step: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
    last_used_time: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)


class TwoFABackupCode(TimestampMixin, db.Model):
    __tablename__ = "two_fa_backup_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    is_used: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0", nullable=False)
    used_time: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
