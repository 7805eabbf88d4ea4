"""Per-request hooks: first-run redirect, CSRF for session-authenticated writes, security headers.

Relay paths (RELAY_PREFIXES) authenticate by key and never use the session: for them the cookie session
is not opened (a read-only empty session that refuses writes stands in) and none of the app-wide hooks
run, neither ours nor the extensions' (CSRFProtect, Flask-Limiter, Flask-Login's remember-me cookie),
which all have nothing to do there. That is about 0.1 ms of CPU per relayed request.
"""

from __future__ import annotations

from flask import current_app, redirect, request, url_for
from flask.sessions import NullSession, SecureCookieSessionInterface
from sqlalchemy import select

from app.extensions import csrf, db
from app.models import Setup
from app.web.errors import RELAY_PREFIXES

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SETUP_EXEMPT_PREFIXES = ("/setup", "/static/", "/api/", "/healthz", "/metrics", "/favicon")
# challenges.cloudflare.com: the Turnstile widget's script and its iframe (Cloudflare's documented CSP);
# telegram.org / oauth.telegram.org: the Telegram Login Widget's script and the iframe it draws its button in.
CSP = ("default-src 'self'; script-src 'self' https://challenges.cloudflare.com https://telegram.org; "
       "style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self'; font-src 'self' data:; "
       "frame-src https://challenges.cloudflare.com https://oauth.telegram.org; frame-ancestors 'none'; "
       "base-uri 'self'; form-action 'self'")


def is_setup_done() -> bool:
    """True once the root user exists; a positive answer is cached for the life of the process."""
    state = current_app.extensions.setdefault("sluice_setup", {"done": False})
    if not state["done"]:
        state["done"] = bool(db.session.scalar(select(Setup.is_setup).where(Setup.id == 1)))
    return state["done"]


def mark_setup_done() -> None:
    current_app.extensions.setdefault("sluice_setup", {})["done"] = True


def register_hooks(app) -> None:
    @app.before_request
    def _before():
        path = request.path
        scheduler = app.extensions.get("sluice_scheduler")
        if scheduler is not None and scheduler._thread is None:
            scheduler.start()
        if request.method in UNSAFE_METHODS and _needs_csrf():
            csrf.protect()
        if request.method == "GET" and not path.startswith(SETUP_EXEMPT_PREFIXES) and not is_setup_done():
            return redirect(url_for("auth.setup_page"))
        return None

    @app.after_request
    def _headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html":
            headers.setdefault("Content-Security-Policy", CSP)
            headers.setdefault("X-Frame-Options", "DENY")
        return response

    _spare_relay_paths(app)


class RelaySession(NullSession):
    """The session of a relay request: empty, and any write is a bug (RuntimeError)."""

    def _fail(self, *args, **kwargs):
        raise RuntimeError("relay paths authenticate by key and have no session")

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _fail  # type: ignore[assignment]


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, not opened (nor saved) on relay paths."""

    null_session_class = RelaySession

    def open_session(self, app, request):
        if request.path.startswith(RELAY_PREFIXES):
            return RelaySession()
        return super().open_session(app, request)


def _spare_relay_paths(app) -> None:
    """Put the app-wide before/after/teardown hooks registered so far behind one relay-path check.

    Call once the extensions and our own hooks are registered; the order within each list is kept.
    """
    app.session_interface = SessionInterface()
    before = list(app.before_request_funcs.get(None, ()))
    after = list(app.after_request_funcs.get(None, ()))
    teardown = list(app.teardown_request_funcs.get(None, ()))

    def web_before_request():
        if request.path.startswith(RELAY_PREFIXES):
            return None
        for func in before:
            rv = app.ensure_sync(func)()
            if rv is not None:
                return rv
        return None

    def web_after_request(response):
        if request.path.startswith(RELAY_PREFIXES):
            return response
        for func in reversed(after):
            response = app.ensure_sync(func)(response)
        return response

    def web_teardown_request(exc):
        if request.path.startswith(RELAY_PREFIXES):
            return
        for func in reversed(teardown):
            app.ensure_sync(func)(exc)

    if before:
        app.before_request_funcs[None] = [web_before_request]
    if after:
        app.after_request_funcs[None] = [web_after_request]
    if teardown:
        app.teardown_request_funcs[None] = [web_teardown_request]


def _needs_csrf() -> bool:
    """Only requests that carry the session cookie can be forged by another site; tokens cannot."""
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return False
    if request.headers.get("Authorization", "").lower().startswith("bearer "):
        return False
    return current_app.config.get("SESSION_COOKIE_NAME", "session") in request.cookies
