"""A mock OAuth 2.0 / OpenID Connect provider on 127.0.0.1: GitHub, a generic OIDC issuer and Linux.do.

Real HTTP (werkzeug's threaded server in a daemon thread), the wire formats of the public docs:
- GitHub (https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps):
  `GET {url}/gh/login/oauth/authorize`, `POST {url}/gh/login/oauth/access_token` (client id and secret in
  the form; JSON when the request accepts it, else form-encoded; errors as HTTP 200 with `error`),
  `GET {url}/gh-api/user` (`Authorization: Bearer|token ...`; 401 "Bad credentials").
- OIDC (OpenID Connect Core + Discovery): `{url}/oidc/.well-known/openid-configuration`, `/oidc/authorize`,
  `/oidc/token` (client_secret_basic or _post; RFC 6749 section 5.2 errors), `/oidc/userinfo`, `/oidc/jwks`;
  ID tokens signed RS256 with a key made at start-up (joserfc).
- Linux.do (new-api controller/linuxdo.go): `{url}/ld/oauth2/authorize`, `/ld/oauth2/token` (HTTP Basic),
  `/ld/api/user`.

The authorize endpoints approve at once as the user set with `login_as` and redirect to redirect_uri with
`code` and `state` (RFC 6749 section 4.1.2), or with `error=access_denied` after `deny()`.

    with MockOAuth() as mock:
        mock.register_client("github", "gh-client", "gh-secret")
        mock.login_as("github", id=1001, login="octocat", name="The Octocat")
        ...
        assert mock.requests[-1].path == "/gh-api/user"
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from tests.fixtures.wsgi_server import BackgroundServer

PROVIDERS = ("github", "oidc", "linuxdo")


@dataclass
class Seen:
    """One request as the mock received it."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]  # lower-case names


