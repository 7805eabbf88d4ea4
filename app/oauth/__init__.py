"""Sign-in with OAuth 2.0 / OpenID Connect providers (GitHub, OIDC, Linux.do) through Authlib.

base.py is the interface, one module per provider, registry.py maps slugs to classes. No database,
no Flask: app.services.oauth turns a profile into a user.
"""
