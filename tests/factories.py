"""Small functions that create rows for tests."""

from __future__ import annotations

import itertools

from werkzeug.security import generate_password_hash

from app.extensions import db
from app.models import Role, User
from app.security import hash_secret, random_string

_counter = itertools.count(1)
# A cheap hash for factory users; the accounts service uses the real (slow) KDF.
FAST_HASH_METHOD = "pbkdf2:sha256:1000"


def make_user(username: str | None = None, password: str = "password123", *, role: int = Role.USER,
              quota: int = 0, group: str = "default", **fields) -> User:
    user = User(username=username or f"user{next(_counter)}",
                password=generate_password_hash(password, method=FAST_HASH_METHOD),
                role=role, quota=quota, group=group, display_name=fields.pop("display_name", None), **fields)
    db.session.add(user)
    db.session.commit()
    return user


def make_access_token(user: User) -> str:
    token = random_string(32)
    user.access_token_hash = hash_secret(token)
    db.session.commit()
    return token
