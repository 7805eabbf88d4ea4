"""Fixtures and helpers for the /api and auth-page tests.

tests/api is not a package, so test modules reach the helpers through the `h` fixture.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Log, Setup, User
from app.services import accounts
from tests.factories import FAST_HASH_METHOD

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def setup_done(app):
    """The first-run setup is finished (as if a root user had been created), so pages render."""
    db.session.add(Setup(id=1, is_setup=True, version="test"))
    db.session.commit()
    return True


@pytest.fixture
def fast_hash(monkeypatch):
    """Cheap password hashing for tests that hash in many threads (the real KDF is tested elsewhere)."""
    monkeypatch.setattr(accounts, "PASSWORD_METHOD", FAST_HASH_METHOD)


def counts() -> tuple[int, int]:
    """(users, logs) rows: tests assert that refused input wrote nothing."""
    db.session.expire_all()
    users = db.session.scalar(select(func.count()).select_from(User))
    logs = db.session.scalar(select(func.count()).select_from(Log))
    return users, logs


def user_named(name: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == name))


def csrf_token(client, path: str = "/register") -> str:
    """The CSRF token of `client`'s session, read from a page form as a browser would."""
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    match = CSRF_FIELD.search(response.get_data(as_text=True))
    assert match, "no csrf_token field on the page"
    return match.group(1)


def assert_envelope_error(response, status: int) -> dict:
    """The /api error envelope with `status`: success false, a message, data null, never a traceback."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.is_json, response.content_type
    body = response.get_json()
    assert body["success"] is False
    assert isinstance(body["message"], str) and body["message"]
    assert body["data"] is None
    assert "Traceback" not in body["message"]
    return body


class Helpers:
    counts = staticmethod(counts)
    user_named = staticmethod(user_named)
    csrf_token = staticmethod(csrf_token)
    envelope_error = staticmethod(assert_envelope_error)


@pytest.fixture
def h(app) -> Helpers:
    return Helpers()
