"""Sign-in with outside accounts: OAuth 2.0 / OpenID Connect providers (GitHub, OIDC, Linux.do) through
Authlib, the Telegram Login Widget and a WeChat Server's verification codes.

base.py is the interface, one module per provider, registry.py maps slugs to classes. No database,
no Flask: app.services.oauth turns a profile into a user.
"""
