"""Two-factor authentication with TOTP (RFC 6238: 30-second steps, 6 digits, one step of clock drift either
way) and single-use backup codes, following new-api's /api/user/2fa/* behaviour.

- The secret is stored as a Fernet token under a key derived from SECRET_KEY and is shown only by setup.
- Every accepted code moves `last_used_step` forward with a conditional UPDATE, so a code (or any code of
  an earlier step) cannot be used twice, even by two requests racing each other.
- Backup codes are HMAC-SHA256 hashes (key from SECRET_KEY, salted with the user id); one is spent with a
  conditional UPDATE on `is_used`, so it works once.
- After MAX_FAILED_ATTEMPTS wrong codes in a row the account's second step locks for LOCKOUT_SECONDS
  (new-api's MaxFailAttempts 5 / LockoutDuration 300 s); a right code resets the count.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re
import secrets
import time
from typing import Any

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from sqlalchemy import delete, func, select, update

from app.billing.ledger import add_manage_log
from app.errors import AppError, Conflict, ValidationError
from app.extensions import db
from app.models import TwoFA, TwoFABackupCode, User
from app.services.users import atomic

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
BACKUP_CODE_COUNT = 10
MAX_FAILED_ATTEMPTS = 5
LOCKOUT_SECONDS = 300
ISSUER = "Sluice"
_BACKUP_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
_TOTP_RE = re.compile(r"^\d{6}$")
_BACKUP_RE = re.compile(r"^[A-Z0-9]{4}-?[A-Z0-9]{4}$")


class TwoFactorLocked(AppError):
    status = 429
    code = "two_fa_locked"


class InvalidCode(AppError):
    status = 401
    code = "invalid_two_fa_code"


# -- secrets ---------------------------------------------------------------------------------------------
def _derived_key(purpose: bytes) -> bytes:
    return hmac.new(current_app.config["SECRET_KEY"].encode(), purpose, hashlib.sha256).digest()


def _fernet() -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derived_key(b"sluice two-factor secret v1")))


def _encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def _decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:  # SECRET_KEY changed since setup: the admin must reset this user's 2FA
        raise AppError("the two-factor secret cannot be read; ask an administrator to reset it",
                       status=500) from exc


def _normalize_backup(code: str) -> str:
    return code.strip().upper().replace("-", "")


def _hash_backup(user_id: int, code: str) -> str:
    message = f"{user_id}:{_normalize_backup(code)}".encode()
    return hmac.new(_derived_key(b"sluice two-factor backup codes v1"), message, hashlib.sha256).hexdigest()


def _new_backup_codes() -> list[str]:
    codes = []
    for _ in range(BACKUP_CODE_COUNT):
        raw = "".join(secrets.choice(_BACKUP_ALPHABET) for _ in range(8))
        codes.append(f"{raw[:4]}-{raw[4:]}")
    return codes


def _store_backup_codes(user_id: int, codes: list[str]) -> None:
    db.session.execute(delete(TwoFABackupCode).where(TwoFABackupCode.user_id == user_id))
    db.session.add_all(TwoFABackupCode(user_id=user_id, code_hash=_hash_backup(user_id, code)) for code in codes)


def qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG (no script, no external image: fits the strict CSP)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, border=2, xmldecl=False, svgns=True,
                                    title="QR code", dark="#000", light="#fff")
    return out.getvalue().decode()


# -- reads -----------------------------------------------------------------------------------------------
def settings_of(user_id: int) -> TwoFA | None:
    return db.session.scalar(select(TwoFA).where(TwoFA.user_id == user_id))


def is_enabled(user_id: int) -> bool:
    row = settings_of(user_id)
    return bool(row and row.is_enabled)


def unused_backup_codes(user_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(TwoFABackupCode).where(
        TwoFABackupCode.user_id == user_id, TwoFABackupCode.is_used.is_(False))) or 0


def status(user_id: int) -> dict[str, Any]:
    row = settings_of(user_id)
    now = int(time.time())
    return {
        "enabled": bool(row and row.is_enabled),
        "pending_setup": bool(row and not row.is_enabled),
        "locked": bool(row and row.locked_until > now),
        "locked_until": row.locked_until if row and row.locked_until > now else 0,
        "backup_codes_remaining": unused_backup_codes(user_id) if row and row.is_enabled else 0,
    }


# -- verification ----------------------------------------------------------------------------------------
def _matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step (within the drift window) whose code equals `code`, compared in constant time."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now) // STEP_SECONDS
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step  # keep looping: the time taken does not depend on which step matched
    return found


def _record_failure(row: TwoFA, now: int) -> None:
    """Count a wrong code atomically; the MAX-th one in a row starts the lockout."""
    db.session.execute(update(TwoFA).where(TwoFA.id == row.id).values(failed_attempts=TwoFA.failed_attempts + 1))
    db.session.execute(update(TwoFA).where(TwoFA.id == row.id, TwoFA.failed_attempts >= MAX_FAILED_ATTEMPTS)
                       .values(locked_until=now + LOCKOUT_SECONDS, failed_attempts=0))
    db.session.commit()


def _require_not_locked(row: TwoFA, now: int) -> None:
    if row.locked_until > now:
        raise TwoFactorLocked(f"too many wrong codes; try again in {row.locked_until - now} seconds")


def _accept_totp(row: TwoFA, code: str, now: float) -> bool:
    step = _matching_step(_decrypt(row.secret_encrypted), code, now)
    if step is None:
        return False
    # Only a step later than the last accepted one moves the marker; a replay changes no row.
    moved = db.session.execute(update(TwoFA).where(TwoFA.id == row.id, TwoFA.last_used_step < step)
                               .values(last_used_step=step, last_used_time=int(now), failed_attempts=0,
                                       locked_until=0))
    return moved.rowcount == 1


def _accept_backup(row: TwoFA, code: str, now: int) -> bool:
    spent = db.session.execute(update(TwoFABackupCode).where(
        TwoFABackupCode.user_id == row.user_id, TwoFABackupCode.code_hash == _hash_backup(row.user_id, code),
        TwoFABackupCode.is_used.is_(False)).values(is_used=True, used_time=now))
    if spent.rowcount != 1:
        return False
    db.session.execute(update(TwoFA).where(TwoFA.id == row.id)
                       .values(last_used_time=now, failed_attempts=0, locked_until=0))
    return True


def verify(user_id: int, raw_code: Any, *, allow_backup: bool = True, now: float | None = None) -> None:
    """Accept a TOTP code (or, when allowed, an unused backup code) for this user's 2FA, or raise.

    Works on enabled settings and on a setup waiting for its first code. A wrong, replayed or spent code
    counts toward the lockout; nothing else changes on error."""
    now = time.time() if now is None else now
    row = settings_of(user_id)
    if row is None:
        raise ValidationError("two-factor authentication is not set up", code="two_fa_not_enabled")
    if not isinstance(raw_code, str) or not raw_code.strip():
        raise ValidationError("enter the 6-digit code from your authenticator app or a backup code",
                              code="two_fa_code_required")
    code = raw_code.strip().replace(" ", "")
    _require_not_locked(row, int(now))
    accepted = False
    if _TOTP_RE.match(code):
        accepted = _accept_totp(row, code, now)
    elif allow_backup and _BACKUP_RE.match(code.upper()):
        accepted = _accept_backup(row, code, int(now))
    if not accepted:
        db.session.rollback()
        _record_failure(row, int(now))
        raise InvalidCode("the code is wrong or was already used")
    db.session.commit()


# -- changes ---------------------------------------------------------------------------------------------
def setup(user: User) -> dict[str, Any]:
    """Start (or restart) setup: a new secret, its otpauth URI and QR code, and 10 backup codes. They are
    shown only in this answer; 2FA stays off until `enable` gets a code from the new secret."""
    row = settings_of(user.id)
    if row is not None and row.is_enabled:
        raise Conflict("two-factor authentication is already on; disable it first", code="two_fa_enabled")
    secret = pyotp.random_base32()
    codes = _new_backup_codes()
    with atomic():
        if row is None:
            row = TwoFA(user_id=user.id, secret_encrypted=_encrypt(secret))
            db.session.add(row)
        else:
            row.secret_encrypted = _encrypt(secret)
            row.failed_attempts, row.locked_until, row.last_used_step = 0, 0, 0
        _store_backup_codes(user.id, codes)
    uri = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=user.username, issuer_name=ISSUER)
    return {"secret": secret, "qr_code_data": uri, "qr_code_svg": qr_svg(uri), "backup_codes": codes}


def enable(user: User, code: Any) -> None:
    row = settings_of(user.id)
    if row is None:
        raise ValidationError("start the setup first", code="two_fa_not_set_up")
    if row.is_enabled:
        raise Conflict("two-factor authentication is already on", code="two_fa_enabled")
    verify(user.id, code, allow_backup=False)
    with atomic():
        db.session.execute(update(TwoFA).where(TwoFA.id == row.id).values(is_enabled=True))


def _require_enabled(user_id: int) -> TwoFA:
    row = settings_of(user_id)
    if row is None or not row.is_enabled:
        raise ValidationError("two-factor authentication is not on", code="two_fa_not_enabled")
    return row


def disable(user: User, code: Any) -> None:
    _require_enabled(user.id)
    verify(user.id, code)
    with atomic():
        _remove(user.id)


def regenerate_backup_codes(user: User, code: Any) -> list[str]:
    _require_enabled(user.id)
    verify(user.id, code)
    codes = _new_backup_codes()
    with atomic():
        _store_backup_codes(user.id, codes)
    return codes


def _remove(user_id: int) -> None:
    db.session.execute(delete(TwoFABackupCode).where(TwoFABackupCode.user_id == user_id))
    db.session.execute(delete(TwoFA).where(TwoFA.user_id == user_id))


def admin_reset(actor: User, target: User) -> None:
    """An administrator turns a user's 2FA off (lost phone and codes); a management log row records who."""
    if settings_of(target.id) is None:
        raise ValidationError("this user has no two-factor authentication", code="two_fa_not_enabled")
    with atomic():
        _remove(target.id)
        add_manage_log(target, 0, f"two-factor authentication reset by administrator {actor.username}",
                       other={"admin_id": actor.id, "action": "reset_2fa"})
