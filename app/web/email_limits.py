"""Rate limits on sending mail (codes and reset links), shared by the /api routes and the auth pages.

RATELIMIT_EMAIL counts mails actually sent (answers below 400), once per peer address and once per
recipient, so neither one caller nor many callers can flood a mailbox.
"""

from __future__ import annotations

from flask import current_app, request

from app.extensions import limiter, peer_address


def _limit() -> str:
    return current_app.config.get("RATELIMIT_EMAIL", "5 per 10 minutes")


def _recipient() -> str:
    raw = request.args.get("email") or request.form.get("email") or ""
    return "mail-to:" + raw.strip().lower()[:254]


def _sent(response) -> bool:
    return response.status_code < 400


email_sender_limit = limiter.shared_limit(_limit, scope="email-sender", key_func=peer_address,
                                          deduct_when=_sent)
email_recipient_limit = limiter.shared_limit(_limit, scope="email-recipient", key_func=_recipient,
                                             deduct_when=_sent)
