"""Provider slug -> class, and building a configured provider from settings.

`build` takes plain mappings, so this module needs neither Flask nor the options table: the caller
(app.services.oauth) passes the runtime options and the app config.

App-config / environment settings, for tests and GitHub Enterprise Server (defaults are the public
services): OAUTH_GITHUB_BASE (https://github.com), OAUTH_GITHUB_API_BASE (https://api.github.com),
OAUTH_LINUXDO_BASE (https://connect.linux.do), OAUTH_HTTP_TIMEOUT (seconds, 10; also for the WeChat Server).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from app.oauth.base import DEFAULT_TIMEOUT, SignInProvider
from app.oauth.github import GitHubProvider
from app.oauth.linuxdo import LinuxDOProvider
from app.oauth.oidc import OIDCProvider
from app.oauth.telegram import TelegramProvider
from app.oauth.wechat import WeChatProvider

PROVIDERS: dict[str, type[SignInProvider]] = {
    GitHubProvider.name: GitHubProvider,
    OIDCProvider.name: OIDCProvider,
    LinuxDOProvider.name: LinuxDOProvider,
    TelegramProvider.name: TelegramProvider,
    WeChatProvider.name: WeChatProvider,
}
CONFIG_KEYS = ("OAUTH_GITHUB_BASE", "OAUTH_GITHUB_API_BASE", "OAUTH_LINUXDO_BASE", "OAUTH_HTTP_TIMEOUT")


def setting(config: Mapping[str, Any], key: str) -> str:
    """An app-config value (app/config.py reads them from the environment), else ""."""
    value = config.get(key)
    return "" if value is None else str(value).strip()


def missing_settings(cls: type[SignInProvider], option: Callable[[str], Any]) -> list[str]:
    """The option names that keep `cls` from working: the switch, the client id or secret, the discovery URL,
    the bot token and name, the WeChat Server address and token."""
    missing = [key for key in (cls.enabled_option, *cls.required_options())
               if not option(key) or not str(option(key)).strip()]
    if cls is OIDCProvider and not str(option("OIDCWellKnown") or "").strip():
        missing.append("OIDCWellKnown")
    return missing


def build(name: str, option: Callable[[str], Any], config: Mapping[str, Any]) -> SignInProvider:
    """The provider `name` configured from the options (`option(key)`) and app config `config`.

    The caller checks `missing_settings` first; here we only wire values in.
    """
    cls = PROVIDERS[name]
    try:
        timeout = float(setting(config, "OAUTH_HTTP_TIMEOUT") or DEFAULT_TIMEOUT)
    except ValueError:
        timeout = DEFAULT_TIMEOUT
    if cls is TelegramProvider:
        return TelegramProvider(str(option("TelegramBotToken")).strip(), str(option("TelegramBotName")).strip())
    if cls is WeChatProvider:
        return WeChatProvider(str(option("WeChatServerAddress")).strip(), str(option("WeChatServerToken")).strip(),
                              str(option("WeChatAccountQRCodeImageURL") or "").strip(), timeout=timeout)
    client_id, secret = str(option(cls.client_id_option)), str(option(cls.client_secret_option))
    if cls is GitHubProvider:
        return GitHubProvider(client_id, secret, timeout=timeout, base=setting(config, "OAUTH_GITHUB_BASE"),
                              api_base=setting(config, "OAUTH_GITHUB_API_BASE"))
    if cls is LinuxDOProvider:
        return LinuxDOProvider(client_id, secret, timeout=timeout, base=setting(config, "OAUTH_LINUXDO_BASE"))
    return OIDCProvider(client_id, secret, timeout=timeout, well_known=str(option("OIDCWellKnown")))
