"""Relay fixtures: the mock upstream, the app served on a real port, channels and keys made from models.

Tests read balances and logs through short connections (`balances`, `consume_logs`), never by touching
ORM objects: on SQLite an open read transaction holds the write lock (BEGIN IMMEDIATE) and would stall
the server threads.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

import openai
import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from app.cache import bump
from app.extensions import db
from app.models import Ability, Channel, Log, LogType, Role, Token, User
from app.options import options
from app.security import hash_secret, key_hint, new_api_key
from tests.factories import make_user
from tests.mock_upstream import MockUpstream

UPSTREAM_KEY = "sk-upstream-good"


@dataclass
class Key:
    key: str
    token_id: int
    user_id: int


@pytest.fixture
def mock_upstream():
    with MockUpstream() as upstream:
        yield upstream


@pytest.fixture
def relay_url(app):
    """The app served by werkzeug's threaded server on a free port; `<url>/v1` for the SDK."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    server.server_close()


def release() -> None:
    """End the test's own session transaction so server threads can write."""
    db.session.rollback()


def set_options(**values) -> None:
    options().update(values)
    release()


def create_channel(*, base_url: str, models=("gpt-4o-mini",), key: str = UPSTREAM_KEY, group: str = "default",
                   channel_type: int = 1, priority: int = 0, weight: int = 0, status: int = 1,
                   name: str | None = None, **fields) -> int:
    """A channel row plus its abilities (one per group x model); returns its id."""
    for name_ in ("model_mapping", "param_override", "header_override", "other", "other_info",
                  "status_code_mapping"):
        if isinstance(fields.get(name_), dict):
            fields[name_] = json.dumps(fields[name_])
    channel = Channel(type=channel_type, key=key, base_url=base_url, models=",".join(models), group=group,
                      priority=priority, weight=weight, status=status, name=name or f"ch-{models[0]}", **fields)
    db.session.add(channel)
    db.session.flush()
    for g in group.split(","):
        for model in models:
            db.session.add(Ability(group=g, model=model, channel_id=channel.id, enabled=status == 1,
                                   priority=priority, weight=weight))
    channel_id = channel.id
    db.session.commit()
    bump("channels")
    release()
    return channel_id


def create_key(user_id: int, *, remain_quota: int = 0, unlimited: bool = False, **fields) -> Key:
    key = new_api_key()
    token = Token(user_id=user_id, key_hash=hash_secret(key), key_hint=key_hint(key), name=fields.pop("name", "k"),
                  remain_quota=remain_quota, unlimited_quota=unlimited, **fields)
    db.session.add(token)
    db.session.commit()
    token_id = token.id
    bump("tokens")
    release()
    return Key(key, token_id, user_id)


def create_user(quota: int = 0, **fields) -> int:
    user = make_user(quota=quota, **fields)
    user_id = user.id
    release()
    return user_id


@pytest.fixture
def make_channel(app, mock_upstream):
    def factory(**kwargs) -> int:
        kwargs.setdefault("base_url", mock_upstream.origin)
        return create_channel(**kwargs)
    return factory


@pytest.fixture
def make_token(app):
    def factory(user_id: int | None = None, *, quota: int = 10_000_000, remain_quota: int = 10_000_000,
                unlimited: bool = False, role: int = Role.USER, **fields) -> Key:
        if user_id is None:
            user_id = create_user(quota=quota, role=role)
        return create_key(user_id, remain_quota=remain_quota, unlimited=unlimited, **fields)
    return factory


@pytest.fixture
def sdk(relay_url):
    """openai.OpenAI pointed at the relay for `key` (no SDK retries: every request counts)."""
    def factory(key: str, **kwargs) -> openai.OpenAI:
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 20)
        return openai.OpenAI(base_url=relay_url, api_key=key, **kwargs)
    return factory


def balances(key: Key) -> tuple[int, int]:
    """(user quota, token remain_quota) read on a short connection."""
    with db.engine.connect() as conn:
        user = conn.execute(select(User.quota).where(User.id == key.user_id)).scalar_one()
        token = conn.execute(select(Token.remain_quota).where(Token.id == key.token_id)).scalar_one()
    return user, token


def consume_logs(user_id: int | None = None, log_type: int = LogType.CONSUME) -> list:
    stmt = select(Log.__table__).where(Log.type == log_type).order_by(Log.id)
    if user_id is not None:
        stmt = stmt.where(Log.user_id == user_id)
    with db.engine.connect() as conn:
        return list(conn.execute(stmt).mappings())


def wait_for_logs(user_id: int, count: int, log_type: int = LogType.CONSUME, timeout: float = 10.0) -> list:
    """Stream settlement happens after the last byte: wait until `count` rows exist (or time out)."""
    deadline = time.monotonic() + timeout
    while True:
        logs = consume_logs(user_id, log_type)
        if len(logs) >= count or time.monotonic() > deadline:
            return logs
        time.sleep(0.02)


def channel_row(channel_id: int):
    with db.engine.connect() as conn:
        return conn.execute(select(Channel.__table__).where(Channel.id == channel_id)).mappings().one()
