"""The Turnstile check for views: the token comes as `?turnstile=` (one-api and new-api clients) or, from a
page form, as the widget's own `cf-turnstile-response` field.

As one-api does, a passed check is remembered in the session, here for TURNSTILE_REMEMBER_SECONDS: a form
that takes two steps (send a code, then register) needs the widget solved once, and API clients that keep
no cookies are checked on every call.
"""

from __future__ import annotations

import time
from functools import wraps
from urllib.parse import urlsplit

from flask import request, session

from app.extensions import peer_address
from app.services import turnstile
from app.web.urls import site_base

TURNSTILE_REMEMBER_SECONDS = 600
SESSION_KEY = "turnstile_passed_until"


def request_token() -> str | None:
    return (request.args.get("turnstile") or request.form.get("cf-turnstile-response")
            or request.form.get("turnstile") or None)


def site_host() -> str:
    """The host a widget on this site is solved on: ServerAddress's when set, else the request's."""
    return urlsplit(site_base()).hostname or request.host.partition(":")[0]


def check_turnstile() -> None:
    """Raise the service's error unless the check is off, remembered, or passes now."""
    if not turnstile.is_enabled():
        return
    passed_until = session.get(SESSION_KEY)
    if isinstance(passed_until, int | float) and passed_until > time.time():
        return
    turnstile.verify(request_token(), peer_address(), site_host())
    session[SESSION_KEY] = int(time.time()) + TURNSTILE_REMEMBER_SECONDS


def turnstile_required(view):
    """Decorator for /api views (errors become the envelope); page views call check_turnstile themselves."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        check_turnstile()
        return view(*args, **kwargs)

    return wrapped
