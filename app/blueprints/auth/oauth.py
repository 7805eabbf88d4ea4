"""Sign-in and account linking with GitHub, OIDC and Linux.do (the OAuth 2.0 authorization-code flow).

Browser flow:
- `GET /oauth/<provider>[?next=&aff=]` sends the browser to the provider with a fresh random `state` (and,
  for OIDC, a `nonce`) kept in the session; redirect URI `<site>/oauth/<provider>/callback`.
- `GET /oauth/<provider>/callback?code=&state=` (also `/oauth/<provider>?code=&state=`, the callback path
  new-api's front end registers) checks the state, swaps the code server-side and then signs in the linked
  user, or links the provider to the signed-in visitor, or registers a new user (RegisterEnabled).

new-api's JSON flow: `GET /api/oauth/state[?aff=]` returns a state bound to the session; a front end builds
the provider URL itself and passes the answer to `GET /api/oauth/<provider>?code=&state=`, which answers the
user's public fields (signed in) or `{"message": "bind"}` (linked), in the envelope.

A state is used once (taken out of the session whatever the outcome) and lives STATE_SECONDS. That state,
tied to the session cookie, is what protects these GET callbacks from cross-site forgery. Sign-in starts a
new session, like password sign-in. Errors render per surface: the envelope on /api, a page elsewhere.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from flask import flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.blueprints.auth import bp
from app.blueprints.auth.pages import _after_sign_in, login_limit
from app.errors import Forbidden, ValidationError
from app.models import User
from app.oauth.base import OAuthFailed, OAuthProfile, SignInProvider
from app.services import accounts
from app.services import oauth as oauth_service
from app.web import second_step
from app.web.api import ok
from app.web.htmx import safe_next
from app.web.urls import site_base

STATE_KEY = "oauth"
STATE_SECONDS = 600
MAX_PARAM = 2048
CALLBACK_PARAMS = ("code", "state", "error")


def _callback_uri(name: str) -> str:
    return site_base() + url_for("auth.oauth_callback", provider=name)


def _legacy_callback_uri(name: str) -> str:
    """new-api's front ends register `<site>/oauth/<provider>` and send it (or nothing) as redirect_uri."""
    return site_base() + url_for("auth.oauth_start", provider=name)


def _arg(name: str) -> str:
    value = request.args.get(name, "")
    if len(value) > MAX_PARAM:
        raise ValidationError(f"{name} is too long")
    return value


def remember_state(provider: str = "", redirect_uri: str = "", nonce: str = "", next_path: str = "") -> str:
    state = secrets.token_urlsafe(32)
    session[STATE_KEY] = {
        "state": state, "provider": provider, "redirect_uri": redirect_uri, "nonce": nonce, "next": next_path,
        "aff": request.args.get("aff", "")[:32], "expires": int(time.time()) + STATE_SECONDS,
    }
    return state


def check_state(saved: Any, provider: str) -> dict[str, Any]:
    """The saved flow when the query's `state` matches it and it is fresh; 403 otherwise."""
    given = _arg("state")
    if (not isinstance(saved, dict) or not given or not isinstance(saved.get("state"), str)
            or not secrets.compare_digest(saved["state"], given)
            or int(saved.get("expires") or 0) < time.time()
            or saved.get("provider") not in ("", provider)):
        raise Forbidden("the sign-in state is missing, expired or does not match; please start again",
                        code="oauth_state_mismatch")
    return saved


def _finish(name: str) -> tuple[User, str, dict[str, Any]]:
    """Run a callback to the end: ("login" | "bind", the user, the saved flow)."""
    saved = session.pop(STATE_KEY, None)  # a state is used once, whatever happens next
    provider = oauth_service.configured(name, "oauth")
    saved = check_state(saved, name)
    if _arg("error"):
        detail = _arg("error_description") or _arg("error")
        raise OAuthFailed(f"sign-in with {provider.label} was not completed: {detail[:200]}")
    code = _arg("code")
    if not code:
        raise ValidationError("the sign-in code is missing")
    redirect_uri = saved.get("redirect_uri") or _legacy_callback_uri(name)
    profile = provider.exchange(code, redirect_uri, saved.get("nonce") or None)
    user, action = sign_in_or_bind(provider, profile, saved.get("aff") or None)
    return user, action, saved


def sign_in_or_bind(provider: SignInProvider, profile: OAuthProfile, aff_code: str | None) -> tuple[User, str]:
    """Link `profile` to the signed-in visitor ("bind"), or sign in (registering first) its user ("login")."""
    if current_user.is_authenticated:
        user = current_user._get_current_object()
        oauth_service.bind(user, provider, profile)
        return user, "bind"
    user = oauth_service.sign_in(provider, profile, aff_code=aff_code)
    # Unlike new-api (whose OAuth callbacks skip 2FA), a user with 2FA on still owes the code here.
    return user, "2fa" if second_step.sign_in(user) else "login"


def page_redirect(name: str, action: str, next_path: str | None):
    """Where a page flow ends: the profile (or `next`) with a notice after a bind, else after sign-in."""
    if action == "bind":
        label = oauth_service.provider_class(name).label
        flash(_("Your %(provider)s account is now linked.", provider=label), "success")
        return redirect(safe_next(next_path, url_for("user.profile")))
    if action == "2fa":
        second_step.remember_next(_after_sign_in(next_path))
        return redirect(url_for("auth.login_2fa_page"))
    return redirect(_after_sign_in(next_path))


def _page_callback(name: str):
    _user, action, saved = _finish(name)
    return page_redirect(name, action, saved.get("next"))


# -- pages -----------------------------------------------------------------------------------------------
@bp.get("/oauth/<provider>")
@login_limit
def oauth_start(provider: str):
    """Send the browser to the provider; with code/state/error in the query this is a callback instead."""
    if any(key in request.args for key in CALLBACK_PARAMS):
        return _page_callback(provider)
    client = oauth_service.configured(provider, "oauth")
    redirect_uri = _callback_uri(provider)
    nonce = secrets.token_urlsafe(24) if client.uses_nonce else ""
    next_path = safe_next(request.args.get("next"), "")
    state = remember_state(provider, redirect_uri, nonce, next_path)
    return redirect(client.authorize_url(redirect_uri, state, nonce or None))


@bp.get("/oauth/<provider>/callback")
@login_limit
def oauth_callback(provider: str):
    """The provider sends the browser back here with `code` and `state`."""
    return _page_callback(provider)


# -- new-api's JSON flow ---------------------------------------------------------------------------------
@bp.get("/api/oauth/state")
def oauth_state_get():
    """A new OAuth state bound to this session (`?aff=` keeps an invitation code for a new account)."""
    return ok(remember_state())


@bp.get("/api/oauth/<provider>")
@login_limit
def oauth_api_callback(provider: str):
    """Finish an OAuth sign-in: `?code=&state=` -> the user's public fields, or "bind" when signed in."""
    user, action, _ = _finish(provider)
    if action == "bind":
        return ok(message="bind")
    if action == "2fa":
        return second_step.code_required()
    return ok(accounts.public_profile(user))


@bp.context_processor
def _oauth_buttons() -> dict[str, Any]:
    """`oauth_providers()` for the auth pages: the providers a visitor can sign in with now."""
    return {"oauth_providers": oauth_service.enabled_providers}
