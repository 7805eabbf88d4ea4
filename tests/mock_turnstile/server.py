"""A mock Cloudflare Turnstile siteverify endpoint on 127.0.0.1, speaking the documented wire format.

https://developers.cloudflare.com/turnstile/get-started/server-side-validation/ : `POST /turnstile/v0/siteverify`
with form fields `secret`, `response` and optional `remoteip`; the answer is JSON
`{"success", "error-codes", "challenge_ts", "hostname", "action", "cdata"}`. Error codes used here:
missing-input-secret, invalid-input-secret, missing-input-response, invalid-input-response,
timeout-or-duplicate (a token is valid once).

    with MockTurnstile(secret="s3cret") as mock:
        token = mock.issue()          # what a solved widget would hand the browser
        mock.url                       # for TURNSTILE_VERIFY_URL
        mock.requests[-1]["remoteip"]
"""

from __future__ import annotations

import json
import secrets
import threading
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.fixtures.wsgi_server import BackgroundServer

PATH = "/turnstile/v0/siteverify"


class MockTurnstile(BackgroundServer):
    thread_name = "mock-turnstile"

    def __init__(self, secret: str, hostname: str = "localhost") -> None:
        self.secret = secret
        self.hostname = hostname
        self.requests: list[dict[str, str]] = []
        self.broken = False  # answer HTTP 500 with an HTML page, as an outage would
        self._issued: set[str] = set()
        self._spent: set[str] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self.origin + PATH

    def issue(self) -> str:
        """A fresh token, as the widget would produce after a solved challenge."""
        token = "0." + secrets.token_urlsafe(48)
        with self._lock:
            self._issued.add(token)
        return token

    def _answer(self, form: dict[str, str]) -> dict[str, Any]:
        codes: list[str] = []
        secret, token = form.get("secret", ""), form.get("response", "")
        if not secret:
            codes.append("missing-input-secret")
        elif secret != self.secret:
            codes.append("invalid-input-secret")
        if not token:
            codes.append("missing-input-response")
        else:
            with self._lock:
                if token in self._spent:
                    codes.append("timeout-or-duplicate")
                elif token not in self._issued:
                    codes.append("invalid-input-response")
                elif not codes:
                    self._issued.discard(token)
                    self._spent.add(token)
        if codes:
            return {"success": False, "error-codes": codes, "messages": []}
        return {"success": True, "challenge_ts": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "hostname": self.hostname, "error-codes": [], "action": "", "cdata": ""}

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        if request.path != PATH:
            return Response("not found", status=404)(environ, start_response)
        if request.method != "POST":
            return Response("method not allowed", status=405)(environ, start_response)
        form = {key: request.form.get(key, "") for key in request.form}
        self.requests.append(form)
        if self.broken:
            return Response("<html>502 Bad Gateway</html>", status=502, mimetype="text/html")(
                environ, start_response)
        body = json.dumps(self._answer(form))
        return Response(body, mimetype="application/json")(environ, start_response)

