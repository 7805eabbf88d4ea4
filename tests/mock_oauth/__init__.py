"""Mock sign-in providers for the tests: OAuth 2.0 / OpenID Connect (GitHub, OIDC, Linux.do) and a WeChat Server."""

from .server import MockOAuth
from .wechat import MockWeChatServer

__all__ = ["MockOAuth", "MockWeChatServer"]
