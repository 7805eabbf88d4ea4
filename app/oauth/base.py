"""The provider interface: build the authorize URL, swap a code for a token, read the user's profile.

Each provider is a small class over Authlib's OAuth2Session (the requests client), so the wire protocol
(authorization request, token request, client authentication, bearer header) is Authlib's, not ours.
A provider knows its endpoints and how to read its profile answer; it knows nothing of users, sessions
or options: app.services.oauth builds providers from the options and decides what a profile means.

Errors are AppErrors: OAuthFailed (400) when the provider refuses the code or answers nonsense,
OAuthUnreachable (502) when it cannot be reached or answers 5xx.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError

from app.errors import AppError, UpstreamError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
MAX_SUBJECT = 64  # the users.*_id columns are VARCHAR(64)


class OAuthFailed(AppError):
    """The provider refused the sign-in (bad or used code, wrong client secret) or answered nonsense."""

    status = 400
    code = "oauth_failed"


class OAuthUnreachable(UpstreamError):
    """The provider could not be reached, timed out or answered with a server error."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=502, code="oauth_unreachable")


@dataclass(frozen=True)
class OAuthProfile:
    """Who the provider says signed in: a stable id plus hints for a new account."""

    subject: str  # the provider's stable user id (GitHub's numeric id, OIDC `sub`, Linux.do's id)
    login: str  # a username hint (GitHub login, preferred_username, Linux.do username)
    name: str = ""  # a display-name hint
    email: str | None = None  # only an address the provider says is verified


class SignInProvider:
    """Any outside sign-in (OAuth 2.0, the Telegram Login Widget, a WeChat Server code): what app.services.oauth
    needs to sign in, register, bind and unbind the account it vouches for."""

    name: ClassVar[str]  # URL slug: /oauth/<name>
    label: ClassVar[str]  # shown to people
    user_column: ClassVar[str]  # the users column holding `OAuthProfile.subject`
    enabled_option: ClassVar[str]
    # How a browser proves the account: "oauth" (redirect to the provider and back with a code), "telegram"
    # (the Login Widget's signed fields) or "wechat" (a code the WeChat account sent the user).
    kind: ClassVar[str]

    @classmethod
    def required_options(cls) -> tuple[str, ...]:
        """The options besides the switch that must be set for this provider to work."""
        return ()


class OAuthProvider(SignInProvider, ABC):
    """One OAuth 2.0 provider, configured with a client id and secret (and, for tests, its base URLs)."""

    kind = "oauth"
    client_id_option: ClassVar[str]
    client_secret_option: ClassVar[str]
    scope: ClassVar[str]
    uses_nonce: ClassVar[bool] = False
    token_auth_method: ClassVar[str] = "client_secret_post"

    @classmethod
    def required_options(cls) -> tuple[str, ...]:
        return (cls.client_id_option, cls.client_secret_option)

    def __init__(self, client_id: str, client_secret: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.timeout = timeout

    # -- endpoints, per provider ----------------------------------------------------------------------
    @abstractmethod
    def authorization_endpoint(self) -> str:
        """Where the browser is sent to approve the sign-in."""

    @abstractmethod
    def token_endpoint(self) -> str:
        """Where the server swaps the code for an access token."""

    @abstractmethod
    def read_profile(self, client: OAuth2Session, token: dict[str, Any], nonce: str | None) -> OAuthProfile:
        """The signed-in user's profile, read with the access token (and, for OIDC, the ID token)."""

    def auth_method(self) -> str:
        """How this client authenticates at the token endpoint (client_secret_post or client_secret_basic)."""
        return self.token_auth_method

    # -- the flow ------------------------------------------------------------------------------------
    def _client(self, redirect_uri: str | None = None) -> OAuth2Session:
        return OAuth2Session(
            client_id=self.client_id, client_secret=self.client_secret, scope=self.scope or None,
            redirect_uri=redirect_uri, token_endpoint_auth_method=self.auth_method(),
            default_timeout=self.timeout,
        )

    def authorize_url(self, redirect_uri: str, state: str, nonce: str | None = None) -> str:
        """The provider's authorize URL with our client id, redirect URI, scope, state (and nonce)."""
        extra = {"nonce": nonce} if nonce and self.uses_nonce else {}
        with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(self.authorization_endpoint(), state=state, **extra)
        return url

    def exchange(self, code: str, redirect_uri: str | None, nonce: str | None = None) -> OAuthProfile:
        """Swap `code` for a token at the token endpoint, then read the profile with it."""
        with self._client(redirect_uri) as client:
            try:
                token = client.fetch_token(self.token_endpoint(), code=code, grant_type="authorization_code")
            except OAuthError as exc:
                raise OAuthFailed(f"{self.label} refused the sign-in code ({exc.error}); please try again") from None
            except requests.HTTPError as exc:
                status = exc.response.status_code if exc.response is not None else 502
                if status >= 500:
                    raise OAuthUnreachable(f"{self.label} is not answering properly (HTTP {status})") from None
                raise OAuthFailed(f"{self.label} refused the sign-in code (HTTP {status})") from None
            except requests.RequestException as exc:
                raise self._unreachable(exc) from None
            except ValueError:
                raise OAuthFailed(f"{self.label} answered the token request with something that is not a token")\
                    from None
            if not token.get("access_token"):
                raise OAuthFailed(f"{self.label} answered without an access token")
            profile = self.read_profile(client, token, nonce)
        if not profile.subject or len(profile.subject) > MAX_SUBJECT:
            raise OAuthFailed(f"{self.label} answered without a usable user id")
        return profile

    # -- helpers for providers -----------------------------------------------------------------------
    def get_json(self, client: OAuth2Session, url: str, *, headers: dict[str, str] | None = None,
                 withhold_token: bool = False) -> dict[str, Any]:
        """GET `url` (with the bearer token unless `withhold_token`) and return its JSON object."""
        try:
            response = client.get(url, headers={"Accept": "application/json", **(headers or {})},
                                  withhold_token=withhold_token)
        except requests.RequestException as exc:
            raise self._unreachable(exc) from None
        if response.status_code >= 500:
            raise OAuthUnreachable(f"{self.label} is not answering properly (HTTP {response.status_code})")
        if response.status_code != 200:
            log.warning("%s answered %s %s", self.label, response.status_code, response.text[:200])
            raise OAuthFailed(f"{self.label} refused to share the profile (HTTP {response.status_code})")
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise OAuthFailed(f"{self.label} answered with something that is not a profile")
        return data

    def _unreachable(self, exc: Exception) -> OAuthUnreachable:
        log.warning("%s unreachable: %s", self.label, exc)
        return OAuthUnreachable(f"could not reach {self.label}; please try again later")


def text_claim(data: dict[str, Any], key: str) -> str:
    """A profile field as stripped text ("" when absent, null or not a string)."""
    value = data.get(key)
    return value.strip() if isinstance(value, str) else ""


def id_claim(data: dict[str, Any], key: str) -> str:
    """A numeric or string id as text; booleans, floats and blanks are no id."""
    value = data.get(key)
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value) if value > 0 else ""
    return value.strip() if isinstance(value, str) else ""
