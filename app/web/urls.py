"""Absolute URLs of this site, for addresses handed to other parties (OAuth callbacks, payment notifies)."""

from __future__ import annotations

from flask import request

from app.options import get_option


def site_base() -> str:
    """The public address of this site: the ServerAddress option when set (behind proxies), else the request's."""
    configured = str(get_option("ServerAddress") or "").strip().rstrip("/")
    return configured or request.host_url.rstrip("/")
