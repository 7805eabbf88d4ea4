"""Accounts: registration (with invitations), password sign-in checks, self-service profile changes and
system access tokens.

No flask.request or session here: the views parse the request, call these functions and own the session.
Every function that writes commits its own transaction, or rolls it back and raises an AppError.

Passwords are NFKC-normalised (app.validation.password), hashed with werkzeug's default KDF (scrypt) and
verified with check_password_hash, which also accepts the pbkdf2 hashes of older rows and test factories.
Accounts imported from one-api / new-api (`flask import-oneapi`) carry their bcrypt hashes ($2a$/$2b$/$2y$);
those verify with bcrypt and are re-hashed to our scheme at the first successful sign-in.
Slow hashing always happens before the first write of a transaction, so it never holds SQLite's write lock.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import bcrypt
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from app.billing.ledger import add_system_log
from app.database import retry_on_deadlock
from app.errors import Conflict, Forbidden, Unauthorized, ValidationError
from app.extensions import db
from app.models import Role, User, UserStatus
from app.options import get_option
from app.security import hash_secret, random_string
from app.validation import clean_text, display_name, password, username

# werkzeug's default: scrypt (n=2**15, r=8, p=1). Tests that hash in many threads may lower it.
PASSWORD_METHOD = "scrypt"
ACCESS_TOKEN_LENGTH = 32
# Sign-in accepts existing names up to the column size, even where today's registration rules are stricter.
MAX_LOGIN_NAME = 64
MAX_LOGIN_PASSWORD = 128
MAX_EMAIL = 254
ROOT_DISPLAY_NAME = "Root User"

BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")  # Go's golang.org/x/crypto/bcrypt writes $2a$
BCRYPT_MAX_BYTES = 72  # bcrypt reads no further; Go refuses to hash longer passwords

_UNSET: Any = object()
_dummy_hashes: dict[str, str] = {}


# -- passwords -------------------------------------------------------------------------------------------
def hash_password(plain: str) -> str:
    """A salted KDF hash of an already-validated password."""
    return generate_password_hash(plain, method=PASSWORD_METHOD)


def verify_password(stored_hash: str | None, plain: str) -> bool:
    """True when `plain` matches `stored_hash`; unknown or malformed hash formats never match."""
    if not stored_hash:
        return False
    if stored_hash.startswith(BCRYPT_PREFIXES):
        secret = plain.encode("utf-8")
        try:
            return len(secret) <= BCRYPT_MAX_BYTES and bcrypt.checkpw(secret, stored_hash.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            return False
    try:
        return check_password_hash(stored_hash, plain)
    except (ValueError, TypeError):
        return False


def _burn_a_hash(plain: str) -> None:
    """Spend the time of one verification, so an unknown username answers as slowly as a known one."""
    dummy = _dummy_hashes.get(PASSWORD_METHOD)
    if dummy is None:
        dummy = _dummy_hashes.setdefault(PASSWORD_METHOD, hash_password(random_string(16)))
    verify_password(dummy, plain)


def _verify_login_password(stored_hash: str | None, raw: str) -> bool:
    """Check the NFKC form first (how we hash); fall back to the raw text for rows hashed elsewhere."""
    normalised = unicodedata.normalize("NFKC", raw)
    if verify_password(stored_hash, normalised):
        return True
    return normalised != raw and verify_password(stored_hash, raw)


# -- profiles --------------------------------------------------------------------------------------------
def public_profile(user: User) -> dict[str, Any]:
    """What the login answer shows (new-api's cleanUser): id, username, display_name, role, status, group."""
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name or "",
        "role": user.role,
        "status": user.status,
        "group": user.group,
    }


