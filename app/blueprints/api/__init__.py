"""The JSON management API under /api (Veloera/new-api routes, `{success, message, data}` envelope)."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

from app.blueprints.api import status  # noqa: E402,F401
