"""Per-process caches are dropped everywhere after bump(), with and without Redis."""

from __future__ import annotations

import time

from app.cache import bump, local_cache
from app.extensions import db
from tests.conftest import build_app


def test_bump_empties_local_cache(app):
    local_cache("channels")["x"] = 1
    assert local_cache("channels")["x"] == 1
    bump("channels")
    assert "x" not in local_cache("channels")


def _seen_by_second(tmp_path, tiktoken_cache, **overrides) -> bool:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = build_app(tmp_path / "a", url, TIKTOKEN_CACHE_DIR=tiktoken_cache, **overrides)
    second = build_app(tmp_path / "b", url, TIKTOKEN_CACHE_DIR=tiktoken_cache, **overrides)
    with second.app_context():
        local_cache("tokens")["key"] = "cached"
        db.session.remove()
    with first.app_context():
        bump("tokens")
        db.session.remove()
    dropped = False
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not dropped:
        with second.app_context():
            dropped = "key" not in local_cache("tokens")
            db.session.remove()
        time.sleep(0.05)
    for app in (first, second):
        with app.app_context():
            db.engine.dispose()
    return dropped


def test_bump_reaches_other_process_without_redis(tmp_path, tiktoken_cache):
    assert _seen_by_second(tmp_path, tiktoken_cache, OPTIONS_SYNC_SECONDS=0.2)


def test_bump_reaches_other_process_over_redis(tmp_path, tiktoken_cache, fresh_redis_url):
    assert _seen_by_second(tmp_path, tiktoken_cache, REDIS_URL=fresh_redis_url, OPTIONS_SYNC_SECONDS=600)
