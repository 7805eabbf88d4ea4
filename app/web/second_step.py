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
from app.web.api import ok

PENDING_KEY = "pending_2fa"
PENDING_SECONDS = 300


def needs_second_step(user: User) -> bool:
    return two_factor.is_enabled(user.id)


def begin(user: User, next_path: str = "") -> None:
    session.clear()  # a new session for a new sign-in: nothing carries over from before
    session[PENDING_KEY] = {"user_id": user.id, "version": user.session_version, "next": next_path,
                            "expires": int(time.time()) + PENDING_SECONDS}


def sign_in(user: User, next_path: str = "") -> bool:
    """Sign `user` in after a first factor (password, OAuth, Telegram, WeChat); with 2FA on, only start the
    second step instead. True when the code is still needed."""
    if needs_second_step(user):
        begin(user, next_path)
        return True
    session.clear()  # a new session for a new sign-in: nothing carries over from before
    login_user(user)
    return False


def code_required():
    """The API's answer when the sign-in waits for a code (new-api's `require_2fa`)."""
    return ok({"require_2fa": True}, message="enter the code from your authenticator app")


def remember_next(next_path: str) -> None:
    state = session.get(PENDING_KEY)
    if isinstance(state, dict):
        session[PENDING_KEY] = {**state, "next": next_path}


def pending_next() -> str:
    state = session.get(PENDING_KEY)
    return str(state.get("next") or "") if isinstance(state, dict) else ""


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
