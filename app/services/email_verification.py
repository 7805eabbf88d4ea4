"""E-mail ownership: verification codes (registration, binding) and password-reset links.

Verification codes are stateless, so every web process accepts a code any other one sent, with no new table
and no Redis: a code is six digits of HMAC-SHA256(key derived from SECRET_KEY, purpose | address | time
window). Windows are CODE_WINDOW_SECONDS long and the current one and the CODE_WINDOWS_ACCEPTED - 1 before it
are accepted, so a code lives 10 to 15 minutes. Codes are compared in constant time. A code can be used more
than once inside its life, which is harmless here: it proves only that the caller reads that mailbox, and
both of its uses (registering, binding) take the address, after which it is no longer free. Guessing is
stopped by RATELIMIT_CODE_ATTEMPTS, counted per address in Flask-Limiter's storage (Redis when configured).

Reset links carry an itsdangerous token signed with SECRET_KEY whose payload includes a fingerprint of the
user's current password hash, session version and e-mail: the reset itself changes all of the first two, so
a link works once, and it also dies when the user changes their password or address in the meantime.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from limits import parse as parse_limit
from sqlalchemy import func, select, update

from app.errors import Conflict, Forbidden, RateLimited, ValidationError
from app.extensions import db, limiter
from app.models import User, UserStatus
from app.options import get_option
from app.services import mail
from app.services.accounts import clean_email, hash_password
from app.validation import password

PURPOSE_VERIFY = "email-verification"
CODE_DIGITS = 6
CODE_WINDOW_SECONDS = 300
CODE_WINDOWS_ACCEPTED = 3  # the current window and the two before it: 10 to 15 minutes
RESET_MAX_AGE_SECONDS = 30 * 60
RESET_SALT = "sluice-password-reset"
GENERATED_PASSWORD_LENGTH = 12
CODE_INVALID = "the verification code is wrong or has expired"
RESET_INVALID = "the reset link is invalid or has expired"


# -- addresses -------------------------------------------------------------------------------------------
def required_email(value: Any) -> str:
    """A valid address (app.services.accounts.clean_email), which must be present."""
    address = clean_email(value)
    if not address:
        raise ValidationError("an e-mail address is required")
    return address


def check_domain(address: str) -> None:
    """403 when EmailDomainRestrictionEnabled and the address's domain is not in EmailDomainWhitelist."""
    if not get_option("EmailDomainRestrictionEnabled"):
        return
    domain = address.rpartition("@")[2].lower()
    if domain not in get_option("EmailDomainWhitelist"):
        raise Forbidden("the administrator accepts only e-mail addresses of whitelisted domains, and this "
                        "address's domain is not one of them", code="email_domain_not_allowed")


def owner_of(address: str) -> User | None:
    """The live account that uses `address` (ignoring case), if any."""
    return db.session.scalar(select(User).where(func.lower(User.email) == address.lower(),
                                                User.deleted_at.is_(None)).order_by(User.id).limit(1))


def _taken_by_another(address: str, user: User | None) -> bool:
    query = select(User.id).where(func.lower(User.email) == address.lower())
    if user is not None:
        query = query.where(User.id != user.id)
    return db.session.scalar(query.limit(1)) is not None


# -- codes -----------------------------------------------------------------------------------------------
def _code_key() -> bytes:
    return hmac.new(current_app.config["SECRET_KEY"].encode(), b"sluice email verification codes v1",
                    hashlib.sha256).digest()


def _code_for(purpose: str, address: str, window: int) -> str:
    message = f"{purpose}\x00{address.lower()}\x00{window}".encode()
    digest = hmac.new(_code_key(), message, hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10 ** CODE_DIGITS:0{CODE_DIGITS}d}"


def _window(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // CODE_WINDOW_SECONDS)


def issue_code(address: str, purpose: str = PURPOSE_VERIFY) -> str:
    """The code for `address` in the current window."""
    return _code_for(purpose, address, _window())


def code_matches(address: str, code: str, purpose: str = PURPOSE_VERIFY) -> bool:
    """True when `code` is the code of `address` in one of the accepted windows (constant-time compare)."""
    now = _window()
    matched = False
    for window in range(now - CODE_WINDOWS_ACCEPTED + 1, now + 1):
        matched |= hmac.compare_digest(_code_for(purpose, address, window), code)
    return matched


def _attempt_limit():
    if not limiter.enabled:
        return None
    return parse_limit(current_app.config.get("RATELIMIT_CODE_ATTEMPTS", "10 per 15 minutes"))


def _guard_attempts(address: str) -> None:
    item = _attempt_limit()
    if item is not None and not limiter.limiter.test(item, "code-attempts", address.lower()):
        raise RateLimited("too many wrong codes or links for this address; wait a while and ask for a new one")


def _count_failure(address: str) -> None:
    item = _attempt_limit()
    if item is not None:
        limiter.limiter.hit(item, "code-attempts", address.lower())


def verify_code(address: str, raw_code: Any, purpose: str = PURPOSE_VERIFY) -> None:
    """Raise 400 unless `raw_code` is a live code for `address`; 429 after too many wrong ones."""
    _guard_attempts(address)
    code = raw_code.strip() if isinstance(raw_code, str) else ""
    if not code:
        raise ValidationError("the verification code is required", code="verification_code_required")
    well_formed = len(code) == CODE_DIGITS and code.isascii() and code.isdigit()
    if not well_formed or not code_matches(address, code, purpose):
        _count_failure(address)
        raise ValidationError(CODE_INVALID, code="verification_code_invalid")


def send_verification_code(raw_email: Any, *, for_user: User | None = None) -> str:
    """Mail a code to a free address (whitelisted when the restriction is on); returns the address.

    409 when another account uses the address (`for_user`'s own address is not "another")."""
    address = required_email(raw_email)
    check_domain(address)
    if _taken_by_another(address, for_user):
        raise Conflict("this e-mail address is already in use", code="email_taken")
    code = issue_code(address)
    site = get_option("SystemName") or "Sluice"
    minutes = CODE_WINDOW_SECONDS * (CODE_WINDOWS_ACCEPTED - 1) // 60
    subject = _("%(site)s e-mail verification", site=site)
    text = _("Your verification code for %(site)s is %(code)s. It is valid for at least %(minutes)s minutes. "
             "If you did not ask for it, ignore this e-mail.", site=site, code=code, minutes=minutes)
    mail.send_mail(address, subject, text)
    return address


# -- binding ---------------------------------------------------------------------------------------------
def bind_email(user: User, raw_email: Any, raw_code: Any) -> str:
    """Set `user`'s e-mail to an address they proved they read (a live code); returns the address."""
    address = required_email(raw_email)
    check_domain(address)
    verify_code(address, raw_code)
    if _taken_by_another(address, user):
        raise Conflict("this e-mail address is already in use", code="email_taken")
    try:
        user.email = address
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return address


# -- password reset --------------------------------------------------------------------------------------
def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=RESET_SALT)


