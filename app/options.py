"""Runtime settings: the `options` table with typed defaults in code, cached per process.

Reads never touch the database while the cache is fresh. A write validates every value, stores the rows
and a new version marker in one transaction, then tells the other processes: over Redis pub/sub when
REDIS_URL is set, otherwise each process compares the version marker at most every OPTIONS_SYNC_SECONDS.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select

from app.errors import ValidationError
from app.extensions import db
from app.models import Option
from app.oauth.telegram import check_bot_name, check_bot_token

log = logging.getLogger(__name__)

SECRET_SUFFIXES = ("Secret", "Token", "Key")
# Names that end like a secret but are public by design: Turnstile's site key is embedded in every page.
NOT_SECRET = frozenset({"TurnstileSiteKey"})
DEFAULT_EMAIL_DOMAIN_WHITELIST = [  # new-api's default list
    "gmail.com", "163.com", "126.com", "qq.com", "outlook.com", "hotmail.com", "icloud.com", "yahoo.com",
    "foxmail.com",
]


@dataclass(frozen=True)
class Spec:
    kind: str  # int | float | bool | str | ratio_map | json_object | json_list | text_lines
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    check: Callable[[Any], str | None] | None = None


DEFAULT_MODEL_RATIO = {
    # $ per 1M prompt tokens / 2 (one-api's convention: ratio 1 == $0.002 / 1K tokens).
    "gpt-4o": 1.25, "gpt-4o-mini": 0.075, "gpt-4.1": 1.0, "gpt-4.1-mini": 0.2, "gpt-4.1-nano": 0.05,
    "gpt-4-turbo": 5, "gpt-4": 15, "gpt-3.5-turbo": 0.25, "o1": 7.5, "o1-mini": 0.55, "o3": 1.0,
    "o3-mini": 0.55, "o4-mini": 0.55, "gpt-5": 0.625, "gpt-5-mini": 0.125, "gpt-5-nano": 0.025,
    "text-embedding-3-small": 0.01, "text-embedding-3-large": 0.065, "text-embedding-ada-002": 0.05,
    "omni-moderation-latest": 0, "text-moderation-latest": 0, "whisper-1": 15, "tts-1": 7.5, "tts-1-hd": 15,
    "gpt-3.5-turbo-instruct": 0.75, "davinci-002": 1, "babbage-002": 0.2,
    "claude-3-5-haiku-20241022": 0.4, "claude-3-5-sonnet-20241022": 1.5, "claude-3-7-sonnet-20250219": 1.5,
    "claude-sonnet-4-20250514": 1.5, "claude-opus-4-20250514": 7.5, "claude-3-haiku-20240307": 0.125,
    "gemini-1.5-flash": 0.0375, "gemini-1.5-pro": 0.625, "gemini-2.0-flash": 0.05, "gemini-2.5-flash": 0.15,
    "gemini-2.5-pro": 0.625, "text-embedding-004": 0.01,
    "deepseek-chat": 0.135, "deepseek-reasoner": 0.275,
}
DEFAULT_COMPLETION_RATIO = {
    "gpt-4o": 4, "gpt-4o-mini": 4, "gpt-4.1": 4, "gpt-4.1-mini": 4, "gpt-4.1-nano": 4, "gpt-4-turbo": 3,
    "gpt-4": 2, "gpt-3.5-turbo": 3, "o1": 4, "o1-mini": 4, "o3": 4, "o3-mini": 4, "o4-mini": 4, "gpt-5": 8,
    "gpt-5-mini": 8, "gpt-5-nano": 8, "claude-3-5-haiku-20241022": 5, "claude-3-5-sonnet-20241022": 5,
    "claude-3-7-sonnet-20250219": 5, "claude-sonnet-4-20250514": 5, "claude-opus-4-20250514": 5,
    "claude-3-haiku-20240307": 5, "gemini-1.5-flash": 4, "gemini-1.5-pro": 4, "gemini-2.0-flash": 4,
    "gemini-2.5-flash": 8.33, "gemini-2.5-pro": 8, "deepseek-chat": 4, "deepseek-reasoner": 4,
}
# Videos (/v1/videos): USD per SECOND of video, OpenAI's list prices; a video costs this x its seconds
# (x app.billing.pricing.VIDEO_SIZE_FACTOR for sora-2-pro's large sizes) x the group ratio.
VIDEO_PRICE_PER_SECOND = {"sora-2": 0.10, "sora-2-pro": 0.30}
DEFAULT_MODEL_PRICE = {
    **VIDEO_PRICE_PER_SECOND,
    "dall-e-2": 0.02, "dall-e-3": 0.04, "gpt-image-1": 0.04,
    # Asynchronous tasks, USD per submit (new-api's defaults; inpaint and custom zoom ride on mj_modal)
    "mj_imagine": 0.1, "mj_variation": 0.1, "mj_reroll": 0.1, "mj_blend": 0.1, "mj_modal": 0.1, "mj_zoom": 0.1,
    "mj_shorten": 0.1, "mj_high_variation": 0.1, "mj_low_variation": 0.1, "mj_pan": 0.1, "mj_edits": 0.1,
    "mj_inpaint": 0, "mj_custom_zoom": 0, "mj_describe": 0.05, "mj_upscale": 0.05, "mj_upload": 0.05,
    "swap_face": 0.05, "mj_video": 0.8, "suno_music": 0.1, "suno_lyrics": 0.01,
}


PAY_METHOD_TYPE_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
# A CSS colour for a method's button: #hex, a name, or rgb()/hsl() (may hold var()), never url() or quotes.
PAY_METHOD_COLOR_RE = re.compile(r"^(#[0-9A-Fa-f]{3,8}|[A-Za-z]{1,32}|(rgb|rgba|hsl|hsla)\([\w\s.,%()-]{1,64}\))$")
DEFAULT_PAY_METHODS = [
    {"name": "Alipay", "color": "#1677FF", "type": "alipay"},
    {"name": "WeChat Pay", "color": "#07C160", "type": "wxpay"},
]


def _check_pay_methods(methods: list) -> str | None:
    """new-api's PayMethods: a list of {name, type, color?}; `type` is what the epay gateway is sent."""
    seen = set()
    for method in methods:
        if not isinstance(method, dict):
            return "each payment method must be an object with name and type"
        name, kind, color = method.get("name"), method.get("type"), method.get("color", "")
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            return "each payment method needs a name (1-64 characters)"
        if not isinstance(kind, str) or not PAY_METHOD_TYPE_RE.fullmatch(kind):
            return "each payment method needs a type of 1-32 letters, digits, '_' or '-'"
        if kind == "stripe":
            return "type 'stripe' is reserved for Stripe, which has its own settings"
        if kind in seen:
            return f"payment method type {kind!r} is listed twice"
        if color != "" and (not isinstance(color, str) or not PAY_METHOD_COLOR_RE.fullmatch(color)):
            return f"color of {kind!r} must be a CSS colour such as #1677FF or rgb(22, 119, 255)"
        seen.add(kind)
    return None


