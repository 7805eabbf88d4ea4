"""Domain errors, typed once and rendered per surface (OpenAI JSON on /v1, envelope on /api, pages).

Standard library only.
"""

from __future__ import annotations


class AppError(Exception):
    """An error meant for the caller: a message, an HTTP status and an OpenAI-style type and code."""

    status = 400
    error_type = "invalid_request_error"
    code: str | None = None

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 error_type: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        if error_type is not None:
            self.error_type = error_type
        self.param = param


class ValidationError(AppError):
    status = 400
    code = "invalid_request"


class NotFound(AppError):
    status = 404
    code = "not_found"


class Unauthorized(AppError):
    status = 401
    error_type = "authentication_error"
    code = "invalid_api_key"


class Forbidden(AppError):
    status = 403
    error_type = "permission_error"
    code = "forbidden"


class Conflict(AppError):
    status = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status = 413
    code = "request_too_large"


class InsufficientQuota(AppError):
    status = 403
    error_type = "insufficient_quota"
    code = "insufficient_user_quota"


class RateLimited(AppError):
    status = 429
    error_type = "rate_limit_error"
    code = "rate_limit_exceeded"


class PlanLimitExceeded(AppError):
    status = 429
    error_type = "insufficient_quota"
    code = "plan_limit_exceeded"


class NoAvailableChannel(AppError):
    status = 503
    error_type = "server_error"
    code = "model_not_available"


class UpstreamError(AppError):
    """The upstream answered with an error or could not be reached."""

    status = 502
    error_type = "upstream_error"
    code = "upstream_error"

    def __init__(self, message: str, *, status: int = 502, body: dict | None = None,
                 retryable: bool = False, code: str | None = None, error_type: str | None = None) -> None:
        super().__init__(message, status=status, code=code, error_type=error_type)
        self.body = body
        self.retryable = retryable
