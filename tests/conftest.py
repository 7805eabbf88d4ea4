"""Fixtures: the app on a fresh SQLite database per test, clients signed in as a user, an admin or root."""

from __future__ import annotations

import os
from contextlib import contextmanager

import pytest
from flask import g

from app import create_app
from app.config import TestConfig
from app.extensions import db
from app.models import Role
from tests.factories import make_access_token, make_user

pytest_plugins = ["tests.fixtures.services", "tests.fixtures.race", "tests.fixtures.mail"]


@pytest.fixture(scope="session")
def tiktoken_cache(tmp_path_factory) -> str:
    path = os.environ.get("TIKTOKEN_CACHE_DIR") or str(tmp_path_factory.mktemp("tiktoken"))
    os.environ["TIKTOKEN_CACHE_DIR"] = path
    return path


def build_app(instance_path, database_url: str | None = None, **overrides):
    """An app on `database_url` (default: SQLite in `instance_path`) with every table created."""
    overrides.setdefault("WTF_CSRF_ENABLED", False)
    app = create_app(TestConfig(instance_path, database_url, **overrides))
    # The `app` fixture keeps one app context pushed for a whole test and Flask reuses it for every
    # test-client request, so `g` (where Flask-Login caches the current user) would outlive a request
    # and one client would see another's user. In production every request has a fresh `g`.
    def forget_cached_user() -> None:
        g.pop("_login_user", None)

    app.before_request_funcs.setdefault(None, []).insert(0, forget_cached_user)
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture
def app_overrides() -> dict:
    """Override in a test module to change TestConfig settings (e.g. {"WTF_CSRF_ENABLED": True})."""
    return {}


@contextmanager
def pushed(app):
    """`app` with its app context pushed; afterwards the session is removed and the pool closed."""
    ctx = app.app_context()
    ctx.push()
    try:
        yield app
    finally:
        db.session.remove()
        db.engine.dispose()
        ctx.pop()


@pytest.fixture
def app(tmp_path, tiktoken_cache, app_overrides):
    with pushed(build_app(tmp_path, TIKTOKEN_CACHE_DIR=tiktoken_cache, **app_overrides)) as app:
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


def login_client(app, user):
    """A test client whose session is signed in as `user`."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
    return client


@pytest.fixture
def user(app):
    return make_user("alice", quota=0)


@pytest.fixture
def admin_user(app):
    return make_user("admin", role=Role.ADMIN)


@pytest.fixture
def root_user(app):
    return make_user("root", role=Role.ROOT)


@pytest.fixture
def user_client(app, user):
    return login_client(app, user)


@pytest.fixture
def admin_client(app, admin_user):
    return login_client(app, admin_user)


@pytest.fixture
def root_client(app, root_user):
    return login_client(app, root_user)


@pytest.fixture
def token_headers(app, user):
    """Access-token auth headers for `user` (no session, no CSRF)."""
    token = make_access_token(user)
    return {"Authorization": f"Bearer {token}", "New-Api-User": str(user.id)}