MAX_AMOUNT_OPTIONS = 50
MAX_TOPUP_DOLLARS = 1_000_000  # payments.MAX_TOPUP_AMOUNT: the largest amount one order may hold


def _is_topup_amount(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_TOPUP_DOLLARS


def _check_amount_options(amounts: list) -> str | None:
    """new-api's AmountOptions: the preset amounts (whole US dollars of quota) shown as buttons."""
    if len(amounts) > MAX_AMOUNT_OPTIONS:
        return f"list at most {MAX_AMOUNT_OPTIONS} amounts"
    if not all(_is_topup_amount(a) for a in amounts):
        return f"each amount must be a whole number from 1 to {MAX_TOPUP_DOLLARS}"
    if len(set(amounts)) != len(amounts):
        return "an amount is listed twice"
    return None


def _check_amount_discount(discounts: dict) -> str | None:
    """new-api's AmountDiscount: top-up amount (as text) -> factor of its price, e.g. {"100": 0.95}."""
    for amount, factor in discounts.items():
        if not (amount.isascii() and amount.isdigit() and _is_topup_amount(int(amount))) or amount != str(int(amount)):
            return f"{amount!r} is not a whole amount from 1 to {MAX_TOPUP_DOLLARS}"
        if not _is_number(factor) or not 0 < factor <= 1:
            return f"the factor of {amount} must be a number above 0 and at most 1, e.g. 0.95"
    return None


def _check_http_url(value: str) -> str | None:
    if value and not re.fullmatch(r"https?://[^\s]+", value):
        return "must be an http:// or https:// URL, or empty"
    return None


def _check_https_url(value: str) -> str | None:
    # Pages may load images only over https (the Content-Security-Policy's img-src).
    if value and not re.fullmatch(r"https://[^\s]+", value):
        return "must be an https:// URL, or empty"
    return None


def _check_domains(domains: list[str]) -> str | None:
    for domain in domains:
        if domain != domain.lower() or "." not in domain or domain.startswith((".", "@")) or " " in domain:
            return f"{domain!r} is not a lower-case domain name such as example.com"
    return None


def _check_mail_and_turnstile(values: dict) -> str | None:
    """Switches that would lock users out when what they need is missing (as one-api's option checks)."""
    if values["EmailVerificationEnabled"] and not values["SMTPServer"]:
        return "EmailVerificationEnabled needs SMTPServer: set up e-mail first"
    if values["EmailDomainRestrictionEnabled"] and not values["EmailDomainWhitelist"]:
        return "EmailDomainRestrictionEnabled needs at least one domain in EmailDomainWhitelist"
    if values["TurnstileCheckEnabled"] and not (values["TurnstileSiteKey"] and values["TurnstileSecretKey"]):
        return "TurnstileCheckEnabled needs TurnstileSiteKey and TurnstileSecretKey"
    return None


def _check_telegram_and_wechat(values: dict) -> str | None:
    """Telegram and WeChat sign-in need their keys before they can be switched on (one-api's option checks)."""
    if values["TelegramOAuthEnabled"] and not (values["TelegramBotToken"] and values["TelegramBotName"]):
        return "TelegramOAuthEnabled needs TelegramBotToken and TelegramBotName"
    if values["WeChatAuthEnabled"] and not (values["WeChatServerAddress"] and values["WeChatServerToken"]):
        return "WeChatAuthEnabled needs WeChatServerAddress and WeChatServerToken"
    return None


MAX_RATE_LIMIT = 2_147_483_647  # new-api keeps request rate limits in 32-bit ints


def _check_rate_limit_groups(groups: dict) -> str | None:
    """ModelRequestRateLimitGroup: {"group": [count, successCount]}, whole numbers from 0 (no limit)."""
    for group, pair in groups.items():
        if not group.strip():
            return "a group name is empty"
        if not (isinstance(pair, list) and len(pair) == 2
                and all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_RATE_LIMIT for n in pair)):
            return f"the limits of {group} must be [count, successCount]: whole numbers from 0 to {MAX_RATE_LIMIT}"
    return None


