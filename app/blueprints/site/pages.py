"""Public pages and the health check."""

from __future__ import annotations

from flask import current_app, jsonify, redirect, render_template, request
from sqlalchemy import text

from app.blueprints.site import bp
from app.extensions import db
from app.options import get_option
from app.web.htmx import safe_next
from app.web.i18n import SUPPORTED

LANG_COOKIE_MAX_AGE = 365 * 24 * 3600


@bp.get("/healthz")
def healthz():
    """Database and (when configured) Redis reachability; 503 when either is down."""
    checks: dict[str, str] = {}
    healthy = True
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        db.session.rollback()
        checks["database"] = f"error: {type(exc).__name__}"
        healthy = False
    redis = current_app.extensions.get("sluice_redis")
    if redis is None:
        checks["redis"] = "not configured"
    else:
        try:
            redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["redis"] = f"error: {type(exc).__name__}"
            healthy = False
    return jsonify({"status": "ok" if healthy else "error", "checks": checks}), 200 if healthy else 503


@bp.get("/")
def home():
    """The landing page: the HomePageContent option (Markdown, sanitised) or a default introduction."""
    return render_template("site/home.html", content=get_option("HomePageContent"))


@bp.get("/lang/<code>")
def set_language(code: str):
    """Remember the chosen language in the `lang` cookie and go back to the page the user was on."""
    response = redirect(safe_next(request.args.get("next")))
    locale = SUPPORTED.get(code.lower().replace("-", "_"))
    if locale:
        response.set_cookie("lang", locale, max_age=LANG_COOKIE_MAX_AGE, samesite="Lax",
                            secure=current_app.config.get("SESSION_COOKIE_SECURE", False), httponly=True)
    return response
