"""A mock OAuth 2.0 / OpenID Connect provider (GitHub, OIDC, Linux.do) for the sign-in tests."""

from .server import MockOAuth

__all__ = ["MockOAuth"]
