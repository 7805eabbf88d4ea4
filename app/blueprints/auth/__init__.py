"""Pages for first-run setup, login, registration and logout."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from app.blueprints.auth import oauth, pages, telegram_wechat  # noqa: E402,F401