def _check_checkin(values: dict) -> str | None:
    if values["CheckInMaxQuota"] < values["CheckInQuota"]:
        return "CheckInMaxQuota must be at least CheckInQuota"
    return None


SPECS: dict[str, Spec] = {
    # General
    "SystemName": Spec("str", "Sluice"),
    "Logo": Spec("str", ""),
    "Footer": Spec("str", ""),
    "Notice": Spec("str", ""),
    "About": Spec("str", ""),
    "HomePageContent": Spec("str", ""),
    "ServerAddress": Spec("str", ""),
    "TopUpLink": Spec("str", ""),
    "ChatLink": Spec("str", ""),
    "DisplayInCurrencyEnabled": Spec("bool", True),
    "DisplayTokenStatEnabled": Spec("bool", True),
    "USDExchangeRate": Spec("float", 7.3, minimum=0.0001),
    "DataExportEnabled": Spec("bool", True),
    "DataExportDefaultTime": Spec("str", "hour", check=lambda v: None if v in {"hour", "day", "week"}
                                  else "must be hour, day or week"),
    # Registration and login
    "RegisterEnabled": Spec("bool", True),
    "PasswordLoginEnabled": Spec("bool", True),
    "PasswordRegisterEnabled": Spec("bool", True),
    "EmailVerificationEnabled": Spec("bool", False),
    "GitHubOAuthEnabled": Spec("bool", False),
    "GitHubClientId": Spec("str", ""),
    "GitHubClientSecret": Spec("str", ""),
    "OIDCEnabled": Spec("bool", False),
    "OIDCClientId": Spec("str", ""),
    "OIDCClientSecret": Spec("str", ""),
    "OIDCWellKnown": Spec("str", ""),
    "LinuxDOOAuthEnabled": Spec("bool", False),
    "LinuxDOClientId": Spec("str", ""),
    "LinuxDOClientSecret": Spec("str", ""),
    "TelegramOAuthEnabled": Spec("bool", False),
    "TelegramBotToken": Spec("str", "", check=check_bot_token),
    "TelegramBotName": Spec("str", "", check=check_bot_name),
    "WeChatAuthEnabled": Spec("bool", False),
    "WeChatServerAddress": Spec("str", "", check=_check_http_url),
    "WeChatServerToken": Spec("str", ""),
    "WeChatAccountQRCodeImageURL": Spec("str", "", check=_check_https_url),
    "TurnstileCheckEnabled": Spec("bool", False),
    "TurnstileSiteKey": Spec("str", ""),
    "TurnstileSecretKey": Spec("str", ""),
    # E-mail (SMTP); SMTPPort 465 or SMTPSSLEnabled means implicit TLS, any other port STARTTLS when offered
    "SMTPServer": Spec("str", ""),
    "SMTPPort": Spec("int", 587, minimum=1, maximum=65535),
    "SMTPSSLEnabled": Spec("bool", False),
    "SMTPAccount": Spec("str", ""),
    "SMTPFrom": Spec("str", ""),
    "SMTPToken": Spec("str", ""),
    "EmailDomainRestrictionEnabled": Spec("bool", False),
    "EmailDomainWhitelist": Spec("text_lines", DEFAULT_EMAIL_DOMAIN_WHITELIST, check=_check_domains),
    # Quota and pricing
    "QuotaPerUnit": Spec("float", 500000.0, check=lambda v: None if v > 0 else "must be greater than 0"),
    "QuotaForNewUser": Spec("int", 0, minimum=0),
    "QuotaForInviter": Spec("int", 0, minimum=0),
    "QuotaForInvitee": Spec("int", 0, minimum=0),
    "QuotaRemindThreshold": Spec("int", 0, minimum=0),
    "PreConsumedQuota": Spec("int", 500, minimum=0),
    "ModelRatio": Spec("ratio_map", DEFAULT_MODEL_RATIO),
    "CompletionRatio": Spec("ratio_map", DEFAULT_COMPLETION_RATIO),
    "ModelPrice": Spec("ratio_map", DEFAULT_MODEL_PRICE),
    "GroupRatio": Spec("ratio_map", {"default": 1, "vip": 1, "svip": 1}),
    "CacheRatio": Spec("ratio_map", {}),
    "CacheCreationRatio": Spec("ratio_map", {}),
    "UserUsableGroups": Spec("json_object", {"default": "Default", "vip": "VIP"}),
    "SelfUseModeEnabled": Spec("bool", False),  # serve models that have no price, at ratio 1
    "RetryTimes": Spec("int", 2, minimum=0, maximum=10),
    # Request rate per user (app.relay.ratelimit); with the switch off only the Count applies, per minute
    "ModelRequestRateLimitEnabled": Spec("bool", False),
    "ModelRequestRateLimitDurationMinutes": Spec("int", 1, minimum=1, maximum=10080),
    "ModelRequestRateLimitCount": Spec("int", 0, minimum=0, maximum=MAX_RATE_LIMIT),
    "ModelRequestRateLimitSuccessCount": Spec("int", 1000, minimum=0, maximum=MAX_RATE_LIMIT),
    "ModelRequestRateLimitGroup": Spec("json_object", {}, check=_check_rate_limit_groups),
    # Online top-up: an epay (易支付) gateway; Price is what one US dollar of quota costs in its currency
    "PayAddress": Spec("str", "", check=_check_http_url),
    "EpayId": Spec("str", ""),
    "EpayKey": Spec("str", ""),
    "Price": Spec("float", 7.3, check=lambda v: None if v > 0 else "must be greater than 0"),
    "MinTopUp": Spec("int", 1, minimum=1, maximum=1_000_000),
    "TopupGroupRatio": Spec("ratio_map", {"default": 1, "vip": 1, "svip": 1}),
    "PayMethods": Spec("json_list", DEFAULT_PAY_METHODS, check=_check_pay_methods),
    "AmountOptions": Spec("json_list", [10, 20, 50, 100, 200, 500], check=_check_amount_options),
    "AmountDiscount": Spec("json_object", {}, check=_check_amount_discount),
    # Pending epay orders older than this are cancelled by a scheduled job (0 = never)
    "EpayOrderExpireHours": Spec("int", 24, minimum=0, maximum=8760),
    # Stripe Checkout: StripePriceId's price times the amount; StripeUnitPrice must be that price's unit amount
    "StripeApiSecret": Spec("str", ""),
    "StripeWebhookSecret": Spec("str", ""),
    "StripePriceId": Spec("str", ""),
    "StripeUnitPrice": Spec("float", 8.0, check=lambda v: None if v > 0 else "must be greater than 0"),
    "StripeMinTopUp": Spec("int", 1, minimum=1, maximum=1_000_000),
    # Check-in
    "CheckInEnabled": Spec("bool", False),
    "CheckInQuota": Spec("int", 0, minimum=0),
    "CheckInMaxQuota": Spec("int", 0, minimum=0),
    "CheckInTimeZone": Spec("str", "UTC"),
    # Invitations
    "RebateEnabled": Spec("bool", False),
    "RebatePercentage": Spec("float", 0.0, minimum=0, maximum=100),
    # Channel health
    "AutomaticDisableChannelEnabled": Spec("bool", True),
    "AutomaticEnableChannelEnabled": Spec("bool", False),
    "AutomaticDisableKeywords": Spec("text_lines", [
        "Your credit balance is too low", "This organization has been disabled.",
        "You exceeded your current quota", "Permission denied", "The security token included in the request is invalid",
        "Operation not allowed", "Your account is not authorized", "API key not valid", "invalid_api_key",
        "account_deactivated",
    ]),
    "ChannelDisableThreshold": Spec("float", 0.0, minimum=0),
    # Scheduled channel jobs, in minutes (0 = off): one-api's CHANNEL_TEST_FREQUENCY / CHANNEL_UPDATE_FREQUENCY
    "ChannelTestFrequencyMinutes": Spec("int", 0, minimum=0, maximum=10080),
    "ChannelUpdateFrequencyMinutes": Spec("int", 0, minimum=0, maximum=10080),
    # Sensitive words (new-api's): prompts holding a listed word are refused before anything is charged
    "CheckSensitiveEnabled": Spec("bool", False),
    "CheckSensitiveOnPromptEnabled": Spec("bool", True),
    "SensitiveWords": Spec("text_lines", []),
    # Logs
    "LogConsumeEnabled": Spec("bool", True),
    "LogRetentionDays": Spec("int", 0, minimum=0),
}
CROSS_CHECKS: list[Callable[[dict], str | None]] = [_check_checkin, _check_mail_and_turnstile,
                                                   _check_telegram_and_wechat]


