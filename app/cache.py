"""Per-process caches that every process drops within about a second of a change anywhere.

A writer calls `bump("channels")` after committing. The new version marker is stored as an `options` row
(`__version__:<namespace>`) and, when REDIS_URL is set, published over Redis pub/sub so other processes
drop their copy at once. Without Redis each process reads the markers at most every OPTIONS_SYNC_SECONDS
(one small query, shared by all namespaces). With Redis the markers are still re-read every 30 s, in case
a message was missed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from typing import Any

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import Option

log = logging.getLogger(__name__)

PREFIX = "__version__:"
CHANNEL = "sluice:cache"
REDIS_SAFETY_SECONDS = 30.0


class VersionBoard:
    """The latest version marker of every namespace, as this process knows it."""

    def __init__(self, app) -> None:
        self.app = app
        self.sync_seconds = float(app.config.get("OPTIONS_SYNC_SECONDS", 1.0))
        self.versions: dict[str, str] = {}
        self._checked_at = float("-inf")
        self._listener_pid: int | None = None
        self._lock = threading.Lock()
        self.caches: dict[str, LocalCache] = {}

    def current(self, namespace: str) -> str | None:
        redis = self.app.extensions.get("sluice_redis")
        interval = self.sync_seconds
        if redis is not None:
            self._ensure_listener(redis)
            interval = REDIS_SAFETY_SECONDS
        now = time.monotonic()
        if now - self._checked_at >= interval:
            self._checked_at = now
            self.refresh()
        return self.versions.get(namespace)

    def refresh(self) -> None:
        rows = db.session.execute(select(Option.key, Option.value).where(Option.key.like(PREFIX + "%"))).all()
        self.versions = {key[len(PREFIX):]: value for key, value in rows}

    def bump(self, namespaces: tuple[str, ...]) -> None:
        markers = self.stage(namespaces)
        db.session.commit()
        self.announce(markers)

    def stage(self, namespaces: tuple[str, ...]) -> dict[str, str]:
        """Add new version markers to the current transaction; call announce() after it commits."""
        markers = {ns: uuid.uuid4().hex for ns in namespaces}
        for ns, marker in markers.items():
            db.session.merge(Option(key=PREFIX + ns, value=marker))
        return markers

    def announce(self, markers: dict[str, str]) -> None:
        """Tell this process at once, and the others over Redis when configured."""
        self.versions.update(markers)
        redis = self.app.extensions.get("sluice_redis")
        if redis is not None:
            try:
                for ns, marker in markers.items():
                    redis.publish(CHANNEL, f"{ns}={marker}")
            except Exception:  # noqa: BLE001 - other processes still see the marker within 30 s
                log.exception("could not publish a cache bump")

    def _ensure_listener(self, redis) -> None:
        pid = os.getpid()
        if self._listener_pid == pid:
            return
        with self._lock:
            if self._listener_pid == pid:
                return
            self._listener_pid = pid
            threading.Thread(target=self._listen, args=(redis,), daemon=True, name="cache-pubsub").start()

    def _listen(self, redis) -> None:
        while True:
            try:
                pubsub = redis.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                self._checked_at = float("-inf")  # re-read everything we may have missed
                for message in pubsub.listen():
                    data = message.get("data") if message else None
                    if isinstance(data, bytes):
                        ns, _, marker = data.decode().partition("=")
                        self.versions[ns] = marker
            except Exception:  # noqa: BLE001 - reconnect; never let the listener die
                self._checked_at = float("-inf")
                time.sleep(1)


class LocalCache:
    """A dict for one namespace that empties itself when the namespace's version changes."""

    def __init__(self, board: VersionBoard, namespace: str) -> None:
        self.board = board
        self.namespace = namespace
        self._data: dict[Any, Any] = {}
        self._version: str | None = None

    def data(self) -> dict:
        version = self.board.current(self.namespace)
        if version != self._version:
            self._data = {}
            self._version = version
        return self._data


def init_cache(app) -> None:
    app.extensions["sluice_versions"] = VersionBoard(app)


def local_cache(namespace: str) -> dict:
    """This process's dict for `namespace`, already emptied if anyone bumped it since."""
    board: VersionBoard = current_app.extensions["sluice_versions"]
    cache = board.caches.get(namespace)
    if cache is None:
        cache = board.caches.setdefault(namespace, LocalCache(board, namespace))
    return cache.data()


def bump(*namespaces: str) -> None:
    """Call after committing a change to what `namespaces` cache (e.g. "tokens", "channels")."""
    current_app.extensions["sluice_versions"].bump(namespaces)
