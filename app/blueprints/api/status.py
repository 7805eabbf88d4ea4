"""Public site configuration: GET /api/status."""

from __future__ import annotations

from flask import current_app

from app.blueprints.api import bp
from app.database import database_type
from app.extensions import db
from app.options import options
from app.services.oauth import is_enabled
from app.web.api import ok
from app.web.hooks import is_setup_done

OAUTH_PROVIDER_NAMES = {"GitHubOAuthEnabled": "github", "OIDCEnabled": "oidc", "LinuxDOOAuthEnabled": "linuxdo",
                        "TelegramOAuthEnabled": "telegram", "WeChatAuthEnabled": "wechat"}
OAUTH_SWITCHES = {
    "github_oauth": "GitHubOAuthEnabled", "oidc_enabled": "OIDCEnabled", "linuxdo_oauth": "LinuxDOOAuthEnabled",
    "telegram_oauth": "TelegramOAuthEnabled", "wechat_login": "WeChatAuthEnabled",
}


@bp.get("/status")
def status_get():
    opts = options().all()
    # A provider counts as on only when it is switched on AND fully configured.
    oauth_switches = {name: (key in OAUTH_PROVIDER_NAMES and is_enabled(OAUTH_PROVIDER_NAMES[key]))
                      or (key not in OAUTH_PROVIDER_NAMES and bool(opts[key]))
                      for name, key in OAUTH_SWITCHES.items()}
    data = {
        "system_name": opts["SystemName"] or current_app.config.get("SITE_NAME", "Sluice"),
        "version": current_app.config["VERSION"],
        "setup": is_setup_done(),
        "database_type": database_type(db.engine),
        "logo": opts["Logo"],
        "footer_html": opts["Footer"],
        "server_address": opts["ServerAddress"],
        "top_up_link": opts["TopUpLink"],
        "chat_link": opts["ChatLink"],
        "register_enabled": opts["RegisterEnabled"],
        "password_login_enabled": opts["PasswordLoginEnabled"],
        "password_register_enabled": opts["PasswordRegisterEnabled"],
        "email_verification": opts["EmailVerificationEnabled"],
        "turnstile_check": opts["TurnstileCheckEnabled"],
        "turnstile_site_key": opts["TurnstileSiteKey"] if opts["TurnstileCheckEnabled"] else "",
        "quota_per_unit": opts["QuotaPerUnit"],
        "display_in_currency": opts["DisplayInCurrencyEnabled"],
        "display_unit": "USD" if opts["DisplayInCurrencyEnabled"] else "TOKENS",
        "usd_exchange_rate": opts["USDExchangeRate"],
        "check_in_enabled": opts["CheckInEnabled"],
        "self_use_mode_enabled": opts["SelfUseModeEnabled"],
        "data_export_default_time": opts["DataExportDefaultTime"],
        "oauth": oauth_switches,
        # new-api front ends build the provider URLs themselves from these.
        "github_client_id": opts["GitHubClientId"] if oauth_switches["github_oauth"] else "",
        "linuxdo_client_id": opts["LinuxDOClientId"] if oauth_switches["linuxdo_oauth"] else "",
        "oidc_client_id": opts["OIDCClientId"] if oauth_switches["oidc_enabled"] else "",
        # one-api's front end shows the Telegram Login Widget and the WeChat QR code from these.
        "telegram_bot_name": opts["TelegramBotName"] if oauth_switches["telegram_oauth"] else "",
        "wechat_qrcode": opts["WeChatAccountQRCodeImageURL"] if oauth_switches["wechat_login"] else "",
    }
    data.update(oauth_switches)
    return ok(data)
