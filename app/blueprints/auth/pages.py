"""Setup, login, registration and logout pages: plain HTML forms over the same services as /api.

Each form posts back to its page; an error re-renders the form with a readable message and status 422 (the
status base.html's HTMX config swaps in, so the same forms work boosted). Login and registration share their
rate-limit buckets with /api/user/login and /api/user/register.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from app.blueprints.auth import bp
from app.errors import AppError, ValidationError
from app.extensions import limiter
from app.options import get_option
from app.services import accounts
from app.services.setup import perform_setup
from app.web.hooks import is_setup_done, mark_setup_done
from app.web.htmx import safe_next

MAX_FORM_FIELD = 1024
FORM_ERROR = 422
# The same scopes as app/blueprints/api/user.py: one budget per peer address for pages and API together.
login_limit = limiter.shared_limit(
    lambda: current_app.config["RATELIMIT_LOGIN"], scope="login",
    deduct_when=lambda response: response.status_code >= 400,
)
register_limit = limiter.shared_limit(
    lambda: current_app.config["RATELIMIT_REGISTER"], scope="register",
    deduct_when=lambda response: response.status_code < 400,
)


def _after_sign_in(target: str | None) -> str:
    """Where to go after signing in: a safe `next`, but never back to an auth page (that would loop)."""
    target = safe_next(target)
    if urlsplit(target).path in {url_for("auth.login_page"), url_for("auth.register_page"),
                                 url_for("auth.setup_page"), url_for("auth.logout")}:
        return "/"
    return target


def _field(name: str) -> str:
    """A form field as text, cut to a sane length (the services validate the real limits)."""
    return request.form.get(name, "")[:MAX_FORM_FIELD]


# -- setup -----------------------------------------------------------------------------------------------
@bp.get("/setup")
def setup_page():
    if is_setup_done():
        return redirect(url_for("auth.login_page"))
    return render_template("auth/setup.html", username="")


@bp.post("/setup")
def setup_submit():
    if is_setup_done():
        return redirect(url_for("auth.login_page"))
    name = _field("username")
    try:
        perform_setup(name, _field("password"), _field("confirmPassword"))
    except AppError as exc:
        if exc.status == 409:
            mark_setup_done()
            flash(exc.message, "warning")
            return redirect(url_for("auth.login_page"))
        return render_template("auth/setup.html", username=name, error=exc.message), FORM_ERROR
    mark_setup_done()
    flash("Setup complete. Sign in as the root user.", "success")
    return redirect(url_for("auth.login_page"))


# -- login -----------------------------------------------------------------------------------------------
@bp.get("/login")
def login_page():
    target = _after_sign_in(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(target)
    return render_template("auth/login.html", next=target, username="",
                           password_login=get_option("PasswordLoginEnabled"))


@bp.post("/login")
@login_limit
def login_submit():
    target = _after_sign_in(request.form.get("next"))
    name = _field("username")
    try:
        user = accounts.authenticate(name, _field("password"))
    except AppError as exc:
        return render_template("auth/login.html", next=target, username=name, error=exc.message,
                               password_login=get_option("PasswordLoginEnabled")), FORM_ERROR
    session.clear()  # a new session for a new sign-in: nothing carries over from before
    login_user(user)
    return redirect(target)


# -- registration ----------------------------------------------------------------------------------------
def _registration_open() -> bool:
    return bool(get_option("RegisterEnabled") and get_option("PasswordRegisterEnabled"))


@bp.get("/register")
def register_page():
    aff = request.args.get("aff", "")[:32]
    return render_template("auth/register.html", username="", email="", aff_code=aff,
                           open=_registration_open())


@bp.post("/register")
@register_limit
def register_submit():
    name, email, aff = _field("username"), _field("email"), _field("aff_code")
    try:
        if _field("password") != _field("confirmPassword"):
            raise ValidationError("the two passwords do not match")
        accounts.register(name, _field("password"), email=email or None, aff_code=aff or None)
    except AppError as exc:
        return render_template("auth/register.html", username=name, email=email, aff_code=aff,
                               open=_registration_open(), error=exc.message), FORM_ERROR
    flash("Your account is ready. Sign in.", "success")
    return redirect(url_for("auth.login_page"))


# -- logout ----------------------------------------------------------------------------------------------
@bp.post("/logout")
def logout():
    """Sign out (POST, so the session's CSRF token is checked by the before-request hook)."""
    logout_user()
    session.clear()
    return redirect(url_for("auth.login_page"))
