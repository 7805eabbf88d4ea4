"""Linked sign-in accounts on the profile page: each enabled provider with Bind (the OAuth flow, which links
instead of signing in when someone is signed in) or Unbind (an HTMX form; refused when it would leave the
account without a way to sign in)."""

from __future__ import annotations

from typing import Any

from flask import make_response, render_template
from flask_babel import gettext as _
from flask_login import current_user

from app.blueprints.user import bp
from app.errors import Conflict, Forbidden
from app.services import oauth as oauth_service
from app.web.auth import page_role_required
from app.web.htmx import done, toast, wants_fragment


def _bindings(status: int = 200, **context: Any):
    return make_response(render_template("user/_oauth_bindings.html", **context), status)


@bp.post("/profile/oauth/<provider>/unbind")
@page_role_required()
def oauth_unbind(provider: str):
    """Unlink `provider` from the signed-in account; HTMX swaps the linked-accounts card."""
    try:
        oauth_service.unbind(current_user._get_current_object(), provider)
    except (Conflict, Forbidden) as exc:
        if wants_fragment():
            return _bindings(422, oauth_error=exc.message)
        return done(exc.message, "user.profile", level="danger")
    message = _("Your %(provider)s account is no longer linked.", provider=oauth_service.provider_class(provider).label)
    if wants_fragment():
        return toast(_bindings(), message)
    return done(message, "user.profile")


@bp.context_processor
def _linked_accounts() -> dict[str, Any]:
    """`oauth_bindings_of(user)` for the profile page's linked-accounts card (called only where it is shown)."""
    return {"oauth_bindings_of": oauth_service.bindings}
