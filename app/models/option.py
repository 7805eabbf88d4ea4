"""Runtime settings rows (Veloera `options`) and the first-run marker (`setup`)."""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import TimestampMixin


class Option(TimestampMixin, db.Model):
    __tablename__ = "options"

    key: Mapped[str] = mapped_column("key_name", String(191), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)


class Setup(TimestampMixin, db.Model):
    """Exactly one row (id 1) once the root user exists; the primary key makes setup happen once."""

    __tablename__ = "setup"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    is_setup: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0", nullable=False)
    version: Mapped[str | None] = mapped_column(String(32))
