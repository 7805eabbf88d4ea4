"""The JSON management API under /api (Veloera/new-api routes, `{success, message, data}` envelope)."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

from app.blueprints.api import (  # noqa: E402,F401
    channel,
    channel_ops,
    data,
    email,
    log,
    misc,
    oauth_binding,
    openapi,
    option,
    payment,
    plan,
    redemption,
    selfservice,
    setup,
    status,
    task,
    token,
    twofa,
    usage,
    user,
    users,
)
