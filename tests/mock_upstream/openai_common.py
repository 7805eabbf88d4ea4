"""OpenAI wire-format pieces shared by the route modules: headers, errors, usage, body parsing.

Shapes follow https://platform.openai.com/docs/api-reference (error object: {"error": {message,
type, param, code}}; usage with prompt_tokens_details / completion_tokens_details).
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

from werkzeug.wrappers import Response

from .behaviour import Behaviour
from .server import Call, sse

FINGERPRINT = "fp_mock0001"

# status -> (type, code, message); {model} and {key} are filled in.
ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request (mock upstream)."),
    401: ("invalid_request_error", "invalid_api_key",
          ("Incorrect API key provided: {key}. You can find your API key at "
           "https://platform.openai.com/account/api-keys.")),
    403: ("request_forbidden", "unsupported_country_region_territory",
          "Country, region, or territory not supported"),
    404: ("invalid_request_error", "model_not_found",
          "The model `{model}` does not exist or you do not have access to it."),
    429: ("requests", "rate_limit_exceeded",
          ("Rate limit reached for {model} in organization org-mock on requests per min (RPM): "
           "Limit 3, Used 3, Requested 1. Please try again in 20s. Visit "
           "https://platform.openai.com/account/rate-limits to learn more.")),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", None, "Gateway timeout."),
}
QUOTA_MESSAGE = ("You exceeded your current quota, please check your plan and billing details. For more "
                 "information on this error, read the docs: "
                 "https://platform.openai.com/docs/guides/error-codes/api-errors.")
MISSING_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) "
    "if you're accessing the API from your browser and are prompted for a username. You can obtain an "
    "API key from https://platform.openai.com/account/api-keys.")
BAD_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. "
    "If you have trouble figuring out how to fix this, please contact us through our help center at "
    "help.openai.com.)")


def mask_key(key: str | None) -> str:
    """How OpenAI echoes a rejected key: ``sk-abc*********wxyz``."""
    key = key or ""
    if len(key) <= 8:
        return "*" * len(key)
    return key[:3] + "*" * (len(key) - 7) + key[-4:]


def error_payload(call: Call, b: Behaviour) -> dict[str, Any]:
    """OpenAI's error object for ``b.status``, with any overrides from the behaviour."""
    default_type = "server_error" if b.status >= 500 else "invalid_request_error"
    etype, code, message = ERRORS.get(b.status, (default_type, None, f"Mock upstream error {b.status}."))
    if b.error_code == "missing_api_key":
        code, message = None, MISSING_KEY_MESSAGE
    elif b.error_type == "insufficient_quota":
        message = QUOTA_MESSAGE
    message = b.error_message or message.format(model=call.model or "gpt-4o", key=mask_key(call.rec.api_key))
    return {"error": {
        "message": message,
        "type": b.error_type or etype,
        "param": b.error_param,
        "code": code if b.error_code in (None, "missing_api_key") else b.error_code,
    }}


def stream_error_frame(call: Call, b: Behaviour) -> bytes:
    """The event OpenAI sends when a 200 stream fails: ``data: {"error": {...}}``."""
    return sse({"error": {
        "message": b.error_message or ERRORS[500][2],
        "type": b.error_type or "server_error",
        "param": b.error_param,
        "code": b.error_code,
    }})


def base_headers(call: Call) -> dict[str, str]:
    """Headers OpenAI puts on every API response."""
    return {
        "x-request-id": "req_" + uuid.uuid4().hex,
        "openai-version": "2020-10-01",
        "openai-organization": "user-mock",
        "openai-processing-ms": "7",
        "x-ratelimit-limit-requests": "10000",
        "x-ratelimit-remaining-requests": "9999",
        "x-ratelimit-reset-requests": "6ms",
        "x-ratelimit-limit-tokens": "30000000",
        "x-ratelimit-remaining-tokens": "29999990",
        "x-ratelimit-reset-tokens": "0s",
    }


def json_body(call: Call, *required: str) -> dict[str, Any] | Response:
    """The request's JSON object, or OpenAI's 400 when it is not JSON or lacks a required field."""
    body = call.rec.json
    if not isinstance(body, dict):
        return call.error(400, BAD_JSON_MESSAGE)
    return check_required(call, body, *required)


def check_required(call: Call, body: dict[str, Any], *required: str) -> dict[str, Any] | Response:
    """``body``, or the 400 OpenAI sends for the first missing field (a missing model has its own)."""
    for name in required:
        if body.get(name) in (None, ""):
            if name == "model":
                return call.error(400, "you must provide a model parameter")
            return call.error(400, f"Missing required parameter: '{name}'.", error_param=name,
                              error_code="missing_required_parameter")
    return body


def response_model(call: Call) -> str:
    return call.behaviour.response_model or call.model


def new_id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(21).replace("-", "x").replace("_", "y")[:29]


def now() -> int:
    return int(time.time())


def usage(b: Behaviour, completion_tokens: int, *, details: bool | None = None) -> dict[str, Any]:
    """A chat-style usage object; ``details`` adds prompt/completion token details."""
    out: dict[str, Any] = {"prompt_tokens": b.prompt_tokens, "completion_tokens": completion_tokens,
                           "total_tokens": b.prompt_tokens + completion_tokens}
    if b.usage_details if details is None else details:
        out["prompt_tokens_details"] = {"cached_tokens": b.cached_tokens, "audio_tokens": 0}
        out["completion_tokens_details"] = {"reasoning_tokens": b.reasoning_tokens, "audio_tokens": 0,
                                            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
    return out


def wants_stream_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def stream_options_error(call: Call, body: dict[str, Any]) -> Response | None:
    """OpenAI rejects ``stream_options`` on a non-streaming request."""
    if body.get("stream_options") is not None and not body.get("stream"):
        return call.error(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                          error_param="stream_options", error_code="invalid_value")
    return None
