"""Setup, login, registration (with an e-mailed code), password reset and logout pages: plain HTML forms
over the same services as /api.

Each form posts back to its page; an error re-renders the form with a readable message and status 422 (the
status base.html's HTMX config swaps in, so the same forms work boosted). Login and registration share their
rate-limit buckets with /api/user/login and /api/user/register, and the mail-sending forms with
/api/verification and /api/reset_password. With TurnstileCheckEnabled the forms carry the widget, whose
token arrives as `cf-turnstile-response`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from app.blueprints.auth import bp
from app.errors import AppError, ValidationError
from app.extensions import limiter
from app.options import get_option
from app.services import accounts, email_verification, mail, turnstile
from app.services.setup import perform_setup
from app.web import second_step
from app.web.email_limits import email_recipient_limit, email_sender_limit
from app.web.hooks import is_setup_done, mark_setup_done
from app.web.htmx import safe_next
from app.web.turnstile import check_turnstile

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


@bp.app_context_processor
def _turnstile_widget() -> dict:
    """`turnstile_site_key()` for every page that shows the widget ("" while the check is off)."""
    return {"turnstile_site_key": turnstile.site_key}


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
    flash(_("Setup complete. Sign in as the root user."), "success")
    return redirect(url_for("auth.login_page"))


# -- login -----------------------------------------------------------------------------------------------
@bp.get("/login")
def login_page():
    target = _after_sign_in(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(target)
    return render_template("auth/login.html", next=target, username="",
                           password_login=get_option("PasswordLoginEnabled"), can_reset=mail.is_configured())


@bp.post("/login")
@login_limit
def login_submit():
    target = _after_sign_in(request.form.get("next"))
    name = _field("username")
    try:
        check_turnstile()
        user = accounts.authenticate(name, _field("password"))
    except AppError as exc:
        return render_template("auth/login.html", next=target, username=name, error=exc.message,
                               password_login=get_option("PasswordLoginEnabled"),
                               can_reset=mail.is_configured()), FORM_ERROR
    if second_step.sign_in(user, target):
        return redirect(url_for("auth.login_2fa_page"))
    return redirect(target)


def _second_step_form(status: int = 200, error: str | None = None):
    if second_step.pending_user() is None:
        flash(_("The sign-in has expired. Enter your password again."), "warning")
        return redirect(url_for("auth.login_page"))
    return render_template("auth/login_2fa.html", error=error), status


@bp.get("/login/2fa")
def login_2fa_page():
    """The second step of a password sign-in for a user with two-factor authentication on."""
    return _second_step_form()


@bp.post("/login/2fa")
@login_limit
def login_2fa_submit():
    target = _after_sign_in(second_step.pending_next())
    try:
        second_step.finish(_field("code"))
    except AppError as exc:
        return _second_step_form(FORM_ERROR, exc.message)
    return redirect(target)


# -- registration ----------------------------------------------------------------------------------------
def _registration_open() -> bool:
    return bool(get_option("RegisterEnabled") and get_option("PasswordRegisterEnabled"))


def _register_form(status: int = 200, **context):
    context.setdefault("username", _field("username"))
    context.setdefault("email", _field("email"))
    context.setdefault("aff_code", _field("aff_code"))
    return render_template("auth/register.html", open=_registration_open(),
                           verify_email=get_option("EmailVerificationEnabled"), **context), status


@bp.get("/register")
def register_page():
    return _register_form(aff_code=request.args.get("aff", "")[:32])


@bp.post("/register/code")
@email_sender_limit
@email_recipient_limit
def register_send_code():
    """The form's "send code" button: mail a code to the address typed so far and show the form again."""
    try:
        check_turnstile()
        address = email_verification.send_verification_code(_field("email"))
    except AppError as exc:
        return _register_form(FORM_ERROR, error=exc.message)
    return _register_form(code_sent_to=address)


@bp.post("/register")
@register_limit
def register_submit():
    name, email, aff = _field("username"), _field("email"), _field("aff_code")
    try:
        if _field("password") != _field("confirmPassword"):
            raise ValidationError("the two passwords do not match")
        check_turnstile()
        accounts.register(name, _field("password"), email=email or None, aff_code=aff or None,
                          verification_code=_field("verification_code") or None)
    except AppError as exc:
        return _register_form(FORM_ERROR, error=exc.message)
    flash(_("Your account is ready. Sign in."), "success")
    return redirect(url_for("auth.login_page"))


# -- password reset --------------------------------------------------------------------------------------
@bp.get("/forgot")
def forgot_page():
    return render_template("auth/forgot.html", email="")


@bp.post("/forgot")
@email_sender_limit
@email_recipient_limit
def forgot_submit():
    """Mail a reset link; the answer is the same whether or not an account uses the address."""
    email = _field("email")
    try:
        check_turnstile()
        email_verification.send_password_reset(email, url_for("auth.reset_page"))
    except AppError as exc:
        return render_template("auth/forgot.html", email=email, error=exc.message), FORM_ERROR
    return render_template("auth/forgot.html", email=email, sent=True)


@bp.get("/reset")
def reset_page():
    """The page a reset link opens: choose a new password (or learn that the link is no longer good)."""
    email, token = request.args.get("email", "")[:MAX_FORM_FIELD], request.args.get("token", "")[:MAX_FORM_FIELD]
    try:
        email_verification.check_reset_token(email, token)
    except AppError as exc:
        return render_template("auth/reset.html", email=email, token="", error=exc.message), 400
    return render_template("auth/reset.html", email=email, token=token)


@bp.post("/reset")
def reset_submit():
    email, token = _field("email"), _field("token")
    try:
        if _field("password") != _field("confirmPassword"):
            raise ValidationError("the two passwords do not match")
        if not _field("password"):
            raise ValidationError(_("Choose a new password."))
        email_verification.reset_password(email, token, _field("password"))
    except AppError as exc:
        return render_template("auth/reset.html", email=email, token=token, error=exc.message), FORM_ERROR
    flash(_("Your password has been changed. Sign in with the new one."), "success")
    return redirect(url_for("auth.login_page"))


# -- logout ----------------------------------------------------------------------------------------------
@bp.post("/logout")
def logout():
    """Sign out (POST, so the session's CSRF token is checked by the before-request hook)."""
    logout_user()
    session.clear()
    return redirect(url_for("auth.login_page"))
