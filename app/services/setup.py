"""First-run setup: create the root user exactly once.

The `setup` row with id 1 is inserted in the same transaction as the root user, so the primary key picks
one winner however many requests (or `flask create-root` runs) race; every other one is refused with 409.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.errors import Conflict, ValidationError
from app.extensions import db
from app.models import Role, Setup, User
from app.services.accounts import create_root_user, hash_password
from app.validation import clean_text, password, username

# new-api gives the root user this much quota at setup ($200 at the default 500,000 per unit).
ROOT_INITIAL_QUOTA = 100_000_000
ALREADY_SET_UP = "the system is already set up"


def setup_done() -> bool:
    """True once the setup row exists (read from the database, never cached)."""
    return bool(db.session.scalar(select(Setup.is_setup).where(Setup.id == 1)))


def root_exists() -> bool:
    """True if a live root user exists (it may predate the setup row, e.g. in an imported database)."""
    found = db.session.scalar(
        select(User.id).where(User.role >= Role.ROOT, User.deleted_at.is_(None)).limit(1)
    )
    return found is not None


def perform_setup(raw_username: Any, raw_password: Any, confirm: Any) -> User:
    """Create the root user (role 100) and the setup row in one transaction; return the user.

    409 when setup already happened (including the losers of a race); 400 on bad input. When a root
    user already exists without a setup row (an imported database), the row is written so the first-run
    pages stop, no second root is made, and the caller is told that the system is already set up.
    """
    if setup_done():
        raise Conflict(ALREADY_SET_UP, code="already_set_up")
    if root_exists():
        _record_setup()
        raise Conflict(ALREADY_SET_UP + " (a root user already exists)", code="already_set_up")
    name = username(raw_username)
    secret = password(raw_password)
    if confirm is None:
        raise ValidationError("confirmPassword is required")
    if clean_text(confirm, "confirmPassword", max_len=1024) != secret:  # both NFKC-normalised
        raise ValidationError("password and confirmPassword do not match")

    hashed = hash_password(secret)  # slow; before the first write, so no lock is held meanwhile
    try:
        user = create_root_user(name, hashed, quota=ROOT_INITIAL_QUOTA)
        db.session.add(_setup_row())
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if db.session.get(Setup, 1, populate_existing=True) is not None:
            raise Conflict(ALREADY_SET_UP, code="already_set_up") from None
        raise Conflict("this username is already taken") from None
    except Exception:
        db.session.rollback()
        raise
    return user


def _setup_row() -> Setup:
    return Setup(id=1, is_setup=True, version=str(current_app.config.get("VERSION", ""))[:32])


def _record_setup() -> None:
    try:
        db.session.add(_setup_row())
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # someone else recorded it first: the outcome is the same
