"""Runtime settings (root only), one form per group, saved through options().update."""

from __future__ import annotations

import json

from flask import abort, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.blueprints.admin import bp
from app.blueprints.admin.setting_labels import HELP, LABELS
from app.errors import ValidationError
from app.models import Role
from app.options import SPECS, is_secret, options, serialize_value
from app.web.auth import page_role_required
from app.web.htmx import render, toast, wants_fragment

GROUPS: list[tuple[str, object, list[str]]] = [
    ("general", _l("General"), [
        "SystemName", "Logo", "Notice", "Footer", "About", "HomePageContent", "ServerAddress", "TopUpLink",
        "ChatLink", "DisplayInCurrencyEnabled", "DisplayTokenStatEnabled", "USDExchangeRate",
        "DataExportEnabled", "DataExportDefaultTime", "LogConsumeEnabled", "LogRetentionDays"]),
    ("registration", _l("Registration and login"), [
        "RegisterEnabled", "PasswordLoginEnabled", "PasswordRegisterEnabled", "EmailVerificationEnabled",
        "TurnstileCheckEnabled", "TurnstileSiteKey", "TurnstileSecretKey", "GitHubOAuthEnabled", "GitHubClientId",
        "GitHubClientSecret", "OIDCEnabled", "OIDCClientId", "OIDCClientSecret", "OIDCWellKnown",
        "LinuxDOOAuthEnabled", "LinuxDOClientId", "LinuxDOClientSecret", "TelegramOAuthEnabled",
        "TelegramBotToken", "TelegramBotName", "WeChatAuthEnabled", "WeChatServerAddress", "WeChatServerToken",
        "WeChatAccountQRCodeImageURL"]),
    ("email", _l("E-mail"), [
        "SMTPServer", "SMTPPort", "SMTPSSLEnabled", "SMTPAccount", "SMTPFrom", "SMTPToken",
        "EmailDomainRestrictionEnabled", "EmailDomainWhitelist"]),
    ("quota", _l("Quota and ratios"), [
        "QuotaPerUnit", "QuotaForNewUser", "QuotaRemindThreshold", "PreConsumedQuota", "SelfUseModeEnabled",
        "RetryTimes", "ModelRatio", "CompletionRatio", "ModelPrice",
        "GroupRatio", "CacheRatio", "CacheCreationRatio", "UserUsableGroups"]),
    ("payment", _l("Payment"), [
        "PayAddress", "EpayId", "EpayKey", "PayMethods", "Price", "MinTopUp", "TopupGroupRatio",
        "AmountOptions", "AmountDiscount", "EpayOrderExpireHours",
        "StripeApiSecret", "StripeWebhookSecret", "StripePriceId", "StripeUnitPrice", "StripeMinTopUp"]),
    ("checkin", _l("Check-in"), ["CheckInEnabled", "CheckInQuota", "CheckInMaxQuota", "CheckInTimeZone"]),
    ("invitation", _l("Invitations"), ["QuotaForInviter", "QuotaForInvitee", "RebateEnabled", "RebatePercentage"]),
    ("health", _l("Channel auto-disable"), [
        "AutomaticDisableChannelEnabled", "AutomaticEnableChannelEnabled", "ChannelDisableThreshold",
        "AutomaticDisableKeywords", "ChannelTestFrequencyMinutes", "ChannelUpdateFrequencyMinutes"]),
    ("ratelimit", _l("Request rate limits"), [
        "ModelRequestRateLimitEnabled", "ModelRequestRateLimitDurationMinutes", "ModelRequestRateLimitCount",
        "ModelRequestRateLimitSuccessCount", "ModelRequestRateLimitGroup"]),
    ("sensitive", _l("Sensitive words"), ["CheckSensitiveEnabled", "CheckSensitiveOnPromptEnabled", "SensitiveWords"]),
]
_GROUPED = {key for _, _, keys in GROUPS for key in keys}
# Options added later by other features still get a form, until someone files them in a group.
GROUPS.append(("other", _l("Other"), [key for key in SPECS if key not in _GROUPED]))
GROUP_KEYS = {name: [k for k in keys if k in SPECS] for name, _, keys in GROUPS}
LONG_TEXT = {"Notice", "Footer", "About", "HomePageContent"}
QUOTA_KEYS = {"QuotaForNewUser", "QuotaRemindThreshold", "PreConsumedQuota", "CheckInQuota", "CheckInMaxQuota",
              "QuotaForInviter", "QuotaForInvitee"}


def _widget(key: str) -> str:
    kind = SPECS[key].kind
    if kind == "bool":
        return "checkbox"
    if kind in {"ratio_map", "json_object", "json_list"}:
        return "json"
    if kind == "text_lines" or key in LONG_TEXT:
        return "textarea"
    if is_secret(key):
        return "secret"
    return "number" if kind in {"int", "float"} else "text"


def _fields(group: str, submitted: dict | None = None) -> list[dict]:
    values = options().all()
    fields = []
    for key in GROUP_KEYS[group]:
        widget = _widget(key)
        if submitted is not None and key in submitted:
            shown = submitted[key]
        elif widget == "secret":
            shown = ""
        elif widget == "checkbox":
            shown = bool(values[key])
        elif widget == "json":
            shown = json.dumps(values[key], indent=2, ensure_ascii=False, sort_keys=True)
        else:
            shown = serialize_value(key, values[key])
        fields.append({"key": key, "label": LABELS.get(key, key), "help": HELP.get(key, ""), "widget": widget,
                       "value": shown, "has_value": bool(values[key]), "is_quota": key in QUOTA_KEYS,
                       "current": values[key],
                       "json_shape": "list" if SPECS[key].kind == "json_list" else "object"})
    return fields


def _context(group: str, **extra) -> dict:
    return {"groups": [(name, label) for name, label, keys in GROUPS if GROUP_KEYS[name]], "group": group,
            "group_label": dict((n, lbl) for n, lbl, _k in GROUPS)[group], **extra}


def _changes(group: str) -> tuple[dict, dict]:
    """The submitted values as strings for options().update, and as typed for re-showing the form."""
    changes, shown = {}, {}
    for key in GROUP_KEYS[group]:
        widget = _widget(key)
        if widget == "checkbox":
            changes[key] = "true" if request.form.get(key) in {"on", "true", "1"} else "false"
            shown[key] = changes[key] == "true"
        elif widget == "secret":
            raw = request.form.get(key, "")
            if raw:  # empty keeps the stored secret
                changes[key] = raw
        elif key in request.form:
            changes[key] = shown[key] = request.form.get(key, "")
    return changes, shown


@bp.get("/settings")
@page_role_required(Role.ROOT)
def settings():
    group = request.args.get("group", "general")
    if group not in GROUP_KEYS:
        abort(404)
    return render("admin/settings.html", "admin/_settings_form.html", fields=_fields(group), **_context(group))


@bp.post("/settings/<group>")
@page_role_required(Role.ROOT)
def settings_update(group: str):
    if group not in GROUP_KEYS:
        abort(404)
    changes, shown = _changes(group)
    try:
        if changes:
            options().update(changes)
    except ValidationError as exc:
        return render("admin/settings.html", "admin/_settings_form.html", status=422,
                      fields=_fields(group, shown), error=exc.message, **_context(group))
    response = render("admin/settings.html", "admin/_settings_form.html", fields=_fields(group),
                      saved=True, **_context(group))
    return toast(response, _("Settings saved.")) if wants_fragment() else response
