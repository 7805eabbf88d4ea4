"""Passwords imported from one-api / new-api: bcrypt hashes ($2a$ from Go, $2b$, $2y$) sign in and are
re-hashed to our scheme on the first successful sign-in; a wrong password changes nothing."""

from __future__ import annotations

import bcrypt
import pytest
from sqlalchemy import update

from app.extensions import db
from app.models import User
from app.services import accounts
from tests.factories import make_user


def go_bcrypt(plain: str, prefix: str = "$2a$") -> str:
    """A hash as golang.org/x/crypto/bcrypt writes it (cost 10, the $2a$ prefix)."""
    hashed = bcrypt.hashpw(plain.encode(), bcrypt.gensalt(10)).decode()
    return prefix + hashed[4:]


def stored_hash(user_id: int) -> str:
    db.session.expire_all()
    return db.session.get(User, user_id).password


def login(client, name: str, password: str):
    return client.post("/api/user/login", json={"username": name, "password": password})


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
def test_bcrypt_password_signs_in_and_is_rehashed(client, prefix):
    user = make_user("legacy")
    user.password = go_bcrypt("old-one-api-pass", prefix)
    db.session.commit()

    response = login(client, "legacy", "old-one-api-pass")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["data"]["username"] == "legacy"
    rehashed = stored_hash(user.id)
    assert rehashed.startswith("scrypt:")
    assert accounts.verify_password(rehashed, "old-one-api-pass")
    assert login(client.application.test_client(), "legacy", "old-one-api-pass").status_code == 200
    assert stored_hash(user.id) == rehashed  # re-hashed once, not at every sign-in


def test_wrong_password_keeps_the_bcrypt_hash(client):
    user = make_user("legacy")
    original = go_bcrypt("old-one-api-pass")
    user.password = original
    db.session.commit()
    response = login(client, "legacy", "not-the-password")
    assert response.status_code == 401
    assert response.get_json()["success"] is False
    assert stored_hash(user.id) == original


def test_rehash_leaves_a_password_changed_meanwhile_alone(app):
    user = make_user("legacy")
    user.password = go_bcrypt("old-one-api-pass")
    db.session.commit()
    assert user.password.startswith("$2a$")  # what this sign-in read
    newer = accounts.hash_password("changed-elsewhere")
    with db.engine.begin() as other:  # another request changes the password meanwhile
        other.execute(update(User).where(User.id == user.id).values(password=newer))
    accounts._rehash_imported_password(user, "old-one-api-pass")
    assert stored_hash(user.id) == newer


@pytest.mark.parametrize("stored", [
    "$2a$10$short",  # malformed
    "$2a$10$" + "x" * 53,  # the right length, not base64 bcrypt
])
def test_malformed_bcrypt_never_matches(stored):
    assert accounts.verify_password(stored, "anything") is False


def test_bcrypt_beyond_72_bytes_never_matches():
    hashed = go_bcrypt("a" * 72)
    assert accounts.verify_password(hashed, "a" * 72)
    # bcrypt would read only the first 72 bytes; Go refuses such passwords, so they match nothing here.
    assert accounts.verify_password(hashed, "a" * 80) is False
