"""OpenID Connect sign-in with any provider, configured by its discovery document (the OIDCWellKnown option).

OpenID Connect Discovery 1.0 gives the endpoints; the code is swapped with the client authentication the
provider lists first among ours (client_secret_basic, the spec's default, else client_secret_post). When the
token answer carries an ID token it is verified with the provider's JWKS (signature, iss, aud, exp, azp,
at_hash and, when we sent one, nonce) through joserfc and Authlib's CodeIDToken; the UserInfo endpoint then
gives the profile and must name the same `sub`.
https://openid.net/specs/openid-connect-discovery-1_0.html
https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation

new-api reads only UserInfo and links accounts by e-mail; we never link by e-mail (a provider that lets
users type any address would hand over other people's accounts) and use `email` only when `email_verified`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from app.oauth.base import OAuthFailed, OAuthProfile, OAuthProvider, OAuthUnreachable, text_claim

log = logging.getLogger(__name__)

CACHE_SECONDS = 600.0
ID_TOKEN_LEEWAY = 120
REQUIRED_METADATA = ("issuer", "authorization_endpoint", "token_endpoint")

_cache_lock = threading.Lock()
_metadata_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_jwks_cache: dict[str, tuple[float, dict[str, Any]]] = {}


def clear_caches() -> None:
    """Forget every discovery document and key set (tests; an admin changing providers needs no call)."""
    with _cache_lock:
        _metadata_cache.clear()
        _jwks_cache.clear()


class OIDCProvider(OAuthProvider):
    name = "oidc"
    label = "OIDC"
    user_column = "oidc_id"
    enabled_option = "OIDCEnabled"
    client_id_option = "OIDCClientId"
    client_secret_option = "OIDCClientSecret"
    scope = "openid profile email"
    uses_nonce = True

    def __init__(self, client_id: str, client_secret: str, *, well_known: str, **kwargs: Any) -> None:
        super().__init__(client_id, client_secret, **kwargs)
        self.well_known = well_known.strip()

    # -- discovery -----------------------------------------------------------------------------------
    def _fetch(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = requests.get(url, headers={"Accept": "application/json"}, timeout=self.timeout)
        except requests.RequestException as exc:
            raise self._unreachable(exc) from None
        if response.status_code >= 500:
            raise OAuthUnreachable(f"the OIDC provider's {what} is not available (HTTP {response.status_code})")
        try:
            data = response.json() if response.status_code == 200 else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise OAuthFailed(f"the OIDC {what} at the configured address is not a JSON document")
        return data

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document, fetched once per CACHE_SECONDS per address."""
        now = time.monotonic()
        cached = _metadata_cache.get(self.well_known)
        if cached and cached[0] > now:
            return cached[1]
        data = self._fetch(self.well_known, "discovery document")
        for key in REQUIRED_METADATA:
            value = data.get(key)
            if not isinstance(value, str) or not value.startswith(("https://", "http://")):
                raise OAuthFailed(f"the OIDC discovery document has no valid {key}")
        with _cache_lock:
            _metadata_cache[self.well_known] = (now + CACHE_SECONDS, data)
        return data

    def key_set(self, *, force: bool = False) -> KeySet:
        """The provider's signing keys (jwks_uri), refetched when an ID token names an unknown key."""
        uri = self.metadata().get("jwks_uri")
        if not isinstance(uri, str) or not uri:
            raise OAuthFailed("the OIDC discovery document has no jwks_uri to check ID tokens with")
        now = time.monotonic()
        cached = _jwks_cache.get(uri)
        if cached and cached[0] > now and not force:
            data = cached[1]
        else:
            data = self._fetch(uri, "key set")
            with _cache_lock:
                _jwks_cache[uri] = (now + CACHE_SECONDS, data)
        try:
            return KeySet.import_key_set(data)
        except (JoseError, ValueError, TypeError, KeyError):
            raise OAuthFailed("the OIDC provider's key set could not be read") from None

    def authorization_endpoint(self) -> str:
        return self.metadata()["authorization_endpoint"]

    def token_endpoint(self) -> str:
        return self.metadata()["token_endpoint"]

    def auth_method(self) -> str:
        supported = self.metadata().get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        for method in ("client_secret_basic", "client_secret_post"):
            if method in supported:
                return method
        return "client_secret_basic"

    # -- the profile ---------------------------------------------------------------------------------
    def verify_id_token(self, id_token: str, access_token: str, nonce: str | None) -> dict[str, Any]:
        """The ID token's claims after checking its signature and claims; OAuthFailed otherwise."""
        meta = self.metadata()
        offered = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
        # Public-key algorithms only: "none" proves nothing, and HS* would need the client secret as a key.
        algorithms = [a for a in offered if isinstance(a, str) and a[:2] in {"RS", "PS", "ES", "Ed"}] or ["RS256"]
        registry = JWSRegistry(algorithms=algorithms, strict_check_header=False)
        try:
            try:
                token = jwt.decode(id_token, self.key_set(), registry=registry)
            except InvalidKeyIdError:
                token = jwt.decode(id_token, self.key_set(force=True), registry=registry)
            claims = CodeIDToken(
                token.claims, token.header,
                {"iss": {"essential": True, "value": meta["issuer"]},
                 "aud": {"essential": True, "value": self.client_id}},
                {"nonce": nonce, "client_id": self.client_id, "access_token": access_token},
            )
            claims.validate(leeway=ID_TOKEN_LEEWAY)
        except JoseError as exc:
            log.warning("OIDC ID token refused: %s", exc)
            reason = exc.error or type(exc).__name__
            raise OAuthFailed(f"the OIDC provider's ID token is not valid ({reason})") from None
        return dict(claims)

    def read_profile(self, client: OAuth2Session, token: dict[str, Any], nonce: str | None) -> OAuthProfile:
        claims: dict[str, Any] = {}
        if token.get("id_token"):
            claims = self.verify_id_token(token["id_token"], token["access_token"], nonce)
        elif nonce:
            raise OAuthFailed("the OIDC provider answered without an ID token")
        endpoint = self.metadata().get("userinfo_endpoint")
        if isinstance(endpoint, str) and endpoint:
            info = self.get_json(client, endpoint)
            if claims and info.get("sub") != claims.get("sub"):
                raise OAuthFailed("the OIDC provider's user info is about someone else than its ID token")
            claims = {**claims, **info}
        elif not claims:
            raise OAuthFailed("the OIDC provider offers neither an ID token nor user info")
        subject = claims.get("sub") if isinstance(claims.get("sub"), str) else ""
        email = text_claim(claims, "email") if claims.get("email_verified") in (True, "true") else ""
        login = text_claim(claims, "preferred_username") or (email.partition("@")[0] if email else "")
        return OAuthProfile(subject=subject.strip(), login=login or text_claim(claims, "name"),
                            name=text_claim(claims, "name"), email=email or None)
