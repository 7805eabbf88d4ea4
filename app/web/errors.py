"""Errors rendered per surface: OpenAI JSON on the relay, the envelope on /api, a page elsewhere."""

from __future__ import annotations

import logging

from flask import jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from app.errors import AppError
from app.extensions import RELAY_PATH_PREFIXES

log = logging.getLogger(__name__)

RELAY_PREFIXES = RELAY_PATH_PREFIXES
OPENAI_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "invalid_request_error", 405: "invalid_request_error", 413: "invalid_request_error",
                429: "rate_limit_error"}


def surface() -> str:
    path = request.path
    if path.startswith("/api/") or path == "/api":
        return "api"
    if path.startswith(RELAY_PREFIXES) or path == "/v1":
        return "relay"
    return "page"


def openai_error_body(message: str, error_type: str, code: str | None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def render_error(message: str, status: int, *, code: str | None = None, error_type: str | None = None,
                 param: str | None = None):
    kind = surface()
    if kind == "api":
        return jsonify({"success": False, "message": message, "data": None}), status
    if kind == "relay":
        fallback = "server_error" if status >= 500 else "invalid_request_error"
        error_type = error_type or OPENAI_TYPES.get(status, fallback)
        return jsonify(openai_error_body(message, error_type, code, param)), status
    template = "errors/_error.html" if request.headers.get("HX-Request") else "errors/error.html"
    return render_template(template, status=status, message=message), status


def register_error_handlers(app) -> None:
    @app.errorhandler(AppError)
    def _app_error(exc: AppError):
        return render_error(exc.message, exc.status, code=exc.code, error_type=exc.error_type, param=exc.param)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):
        return render_error(f"CSRF check failed: {exc.description}", 400, code="csrf_failed")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        message = exc.description or exc.name
        if status == 413:
            message = "request body is too large"
        elif status == 429:
            message = f"too many requests: {exc.description}"
        code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large",
                429: "rate_limit_exceeded"}.get(status)
        response = render_error(message, status, code=code)
        if status == 405 and getattr(exc, "valid_methods", None):
            response[0].headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        from app.database import is_transient_lock_error

        if is_transient_lock_error(exc):
            log.warning("database lock contention on %s %s: %s", request.method, request.path, type(exc).__name__)
            return render_error("the database is busy; please try again", 503, code="database_busy")
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_error("internal server error", 500, code="internal_error")
