"""Linked OAuth accounts over the API: the signed-in user's own links (list, unbind) and an admin clearing
a user's link. Binding itself is the OAuth callback with a signed-in session (app.blueprints.auth.oauth)."""

from __future__ import annotations

from flask_login import current_user

from app.blueprints.api import bp
from app.services import oauth as oauth_service
from app.services import users
from app.web.api import ok
from app.web.auth import admin_required, user_required


@bp.get("/user/oauth")
@user_required
def oauth_bindings_get():
    """`[{name, label, enabled, subject}]`: every provider, with the caller's id there ("" when not linked)."""
    return ok(oauth_service.bindings(current_user))


@bp.delete("/user/oauth/<provider>")
@user_required
def oauth_unbind_self(provider: str):
    """Unlink `provider`; 403 when it is the account's last way to sign in, 409 when it is not linked."""
    oauth_service.unbind(current_user._get_current_object(), provider)
    return ok(oauth_service.bindings(current_user))


@bp.delete("/user/<int:user_id>/oauth/<provider>")
@admin_required
def oauth_unbind_user(user_id: int, provider: str):
    """An admin clears a user's link (a user they may manage); the last-way-in rule does not apply."""
    target = users.get_user(current_user, user_id)
    oauth_service.unbind(target, provider, by_admin=True)
    return ok(oauth_service.bindings(target))