def self_profile(user: User) -> dict[str, Any]:
    """The signed-in user's own view: public fields, wallet and affiliate numbers; never secrets."""
    data = public_profile(user)
    data.update({
        "email": user.email or "",
        "quota": user.quota,
        "used_quota": user.used_quota,
        "request_count": user.request_count,
        "aff_code": user.aff_code or "",
        "aff_count": user.aff_count,
        "aff_quota": user.aff_quota,
        "aff_history_quota": user.aff_history_quota,
        "inviter_id": user.inviter_id or 0,
        "github_id": user.github_id or "",
        "oidc_id": user.oidc_id or "",
        "wechat_id": user.wechat_id or "",
        "telegram_id": user.telegram_id or "",
        "linux_do_id": user.linux_do_id or "",
        "setting": user.setting or "",
    })
    return data


# -- lookups ---------------------------------------------------------------------------------------------
def username_taken(name: str) -> bool:
    """True if any account, deleted ones included, already has this name ignoring ASCII case.

    Names are NFKC-normalised before they get here, so fullwidth or ligature look-alikes collide too;
    ignoring case stops "Admin" from impersonating "admin" on databases whose collation is case-sensitive.
    """
    found = db.session.scalar(select(User.id).where(func.lower(User.username) == name.lower()).limit(1))
    return found is not None


def email_taken(email: str) -> bool:
    found = db.session.scalar(select(User.id).where(func.lower(User.email) == email.lower()).limit(1))
    return found is not None


def find_inviter(aff_code: str) -> User | None:
    """The active account whose invitation code is `aff_code` (the affiliate service owns the rule)."""
    from app.services.affiliate import find_inviter as find_active_inviter  # affiliate imports this module

    return find_active_inviter(aff_code)


def quota_text(quota: int) -> str:
    """Quota as log text: dollars when the site displays currency, else raw quota points."""
    if get_option("DisplayInCurrencyEnabled"):
        return f"${quota / get_option('QuotaPerUnit'):.6f}"
    return f"{quota} quota points"


# -- input -----------------------------------------------------------------------------------------------
def clean_email(value: Any) -> str | None:
    """An optional e-mail address: None when absent or empty; one '@', no spaces, no markup."""
    if value is None:
        return None
    text = clean_text(value, "email", max_len=MAX_EMAIL).strip()
    if not text:
        return None
    local, at, domain = text.rpartition("@")
    if (not at or not local or "." not in domain or domain.startswith(".") or domain.endswith(".")
            or set(text) & set(" <>\"'`\\,;()[]") or "@" in local):
        raise ValidationError("email is not a valid address")
    return text


def clean_aff_code(value: Any) -> str | None:
    """An optional invitation code: None when absent or empty."""
    if value is None:
        return None
    text = clean_text(value, "aff_code", max_len=32).strip()
    if text and not text.isalnum():
        raise ValidationError("aff_code may contain letters and digits only")
    return text or None


# -- registration ----------------------------------------------------------------------------------------
@retry_on_deadlock
def register(raw_username: Any, raw_password: Any, *, email: Any = None, aff_code: Any = None,
             verification_code: Any = None) -> User:
    """Create an ordinary user; grant QuotaForNewUser and the invitation rewards, with log rows.

    With EmailVerificationEnabled the e-mail address and a live code mailed to it by /api/verification are
    required. Refused (403) when RegisterEnabled or PasswordRegisterEnabled is off or the address's domain
    is not whitelisted; 400 on bad input, a wrong code or an unknown invitation code; 409 when the username
    or e-mail is taken. Everything is one transaction.
    """
    from app.services import email_verification  # it builds on this module's helpers

    if not get_option("RegisterEnabled"):
        raise Forbidden("new registrations are closed by the administrator")
    if not get_option("PasswordRegisterEnabled"):
        raise Forbidden("registration with a password is closed; sign up with a linked account instead")
    name = username(raw_username)
    secret = password(raw_password)
    must_verify = get_option("EmailVerificationEnabled")
    address = email_verification.required_email(email) if must_verify else clean_email(email)
    code = clean_aff_code(aff_code)
    if address:
        email_verification.check_domain(address)

    if username_taken(name):
        raise Conflict("this username is already taken")
    if address and email_taken(address):
        raise Conflict("this e-mail address is already in use")
    if must_verify:
        email_verification.verify_code(address, verification_code)
    if code and find_inviter(code) is None:
        raise ValidationError("invitation code not found")

    hashed = hash_password(secret)  # slow; before the first write, so no lock is held meanwhile
    try:
        user = _insert_user(name, hashed, email=address)
        if code:
            apply_invitation(user, code)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if username_taken(name):
            raise Conflict("this username is already taken") from None
        raise Conflict("the account could not be created; please try again") from None
    except Exception:
        db.session.rollback()
        raise
    return user


