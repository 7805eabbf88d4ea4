"""Cloudflare Turnstile: checking a widget's token with the siteverify endpoint.

https://developers.cloudflare.com/turnstile/get-started/server-side-validation/ : POST form fields `secret`,
`response` (the token, at most 2048 characters) and optional `remoteip`; the answer is JSON with `success`,
`error-codes`, `challenge_ts` and `hostname`. A token is valid once, for 300 seconds. The endpoint is
TURNSTILE_VERIFY_URL (a mock in tests).

A token is accepted only when the answer's `hostname` (where the widget was solved) is this site's host:
the site key may be shared by several sites, and a token solved on another one must not pass here.
"""

from __future__ import annotations

import logging

import requests
from flask import current_app

from app.errors import AppError, Forbidden, ValidationError
from app.options import get_option

log = logging.getLogger(__name__)

MAX_TOKEN_LENGTH = 2048


class TurnstileUnavailable(AppError):
    status = 502
    error_type = "server_error"
    code = "turnstile_unavailable"


def is_enabled() -> bool:
    return bool(get_option("TurnstileCheckEnabled"))


def site_key() -> str:
    """The public site key for the widget, or "" when the check is off."""
    return get_option("TurnstileSiteKey") if is_enabled() else ""


def verify(token: str | None, remote_ip: str | None, site_host: str) -> None:
    """Pass when the check is off or Cloudflare accepts `token` as solved on `site_host`; else 403
    (missing or refused token, or one solved on another host), 400 (malformed) or 502 (siteverify
    unreachable or answering nonsense)."""
    if not is_enabled():
        return
    if not token:
        raise Forbidden("the Turnstile check is missing: complete it and try again", code="turnstile_missing")
    if len(token) > MAX_TOKEN_LENGTH:
        raise ValidationError("the Turnstile token is malformed", code="turnstile_invalid")
    form = {"secret": get_option("TurnstileSecretKey"), "response": token}
    if remote_ip:
        form["remoteip"] = remote_ip
    try:
        response = requests.post(current_app.config["TURNSTILE_VERIFY_URL"], data=form,
                                 timeout=current_app.config.get("TURNSTILE_TIMEOUT", 10.0))
        answer = response.json()
    except (requests.RequestException, ValueError) as exc:
        log.warning("Turnstile siteverify failed: %r", exc)
        raise TurnstileUnavailable("could not reach Cloudflare Turnstile to check the challenge; "
                                   "please try again") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("success"), bool):
        log.warning("Turnstile siteverify answered HTTP %s without a success field", response.status_code)
        raise TurnstileUnavailable("Cloudflare Turnstile gave an unexpected answer; please try again")
    if not answer["success"]:
        codes = answer.get("error-codes")
        log.info("Turnstile refused a token: %s", codes)
        if isinstance(codes, list) and any(c in ("missing-input-secret", "invalid-input-secret") for c in codes):
            log.error("Turnstile rejects TurnstileSecretKey: check the key in the settings")
        raise Forbidden("the Turnstile check failed; refresh the page and try again", code="turnstile_failed")
    hostname = answer.get("hostname")
    if not isinstance(hostname, str):
        log.warning("Turnstile siteverify accepted a token without naming its hostname")
        raise TurnstileUnavailable("Cloudflare Turnstile gave an unexpected answer; please try again")
    if hostname.lower().rstrip(".") != site_host.lower().rstrip("."):
        log.warning("Turnstile token solved on %r, not on this site (%r): check ServerAddress", hostname, site_host)
        raise Forbidden("the Turnstile check was completed for another site; refresh the page and try again",
                        code="turnstile_hostname_mismatch")