def _fingerprint(user: User) -> str:
    material = f"{user.id}\x00{user.password}\x00{user.session_version}\x00{(user.email or '').lower()}"
    return hmac.new(_code_key(), material.encode(), hashlib.sha256).hexdigest()[:32]


def reset_token(user: User) -> str:
    return _serializer().dumps({"u": user.id, "f": _fingerprint(user)})


def reset_link_base() -> str:
    """ServerAddress, which reset links must use: never the request's Host header, which a caller picks."""
    base = (get_option("ServerAddress") or "").strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise mail.MailNotConfigured("password reset is not available: the administrator has not set the "
                                     "server address (ServerAddress) that reset links point to")
    return base


def send_password_reset(raw_email: Any, reset_path: str) -> None:
    """Mail a reset link when an account uses the address, else a note that none does.

    Either way one mail goes out and the answer is the same, so the endpoint tells nobody which addresses
    have accounts; a mail server failure is reported whatever the address."""
    address = required_email(raw_email)
    if not mail.is_configured():
        raise mail.MailNotConfigured("e-mail is not set up on this server")
    base = reset_link_base()
    user = owner_of(address)
    site = get_option("SystemName") or "Sluice"
    subject = _("%(site)s password reset", site=site)
    if user is not None and user.status == UserStatus.ENABLED:
        link = f"{base}{reset_path}?{urlencode({'email': address, 'token': reset_token(user)})}"
        minutes = RESET_MAX_AGE_SECONDS // 60
        text = _("Someone, hopefully you, asked to reset the password of %(name)s on %(site)s. Open this link "
                 "within %(minutes)s minutes to choose a new password:\n\n%(link)s\n\nIf it was not you, "
                 "ignore this e-mail; your password stays as it is.", name=user.username, site=site,
                 minutes=minutes, link=link)
    else:
        text = _("Someone asked to reset the password of the %(site)s account that uses this address, but no "
                 "account uses it. If it was not you, ignore this e-mail.", site=site)
    mail.send_mail(address, subject, text)


def _user_for_token(address: str, raw_token: Any) -> User:
    token = raw_token.strip() if isinstance(raw_token, str) else ""
    if not token or len(token) > 512:
        raise ValidationError(RESET_INVALID, code="reset_token_invalid")
    _guard_attempts(address)
    try:
        payload = _serializer().loads(token, max_age=RESET_MAX_AGE_SECONDS)
    except (SignatureExpired, BadSignature):
        _count_failure(address)
        raise ValidationError(RESET_INVALID, code="reset_token_invalid") from None
    user = db.session.get(User, payload.get("u")) if isinstance(payload, dict) else None
    if (user is None or user.deleted_at is not None or user.status != UserStatus.ENABLED
            or (user.email or "").lower() != address.lower()
            or not hmac.compare_digest(_fingerprint(user), str(payload.get("f", "")))):
        _count_failure(address)
        raise ValidationError(RESET_INVALID, code="reset_token_invalid")
    return user


def check_reset_token(raw_email: Any, raw_token: Any) -> User:
    """The user a live reset link belongs to; 400 for a bad, used or expired one."""
    return _user_for_token(required_email(raw_email), raw_token)


def reset_password(raw_email: Any, raw_token: Any, raw_password: Any = None) -> str | None:
    """Set a new password through a reset link; every session of the user ends.

    Without `raw_password` a random one is made and returned (one-api and new-api return it as `data`);
    with one, it is validated like any new password and None is returned. The password changes by one
    UPDATE conditional on the hash and session version the link was signed for, so of two requests racing
    with the same link exactly one succeeds."""
    user = check_reset_token(raw_email, raw_token)
    generated = None
    if raw_password in (None, ""):
        generated = secrets.token_urlsafe(GENERATED_PASSWORD_LENGTH)[:GENERATED_PASSWORD_LENGTH]
        chosen = generated
    else:
        chosen = password(raw_password)
    hashed = hash_password(chosen)  # slow; before the write, so no lock is held meanwhile
    try:
        changed = db.session.execute(
            update(User).where(User.id == user.id, User.password == user.password,
                               User.session_version == user.session_version)
            .values(password=hashed, session_version=User.session_version + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    db.session.expire(user)
    if changed != 1:
        raise ValidationError(RESET_INVALID, code="reset_token_invalid")
    return generated