def _insert_user(name: str, hashed: str, *, email: str | None, role: int = Role.USER,
                 quota: int | None = None, display: str | None = None) -> User:
    """Add the user row and its welcome-quota log row to the current transaction."""
    grant = get_option("QuotaForNewUser") if quota is None else quota
    user = User(username=name, password=hashed, display_name=display or name, role=role,
                status=UserStatus.ENABLED, email=email, quota=grant)
    db.session.add(user)
    db.session.flush()  # the id, for the log rows
    if grant > 0:
        add_system_log(f"welcome quota for a new user: {quota_text(grant)}", user, quota=grant)
    return user


def apply_invitation(new_user: User, aff_code: str) -> User:
    """Link `new_user` to the owner of `aff_code` and pay both sides, inside the caller's transaction.

    The invitee gets QuotaForInvitee on their wallet; the inviter gets QuotaForInviter on aff_quota and
    aff_history_quota (moved to the wallet later by /api/user/aff_transfer) and aff_count + 1. The inviter's
    counters change by one relative UPDATE, so concurrent registrations never lose a reward.
    """
    inviter = find_inviter(aff_code)
    if inviter is None or inviter.id == new_user.id:
        raise ValidationError("invitation code not found")
    new_user.inviter_id = inviter.id
    invitee_reward = get_option("QuotaForInvitee")
    inviter_reward = get_option("QuotaForInviter")
    if invitee_reward > 0:
        new_user.quota = new_user.quota + invitee_reward
        add_system_log(f"invitation reward for signing up with a code: {quota_text(invitee_reward)}",
                       new_user, quota=invitee_reward)
    db.session.execute(
        update(User).where(User.id == inviter.id).values(
            aff_count=User.aff_count + 1,
            aff_quota=User.aff_quota + inviter_reward,
            aff_history_quota=User.aff_history_quota + inviter_reward,
        ).execution_options(synchronize_session=False)
    )
    if inviter_reward > 0:
        add_system_log(f"invitation reward for inviting {new_user.username}: {quota_text(inviter_reward)}",
                       inviter, quota=inviter_reward)
    return inviter


def create_root_user(name: str, hashed: str, *, quota: int) -> User:
    """Add the root user (role 100) to the current transaction; used by app.services.setup."""
    return _insert_user(name, hashed, email=None, role=Role.ROOT, quota=quota, display=ROOT_DISPLAY_NAME)


# -- sign-in ---------------------------------------------------------------------------------------------
def authenticate(raw_username: Any, raw_password: Any) -> User:
    """The enabled user with this username (or e-mail) and password.

    400 on malformed input, 401 on a wrong name or password (the same answer, the same time), 403 when
    password sign-in is off or the account is disabled (said only to someone who knows the password).
    """
    if not get_option("PasswordLoginEnabled"):
        raise Forbidden("password sign-in is turned off by the administrator")
    name = clean_text(raw_username, "username", max_len=MAX_LOGIN_NAME).strip()
    raw = clean_text(raw_password, "password", max_len=MAX_LOGIN_PASSWORD, nfkc=False)
    if not name or not raw:
        raise ValidationError("username and password are required")

    user = db.session.scalar(select(User).where(User.username == name, User.deleted_at.is_(None)))
    if user is None and "@" in name:
        user = db.session.scalar(
            select(User).where(func.lower(User.email) == name.lower(), User.deleted_at.is_(None)).limit(1)
        )
    if user is None:
        _burn_a_hash(raw)
        raise Unauthorized("wrong username or password", code="invalid_credentials")
    if not _verify_login_password(user.password, raw):
        raise Unauthorized("wrong username or password", code="invalid_credentials")
    if user.status != UserStatus.ENABLED:
        raise Forbidden("this account has been disabled")
    if user.password.startswith(BCRYPT_PREFIXES):
        _rehash_imported_password(user, raw)
    return user


