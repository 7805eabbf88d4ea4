"""Jinja filters and globals for the pages: quota as money, masked secrets, timestamps, JSON columns.

Bound once per app by `init_app` (the site blueprint records it, so every page has them).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from app.models import LogType
from app.options import get_option, options
from app.services import catalog
from app.web.htmx import current_path

log = logging.getLogger(__name__)


def quota_to_amount(quota: int | float | None) -> float:
    """Quota units as US dollars (QuotaPerUnit units make $1)."""
    return float(quota or 0) / float(get_option("QuotaPerUnit") or 1)


def format_quota(quota: int | float | None, digits: int = 2) -> str:
    """`$1.23` when DisplayInCurrencyEnabled, else the raw number of units (`1,234,567`).

    Amounts too small for `digits` decimals get up to six, so a cheap call never shows as $0.00.
    """
    quota = quota or 0
    if not get_option("DisplayInCurrencyEnabled"):
        return f"{int(quota):,}"
    amount = quota_to_amount(quota)
    if amount and abs(amount) < 10 ** -digits:
        text = f"{amount:.6f}".rstrip("0")
        return f"${text}" if amount > 0 else f"-${text[1:]}"
    return f"${amount:,.{digits}f}" if amount >= 0 else f"-${-amount:,.{digits}f}"


def format_usd(amount: float | int | None, digits: int = 4) -> str:
    """A dollar price with trailing zeros trimmed (`$2.5`, `$0.075`)."""
    text = f"{float(amount or 0):,.{digits}f}".rstrip("0").rstrip(".")
    return f"${text}"


def mask_secret(value: str | None, keep: int = 4) -> str:
    """`sk-abcd...wxyz`: enough to recognise a secret, not enough to use it."""
    value = value or ""
    if len(value) <= keep * 2 + 3:
        return "*" * len(value)
    prefix = "sk-" if value.startswith("sk-") else ""
    body = value[len(prefix):]
    return f"{prefix}{body[:keep]}...{body[-keep:]}"


def format_ts(value: int | float | datetime | None, with_seconds: bool = True) -> str:
    """Unix seconds (or a naive UTC datetime) as `YYYY-MM-DD HH:MM:SS` in UTC; "-" for 0/None.

    The page script rewrites `<time data-ts>` elements into the browser's time zone.
    """
    if value in (None, 0, -1, ""):
        return "-"
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    else:
        moment = datetime.fromtimestamp(int(value), tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M")


def to_unix(value: int | float | datetime | None) -> int:
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())
    return int(value or 0)


def format_ms(value: int | float | None) -> str:
    """Milliseconds as `850 ms` or `2.4 s`."""
    value = float(value or 0)
    return f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.1f} s"


def from_json(value: str | dict | None) -> dict:
    """A JSON object column as a dict; anything unreadable is an empty dict."""
    if isinstance(value, dict):
        return value
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def http_url(value: Any) -> str:
    """`value` if it is an absolute http(s) URL fit for an href, else "" (never a javascript: or data: link).

    Upstream data (task images, audio) is shown as a link only through this filter. Whitespace and
    control characters are refused outright: browsers drop some of them while parsing a scheme.
    """
    if not isinstance(value, str) or len(value) > 4096:
        return ""
    if any(ord(ch) <= 32 or ord(ch) == 127 for ch in value) or not value.lower().startswith(("http://", "https://")):
        return ""
    try:
        parts = urlsplit(value)
    except ValueError:
        return ""
    return value if parts.scheme.lower() in ("http", "https") and parts.hostname else ""


def format_number(value: int | float | None) -> str:
    return f"{value or 0:,}"


def render_markdown(text: str | None) -> Markup:
    """Markdown made safe by the catalog service (nh3: no scripts, handlers or javascript: URLs)."""
    return Markup(catalog.render_markdown(text or ""))  # noqa: S704 - sanitised by the service


LOG_TYPES = {
    LogType.TOPUP: _l("Top-up"), LogType.CONSUME: _l("Usage"), LogType.MANAGE: _l("Admin"),
    LogType.SYSTEM: _l("System"), LogType.CHECKIN: _l("Check-in"), LogType.REFUND: _l("Refund"),
    LogType.ERROR: _l("Error"),
}


def log_types() -> dict[int, str]:
    """Log type numbers and their names in the current language."""
    return {number: str(label) for number, label in LOG_TYPES.items()}


def _site_options() -> dict[str, Any]:
    try:
        return options().all()
    except Exception:  # noqa: BLE001 - an error page must render even when the database is down
        log.exception("options unavailable while rendering a page")
        return {}


def _site_context() -> dict[str, Any]:
    opts = _site_options()
    # Babel parses the "zh_CN" that app/web/i18n.py picks as zh_Hans_CN: compare the language only.
    current = get_locale()
    locale = "zh_CN" if current is not None and current.language == "zh" else "en"
    return {
        "site_name": opts.get("SystemName") or current_app.config.get("SITE_NAME", "Sluice"),
        "site_logo": opts.get("Logo", ""),
        "site_footer": opts.get("Footer", ""),
        "site_notice": opts.get("Notice", ""),
        "checkin_enabled": opts.get("CheckInEnabled", False),
        "locale": locale,
        "html_lang": "zh-CN" if locale == "zh_CN" else "en",
        "languages": [("en", "English"), ("zh_CN", "中文")],
        "current_path": current_path() if request else "/",
        "log_types": log_types,
    }


FILTERS = {
    "quota": format_quota,
    "usd": format_usd,
    "masked": mask_secret,
    "ts": format_ts,
    "unix": to_unix,
    "ms": format_ms,
    "fromjson": from_json,
    "number": format_number,
    "http_url": http_url,
    "markdown": render_markdown,
}


def init_app(app) -> None:
    """Register the filters and the site context processor on `app` (idempotent)."""
    if app.extensions.get("sluice_page_helpers"):
        return
    app.extensions["sluice_page_helpers"] = True
    app.jinja_env.filters.update(FILTERS)
    app.context_processor(_site_context)
