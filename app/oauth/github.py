"""GitHub (and GitHub Enterprise Server) sign-in.

Endpoints from GitHub's "Authorizing OAuth apps" guide: the browser goes to `{base}/login/oauth/authorize`,
the code is swapped at `{base}/login/oauth/access_token` (client id and secret in the form body; the
answer is JSON because Authlib asks for it with `Accept: application/json`) and the profile is
`GET {api}/user`. https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps

We key accounts on the numeric `id`, which never changes; new-api keys on `login`, which a user can rename
and someone else can then take.
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.requests_client import OAuth2Session

from app.oauth.base import OAuthFailed, OAuthProfile, OAuthProvider, id_claim, text_claim

GITHUB_BASE = "https://github.com"
GITHUB_API_BASE = "https://api.github.com"
# https://docs.github.com/en/rest/about-the-rest-api/api-versions
API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


class GitHubProvider(OAuthProvider):
    name = "github"
    label = "GitHub"
    user_column = "github_id"
    enabled_option = "GitHubOAuthEnabled"
    client_id_option = "GitHubClientId"
    client_secret_option = "GitHubClientSecret"
    scope = "read:user"

    def __init__(self, client_id: str, client_secret: str, *, base: str = GITHUB_BASE,
                 api_base: str = GITHUB_API_BASE, **kwargs: Any) -> None:
        super().__init__(client_id, client_secret, **kwargs)
        self.base = (base or GITHUB_BASE).rstrip("/")
        self.api_base = (api_base or GITHUB_API_BASE).rstrip("/")

    def authorization_endpoint(self) -> str:
        return f"{self.base}/login/oauth/authorize"

    def token_endpoint(self) -> str:
        return f"{self.base}/login/oauth/access_token"

    def read_profile(self, client: OAuth2Session, token: dict[str, Any], nonce: str | None) -> OAuthProfile:
        data = self.get_json(client, f"{self.api_base}/user", headers=API_HEADERS)
        subject, login = id_claim(data, "id"), text_claim(data, "login")
        if not subject or not login:
            raise OAuthFailed("GitHub answered with an empty profile")
        # The public e-mail on a profile is one the user verified on GitHub; private ones come back null.
        return OAuthProfile(subject=subject, login=login, name=text_claim(data, "name"),
                            email=text_claim(data, "email") or None)
