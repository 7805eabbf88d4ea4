"""A mock WeChat Server (github.com/songquanpeng/wechat-server) on 127.0.0.1, as one-api talks to it.

`GET /api/wechat/user?code=<code>` with `Authorization: <token>` answers HTTP 200 and
`{"success": true, "message": "", "data": "<openid>"}` for a code it issued (each code works once and
expires), or `{"success": false, "message": "..."}` for a wrong token, a missing, unknown or expired code.
`issue_code(openid)` plays the user messaging the official account; `fail_with(503)` makes it answer errors.

    with MockWeChatServer(token="wx-token") as server:
        code = server.issue_code("oXyz-openid")
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.fixtures.wsgi_server import BackgroundServer

CODE_SECONDS = 300


class MockWeChatServer(BackgroundServer):
    thread_name = "mock-wechat-server"

    def __init__(self, token: str = "wx-token") -> None:
        self.token = token
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.codes: dict[str, tuple[str, float]] = {}
            self.requests: list[dict[str, Any]] = []
            self.failure: int | None = None

    def issue_code(self, openid: str, *, expires_in: float = CODE_SECONDS) -> str:
        """The code the official account sends a user who asks for one."""
        code = f"{secrets.randbelow(1_000_000):06d}"
        with self._lock:
            self.codes[code] = (openid, time.time() + expires_in)
        return code

    def fail_with(self, status: int | None) -> None:
        self.failure = status

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            self.requests.append({"path": request.path, "query": dict(request.args),
                                  "authorization": request.headers.get("Authorization")})
        if self.failure is not None:
            return Response("upstream trouble", status=self.failure)(environ, start_response)
        if request.method != "GET" or request.path != "/api/wechat/user":
            return Response("404 page not found", status=404)(environ, start_response)
        return self._json(self._user(request))(environ, start_response)

    def _user(self, request: Request) -> dict[str, Any]:
        if request.headers.get("Authorization") != self.token:
            return {"success": False, "message": "无权进行此操作，token 无效"}
        code = request.args.get("code", "")
        if not code:
            return {"success": False, "message": "无效的参数"}
        with self._lock:
            openid, expires = self.codes.pop(code, ("", 0.0))
        if not openid or expires < time.time():
            return {"success": False, "message": "验证码错误或已过期"}
        return {"success": True, "message": "", "data": openid}

    @staticmethod
    def _json(body: dict[str, Any]) -> Response:
        return Response(json.dumps(body, ensure_ascii=False), status=200, content_type="application/json")
