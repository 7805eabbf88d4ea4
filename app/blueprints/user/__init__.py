"""The signed-in user's console: dashboard, API keys, logs, tasks, wallet and profile (HTMX pages)."""

from flask import Blueprint

bp = Blueprint("user", __name__, url_prefix="/console")

from app.blueprints.user import (  # noqa: E402,F401
    dashboard,
    keys,
    linked_accounts,
    logs,
    profile,
    tasks,
    topup,
    wallet,
)
