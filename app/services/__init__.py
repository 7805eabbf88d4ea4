"""Use cases (accounts, tokens, channels, redemption, check-in, ...): no flask.request or session here."""
