"""Sign-in and account linking with Telegram (the Login Widget) and WeChat (a WeChat Server's codes).

Both end in app.services.oauth's `sign_in` / `bind`, like the OAuth providers; only the proof differs.

Telegram: the widget on our page sends the browser to its data-auth-url with the signed fields
(app.oauth.telegram checks them).
- Pages: `GET /oauth/telegram/callback?state=&<fields>`. The URL the page gives the widget carries a sign-in
  state kept in the session (as for OAuth), so nobody can send another person's browser there with fields
  of their own Telegram account (which would link it to the victim's account, or sign the victim into theirs).
- JSON (one-api's routes): `GET /api/oauth/telegram/login?<fields>[&aff=]` signs in;
  `GET /api/oauth/telegram/bind?<fields>&state=` links to the signed-in user, the state from
  `GET /api/oauth/state` (one-api takes no state there; without one a link to this URL is a takeover).

WeChat: the user scans the official account's QR code, gets a code in WeChat and types it in.
- Pages: `POST /oauth/wechat` (form `code`, CSRF token) signs in, or links when someone is signed in.
- JSON (one-api's routes): `GET /api/oauth/wechat?code=[&aff=]` signs in;
  `GET /api/oauth/wechat/bind?code=&state=` links, the state for the same reason as Telegram's.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user

from app.blueprints.auth import bp
from app.blueprints.auth.oauth import STATE_KEY, check_state, page_redirect, remember_state, sign_in_or_bind
from app.blueprints.auth.pages import FORM_ERROR, _after_sign_in, login_limit
from app.errors import AppError, Unauthorized, ValidationError
from app.oauth.base import OAuthProfile, SignInProvider
from app.oauth.telegram import TelegramProvider
from app.oauth.wechat import WeChatProvider
from app.options import get_option
from app.services import accounts, mail
from app.services import oauth as oauth_service
from app.web import second_step
from app.web.api import ok
from app.web.htmx import safe_next
from app.web.urls import site_base

MAX_QUERY_FIELDS = 16
MAX_AFF = 32


def _telegram() -> TelegramProvider:
    provider = oauth_service.configured("telegram", "telegram")
    assert isinstance(provider, TelegramProvider)
    return provider


def _wechat() -> WeChatProvider:
    provider = oauth_service.configured("wechat", "wechat")
    assert isinstance(provider, WeChatProvider)
    return provider


def _telegram_fields() -> dict[str, str]:
    if len(request.args) > MAX_QUERY_FIELDS:
        raise ValidationError("too many query parameters")
    return {key: request.args.get(key, "") for key in request.args}


def _require_state(provider: str) -> dict[str, Any]:
    """The saved flow for `provider` when the query's state matches it (used once); 403 otherwise."""
    return check_state(session.pop(STATE_KEY, None), provider)


def _require_sign_in() -> None:
    if not current_user.is_authenticated:
        raise Unauthorized("sign in first to link an account")


def _api_sign_in(provider: SignInProvider, profile: OAuthProfile):
    user = oauth_service.sign_in(provider, profile, aff_code=request.args.get("aff", "")[:MAX_AFF] or None)
    if second_step.sign_in(user):
        return second_step.code_required()
    return ok(accounts.public_profile(user))


def _api_bind(provider: SignInProvider, profile: OAuthProfile):
    oauth_service.bind(current_user._get_current_object(), provider, profile)
    return ok(message="bind")


# -- Telegram --------------------------------------------------------------------------------------------
@bp.get("/oauth/telegram/callback")
@login_limit
def telegram_callback():
    """The widget sends the browser here: sign in, or link Telegram to the signed-in visitor."""
    provider = _telegram()
    saved = _require_state("telegram")
    profile = provider.verify(_telegram_fields())
    _user, action = sign_in_or_bind(provider, profile, saved.get("aff") or None)
    return page_redirect("telegram", action, saved.get("next"))


@bp.get("/api/oauth/telegram/login")
@login_limit
def telegram_api_login():
    """Sign in with the widget's fields: the user's public fields in the envelope."""
    provider = _telegram()
    return _api_sign_in(provider, provider.verify(_telegram_fields()))


@bp.get("/api/oauth/telegram/bind")
@login_limit
def telegram_api_bind():
    """Link the widget's Telegram account to the signed-in user; `state` from GET /api/oauth/state."""
    provider = _telegram()
    _require_sign_in()
    _require_state("telegram")
    return _api_bind(provider, provider.verify(_telegram_fields()))


# -- WeChat ----------------------------------------------------------------------------------------------
@bp.post("/oauth/wechat")
@login_limit
def wechat_submit():
    """The code form of the login page (sign in) or of the profile's linked accounts (link)."""
    next_path = request.form.get("next", "")
    binding = current_user.is_authenticated
    try:
        provider = _wechat()
        profile = provider.exchange(request.form.get("code", ""))
        _user, action = sign_in_or_bind(provider, profile, request.form.get("aff", "")[:MAX_AFF] or None)
    except AppError as exc:
        if binding:
            flash(exc.message, "danger")
            return redirect(safe_next(next_path, url_for("user.profile")))
        return render_template("auth/login.html", next=_after_sign_in(next_path), username="", error=exc.message,
                               password_login=get_option("PasswordLoginEnabled"),
                               can_reset=mail.is_configured()), FORM_ERROR
    return page_redirect("wechat", action, next_path)


@bp.get("/api/oauth/wechat")
@login_limit
def wechat_api_login():
    """Sign in with the code the WeChat account sent: the user's public fields in the envelope."""
    provider = _wechat()
    return _api_sign_in(provider, provider.exchange(request.args.get("code", "")))


@bp.get("/api/oauth/wechat/bind")
@login_limit
def wechat_api_bind():
    """Link the WeChat account that was sent `code` to the signed-in user; `state` from GET /api/oauth/state."""
    provider = _wechat()
    _require_sign_in()
    _require_state("wechat")
    return _api_bind(provider, provider.exchange(request.args.get("code", "")))


# -- what the pages need ---------------------------------------------------------------------------------
def telegram_widget(next_path: str = "") -> dict[str, str] | None:
    """The Login Widget's bot name and auth URL (with a fresh sign-in state), or None when Telegram is off.

    Rendering it starts a flow: the state goes into the session, as when an OAuth button is followed."""
    if not oauth_service.is_enabled("telegram"):
        return None
    state = remember_state("telegram", next_path=safe_next(next_path, ""))
    return {"bot_name": str(get_option("TelegramBotName")).strip(),
            "auth_url": site_base() + url_for("auth.telegram_callback", state=state)}


def wechat_qrcode() -> str:
    """The official account's QR code image URL ("" when WeChat sign-in is off or it has none)."""
    if not oauth_service.is_enabled("wechat"):
        return ""
    return str(get_option("WeChatAccountQRCodeImageURL") or "").strip()


@bp.app_context_processor
def _sign_in_widgets() -> dict[str, Any]:
    """`telegram_widget(next)` and `wechat_qrcode()` for the login page and the profile's linked accounts."""
    return {"telegram_widget": telegram_widget, "wechat_qrcode": wechat_qrcode}
