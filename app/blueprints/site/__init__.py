"""Public pages (home, pricing) and the health check."""

from flask import Blueprint

bp = Blueprint("site", __name__)

from app.blueprints.site import pages  # noqa: E402,F401
