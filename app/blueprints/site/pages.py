"""Public pages and the health check."""

from __future__ import annotations

from flask import current_app, jsonify, render_template
from sqlalchemy import text

from app.blueprints.site import bp
from app.extensions import db


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
    return render_template("site/home.html")
