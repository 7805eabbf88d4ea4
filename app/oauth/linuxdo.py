"""Linux.do sign-in (Linux DO Connect, an OAuth 2.0 provider).

The browser goes to `{base}/oauth2/authorize`; the code is swapped at `{base}/oauth2/token` with the
client id and secret in an HTTP Basic header; the profile is `GET {base}/api/user`, which answers
`{id, username, name, active, trust_level, silenced, ...}`. These are the endpoints new-api uses
(controller/linuxdo.go, LINUX_DO_TOKEN_ENDPOINT / LINUX_DO_USER_ENDPOINT defaults).
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.requests_client import OAuth2Session

from app.oauth.base import OAuthFailed, OAuthProfile, OAuthProvider, id_claim, text_claim

LINUXDO_BASE = "https://connect.linux.do"


class LinuxDOProvider(OAuthProvider):
    name = "linuxdo"
    label = "Linux.do"
    user_column = "linux_do_id"
    enabled_option = "LinuxDOOAuthEnabled"
    client_id_option = "LinuxDOClientId"
    client_secret_option = "LinuxDOClientSecret"
    scope = ""  # Linux DO Connect grants its one profile scope by default; new-api sends none
    token_auth_method = "client_secret_basic"

    def __init__(self, client_id: str, client_secret: str, *, base: str = LINUXDO_BASE, **kwargs: Any) -> None:
        super().__init__(client_id, client_secret, **kwargs)
        self.base = (base or LINUXDO_BASE).rstrip("/")

    def authorization_endpoint(self) -> str:
        return f"{self.base}/oauth2/authorize"

    def token_endpoint(self) -> str:
        return f"{self.base}/oauth2/token"

    def read_profile(self, client: OAuth2Session, token: dict[str, Any], nonce: str | None) -> OAuthProfile:
        data = self.get_json(client, f"{self.base}/api/user")
        subject, login = id_claim(data, "id"), text_claim(data, "username")
        if not subject:
            raise OAuthFailed("Linux.do answered with an empty profile")
        if data.get("active") is False:
            raise OAuthFailed("this Linux.do account is not active")
        return OAuthProfile(subject=subject, login=login or f"linuxdo_{subject}", name=text_claim(data, "name"))
