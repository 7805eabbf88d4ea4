"""Accounts over the API: register, login, logout, self (read and update) and the access token.

Routes and field names follow Veloera/new-api (`/api/user/...`); errors use the envelope with a real status.
Rate limits, per peer address (X-Forwarded-For only through TRUSTED_PROXY_COUNT), shared with the page forms:
- login: RATELIMIT_LOGIN, default "10 per minute", counts failed sign-ins (any answer >= 400); once spent,
  every attempt, even with the right password, gets 429 with the envelope until the window ends;
- register: RATELIMIT_REGISTER, default "5 per hour", counts accounts created (refused input is free).
"""

from __future__ import annotations

from flask import current_app, g, session
from flask_login import current_user, login_user, logout_user

from app.blueprints.api import bp
from app.extensions import limiter
from app.services import accounts
from app.web import second_step
from app.web.api import json_body, ok
from app.web.auth import user_required
from app.web.turnstile import turnstile_required

# Scopes shared with the auth pages (app/blueprints/auth/pages.py), so a form and the API draw on one budget.
login_limit = limiter.shared_limit(
    lambda: current_app.config["RATELIMIT_LOGIN"], scope="login",
    deduct_when=lambda response: response.status_code >= 400,
)
register_limit = limiter.shared_limit(
    lambda: current_app.config["RATELIMIT_REGISTER"], scope="register",
    deduct_when=lambda response: response.status_code < 400,
)


@bp.post("/user/register")
@register_limit
@turnstile_required
def user_register():
    """`{username, password, email?, verification_code?, aff_code?}` -> a new ordinary user (no session is
    started); email and verification_code are required when EmailVerificationEnabled."""
    body = json_body()
    accounts.register(body.get("username"), body.get("password"), email=body.get("email"),
                      aff_code=body.get("aff_code"), verification_code=body.get("verification_code"))
    return ok(message="registered; you can sign in now")


@bp.post("/user/login")
@login_limit
@turnstile_required
def user_login():
    """`{username, password}` -> a fresh session cookie and the user's public fields."""
    body = json_body()
    user = accounts.authenticate(body.get("username"), body.get("password"))
    if second_step.sign_in(user):
        return second_step.code_required()
    return ok(accounts.public_profile(user))


@bp.post("/user/login/2fa")
@login_limit
def user_login_2fa():
    """`{code}`: a TOTP or backup code finishing the sign-in that answered require_2fa (within 5 minutes)."""
    user = second_step.finish(json_body().get("code"))
    return ok(accounts.public_profile(user))


@bp.get("/user/logout")
def user_logout():
    """End the session (GET, as in Veloera); a no-op without one."""
    logout_user()
    session.clear()
    return ok()


@bp.get("/user/self")
@user_required
def user_self_get():
    return ok(accounts.self_profile(current_user))


@bp.put("/user/self")
@user_required
def user_self_update():
    """`{display_name?, password?, original_password?}`; any other field (role, quota, group...) is ignored."""
    body = json_body()
    user = current_user._get_current_object()
    kwargs = {"new_password": body.get("password"), "original_password": body.get("original_password")}
    if "display_name" in body:
        kwargs["new_display_name"] = body["display_name"]
    password_changed = accounts.update_self(user, **kwargs)
    if password_changed and not g.get("auth_via_token"):
        # Other sessions ended with the old session_version; this one is re-signed with the new one.
        login_user(user)
    return ok(accounts.self_profile(user))


@bp.get("/user/token")
@user_required
def user_token():
    """A new system access token (replaces the old one); shown this once, stored only as a hash."""
    return ok(accounts.issue_access_token(current_user._get_current_object()))