@dataclass
class Grant:
    provider: str
    client_id: str
    redirect_uri: str | None
    user: dict[str, Any]
    nonce: str | None
    scope: str
    issued: float = field(default_factory=time.time)


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(data), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _with_query(uri: str, params: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query) + [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _redirect(location: str) -> Response:
    return Response("", status=302, headers={"Location": location})


class MockOAuth(BackgroundServer):
    """The three providers on one server; each test sets clients and users, `reset()` clears them."""

    thread_name = "mock-oauth"

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "mock-key-1", "use": "sig", "alg": "RS256"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "mock-key-1", "use": "sig"})
        self._lock = threading.Lock()
        self.reset()
        self.map = Map([
            Rule("/gh/login/oauth/authorize", endpoint="authorize_github", methods=["GET"]),
            Rule("/gh/login/oauth/access_token", endpoint="token_github", methods=["POST"]),
            Rule("/gh-api/user", endpoint="user_github", methods=["GET"]),
            Rule("/oidc/.well-known/openid-configuration", endpoint="discovery", methods=["GET"]),
            Rule("/oidc/authorize", endpoint="authorize_oidc", methods=["GET"]),
            Rule("/oidc/token", endpoint="token_oidc", methods=["POST"]),
            Rule("/oidc/userinfo", endpoint="userinfo", methods=["GET", "POST"]),
            Rule("/oidc/jwks", endpoint="jwks", methods=["GET"]),
            Rule("/ld/oauth2/authorize", endpoint="authorize_linuxdo", methods=["GET"]),
            Rule("/ld/oauth2/token", endpoint="token_linuxdo", methods=["POST"]),
            Rule("/ld/api/user", endpoint="user_linuxdo", methods=["GET"]),
        ])

    # -- test knobs ----------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget clients, users, codes, tokens, recorded requests and every fault."""
        with self._lock:
            self.clients: dict[str, tuple[str, str]] = {}
            self.users: dict[str, dict[str, Any]] = {}
            self.codes: dict[str, Grant] = {}
            self.tokens: dict[str, Grant] = {}
            self.requests: list[Seen] = []
            self.denied: set[str] = set()
            self.id_token_faults: dict[str, Any] = {}

    def register_client(self, provider: str, client_id: str, client_secret: str) -> None:
        self.clients[provider] = (client_id, client_secret)

    def login_as(self, provider: str, **profile: Any) -> None:
        """The user the next authorize request of `provider` approves as (GitHub/Linux.do/OIDC fields)."""
        self.users[provider] = profile

    def deny(self, provider: str) -> None:
        """The next authorize requests of `provider` answer error=access_denied (the user clicked Cancel)."""
        self.denied.add(provider)

    def fault_id_token(self, **faults: Any) -> None:
        """Break the next ID tokens: wrong_key=True, or any claim override (nonce="x", aud="other", exp=1)."""
        self.id_token_faults = faults

    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]

    @property
    def issuer(self) -> str:
        return f"{self.url}/oidc"

    @property
    def well_known(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    # -- WSGI ----------------------------------------------------------------------------------------
    def _wsgi(self, environ, start_response):
        request = Request(environ)
        self.requests.append(Seen(request.method, request.path, dict(request.args), dict(request.form),
                                  {k.lower(): v for k, v in request.headers.items()}))
        try:
            endpoint, args = self.map.bind_to_environ(environ).match()
            response = getattr(self, f"_{endpoint}")(request, **args)
        except HTTPException as exc:
            response = exc.get_response(environ)
        return response(environ, start_response)

    # -- authorize (all three) -----------------------------------------------------------------------
    def _authorize(self, request: Request, provider: str) -> Response:
        args = request.args
        client = self.clients.get(provider)
        redirect_uri = args.get("redirect_uri")
        if client is None or args.get("client_id") != client[0]:
            return Response("unknown client_id", status=400)
        if args.get("response_type", "code") != "code":
            return Response("unsupported response_type", status=400)
        if not redirect_uri:
            if provider == "oidc":
                return Response("redirect_uri is required", status=400)
            redirect_uri = "http://localhost/oauth/" + provider  # the app's registered callback
        state = args.get("state")
        if provider in self.denied:
            return _redirect(_with_query(redirect_uri, {
                "error": "access_denied", "error_description": "The user has denied your application access.",
                "state": state}))
        user = self.users.get(provider)
        if user is None:
            return Response("no user is signed in at the mock provider", status=400)
        code = secrets.token_hex(10)
        self.codes[code] = Grant(provider, client[0], args.get("redirect_uri"), dict(user), args.get("nonce"),
                                 args.get("scope", ""))
        return _redirect(_with_query(redirect_uri, {"code": code, "state": state}))

    def _authorize_github(self, request: Request) -> Response:
        return self._authorize(request, "github")

    def _authorize_oidc(self, request: Request) -> Response:
        return self._authorize(request, "oidc")

    def _authorize_linuxdo(self, request: Request) -> Response:
        return self._authorize(request, "linuxdo")

    # -- token endpoints -----------------------------------------------------------------------------
    @staticmethod
    def _basic(request: Request) -> tuple[str, str] | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            raw = base64.b64decode(header[6:]).decode()
        except ValueError:
            return None
        client_id, _, secret = raw.partition(":")
        return client_id, secret

    def _redeem(self, provider: str, code: str, client_id: str, redirect_uri: str | None) -> Grant | str:
        grant = self.codes.pop(code, None)  # a code works once
        if grant is None or grant.provider != provider or grant.client_id != client_id:
            return "invalid_grant"
        if time.time() - grant.issued > 600:
            return "invalid_grant"
        if grant.redirect_uri and redirect_uri != grant.redirect_uri:
            return "redirect_uri_mismatch"
        return grant

    def _issue(self, grant: Grant) -> str:
        token = "mock-at-" + secrets.token_hex(12)
        self.tokens[token] = grant
        return token

    def _token_github(self, request: Request) -> Response:
        body = request.get_json(silent=True) if request.is_json else request.form
        body = body or {}
        client = self.clients.get("github")
        wants_json = "json" in request.headers.get("Accept", "")

        def answer(data: dict[str, str]) -> Response:
            # GitHub answers 200 even for errors; the format follows the Accept header.
            if wants_json:
                return _json(data)
            return Response(urlencode(data), mimetype="application/x-www-form-urlencoded")

        if client is None or body.get("client_id") != client[0] or body.get("client_secret") != client[1]:
            return answer({"error": "incorrect_client_credentials",
                           "error_description": "The client_id and/or client_secret passed are incorrect."})
        grant = self._redeem("github", body.get("code", ""), client[0], body.get("redirect_uri"))
        if isinstance(grant, str):
            error = "bad_verification_code" if grant == "invalid_grant" else grant
            return answer({"error": error, "error_description": "The code passed is incorrect or expired."})
        return answer({"access_token": self._issue(grant), "scope": grant.scope, "token_type": "bearer"})

    def _token_oidc(self, request: Request) -> Response:
        form = request.form
        client = self.clients.get("oidc")
        basic = self._basic(request)
        given = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        if client is None or tuple(given) != client:
            return _json({"error": "invalid_client"}, 401, {"WWW-Authenticate": 'Basic realm="mock"'})
        if form.get("grant_type") != "authorization_code":
            return _json({"error": "unsupported_grant_type"}, 400)
        grant = self._redeem("oidc", form.get("code", ""), client[0], form.get("redirect_uri"))
        if isinstance(grant, str):
            return _json({"error": "invalid_grant"}, 400)
        access = self._issue(grant)
        return _json({"access_token": access, "token_type": "Bearer", "expires_in": 3600, "scope": grant.scope,
                      "id_token": self._id_token(grant, access)})

    def _token_linuxdo(self, request: Request) -> Response:
        client = self.clients.get("linuxdo")
        if client is None or self._basic(request) != client:
            return _json({"error": "invalid_client", "message": "client authentication failed"}, 401)
        grant = self._redeem("linuxdo", request.form.get("code", ""), client[0], request.form.get("redirect_uri"))
        if isinstance(grant, str):
            return _json({"error": "invalid_grant", "message": "invalid code"}, 400)
        return _json({"access_token": self._issue(grant), "token_type": "bearer", "expires_in": 3600})

    # -- OIDC documents ------------------------------------------------------------------------------
    def _discovery(self, request: Request) -> Response:
        base = self.issuer
        return _json({
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo",
            "jwks_uri": f"{base}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "claims_supported": ["sub", "name", "preferred_username", "email", "email_verified"],
        })

    def _jwks(self, request: Request) -> Response:
        return _json(KeySet([self.key]).as_dict(private=False))

    def _id_token(self, grant: Grant, access_token: str) -> str:
        now = int(time.time())
        digest = hashlib.sha256(access_token.encode()).digest()
        claims = {
            "iss": self.issuer, "sub": str(grant.user["sub"]), "aud": grant.client_id, "iat": now, "exp": now + 300,
            "auth_time": now, "at_hash": base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode(),
        }
        if grant.nonce:
            claims["nonce"] = grant.nonce
        faults = dict(self.id_token_faults)
        key = self.other_key if faults.pop("wrong_key", False) else self.key
        claims.update(faults)
        return jwt.encode({"alg": "RS256", "kid": "mock-key-1"}, claims, key)

    # -- profile endpoints ---------------------------------------------------------------------------
    def _bearer(self, request: Request, schemes: tuple[str, ...] = ("bearer",)) -> Grant | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in schemes:
            return None
        return self.tokens.get(token.strip())

    def _user_github(self, request: Request) -> Response:
        grant = self._bearer(request, ("bearer", "token"))
        if grant is None or grant.provider != "github":
            return _json({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest",
                          "status": "401"}, 401)
        user = grant.user
        return _json({"login": user["login"], "id": user["id"], "node_id": f"MDQ6VXNlcj{user['id']}",
                      "type": "User", "site_admin": False, "name": user.get("name"), "email": user.get("email"),
                      "html_url": f"https://github.com/{user['login']}"})

    def _userinfo(self, request: Request) -> Response:
        grant = self._bearer(request)
        if grant is None or grant.provider != "oidc":
            return _json({"error": "invalid_token"}, 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        info = {key: value for key, value in grant.user.items() if key != "userinfo_sub"}
        info["sub"] = str(grant.user.get("userinfo_sub", grant.user["sub"]))
        return _json(info)

    def _user_linuxdo(self, request: Request) -> Response:
        grant = self._bearer(request)
        if grant is None or grant.provider != "linuxdo":
            return _json({"error": "invalid_token"}, 401)
        user = grant.user
        return _json({"id": user["id"], "username": user["username"], "name": user.get("name", ""),
                      "active": user.get("active", True), "trust_level": user.get("trust_level", 1),
                      "silenced": user.get("silenced", False)})
