"""Fixtures for asynchronous tasks: a mock upstream speaking midjourney-proxy, Suno and OpenAI (videos),
channels, keys.

Balances, logs and task rows are read on short connections (as tests/relay does), never through the
test's own ORM session, so server-side writes are never blocked by a test's read transaction.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import LogType, Midjourney, Task
from tests.mock_upstream import MockUpstream, midjourney, openai_video, suno
from tests.mock_upstream.openai_routes import PROVIDER as OPENAI
from tests.relay.conftest import Key, consume_logs, create_channel

MJ_KEY = "mj-secret-good"
SUNO_KEY = "suno-secret-good"
MJ_MODELS = ("mj_imagine", "mj_variation", "mj_upscale", "mj_reroll", "mj_blend", "mj_describe", "mj_modal",
             "mj_shorten", "mj_inpaint", "mj_custom_zoom", "mj_zoom", "mj_pan")
SUNO_MODELS = ("suno_music", "suno_lyrics")
IMAGINE_PRICE = 50_000  # 0.1 USD x QuotaPerUnit 500000
UPSCALE_PRICE = 25_000
SUNO_PRICE = 50_000
VIDEO_KEY = "sk-video-good"
VIDEO_MODELS = ("sora-2", "sora-2-pro")
SORA_4S_PRICE = 200_000  # 0.10 USD/s x 4 s x QuotaPerUnit 500000


@pytest.fixture
def task_upstream():
    """midjourney-proxy, a Suno proxy and OpenAI (videos) on one port; each checks its own key header."""
    with MockUpstream(providers=[midjourney.PROVIDER, suno.PROVIDER, OPENAI], require_auth=False) as upstream:
        yield upstream


@pytest.fixture
def mj_state(task_upstream):
    return midjourney.state(task_upstream)


@pytest.fixture
def suno_state(task_upstream):
    return suno.state(task_upstream)


@pytest.fixture
def video_state(task_upstream):
    return openai_video.state(task_upstream)


def _channel_factory(upstream, channel_type: int, models, key: str):
    """create_channel(**overrides) for one task platform, defaulting to the mock upstream and its key."""
    def factory(**kwargs) -> int:
        return create_channel(**{"base_url": upstream.origin, "channel_type": channel_type, "models": models,
                                 "key": key, **kwargs})
    return factory


@pytest.fixture
def video_channel(app, task_upstream):
    return _channel_factory(task_upstream, 1, VIDEO_MODELS, VIDEO_KEY)


@pytest.fixture
def mj_channel(app, task_upstream):
    return _channel_factory(task_upstream, 2, MJ_MODELS, MJ_KEY)


@pytest.fixture
def suno_channel(app, task_upstream):
    return _channel_factory(task_upstream, 36, SUNO_MODELS, SUNO_KEY)


def mj_rows(user_id: int | None = None) -> list:
    t = Midjourney.__table__
    stmt = select(t).order_by(t.c.id)
    if user_id is not None:
        stmt = stmt.where(t.c.user_id == user_id)
    with db.engine.connect() as conn:
        return list(conn.execute(stmt).mappings())


def task_rows(user_id: int | None = None) -> list:
    t = Task.__table__
    stmt = select(t).order_by(t.c.id)
    if user_id is not None:
        stmt = stmt.where(t.c.user_id == user_id)
    with db.engine.connect() as conn:
        return list(conn.execute(stmt).mappings())


def refund_logs(user_id: int | None = None) -> list:
    return consume_logs(user_id, LogType.REFUND)


def bearer(key: Key) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.key}"}
