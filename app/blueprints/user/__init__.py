"""The signed-in user's console: dashboard, API keys, logs, tasks, wallet and profile (HTMX pages)."""

from flask import Blueprint

bp = Blueprint("user", __name__, url_prefix="/console")

from app.blueprints.user import dashboard, keys, logs, profile, tasks, topup, wallet  # noqa: E402,F401
from app.blueprints.user import linked_accounts  # noqa: E402,F401 - the profile page's linked-accounts card
