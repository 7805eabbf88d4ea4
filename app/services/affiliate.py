"""Invitations (aff codes): a user's invitation code, moving invitation earnings into the balance, and
`find_inviter` for registration (which pays the sign-up rewards itself: accounts.apply_invitation).

`aff_quota` is what invitations earned and has not been moved yet; `aff_history_quota` is all it ever
earned. Moving it is one conditional UPDATE (`WHERE aff_quota >= :q`) with its log row.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.billing.ledger import add_log
from app.database import retry_on_deadlock
from app.errors import NotFound, ValidationError
from app.extensions import db
from app.models import LogType, User, UserStatus
from app.options import get_option
from app.security import random_string
from app.services.accounts import quota_text
from app.services.users import MAX_QUOTA, atomic
from app.validation import strict_int

# Lengths tried in turn: 4 characters like Veloera, growing if the short space is crowded.
CODE_LENGTHS = (4, 4, 4, 5, 5, 6, 6, 7, 8, 8)
MAX_CODE_LENGTH = 32


def find_inviter(aff_code: Any) -> User | None:
    """The active user whose invitation code is `aff_code`, or None (empty, malformed, unknown, disabled
    or deleted). For registration: the inviter's id goes into the new user's inviter_id."""
    if not isinstance(aff_code, str):
        return None
    code = aff_code.strip()
    if not code or len(code) > MAX_CODE_LENGTH or not code.isalnum() or not code.isascii():
        return None
    return db.session.scalar(
        select(User).where(User.aff_code == code, User.status == UserStatus.ENABLED,
                           User.deleted_at.is_(None))
    )


def ensure_aff_code(user: User, *, commit: bool = True) -> str:
    """`user`'s invitation code, created on first use: random letters and digits, unique, retried with
    a new code on a collision (only a savepoint is rolled back). With commit=False the caller's
    transaction is left open for the caller to commit (registration)."""
    existing = db.session.scalar(select(User.aff_code).where(User.id == user.id))
    if existing:
        return existing
    for length in CODE_LENGTHS:
        candidate = random_string(length)
        try:
            with db.session.begin_nested():
                result = db.session.execute(
                    update(User).where(User.id == user.id, User.aff_code.is_(None))
                    .values(aff_code=candidate).execution_options(synchronize_session=False))
        except IntegrityError:
            continue  # someone else has this code: draw another
        if commit:
            db.session.commit()
        if result.rowcount == 1:
            return candidate
        # another request gave this user a code first; that one stands
        existing = db.session.scalar(select(User.aff_code).where(User.id == user.id))
        if existing:
            return existing
        raise NotFound("user not found")
    raise ValidationError("could not create a unique invitation code; please try again")


def min_transfer() -> int:
    """The smallest transfer: one unit (QuotaPerUnit), rounded up to a whole quota amount."""
    per_unit = float(get_option("QuotaPerUnit"))
    whole = int(per_unit)
    return whole if whole == per_unit else whole + 1


@retry_on_deadlock
def transfer_aff_quota(user: User, amount: Any) -> dict[str, int]:
    """Move `amount` of invitation earnings into `user`'s balance; at least QuotaPerUnit (new-api), at
    most the current aff_quota. Returns `{transferred, quota, aff_quota}` after the move."""
    minimum = min_transfer()
    amount = strict_int(amount, "quota", minimum=1, maximum=MAX_QUOTA)
    if amount < minimum:
        raise ValidationError(f"the smallest transfer is {minimum} quota", code="transfer_too_small")
    user_id, username = user.id, user.username
    with atomic():
        result = db.session.execute(
            update(User)
            .where(User.id == user_id, User.deleted_at.is_(None), User.status == UserStatus.ENABLED,
                   User.aff_quota >= amount, User.quota <= MAX_QUOTA - amount)
            .values(aff_quota=User.aff_quota - amount, quota=User.quota + amount)
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            raise ValidationError("not enough invitation quota to transfer", code="insufficient_aff_quota")
        add_log(log_type=LogType.SYSTEM, user_id=user_id, username=username, quota=amount,
                content=f"Moved {quota_text(amount)} of invitation earnings into the balance",
                other={"aff_transfer": amount})
    row = db.session.execute(select(User.quota, User.aff_quota).where(User.id == user_id)).one()
    return {"transferred": amount, "quota": row.quota, "aff_quota": row.aff_quota}


def rebate_amount(quota: int) -> int:
    """RebatePercentage of `quota`, rounded down (decimal arithmetic, no float drift)."""
    percent = Decimal(str(get_option("RebatePercentage")))
    return int((Decimal(quota) * percent / 100).to_integral_value(rounding=ROUND_DOWN))


def pay_rebate(user_id: int, username: str, quota: int, source: dict[str, Any]) -> None:
    """Credit the inviter of `user_id` RebatePercentage of a paid top-up of `quota`, in the caller's
    transaction: aff_quota and aff_history_quota, plus a log row whose `other` carries `source` (which
    code or order paid). Lock order: call it after the payer's own row was updated."""
    if not get_option("RebateEnabled"):
        return
    inviter_id = db.session.scalar(select(User.inviter_id).where(User.id == user_id))
    amount = rebate_amount(quota)
    if not inviter_id or amount <= 0:
        return
    result = db.session.execute(
        update(User)
        .where(User.id == inviter_id, User.deleted_at.is_(None), User.aff_quota <= MAX_QUOTA - amount,
               User.aff_history_quota <= MAX_QUOTA - amount)
        .values(aff_quota=User.aff_quota + amount, aff_history_quota=User.aff_history_quota + amount)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return
    inviter_name = db.session.scalar(select(User.username).where(User.id == inviter_id))
    add_log(log_type=LogType.SYSTEM, user_id=inviter_id, username=inviter_name, quota=amount,
            content=f"Invitation rebate: {quota_text(amount)} from {username}'s top-up",
            other={"invitee_id": user_id, **source})


def affiliate_summary(user: User) -> dict[str, Any]:
    """`{aff_code, aff_count, aff_quota, aff_history_quota, min_transfer}`; creates the code if needed."""
    code = ensure_aff_code(user)
    row = db.session.execute(
        select(User.aff_count, User.aff_quota, User.aff_history_quota).where(User.id == user.id)).one()
    return {"aff_code": code, "aff_count": row.aff_count, "aff_quota": row.aff_quota,
            "aff_history_quota": row.aff_history_quota, "min_transfer": min_transfer()}
