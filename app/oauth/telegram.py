"""Telegram sign-in with the Telegram Login Widget (https://core.telegram.org/widgets/login).

The widget (a script from telegram.org on our page, configured with the bot's username) asks the user to
confirm in Telegram, then sends the browser to our data-auth-url with `id, first_name, last_name, username,
photo_url, auth_date, hash` in the query. Telegram's documented check: the data-check-string is every
received field except `hash`, sorted by name, as `key=value` lines joined by "\\n"; `hash` must equal its
HMAC-SHA256 hex digest under the key SHA-256(bot token). We also refuse data older than MAX_AGE_SECONDS
(Telegram: "check auth_date to prevent the use of outdated data"), as the signed fields never expire.
No HTTP call to Telegram: the bot token is the shared secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping

from app.oauth.base import MAX_SUBJECT, OAuthFailed, OAuthProfile, SignInProvider

MAX_AGE_SECONDS = 86_400
FUTURE_LEEWAY_SECONDS = 300  # clock skew between Telegram and us
MAX_FIELD = 1024
HASH_RE = re.compile(r"[0-9a-fA-F]{64}")
# Query parameters that are ours (the sign-in state, the invitation code), not Telegram's signed fields.
OWN_PARAMS = frozenset({"state", "aff"})
# https://core.telegram.org/bots/features#botfather: 5-32 characters, Latin letters, digits and underscores.
BOT_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{4,31}")
BOT_TOKEN_RE = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{20,100}")


def check_bot_name(value: str) -> str | None:
    if value and not BOT_NAME_RE.fullmatch(value):
        return "must be the bot's username without @ (5-32 letters, digits or underscores)"
    return None


def check_bot_token(value: str) -> str | None:
    if value and not BOT_TOKEN_RE.fullmatch(value):
        return "must be a bot token from @BotFather, such as 123456789:AAE..."
    return None


class TelegramProvider(SignInProvider):
    name = "telegram"
    label = "Telegram"
    user_column = "telegram_id"
    enabled_option = "TelegramOAuthEnabled"
    kind = "telegram"

    @classmethod
    def required_options(cls) -> tuple[str, ...]:
        return ("TelegramBotToken", "TelegramBotName")

    def __init__(self, bot_token: str, bot_name: str) -> None:
        self.bot_token = bot_token
        self.bot_name = bot_name

    def signature(self, fields: Mapping[str, str]) -> str:
        """The hex HMAC-SHA256 Telegram puts in `hash` for these fields (`hash` itself left out)."""
        check_string = "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash")
        secret = hashlib.sha256(self.bot_token.encode()).digest()
        return hmac.new(secret, check_string.encode(), hashlib.sha256).hexdigest()

    def verify(self, query: Mapping[str, str], *, now: float | None = None) -> OAuthProfile:
        """The profile in the widget's query when Telegram signed it and it is at most a day old; 400 otherwise."""
        fields = {key: value for key, value in query.items() if key not in OWN_PARAMS}
        given = fields.get("hash", "")
        if not fields.get("id") or not given or not fields.get("auth_date"):
            raise OAuthFailed("the Telegram sign-in data is incomplete; please sign in with Telegram again")
        if any(len(value) > MAX_FIELD for value in fields.values()) or not HASH_RE.fullmatch(given):
            raise OAuthFailed("the Telegram sign-in data is malformed")
        if not hmac.compare_digest(self.signature(fields), given.lower()):
            raise OAuthFailed("the Telegram sign-in data is not signed by this site's bot")
        try:
            auth_date = int(fields["auth_date"])
        except ValueError:
            raise OAuthFailed("the Telegram sign-in data is malformed") from None
        now = time.time() if now is None else now
        if auth_date < now - MAX_AGE_SECONDS or auth_date > now + FUTURE_LEEWAY_SECONDS:
            raise OAuthFailed("the Telegram sign-in has expired; please sign in with Telegram again",
                              code="telegram_expired")
        subject = fields["id"]
        if not subject.isdigit() or len(subject) > MAX_SUBJECT or int(subject) <= 0:
            raise OAuthFailed("Telegram answered without a usable user id")
        name = " ".join(part for part in (fields.get("first_name", "").strip(), fields.get("last_name", "").strip())
                        if part)
        return OAuthProfile(subject=subject, login=fields.get("username", "").strip(), name=name)
