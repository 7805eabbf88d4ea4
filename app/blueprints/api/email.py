"""E-mail over the API, on one-api's and new-api's routes: send a verification code (GET /api/verification),
ask for a reset link (GET /api/reset_password), reset with it (POST /api/user/reset) and bind an address
(GET /api/oauth/email/bind as one-api, POST with a JSON body as new-api)."""

from __future__ import annotations

from flask import current_app, g, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms.validators import ValidationError as CSRFInvalid

from app.blueprints.api import bp
from app.services import email_verification
from app.web.api import json_body, ok
from app.web.auth import user_required
from app.web.email_limits import email_recipient_limit, email_sender_limit
from app.web.turnstile import turnstile_required

RESET_PAGE_PATH = "/reset"  # the auth blueprint's reset page, where mailed links point


@bp.get("/verification")
@email_sender_limit
@email_recipient_limit
@turnstile_required
def verification_send():
    """`?email=&turnstile=`: mail a six-digit code to a free (and whitelisted) address."""
    owner = current_user._get_current_object() if current_user.is_authenticated else None
    email_verification.send_verification_code(request.args.get("email"), for_user=owner)
    return ok(message="a verification code has been sent; it is valid for at least 10 minutes")


@bp.get("/reset_password")
@email_sender_limit
@email_recipient_limit
@turnstile_required
def reset_password_send():
    """`?email=&turnstile=`: the same answer whether or not an account uses the address."""
    email_verification.send_password_reset(request.args.get("email"), RESET_PAGE_PATH)
    return ok(message="if an account uses this address, a link to reset its password has been sent to it")


@bp.post("/user/reset")
def reset_password_apply():
    """`{email, token, password?}`: set `password`, or a generated one returned as `data` (one-api)."""
    body = json_body()
    generated = email_verification.reset_password(body.get("email"), body.get("token"), body.get("password"))
    return ok(generated, message="the password has been reset; every session of the account has ended")


def _require_csrf_header() -> None:
    """The session's CSRF token in a header (Flask-WTF's protect() checks only unsafe methods)."""
    token = next((request.headers[name] for name in current_app.config["WTF_CSRF_HEADERS"]
                  if request.headers.get(name)), None)
    try:
        validate_csrf(token)
    except CSRFInvalid as exc:
        raise CSRFError(exc.args[0]) from None


@bp.route("/oauth/email/bind", methods=["GET", "POST"])
@user_required
def email_bind():
    """Bind the caller's e-mail with a live code: `?email=&code=` (one-api) or `{email, code}` (new-api).

    A GET changes the account, so from a browser session it must carry the CSRF header like a POST does;
    otherwise a link on another site could bind an address whose code the attacker holds."""
    if request.method == "GET":
        if current_app.config.get("WTF_CSRF_ENABLED", True) and not g.get("auth_via_token"):
            _require_csrf_header()
        email, code = request.args.get("email"), request.args.get("code")
    else:
        body = json_body()
        email, code = body.get("email"), body.get("code")
    address = email_verification.bind_email(current_user._get_current_object(), email, code)
    return ok({"email": address}, message="the e-mail address has been bound")
