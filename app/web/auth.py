"""Who is calling: session users (Flask-Login), access-token users on /api, and role guards."""

from __future__ import annotations

from functools import wraps

from flask import g, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from app.errors import Forbidden, Unauthorized
from app.extensions import db, login_manager
from app.models import Role, User
from app.security import hash_secret


@login_manager.user_loader
def load_session_user(session_id: str) -> User | None:
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.is_active or str(user.session_version) != version:
        return None
    return user


@login_manager.request_loader
def load_bearer_user(req) -> User | None:
    """`Authorization: Bearer <access token>` on /api authenticates without a session (no CSRF needed)."""
    if not req.path.startswith("/api/"):
        return None
    header = req.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 128:
        return None
    user = db.session.scalar(select(User).where(User.access_token_hash == hash_secret(token)))
    if user is None or not user.is_active:
        return None
    g.auth_via_token = True
    return user


def bearer_present() -> bool:
    return request.headers.get("Authorization", "").lower().startswith("bearer ")


def _check_user_header(user: User) -> None:
    """new-api and Veloera scripts send the user id in a header; when sent, it must match."""
    for header in ("New-Api-User", "Veloera-User", "Sluice-User"):
        claimed = request.headers.get(header)
        if claimed not in (None, "") and claimed.strip() != str(user.id):
            raise Unauthorized("the user header does not match the authenticated user", code="user_mismatch")


def api_role_required(min_role: int = Role.USER):
    """Guard for /api views: 401 when nobody is signed in, 403 below `min_role`."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                raise Unauthorized("not signed in, or the access token is invalid", code="unauthorized")
            _check_user_header(current_user)
            if current_user.role < min_role:
                raise Forbidden("you do not have permission to do this")
            return view(*args, **kwargs)

        return wrapped

    return decorator


user_required = api_role_required(Role.USER)
admin_required = api_role_required(Role.ADMIN)
root_required = api_role_required(Role.ROOT)


def page_role_required(min_role: int = Role.USER):
    """Guard for pages: signed-out visitors go to the login page; too-low roles get a 403 page."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return redirect(url_for("auth.login_page", next=request.full_path.rstrip("?")))
            if current_user.role < min_role:
                raise Forbidden("you do not have permission to view this page")
            return view(*args, **kwargs)

        return wrapped

    return decorator
