"""Error bodies in each client's own shape, and upstream error bodies read back.

Claude: `{"type": "error", "error": {"type": ..., "message": ...}}`
(https://docs.anthropic.com/en/api/errors). Gemini: `{"error": {"code", "message", "status"}}` with the
google.rpc status names (https://ai.google.dev/gemini-api/docs/troubleshooting).
"""

from __future__ import annotations

import json
from typing import Any

CLAUDE_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 402: "billing_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
    504: "timeout_error", 529: "overloaded_error",
}
GEMINI_STATUSES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    409: "ABORTED", 413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL",
    501: "UNIMPLEMENTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}
# Gemini status name -> HTTP status, for reading upstream stream errors that carry only the name.
GEMINI_CODES = {name: code for code, name in GEMINI_STATUSES.items() if code != 413}


def claude_error_type(status: int) -> str:
    if status in CLAUDE_TYPES:
        return CLAUDE_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def claude_error(status: int, message: str, error_type: str | None = None) -> dict[str, Any]:
    """Anthropic's error body for `status`; our OpenAI-style types are mapped onto Claude's."""
    if error_type not in CLAUDE_TYPES.values():
        error_type = claude_error_type(status)
    return {"type": "error", "error": {"type": error_type, "message": message}}


def gemini_error(status: int, message: str) -> dict[str, Any]:
    """Google's error body for `status`."""
    name = GEMINI_STATUSES.get(status) or ("INTERNAL" if status >= 500 else "INVALID_ARGUMENT")
    return {"error": {"code": status, "message": message, "status": name}}


def read_error(content: bytes | dict[str, Any]) -> tuple[str | None, str | None]:
    """(message, type) from a Claude, Gemini or OpenAI error body; (None, None) when unreadable.

    Gemini's type is its status name (RESOURCE_EXHAUSTED ...); Claude's and OpenAI's are their `type`.
    """
    payload: Any = content
    if isinstance(content, bytes):
        try:
            payload = json.loads(content)
        except ValueError:
            return None, None
    if isinstance(payload, list) and payload and isinstance(payload[0], dict):
        payload = payload[0]  # Gemini sometimes wraps a stream error in an array
    if not isinstance(payload, dict):
        return None, None
    err = payload.get("error")
    if isinstance(err, str):
        return err, None
    if not isinstance(err, dict):
        return None, None
    message = err.get("message")
    kind = err.get("type") or err.get("status")
    return (message if isinstance(message, str) else None), (kind if isinstance(kind, str) else None)
