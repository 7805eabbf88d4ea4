"""WeChat sign-in through a "WeChat Server" (github.com/songquanpeng/wechat-server), one-api's design.

The WeChat Server runs a WeChat Official Account: a user scans its QR code (WeChatAccountQRCodeImageURL),
sends it a message and gets a short verification code back. The user types that code on our page, and we
ask the server whose it is: `GET {WeChatServerAddress}/api/wechat/user?code=<code>` with the header
`Authorization: <WeChatServerToken>`, which answers `{"success": true, "message": "", "data": "<openid>"}`
or `{"success": false, "message": "..."}` for a wrong or expired code. The openid is the account's id.
"""

from __future__ import annotations

import logging
import re

import requests

from app.oauth.base import (
    DEFAULT_TIMEOUT,
    MAX_SUBJECT,
    OAuthFailed,
    OAuthProfile,
    OAuthUnreachable,
    SignInProvider,
)

log = logging.getLogger(__name__)

CODE_RE = re.compile(r"[A-Za-z0-9]{1,32}")


class WeChatProvider(SignInProvider):
    name = "wechat"
    label = "WeChat"
    user_column = "wechat_id"
    enabled_option = "WeChatAuthEnabled"
    kind = "wechat"

    @classmethod
    def required_options(cls) -> tuple[str, ...]:
        return ("WeChatServerAddress", "WeChatServerToken")

    def __init__(self, address: str, token: str, qrcode_url: str = "", *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.address = address.rstrip("/")
        self.token = token
        self.qrcode_url = qrcode_url
        self.timeout = timeout

    def exchange(self, code: str) -> OAuthProfile:
        """The WeChat account that was sent `code`; 400 for a wrong or expired code, 502 when the server fails."""
        code = code.strip()
        if not CODE_RE.fullmatch(code):
            raise OAuthFailed("enter the verification code the WeChat account sent you", code="wechat_bad_code")
        try:
            response = requests.get(f"{self.address}/api/wechat/user", params={"code": code},
                                    headers={"Authorization": self.token, "Accept": "application/json"},
                                    timeout=self.timeout)
        except requests.RequestException as exc:
            log.warning("WeChat Server unreachable: %s", exc)
            raise OAuthUnreachable("could not reach the WeChat sign-in server; please try again later") from None
        if response.status_code >= 500:
            raise OAuthUnreachable(f"the WeChat sign-in server is not answering properly (HTTP {response.status_code})")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            log.warning("WeChat Server answered %s %s", response.status_code, response.text[:200])
            raise OAuthFailed(f"the WeChat sign-in server answered with something unexpected "
                              f"(HTTP {response.status_code})")
        openid = body.get("data")
        if body.get("success") is not True or not isinstance(openid, str) or not openid.strip():
            detail = body.get("message") if isinstance(body.get("message"), str) else ""
            # The server's own words (such as "验证码错误或已过期") help the user more than ours; keep them short.
            raise OAuthFailed(f"the WeChat verification code was not accepted: {detail[:200]}" if detail else
                              "the WeChat verification code is wrong or has expired", code="wechat_bad_code")
        openid = openid.strip()
        if len(openid) > MAX_SUBJECT:
            raise OAuthFailed("the WeChat sign-in server answered without a usable user id")
        return OAuthProfile(subject=openid, login="")
