"""Administration pages: channels, users, redemption codes, every log and task, and the runtime settings."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from app.blueprints.admin import channels, logs, redemptions, settings, tasks, topups, users  # noqa: E402,F401