def _rehash_imported_password(user: User, raw: str) -> None:
    """Replace an imported bcrypt hash with ours, unless the password changed meanwhile (conditional UPDATE)."""
    old_hash = user.password
    new_hash = hash_password(unicodedata.normalize("NFKC", raw))  # slow; no write is pending yet
    try:
        db.session.execute(
            update(User).where(User.id == user.id, User.password == old_hash).values(password=new_hash)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    db.session.refresh(user)


# -- self-service ----------------------------------------------------------------------------------------
def update_self(user: User, *, new_display_name: Any = _UNSET, new_password: Any = None,
                original_password: Any = None) -> bool:
    """Change the user's display name and/or password; any other field is not this function's business.

    A password change needs the current password and bumps session_version, which ends every other
    session of the user (the caller re-signs the current one). Returns True if the password changed.
    """
    changes: dict[str, Any] = {}
    if new_display_name is not _UNSET and new_display_name is not None:
        changes["display_name"] = display_name(new_display_name) or None
    password_changed = new_password not in (None, "")
    if password_changed:
        secret = password(new_password)
        if original_password in (None, ""):
            raise ValidationError("original_password is required to change the password")
        current = clean_text(original_password, "original_password", max_len=MAX_LOGIN_PASSWORD, nfkc=False)
        if not _verify_login_password(user.password, current):
            raise Forbidden("the original password is wrong")
        changes["password"] = hash_password(secret)
    if not changes:
        return False
    try:
        for key, value in changes.items():
            setattr(user, key, value)
        if password_changed:
            user.session_version = User.session_version + 1
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return password_changed


def issue_access_token(user: User) -> str:
    """A new 32-character system access token for `user`, replacing the old one; returned only here.

    Only its SHA-256 is stored (users.access_token_hash), so the caller must show it now or lose it.
    """
    token = random_string(ACCESS_TOKEN_LENGTH)
    try:
        user.access_token_hash = hash_secret(token)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return token


# -- accounts from OAuth providers -----------------------------------------------------------------------
OAUTH_ID_COLUMNS = frozenset({"github_id", "oidc_id", "linux_do_id", "telegram_id", "wechat_id"})


def create_oauth_user(raw_username: Any, *, id_column: str, provider_id: str, display: str | None = None,
                      email: str | None = None, aff_code: str | None = None) -> User:
    """Create an ordinary user who signs in through an OAuth provider, linked by `id_column`=`provider_id`.

    The same path as `register`: QuotaForNewUser with its log row and, when `aff_code` names an active
    inviter, the invitation rewards (an unknown code is ignored, as new-api does). The account has no
    password (an empty hash never verifies). 403 when RegisterEnabled is off; 409 when the username is taken
    (the caller picks another and retries). One transaction.
    """
    if id_column not in OAUTH_ID_COLUMNS:
        raise ValueError(f"not an OAuth id column: {id_column}")
    if not get_option("RegisterEnabled"):
        raise Forbidden("new registrations are closed by the administrator")
    name = username(raw_username)
    try:  # the provider's name is a hint: cut to the column, and dropped if it is not clean text
        shown = display_name(unicodedata.normalize("NFKC", display or "")[:64]) or name
    except ValidationError:
        shown = name
    try:
        address = clean_email(email)
    except ValidationError:
        address = None
    if address and email_taken(address):
        address = None
    try:
        code = clean_aff_code(aff_code)
    except ValidationError:
        code = None
    if username_taken(name):
        raise Conflict("this username is already taken")
    try:
        user = _insert_user(name, "", email=address, display=shown)
        setattr(user, id_column, provider_id)
        if code and find_inviter(code) is not None:
            apply_invitation(user, code)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("this username is already taken") from None
    except Exception:
        db.session.rollback()
        raise
    return user
