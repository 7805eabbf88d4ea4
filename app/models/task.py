"""Asynchronous upstream jobs: Midjourney (Veloera `midjourney`) and the generic `tasks` (Suno, video)."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import BigIntPK, TimestampMixin, now_ts


class Midjourney(TimestampMixin, db.Model):
    __tablename__ = "midjourney"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    code: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str | None] = mapped_column(String(40), index=True)
    mj_id: Mapped[str | None] = mapped_column(String(255), index=True)
    prompt: Mapped[str | None] = mapped_column(Text)
    prompt_en: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str | None] = mapped_column(String(255))
    submit_time: Mapped[int] = mapped_column(BigInteger, default=now_ts, index=True)
    start_time: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    finish_time: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    image_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(20), index=True)
    progress: Mapped[str | None] = mapped_column(String(20))
    fail_reason: Mapped[str | None] = mapped_column(Text)
    channel_id: Mapped[int | None] = mapped_column(Integer, index=True)
    quota: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    token_id: Mapped[int | None] = mapped_column(Integer)
    buttons: Mapped[str | None] = mapped_column(Text)  # JSON list from the proxy (new-api keeps it as text)
    properties: Mapped[str | None] = mapped_column(Text)  # JSON object from the proxy


class Task(db.Model):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ts)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now_ts, onupdate=now_ts)
    task_id: Mapped[str | None] = mapped_column(String(191), index=True)
    platform: Mapped[str | None] = mapped_column(String(30), index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    token_id: Mapped[int | None] = mapped_column(Integer)
    channel_id: Mapped[int | None] = mapped_column(Integer, index=True)
    quota: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    action: Mapped[str | None] = mapped_column(String(40), index=True)
    status: Mapped[str | None] = mapped_column(String(20), index=True)
    fail_reason: Mapped[str | None] = mapped_column(Text)
    submit_time: Mapped[int] = mapped_column(BigInteger, default=now_ts, index=True)
    start_time: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", index=True)
    finish_time: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", index=True)
    progress: Mapped[str | None] = mapped_column(String(20))
    properties: Mapped[dict | None] = mapped_column(JSON)
    data: Mapped[dict | None] = mapped_column(JSON)