def is_secret(key: str) -> bool:
    """Secrets (names ending in Secret, Token or Key, except NOT_SECRET) are never read back out."""
    return key.endswith(SECRET_SUFFIXES) and key not in NOT_SECRET


PUBLIC_KEYS = frozenset(k for k in SPECS if not is_secret(k))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_value(key: str, raw: Any) -> Any:
    """Turn a submitted or stored value into its typed form, or raise ValidationError."""
    spec = SPECS.get(key)
    if spec is None:
        raise ValidationError(f"unknown option {key!r}")
    try:
        value = _coerce(spec, raw)
    except (TypeError, ValueError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{key}: {exc}") from None
    if spec.minimum is not None and value < spec.minimum:
        raise ValidationError(f"{key}: must be at least {spec.minimum:g}")
    if spec.maximum is not None and value > spec.maximum:
        raise ValidationError(f"{key}: must be at most {spec.maximum:g}")
    if spec.check and (problem := spec.check(value)):
        raise ValidationError(f"{key}: {problem}")
    return value


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number")


def _coerce(spec: Spec, raw: Any) -> Any:
    kind = spec.kind
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in {"true", "false", "1", "0"}:
            return raw.strip().lower() in {"true", "1"}
        raise ValueError("must be true or false")
    if kind in {"int", "float"}:
        if isinstance(raw, bool):
            raise ValueError("must be a number")
        if isinstance(raw, str):
            raw = raw.strip()
            raw = int(raw) if kind == "int" and raw.lstrip("-").isdigit() else float(raw)
        if not _is_number(raw):
            raise ValueError("must be a finite number")
        if kind == "int":
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError("must be a whole number")
            raw = int(raw)
            if abs(raw) >= 2**63:
                raise ValueError("is out of range")
            return raw
        return float(raw)
    if kind == "str":
        if not isinstance(raw, str):
            raise ValueError("must be a string")
        if "\x00" in raw or len(raw) > 65536:
            raise ValueError("must be text under 64 KiB")
        return raw
    if kind == "text_lines":
        if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
            return [x.strip() for x in raw if x.strip()]
        if isinstance(raw, str):
            return [x.strip() for x in raw.splitlines() if x.strip()]
        raise ValueError("must be text, one entry per line")
    if kind in {"ratio_map", "json_object"}:
        if isinstance(raw, str):
            raw = json.loads(raw, parse_constant=_reject_constant)
        if not isinstance(raw, dict):
            raise ValueError("must be a JSON object")
        if kind == "ratio_map":
            for name, ratio in raw.items():
                if not _is_number(ratio) or ratio < 0:
                    raise ValueError(f"{name!r} must map to a non-negative number")
        return raw
    if kind == "json_list":
        if isinstance(raw, str):
            raw = json.loads(raw, parse_constant=_reject_constant)
        if not isinstance(raw, list):
            raise ValueError("must be a JSON list")
        return raw
    raise ValueError(f"unsupported kind {kind}")


def serialize_value(key: str, value: Any) -> str:
    kind = SPECS[key].kind
    if kind == "bool":
        return "true" if value else "false"
    if kind in {"ratio_map", "json_object", "json_list"}:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if kind == "text_lines":
        return "\n".join(value)
    if kind == "float" and float(value).is_integer():
        return str(int(value)) if abs(value) < 2**53 else repr(value)
    return str(value)


class OptionStore:
    """One process's cache of every option, typed. Use `options()` to reach the current app's store.

    Freshness rides on app.cache's version board (namespace "options"): no database read while fresh.
    """

    NAMESPACE = "options"

    def __init__(self, app) -> None:
        self.app = app
        self._values: dict[str, Any] = {k: s.default for k, s in SPECS.items()}
        self._version: str | None = None
        self._loaded = False
        self._lock = threading.Lock()

    @property
    def _board(self):
        return self.app.extensions["sluice_versions"]

    # -- reading -------------------------------------------------------------------------------------
    def get(self, key: str) -> Any:
        self._ensure_fresh()
        return self._values[key]

    def all(self) -> dict[str, Any]:
        self._ensure_fresh()
        return dict(self._values)

    def _ensure_fresh(self) -> None:
        version = self._board.current(self.NAMESPACE)
        if not self._loaded or version != self._version:
            self.reload(version)

    def reload(self, version: str | None = None) -> None:
        """Read every option row; rows that no longer validate fall back to their defaults."""
        rows = db.session.execute(select(Option.key, Option.value).where(Option.key.in_(SPECS))).all()
        values = {k: s.default for k, s in SPECS.items()}
        for key, raw in rows:
            if raw is None:
                continue
            try:
                values[key] = parse_value(key, raw)
            except ValidationError:
                log.warning("option %s has an invalid stored value; using the default", key)
        with self._lock:
            self._values = values
            self._version = version if version is not None else self._board.current(self.NAMESPACE)
            self._loaded = True

    # -- writing -------------------------------------------------------------------------------------
    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Validate and store several options at once; nothing is written if any value is invalid.

        The rows and the new version marker commit together, so no process can miss the change."""
        if not isinstance(changes, dict) or not changes:
            raise ValidationError("expected a non-empty object of option values")
        parsed = {key: parse_value(key, raw) for key, raw in changes.items()}
        merged = {**self.all(), **parsed}
        for check in CROSS_CHECKS:
            if problem := check(merged):
                raise ValidationError(problem)
        try:
            for key, value in parsed.items():
                db.session.merge(Option(key=key, value=serialize_value(key, value)))
            markers = self._board.stage((self.NAMESPACE,))
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        self._board.announce(markers)
        self.reload(markers[self.NAMESPACE])
        return parsed


def init_options(app) -> None:
    app.extensions["sluice_options"] = OptionStore(app)


def options() -> OptionStore:
    """The current app's option store."""
    return current_app.extensions["sluice_options"]


def get_option(key: str) -> Any:
    return options().get(key)


def public_options() -> dict[str, Any]:
    """Every option that is not a secret (see is_secret)."""
    return {k: v for k, v in options().all().items() if k in PUBLIC_KEYS}
