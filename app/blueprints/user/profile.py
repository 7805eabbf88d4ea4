"""Profile: display name, password change, e-mail binding (with a mailed code) and the system access token
(shown once)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_login import current_user, login_user

from app.blueprints.user import bp
from app.errors import AppError, ValidationError
from app.services import accounts, email_verification, two_factor
from app.web import forms
from app.web.auth import page_role_required
from app.web.email_limits import email_recipient_limit, email_sender_limit
from app.web.htmx import done, render, toast, wants_fragment
from app.web.turnstile import check_turnstile


def _page(**context):
    context.setdefault("fragment", None)
    context.setdefault("two_fa", two_factor.status(current_user.id))
    return render("user/profile.html", context.pop("fragment"), user=current_user, **context)


# -- two-factor authentication -----------------------------------------------------------------------------
TWO_FA_CARD = "user/_two_factor.html"


def _two_fa_card(status: int = 200, **context):
    return _page(fragment=TWO_FA_CARD, status=status, **context)


@bp.post("/profile/2fa/setup")
@page_role_required()
def two_fa_setup():
    """A new secret: the card shows its QR code, the secret and 10 backup codes this once."""
    try:
        setup = two_factor.setup(current_user._get_current_object())
    except AppError as exc:
        return _two_fa_card(422, two_fa_error=exc.message)
    return _two_fa_card(two_fa_setup=setup)


def _two_fa_action(change, success_context):
    """Run `change(user, code)` with the posted code; the card shows its error, or `success_context(result)`."""
    try:
        result = change(current_user._get_current_object(), forms.text("code"))
    except AppError as exc:
        return _two_fa_card(422, two_fa_error=exc.message)
    return _two_fa_card(**success_context(result))


@bp.post("/profile/2fa/enable")
@page_role_required()
def two_fa_enable():
    return _two_fa_action(two_factor.enable, lambda _result: {"two_fa_notice": _("Two-factor authentication is on.")})


@bp.post("/profile/2fa/disable")
@page_role_required()
def two_fa_disable():
    return _two_fa_action(two_factor.disable, lambda _result: {"two_fa_notice": _("Two-factor authentication is off.")})


@bp.post("/profile/2fa/backup_codes")
@page_role_required()
def two_fa_backup_codes():
    return _two_fa_action(two_factor.regenerate_backup_codes, lambda codes: {
        "two_fa_codes": codes, "two_fa_notice": _("New backup codes; the old ones no longer work.")})


@bp.get("/profile")
@page_role_required()
def profile():
    return _page()


@bp.post("/profile")
@page_role_required()
def profile_update():
    """Change the display name."""
    try:
        accounts.update_self(current_user._get_current_object(), new_display_name=forms.text("display_name"))
    except ValidationError as exc:
        return _page(fragment="user/_profile_form.html", status=422, name_error=exc.message,
                     display_name=forms.text("display_name"))
    if wants_fragment():
        return toast(_page(fragment="user/_profile_form.html"), _("Profile saved."))
    return done(_("Profile saved."), "user.profile")


@bp.post("/profile/password")
@page_role_required()
def password_update():
    """Change the password; other sessions end, this one is signed again with the new session version."""
    user = current_user._get_current_object()
    try:
        if forms.text("password") != forms.text("confirm_password"):
            raise ValidationError(_("The two new passwords do not match."))
        accounts.update_self(user, new_password=forms.text("password") or None,
                             original_password=forms.text("original_password"))
    except AppError as exc:
        return _page(fragment="user/_password_form.html", status=422, password_error=exc.message)
    login_user(user)
    message = _("Password changed. Other sessions have been signed out.")
    if wants_fragment():
        return toast(_page(fragment="user/_password_form.html"), message)
    return done(message, "user.profile")


@bp.post("/profile/email/code")
@page_role_required()
@email_sender_limit
@email_recipient_limit
def email_send_code():
    """Mail a verification code to the address typed in the e-mail form (shares /api/verification's limits)."""
    address = forms.text("email")
    try:
        check_turnstile()
        sent_to = email_verification.send_verification_code(address, for_user=current_user._get_current_object())
    except AppError as exc:
        return _page(fragment="user/_email_form.html", status=422, email_error=exc.message, email_value=address)
    return _page(fragment="user/_email_form.html", email_sent_to=sent_to, email_value=sent_to)


@bp.post("/profile/email")
@page_role_required()
def email_bind():
    """Bind the address with the code mailed to it."""
    address = forms.text("email")
    try:
        email_verification.bind_email(current_user._get_current_object(), address, forms.text("code"))
    except AppError as exc:
        return _page(fragment="user/_email_form.html", status=422, email_error=exc.message, email_value=address)
    message = _("E-mail address bound.")
    if wants_fragment():
        return toast(_page(fragment="user/_email_form.html", email_bound=True), message)
    return done(message, "user.profile")


@bp.post("/profile/token")
@page_role_required()
def access_token_create():
    """Issue a new access token (the old one stops working) and show it this once."""
    token = accounts.issue_access_token(current_user._get_current_object())
    response = _page(fragment="user/_access_token.html", access_token=token)
    return toast(response, _("New access token created.")) if wants_fragment() else response
