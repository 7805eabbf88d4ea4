"""Per-request hooks: first-run redirect, CSRF for session-authenticated writes, security headers."""

from __future__ import annotations

from flask import current_app, redirect, request, url_for
from sqlalchemy import select

from app.extensions import csrf, db
from app.models import Setup
from app.web.errors import RELAY_PREFIXES

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SETUP_EXEMPT_PREFIXES = ("/setup", "/static/", "/api/", "/healthz", "/metrics", "/favicon")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; "
       "connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


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
        if path.startswith(RELAY_PREFIXES):
            return None  # the relay authenticates by key and never uses the session
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
        if request.path.startswith(RELAY_PREFIXES):
            return response
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html":
            headers.setdefault("Content-Security-Policy", CSP)
            headers.setdefault("X-Frame-Options", "DENY")
        return response


def _needs_csrf() -> bool:
    """Only requests that carry the session cookie can be forged by another site; tokens cannot."""
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return False
    if request.headers.get("Authorization", "").lower().startswith("bearer "):
        return False
    return current_app.config.get("SESSION_COOKIE_NAME", "session") in request.cookies
