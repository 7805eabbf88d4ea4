"""The half-finished sign-in between a right password and the 2FA code, shared by the login API and page.

It lives in the (signed) session for PENDING_SECONDS and names the user and that user's session version, so
a password change or a sign-out everywhere in between voids it. Nobody is signed in until `finish`."""

from __future__ import annotations

import time

from flask import session
from flask_login import login_user

from app.errors import Unauthorized
from app.extensions import db
from app.models import User
from app.services import two_factor

PENDING_KEY = "pending_2fa"
PENDING_SECONDS = 300


def needs_second_step(user: User) -> bool:
    return two_factor.is_enabled(user.id)


def begin(user: User) -> None:
    session.clear()  # a new session for a new sign-in: nothing carries over from before
    session[PENDING_KEY] = {"user_id": user.id, "version": user.session_version,
                            "expires": int(time.time()) + PENDING_SECONDS}


def pending_user() -> User | None:
    state = session.get(PENDING_KEY)
    if not isinstance(state, dict) or int(state.get("expires", 0)) < time.time():
        return None
    user = db.session.get(User, state.get("user_id"))
    if user is None or not user.is_active or user.session_version != state.get("version"):
        return None
    return user


def finish(code: object) -> User:
    """Check the code for the pending sign-in and sign its user in; raise (keeping the pending state for
    another try while it lasts) otherwise."""
    user = pending_user()
    if user is None:
        session.pop(PENDING_KEY, None)
        raise Unauthorized("the sign-in has expired; enter your password again")
    two_factor.verify(user.id, code)
    session.clear()
    login_user(user)
    return user
