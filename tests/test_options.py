"""Runtime options: typed defaults, validation on write, and invalidation across processes."""

from __future__ import annotations

import json
import time

import pytest

from app.errors import ValidationError
from app.extensions import db
from app.models import Option
from app.options import get_option, options, public_options
from tests.conftest import build_app


def test_defaults_are_typed(app):
    assert get_option("QuotaPerUnit") == 500000
    assert get_option("RegisterEnabled") is True
    assert isinstance(get_option("ModelRatio"), dict)
    assert get_option("RetryTimes") >= 0


@pytest.mark.parametrize("changes", [
    {"QuotaPerUnit": 0},
    {"QuotaPerUnit": -1},
    {"QuotaPerUnit": "NaN"},
    {"ModelRatio": "[1, 2]"},
    {"ModelRatio": '{"gpt-4o": -1}'},
    {"ModelRatio": '{"gpt-4o": "1"}'},
    {"ModelRatio": '{"gpt-4o": NaN}'},
    {"ModelRatio": "not json"},
    {"GroupRatio": '{"default": true}'},
    {"RegisterEnabled": "maybe"},
    {"RetryTimes": 1.5},
    {"RetryTimes": True},
    {"NoSuchOption": 1},
    {"CheckInQuota": 10, "CheckInMaxQuota": 5},
])
def test_invalid_writes_change_nothing(app, changes):
    before = db.session.query(Option).count()
    with pytest.raises(ValidationError):
        options().update(changes)
    assert db.session.query(Option).count() == before
    assert get_option("QuotaPerUnit") == 500000


def test_valid_write_is_stored_and_typed(app):
    options().update({"ModelRatio": json.dumps({"m": 2.5}), "RetryTimes": "3", "RegisterEnabled": "false"})
    assert get_option("ModelRatio") == {"m": 2.5}
    assert get_option("RetryTimes") == 3
    assert get_option("RegisterEnabled") is False
    stored = db.session.get(Option, "RegisterEnabled")
    assert stored.value == "false"


def test_secrets_are_not_public(app):
    public = public_options()
    assert "GitHubClientSecret" not in public and "TelegramBotToken" not in public
    assert "QuotaPerUnit" in public


def _other_process_sees(tmp_path, database_url, tiktoken_cache, **overrides):
    """Two apps on one database stand in for two processes."""
    first = build_app(tmp_path / "a", database_url, TIKTOKEN_CACHE_DIR=tiktoken_cache, **overrides)
    second = build_app(tmp_path / "b", database_url, TIKTOKEN_CACHE_DIR=tiktoken_cache, **overrides)
    with second.app_context():
        assert get_option("RetryTimes") == 2  # warm the second process's cache
        db.session.remove()
    with first.app_context():
        options().update({"RetryTimes": 5})
        db.session.remove()
    deadline = time.monotonic() + 3
    seen = None
    while time.monotonic() < deadline:
        with second.app_context():
            seen = get_option("RetryTimes")
            db.session.remove()
        if seen == 5:
            break
        time.sleep(0.05)
    for app in (first, second):
        with app.app_context():
            db.engine.dispose()
    return seen


def test_change_reaches_other_process_without_redis(tmp_path, tiktoken_cache):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    assert _other_process_sees(tmp_path, url, tiktoken_cache, OPTIONS_SYNC_SECONDS=0.2) == 5


def test_change_reaches_other_process_over_redis(tmp_path, tiktoken_cache, fresh_redis_url):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    # A long sync interval proves the change travels by pub/sub, not by polling.
    assert _other_process_sees(tmp_path, url, tiktoken_cache, REDIS_URL=fresh_redis_url,
                               OPTIONS_SYNC_SECONDS=600) == 5
