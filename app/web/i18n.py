"""Locale choice: ?lang=, then the `lang` cookie, then Accept-Language."""

from __future__ import annotations

from flask import current_app, request

SUPPORTED = {"en": "en", "zh": "zh_CN", "zh_cn": "zh_CN", "zh-cn": "zh_CN", "zh_hans": "zh_CN"}


def _normalise(value: str | None) -> str | None:
    if not value:
        return None
    return SUPPORTED.get(value.strip().lower().replace("-", "_")) or SUPPORTED.get(value.strip().lower())


def select_locale() -> str:
    chosen = _normalise(request.args.get("lang")) or _normalise(request.cookies.get("lang"))
    if chosen:
        return chosen
    best = request.accept_languages.best_match(["en", "zh", "zh-CN", "zh-Hans"])
    if best and best.lower().startswith("zh"):
        return "zh_CN"
    return current_app.config.get("BABEL_DEFAULT_LOCALE", "en")
